"""Page 3, Data: pick a folder (or the sample set), scan it in the background, set the options.

The scan reports every class, count, image size and each file it will skip with the reason;
thumbnails are decoded in the same job. Options are remembered between runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QListView,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from gpu_assistant.data.cache import estimate_cache_bytes
from gpu_assistant.data.sample import sample_data_dir
from gpu_assistant.jobs import CancelToken, Report
from gpu_assistant.training.auto import model_image_size
from gpu_assistant.training.models import AUTO, MODELS
from gpu_assistant.ui.audit import DuplicatesView
from gpu_assistant.ui.job_slot import JobSlot
from gpu_assistant.ui.state import AppState, training_blocker
from gpu_assistant.ui.thumbnails import THUMB_PX, load_thumbnail
from gpu_assistant.ui.widgets import DropArea, Page, button, named, wrap_label
from gpu_assistant.ui.worker import Job

THUMBS_PER_CLASS = 6
CACHE_CHOICES = ("auto", "memory", "disk", "none")
MIN_IMAGE_SIZE, MAX_IMAGE_SIZE = 32, 512  # TrainSettings takes 32-1024; more is rarely useful
AUTO_SIZE_TEXT = "Auto"  # the image-size box at 0: each model's own size (its tooltip says)
FLIP_HINT = "Off for digits, letters, text and signs: their mirror image is a different thing."


def human_bytes(count: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if count < 1024 or unit == "GB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} GB"


def _scan_job(folder: str) -> Any:
    def job(report: Report, cancel: CancelToken) -> tuple[Any, dict[str, list[Any]]]:
        from gpu_assistant.data.scan import scan_folder

        scan = scan_folder(folder, report=report, cancel=cancel)
        thumbs: dict[str, list[Any]] = {name: [] for name in scan.class_names}
        for record in scan.records:
            name = scan.class_names[record.label]
            if len(thumbs[name]) < THUMBS_PER_CLASS:
                cancel.raise_if_cancelled()
                image = load_thumbnail(record.path)
                if image is not None:
                    thumbs[name].append((str(record.path), image))
        return scan, thumbs

    return job


def _relative(path: Path, root: Path) -> str:
    try:
        return Path(path).relative_to(root).as_posix()
    except ValueError:
        return str(path)


class DataPage(Page):
    def __init__(self, state: AppState) -> None:
        super().__init__(
            "Data",
            "Choose a folder with one sub-folder per class (for example photos/cats and "
            "photos/dogs), or try the bundled sample set. Nothing in the folder is changed.",
        )
        self.state = state
        # The user's mirror setting while the sample digits have it switched off: given back
        # when another folder is chosen, unless the user sets the mirror themselves meanwhile.
        self._mirror_before_sample: bool | None = None

        drop = DropArea()
        drop.dropped.connect(lambda paths: self.scan(str(paths[0])))
        row = QHBoxLayout(drop)
        row.setContentsMargins(0, 0, 0, 0)
        self.path_edit = named(
            QLineEdit(state.settings.last_folder),
            "datasetPathEdit",
            "Dataset folder",
            "Folder with one sub-folder per class; you can also drop a folder on this row.",
        )
        self.path_edit.setPlaceholderText("Folder with one sub-folder per class — or drop it here")
        self.path_edit.returnPressed.connect(lambda: self.scan(self.path_edit.text()))
        row.addWidget(self.path_edit, 1)
        row.addWidget(button("&Browse…", "browseButton", self.browse))
        row.addWidget(button("Sca&n", "scanButton", lambda: self.scan(self.path_edit.text())))
        row.addWidget(
            button(
                "Use &sample data",
                "useSampleButton",
                self.use_sample,
                "A small bundled set of labelled images to try the app with.",
            )
        )
        self.cancel_button = named(QPushButton("Cancel"), "cancelScanButton", "Cancel")
        row.addWidget(self.cancel_button)
        self.body.addWidget(drop)
        self.progress = named(QProgressBar(), "scanProgress", "Scan progress")
        self.body.addWidget(self.progress)
        self.slot = JobSlot(
            state.runner, cancel_button=self.cancel_button, progress=self.progress, parent=self
        )
        self.summary = wrap_label("No folder scanned yet.", "scanSummary")
        self.body.addWidget(self.summary)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        self.tabs = QTabWidget()
        self.tabs.setObjectName("scanTabs")
        self.chart = named(pg.PlotWidget(background=None), "classChart", "Images per class")
        self.chart.getPlotItem().setLabel("left", "images")
        self.chart.getPlotItem().setMouseEnabled(x=False, y=False)
        self.chart.setMinimumHeight(200)
        self.tabs.addTab(self.chart, "Classes")
        self.thumbs = named(QListWidget(), "thumbnailList", "Example images per class")
        self.thumbs.setViewMode(QListView.ViewMode.IconMode)
        self.thumbs.setIconSize(QSize(THUMB_PX, THUMB_PX))
        self.thumbs.setResizeMode(QListView.ResizeMode.Adjust)
        self.thumbs.setSpacing(6)
        self.thumbs.setMovement(QListView.Movement.Static)
        self.tabs.addTab(self.thumbs, "Examples")
        self.skipped = named(QTableWidget(0, 2), "skippedTable", "Skipped files and reasons")
        self.skipped.setHorizontalHeaderLabels(("File", "Why it is skipped"))
        self.skipped.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.skipped.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.skipped.verticalHeader().hide()
        self.tabs.addTab(self.skipped, "Skipped (0)")
        self.duplicates = DuplicatesView(state)
        self.tabs.addTab(self.duplicates, "Duplicates")
        splitter.addWidget(self.tabs)
        splitter.addWidget(self._options_box())
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)
        self.body.addWidget(splitter, 1)

        row = QHBoxLayout()
        self.readiness = wrap_label("", "dataReadiness")
        row.addWidget(self.readiness, 1)
        self.next_button = button(
            "Continue to &Train →", "dataNextButton", self.next_requested.emit
        )
        self.next_button.setEnabled(False)
        row.addWidget(self.next_button)
        self.body.addLayout(row)
        self.update_estimate()

    def _options_box(self) -> QWidget:
        box = QGroupBox("Options")
        form = QFormLayout(box)
        options = self.state.options
        self.image_size = named(
            QSpinBox(),
            "imageSizeSpin",
            "Image size in pixels",
            "Auto: each model's own size (224 px for the pretrained model, 32 or 96 px for the "
            "small CNN). Any other size is used for whichever model trains.",
        )
        self.image_size.setRange(0, MAX_IMAGE_SIZE)
        self.image_size.setSingleStep(32)
        self.image_size.setSuffix(" px")
        self.image_size.setSpecialValueText(AUTO_SIZE_TEXT)  # shown at 0
        self.image_size.setKeyboardTracking(False)  # typed "160" is 160, not 1, 16 and 160
        self.image_size.setValue(options.image_size)
        self.val_split = named(QDoubleSpinBox(), "valSplitSpin", "Validation split")
        self.val_split.setRange(0.05, 0.5)
        self.val_split.setSingleStep(0.05)
        self.val_split.setValue(options.val_split)
        self.batch_size = named(QSpinBox(), "batchSizeSpin", "Batch size")
        self.batch_size.setRange(1, 1024)
        self.batch_size.setValue(options.batch_size)
        self.augment = named(QCheckBox("Rotate, zoom, contrast"), "augmentCheck", "Augmentation")
        self.augment.setChecked(options.augment)
        self.flip = named(
            QCheckBox("Mirror left-right"), "flipCheck", "Mirror left-right", FLIP_HINT
        )
        self.flip.setChecked(options.flip)
        self.flip.setEnabled(self.augment.isChecked())
        self.augment.toggled.connect(self.flip.setEnabled)
        self.flip.clicked.connect(self._forget_mirror_before_sample)
        augmentation = QVBoxLayout()
        augmentation.setContentsMargins(0, 0, 0, 0)
        for widget in (self.augment, self.flip, wrap_label(FLIP_HINT, "flipHint")):
            augmentation.addWidget(widget)
        self.cache = named(QComboBox(), "cacheCombo", "Cache decoded images")
        self.cache.addItems(CACHE_CHOICES)
        self.cache.setCurrentText(options.cache)
        self.estimate = wrap_label("", "cacheEstimate")
        form.addRow("Image size:", self.image_size)
        form.addRow("Validation split:", self.val_split)
        form.addRow("Batch size:", self.batch_size)
        form.addRow("Augmentation:", augmentation)
        form.addRow("Cache:", self.cache)
        form.addRow(self.estimate)
        for spin in (self.image_size, self.batch_size):
            spin.valueChanged.connect(self.update_estimate)
        self.val_split.valueChanged.connect(self.update_estimate)
        for check in (self.augment, self.flip):
            check.toggled.connect(self.update_estimate)
        self.cache.currentTextChanged.connect(self.update_estimate)
        box.setMinimumWidth(280)
        return box

    def _take_options(self) -> None:
        """This page's controls into the shared options (the Train page reads them)."""
        options = self.state.options
        size = self.image_size.value()  # 0: Auto; a typed 1-31 means the smallest size
        if 0 < size < MIN_IMAGE_SIZE:
            self.image_size.setValue(MIN_IMAGE_SIZE)  # shown as used (comes back here)
            return
        options.image_size = size
        options.val_split = round(self.val_split.value(), 3)
        options.batch_size = self.batch_size.value()
        options.augment = self.augment.isChecked()
        options.flip = self.flip.isChecked()
        options.cache = self.cache.currentText()

    def update_estimate(self) -> None:
        self._take_options()
        options = self.state.options
        self.state.settings.save_options(options)
        scan = self.state.scan
        images = scan.total if scan is not None else 0
        # Auto: the size the run will get, for the model chosen on the Train page
        side = options.image_size
        if not side and scan is not None and scan.records:
            model = options.model if options.model in MODELS else AUTO  # a stale saved name
            side = model_image_size(model, [(r.width, r.height) for r in scan.records])
        size = estimate_cache_bytes(images, side)
        where = {
            "auto": "in memory when it fits, otherwise on disk",
            "memory": "in memory",
            "disk": "on disk, in the app's cache folder",
            "none": "not cached: images are decoded again every epoch (slowest)",
        }[options.cache]
        at = f" at {side} px, the model's own size" if not options.image_size else ""
        self.estimate.setText(
            f"Cache size: about {human_bytes(size)}{at} ({where})."
            if images
            else f"Cache: {where}. Scan a folder to see its size."
        )

    def browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self, "Choose the dataset folder", self.path_edit.text()
        )
        if folder:
            self.scan(folder)

    def use_sample(self) -> None:
        if self._mirror_before_sample is None:
            self._mirror_before_sample = self.flip.isChecked()
        self.flip.setChecked(False)  # handwritten digits: a mirrored 2 is not a 2
        self.scan(str(sample_data_dir()))

    def _forget_mirror_before_sample(self) -> None:
        self._mirror_before_sample = None

    def _restore_mirror_after_sample(self, folder: str) -> None:
        if self._mirror_before_sample is not None and Path(folder) != sample_data_dir():
            self.flip.setChecked(self._mirror_before_sample)
            self._mirror_before_sample = None

    @property
    def job(self) -> Job | None:
        return self.slot.job

    def scan(self, folder: str) -> None:
        folder = folder.strip()
        if not folder:
            self.state.report_error(
                "No folder chosen", "Type or choose a folder to scan.", "Or use the sample data."
            )
            return
        self._restore_mirror_after_sample(folder)
        self.path_edit.setText(folder)
        self._clear()
        self.summary.setText(f"Scanning {folder}…")
        self.slot.start(
            "scan",
            _scan_job(folder),
            on_result=lambda value: self._on_result(folder, *value),
            on_cancelled=lambda: self.summary.setText("Scan cancelled."),
            on_error=self._on_error,
        )

    def _clear(self) -> None:
        """Forget the previous folder: nothing of it may look like it belongs to the new one."""
        self._show_chart([], [])
        self.thumbs.clear()
        self.skipped.setRowCount(0)
        self.tabs.setTabText(2, "Skipped (0)")
        self.duplicates.clear()
        self.tabs.setTabText(self.tabs.indexOf(self.duplicates), "Duplicates")
        self.readiness.setText("")
        self.next_button.setEnabled(False)
        if self.state.scan is not None:
            self.state.set_scan(None)
        self.update_estimate()

    def _on_error(self, message: str, fix: str, details: str) -> None:
        self.summary.setText(f"Could not use this folder: {message}")
        self.state.report_error("Scan failed", message, fix, details)

    def _on_result(self, folder: str, scan: Any, thumbs: dict[str, list[Any]]) -> None:
        self.state.settings.last_folder = folder
        classes = scan.classes
        stats = scan.size_stats()
        lines = [
            f"{scan.total} images in {len(classes)} classes; {len(scan.skipped)} files skipped.",
        ]
        if stats:
            lines.append(
                f"Image sizes {stats['min_width']}×{stats['min_height']} to "
                f"{stats['max_width']}×{stats['max_height']} (median "
                f"{stats['median_width']:.0f}×{stats['median_height']:.0f})."
            )
        lines += [f"⚠ {warning}" for warning in scan.warnings]
        lines += [f"⚠ {p.message} What to do: {p.fix}" for p in scan.problems]
        self.summary.setText("\n".join(lines))
        self._show_chart([c.name for c in classes], [c.count for c in classes])
        self._show_thumbs(thumbs)
        self.skipped.setRowCount(len(scan.skipped))
        for row, skipped in enumerate(scan.skipped):
            self.skipped.setItem(row, 0, QTableWidgetItem(_relative(skipped.path, scan.root)))
            self.skipped.setItem(row, 1, QTableWidgetItem(skipped.reason))
        self.skipped.resizeColumnToContents(0)
        self.tabs.setTabText(2, f"Skipped ({len(scan.skipped)})")
        tab = self.tabs.indexOf(self.duplicates)
        self.duplicates.check(scan, lambda n: self.tabs.setTabText(tab, f"Duplicates ({n})"))
        self.state.set_scan(scan)
        blocker = training_blocker(scan)
        if blocker:
            ready, role = blocker, "verdict-fail"
        else:
            ready = f"Ready to train on {scan.total} images in {len(classes)} classes"
            ready += "; the ⚠ notes above do not stop training." if scan.problems else "."
            role = "verdict-ok"
        self.readiness.setText(ready)
        self.readiness.setProperty("role", role)
        self.readiness.style().polish(self.readiness)
        self.next_button.setEnabled(not blocker)
        self.next_button.setToolTip(blocker)
        self.update_estimate()

    def _show_chart(self, names: list[str], counts: list[int]) -> None:
        plot = self.chart.getPlotItem()
        plot.clear()
        xs = list(range(len(names)))
        plot.addItem(pg.BarGraphItem(x=xs, height=counts, width=0.6, brush="#0072B2"))
        plot.getAxis("bottom").setTicks([list(zip(xs, names, strict=True))])
        plot.setXRange(-0.6, len(names) - 0.4, padding=0)
        plot.setYRange(0, max(counts, default=1) * 1.1, padding=0)

    def _show_thumbs(self, thumbs: dict[str, list[Any]]) -> None:
        self.thumbs.clear()
        for name, images in thumbs.items():
            for path, image in images:
                item = QListWidgetItem(QIcon(QPixmap.fromImage(image)), name)
                item.setToolTip(path)
                self.thumbs.addItem(item)
