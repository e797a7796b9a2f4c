"""Page 5, Results: how good the model is, where it goes wrong (click the confusion matrix),
try it on a new image, export it, open the run folder.

Everything shown comes from the run folder (evaluation.json, metrics.json), so a run trained
from the command line looks the same here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QListView,
    QListWidget,
    QListWidgetItem,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from gpu_assistant.jobs import CancelToken, Report
from gpu_assistant.ui.audit import MislabelsView
from gpu_assistant.ui.export_cost_view import CostDialog
from gpu_assistant.ui.folders import open_folder
from gpu_assistant.ui.job_slot import JobSlot
from gpu_assistant.ui.model_process import (
    cost_in_child,
    explain_in_child,
    export_in_child,
    predict_in_child,
)
from gpu_assistant.ui.state import AppState
from gpu_assistant.ui.thumbnails import THUMB_PX, load_thumbnail
from gpu_assistant.ui.widgets import DropArea, Page, button, named, wrap_label

NO_RUN = "Train a model, or open an earlier run on the Runs page: its results appear here."
PREVIEW_PX = 128  # small images (the sample set is 32 px) are scaled up to stay visible
STRETCH_MATRIX_UP_TO = 12  # classes; more keep their content size and scroll
ROWS_SHOWN = 8  # confusion-matrix rows kept on screen before it scrolls (8 classes, 1024x700)
# The formats the app reads (data/images.py), for the file dialog.
IMAGE_FILTER = "Images (*.jpg *.jpeg *.jpe *.jfif *.png *.bmp *.gif *.webp *.tif *.tiff)"
EXPORT_FORMATS = (
    ("Keras + labels", ("keras", "labels"), "keras"),
    ("SavedModel", ("savedmodel",), "savedmodel"),
    ("TFLite", ("tflite",), "tflite"),
    ("Python training script", ("script",), "script"),
)


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def _load_run_job(run_dir: Path) -> Any:
    def job(_report: Report, cancel: CancelToken) -> dict[str, Any]:
        evaluation = _read_json(run_dir / "evaluation.json")
        metrics = _read_json(run_dir / "metrics.json")
        thumbs = {}
        for item in evaluation.get("misclassified", []):
            cancel.raise_if_cancelled()
            if item.get("path"):
                thumbs[item["path"]] = load_thumbnail(item["path"])
        return {"evaluation": evaluation, "metrics": metrics, "thumbs": thumbs}

    return job


def _predict_job(model: Path, image: Path, server: Any) -> Any:
    def job(report: Report, cancel: CancelToken) -> Any:
        return predict_in_child(model, [image], report, cancel, server=server)[0]

    return job


def _explain_job(model: Path, image: Path, out_dir: Path, server: Any) -> Any:
    def job(report: Report, cancel: CancelToken) -> Any:
        return explain_in_child(model, image, out_dir, report, cancel, server=server)

    return job


def _export_job(model: Path, formats: list[str], out_dir: Path) -> Any:
    def job(report: Report, cancel: CancelToken) -> Any:
        return export_in_child(model, formats, out_dir, report, cancel)

    return job


def _cost_job(run_dir: Path, out_dir: Path) -> Any:
    def job(report: Report, cancel: CancelToken) -> Any:
        return cost_in_child(run_dir, out_dir, report, cancel)

    return job


def _show_rows(table: QTableWidget, most: int) -> None:
    """Keep room for the table's first `most` rows: the examples and the Try box below would
    otherwise take the height and leave the matrix three rows and a scroll bar (1024x700)."""
    rows = min(table.rowCount(), most)
    height = table.horizontalHeader().sizeHint().height() + 2 * table.frameWidth()
    table.setMinimumHeight(height + rows * table.verticalHeader().minimumSectionSize())


class ResultsPage(Page):
    def __init__(self, state: AppState) -> None:
        super().__init__(
            "Results",
            "How well the model does on the validation images it never trained on. Click a cell "
            "of the confusion matrix to see those images.",
        )
        self.state = state
        self.run_dir: Path | None = None
        self.evaluation: dict[str, Any] = {}
        self.metrics: dict[str, Any] = {}
        self.thumbs: dict[str, Any] = {}
        self.folder_dialog: Any = None
        self.cost_dialog: CostDialog | None = None
        self.load_slot = JobSlot(state.runner, parent=self)
        self.predict_slot = JobSlot(state.runner, parent=self)
        self.export_slot = JobSlot(state.runner, parent=self)
        self.summary = wrap_label(NO_RUN, "resultsSummary")
        self.body.addWidget(self.summary)
        self.warning = wrap_label("", "resultsWarning")
        self.warning.setProperty("role", "verdict-warn")
        self.warning.setVisible(False)
        self.body.addWidget(self.warning)

        grid = QGridLayout()
        self.matrix = named(QTableWidget(), "confusionMatrix", "Confusion matrix")
        self.matrix.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.matrix.cellClicked.connect(self.show_cell)
        self.matrix.cellActivated.connect(self.show_cell)  # keyboard: Enter on a cell
        self.per_class = named(QTableWidget(0, 4), "perClassTable", "Per-class accuracy")
        self.per_class.setHorizontalHeaderLabels(("Class", "Accuracy", "Precision", "Images"))
        self.per_class.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.per_class.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.per_class.verticalHeader().hide()
        rows = self.per_class.verticalHeader()
        rows.setDefaultSectionSize(rows.minimumSectionSize())  # as compact as the matrix's rows
        grid.addWidget(
            self._boxed("Confusion matrix (rows: true class, columns: predicted)", self.matrix),
            0,
            0,
        )
        grid.addWidget(self._boxed("Per-class accuracy", self.per_class), 0, 1)
        # The matrix and the table get more of the height than the examples below: at
        # 1024x700 an even split left the matrix three rows and a scroll bar.
        grid.setRowStretch(0, 3)
        grid.setRowStretch(1, 2)
        self.cell_label = wrap_label("Misclassified validation images", "misclassifiedLabel")
        self.examples = named(QListWidget(), "misclassifiedList", "Misclassified images")
        self.examples.setViewMode(QListView.ViewMode.IconMode)
        self.examples.setIconSize(QSize(THUMB_PX, THUMB_PX))
        self.examples.setResizeMode(QListView.ResizeMode.Adjust)
        self.examples.setMovement(QListView.Movement.Static)
        self.examples.setSpacing(6)
        box = QGroupBox("Where it goes wrong")
        misclassified = QWidget()
        layout = QVBoxLayout(misclassified)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.cell_label)
        layout.addWidget(self.examples)
        self.mislabels = MislabelsView(state)
        self.wrong_tabs = QTabWidget()
        self.wrong_tabs.addTab(misclassified, "Misclassified")
        self.wrong_tabs.addTab(self.mislabels, "May be in the wrong folder")
        QVBoxLayout(box).addWidget(self.wrong_tabs)
        grid.addWidget(box, 1, 0)
        grid.addWidget(self._try_box(), 1, 1)
        self.body.addLayout(grid, 1)

        row = QHBoxLayout()
        self.export_buttons = []
        for label, formats, key in EXPORT_FORMATS:
            widget = button(
                f"Export {label}",
                f"export_{key}Button",
                lambda f=formats: self.export(list(f)),  # type: ignore[misc]
                f"Write {label} into the run folder's export/ sub-folder; model formats are "
                "re-scored on the validation images to prove they match the app.",
            )
            self.export_buttons.append(widget)
            row.addWidget(widget)
        self.cost_button = button(
            "&Compare formats…",
            "compareFormatsButton",
            self.compare_formats,
            "Export TFLite, int8 TFLite and ONNX, re-score each on the validation images and "
            "time it on this computer: file size, milliseconds per image, agreement.",
        )
        self.export_buttons.append(self.cost_button)
        row.addWidget(self.cost_button)
        self.open_button = button("&Open run folder", "openRunFolderButton", self.open_run_folder)
        row.addStretch(1)
        row.addWidget(self.open_button)
        self.body.addLayout(row)
        self.status = wrap_label("", "resultsStatus")
        self.body.addWidget(self.status)
        self._set_enabled(False)
        state.run_finished.connect(self.load_run)
        state.run_deleted.connect(self._on_deleted)

    def _boxed(self, title: str, widget: Any) -> QGroupBox:
        box = QGroupBox(title)
        QVBoxLayout(box).addWidget(widget)
        return box

    def _try_box(self) -> QGroupBox:
        box = QGroupBox("Try an image")
        self.drop = DropArea()
        self.drop.dropped.connect(lambda paths: self.try_image(paths[0]))
        layout = QVBoxLayout(self.drop)
        self.try_button = button("Choose an &image…", "tryImageButton", self.choose_image)
        self.try_preview = named(
            wrap_label("or drop an image here", "tryPreview"), "tryPreview", "Image tried"
        )
        self.try_preview.setMinimumHeight(PREVIEW_PX + 8)
        self.prediction = wrap_label("", "predictionLabel")
        self.why_button = button(
            "&Why? (heatmap)",
            "explainButton",
            self.explain_image,
            "Where the model looked for its answer (Grad-CAM on its last convolutional "
            "features), drawn over the image.",
        )
        self.why_button.setEnabled(False)
        self.tried: Path | None = None
        # The answer beside the picture, not under it: stacked, the box's height kept the
        # confusion matrix above to three rows and a scroll bar at 1024x700.
        self.try_preview.setFixedWidth(PREVIEW_PX + 8)
        self.try_preview.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignHCenter)
        answer = QVBoxLayout()
        answer.addWidget(self.prediction, 1, Qt.AlignmentFlag.AlignTop)
        answer.addWidget(self.why_button)
        side_by_side = QHBoxLayout()
        side_by_side.addWidget(self.try_preview)
        side_by_side.addLayout(answer, 1)
        layout.addWidget(self.try_button)
        layout.addLayout(side_by_side, 1)
        QVBoxLayout(box).addWidget(self.drop)
        return box

    def _set_enabled(self, enabled: bool) -> None:
        for widget in (*self.export_buttons, self.open_button, self.try_button):
            widget.setEnabled(enabled)

    # -- loading a run -------------------------------------------------------------------------
    def load_run(self, run_dir: Path) -> None:
        """Show `run_dir`; everything of the previous run goes first (prediction, cell, export)."""
        self.predict_slot.discard()
        self.export_slot.discard()
        self.run_dir = Path(run_dir)
        self.mislabels.show_run(self.run_dir)
        self._clear(f"Loading {self.run_dir}…")
        self.load_slot.start(
            "load results",
            _load_run_job(self.run_dir),
            on_result=self.show_run,
            on_error=lambda m, f, d: self.state.report_error("Could not read results", m, f, d),
        )

    def _clear(self, summary: str) -> None:
        self.evaluation, self.metrics, self.thumbs = {}, {}, {}
        self.summary.setText(summary)
        self._set_warning("")
        self.matrix.clear()
        self.matrix.setRowCount(0)
        self.matrix.setColumnCount(0)
        self.per_class.setRowCount(0)
        for table in (self.matrix, self.per_class):
            table.setMinimumHeight(0)  # the next run's class count sets it again
        self.show_examples([], "Misclassified validation images")
        self.try_preview.clear()
        self.try_preview.setText("or drop an image here")
        self.tried = None
        self.why_button.setEnabled(False)
        self.prediction.setText("")
        self.status.setText("")
        self._set_enabled(False)

    def _on_deleted(self, run_dir: Path) -> None:
        if self.run_dir is not None and Path(run_dir) == self.run_dir:
            self.load_slot.discard()
            self.predict_slot.discard()
            self.export_slot.discard()
            self.run_dir = None
            self._clear(NO_RUN)

    def show_run(self, loaded: dict[str, Any]) -> None:
        self.evaluation, self.thumbs = loaded["evaluation"], loaded["thumbs"]
        self.metrics = loaded["metrics"]
        evaluation = self.evaluation
        status = self.metrics.get("status")
        best = self.metrics.get("best_epoch")
        stopped = status == "cancelled"
        why = "" if stopped else " (lowest validation loss)"  # a stop keeps the last epoch
        kept = f" The weights of epoch {best}{why} were kept." if best else ""
        if not evaluation:
            final = self.metrics.get("final") or {}
            accuracy = final.get("val_accuracy")
            epochs = len(self.metrics.get("history") or [])
            shown = f"{accuracy:.1%}" if isinstance(accuracy, int | float) else "not measured"
            self.summary.setText(
                f"{'Stopped' if stopped else 'Unfinished'} after {epochs} completed epoch(s): "
                f"validation accuracy {shown} in its last epoch.{kept} It was not scored on the "
                "validation images (no confusion matrix): resume it on the Runs page to finish "
                f"and score it. Run folder: {self.run_dir}"
            )
            self._set_enabled(True)
            return
        names = evaluation["class_names"]
        accuracy = evaluation.get("accuracy")
        accuracy_text = f"{accuracy:.1%}" if accuracy is not None else "—"
        how = "Stopped by you; these are the kept epoch's results. " if stopped else ""
        self.summary.setText(
            f"{how}Validation accuracy {accuracy_text} on {evaluation.get('samples', 0)} images; "
            f"{evaluation.get('misclassified_count', 0)} misclassified.{kept} "
            f"Run folder: {self.run_dir}"
        )
        self._set_warning(trust_warning(evaluation))
        matrix = evaluation["confusion_matrix"]
        self.matrix.setRowCount(len(names))
        self.matrix.setColumnCount(len(names))
        self.matrix.setHorizontalHeaderLabels(names)
        self.matrix.setVerticalHeaderLabels(names)
        peak = max((max(row) for row in matrix), default=1) or 1
        for r, row in enumerate(matrix):
            for c, count in enumerate(row):
                item = QTableWidgetItem(str(count))
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                shade = QColor("#009E73" if r == c else "#D55E00")
                shade.setAlphaF(0.15 + 0.6 * count / peak if count else 0.0)
                item.setBackground(shade)
                item.setToolTip(f"true {names[r]}, predicted {names[c]}: {count} images")
                self.matrix.setItem(r, c, item)
        # A few classes fill the box (no small grid in a corner); many keep their content size
        # and scroll.
        mode = (
            QHeaderView.ResizeMode.Stretch
            if len(names) <= STRETCH_MATRIX_UP_TO
            else QHeaderView.ResizeMode.ResizeToContents
        )
        for header in (self.matrix.horizontalHeader(), self.matrix.verticalHeader()):
            header.setSectionResizeMode(mode)
        self.per_class.setRowCount(len(evaluation["per_class"]))
        for r, entry in enumerate(evaluation["per_class"]):
            cells = (
                entry["class"],
                _percent(entry.get("accuracy")),
                _percent(entry.get("precision")),
                str(entry.get("support", 0)),
            )
            for c, text in enumerate(cells):
                self.per_class.setItem(r, c, QTableWidgetItem(text))
        for table in (self.matrix, self.per_class):
            _show_rows(table, ROWS_SHOWN)
        self.show_examples(evaluation.get("misclassified", []), "Misclassified validation images")
        self._set_enabled(True)

    def _set_warning(self, text: str) -> None:
        self.warning.setText(text)
        self.warning.setVisible(bool(text))

    def show_cell(self, row: int, column: int) -> None:
        names = self.evaluation.get("class_names", [])
        if not names:
            return
        true, predicted = names[row], names[column]
        if row == column:
            count = self.evaluation["confusion_matrix"][row][column]
            self.show_examples(
                [],
                f"{count} validation image(s) of class “{true}” were classified correctly "
                "(only the misclassified ones are kept to look at).",
            )
            return
        items = [
            m
            for m in self.evaluation.get("misclassified", [])
            if m["true"] == true and m["predicted"] == predicted
        ]
        self.show_examples(items, f"True {true}, predicted {predicted}: {len(items)} shown")

    def show_examples(self, items: list[dict[str, Any]], caption: str) -> None:
        self.cell_label.setText(caption)
        self.examples.clear()
        for entry in items:
            image = self.thumbs.get(entry.get("path") or "")
            icon = QIcon(QPixmap.fromImage(image)) if image is not None else QIcon()
            text = f"{entry['predicted']} ({entry.get('confidence', 0):.0%})\ntrue: {entry['true']}"
            item = QListWidgetItem(icon, text)
            item.setToolTip(entry.get("path") or "")
            self.examples.addItem(item)

    # -- actions -------------------------------------------------------------------------------
    def choose_image(self) -> None:
        start = str(self.state.scan.root) if self.state.scan is not None else ""
        path, _ = QFileDialog.getOpenFileName(self, "Choose an image", start, IMAGE_FILTER)
        if path:
            self.try_image(Path(path))

    def try_image(self, image: Path) -> None:
        if self.run_dir is None:
            self.state.report_error(
                "No model yet", "Train a model first.", "Use the Train page, or open a run."
            )
            return
        self._preview(image)
        self.tried = Path(image)
        # Why? once the prediction is in: asked meanwhile, it cancelled the prediction, and a
        # cancelled request ends the kept model process (the next one reloads TensorFlow).
        self.why_button.setEnabled(False)
        self.prediction.setText("Predicting… (the first one loads TensorFlow)")
        self.predict_slot.start(
            "predict",
            _predict_job(self.run_dir / "model.keras", image, self.state.models),
            on_result=self._show_prediction,
            on_error=self._prediction_failed,
        )

    def _preview(self, image: Path) -> None:
        preview = load_thumbnail(image, PREVIEW_PX)
        if preview is not None:
            pixmap = QPixmap.fromImage(preview).scaled(
                PREVIEW_PX,
                PREVIEW_PX,
                Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.SmoothTransformation,
            )
            self.try_preview.setPixmap(pixmap)

    def explain_image(self) -> None:
        """The heatmap of the image tried, computed in a child, shown in place of it."""
        if self.run_dir is None or self.tried is None:
            return
        model, out = self.run_dir / "model.keras", self.run_dir / "explain"
        self.why_button.setEnabled(False)  # asked twice, the second would cancel the first
        self.predict_slot.start(
            "explain",
            _explain_job(model, self.tried, out, self.state.models),
            on_result=self._show_heatmap,
            on_error=lambda m, f, d: self.state.report_error("Could not explain it", m, f, d),
            on_finished=lambda: self.why_button.setEnabled(self.tried is not None),
        )

    def _show_heatmap(self, done: dict[str, Any]) -> None:
        if "heatmap" in done:
            self._preview(Path(done["heatmap"]))

    def _prediction_failed(self, message: str, fix: str, details: str) -> None:
        self.prediction.setText("")
        self.state.report_error("Prediction failed", message, fix, details)

    def _show_prediction(self, prediction: Any) -> None:
        if prediction.error:
            self.prediction.setText("")
            self.state.report_error(
                "Cannot read this image",
                prediction.error,
                "Choose a JPEG, PNG, BMP, GIF, WebP or TIFF file.",
            )
            return
        self.prediction.setText(
            f"<b>{prediction.label}</b> ({prediction.confidence:.0%})<br>"
            + "<br>".join(f"{name}: {p:.0%}" for name, p in prediction.top)
        )
        self.why_button.setEnabled(True)

    def export(self, formats: list[str]) -> None:
        if self.run_dir is None:
            return
        out_dir = self.run_dir / "export"
        self.status.setText(f"Exporting {', '.join(formats)}…")
        model = self.run_dir / "model.keras"
        self.export_slot.start(
            "export",
            _export_job(model, formats, out_dir),
            on_result=self._exported,
            on_error=self._export_failed,
        )

    def compare_formats(self) -> None:
        if self.run_dir is None:
            return
        out_dir = self.run_dir / "export"
        self.status.setText("Exporting TFLite, int8 TFLite and ONNX, and timing each…")
        self.export_slot.start(
            "export costs",
            _cost_job(self.run_dir, out_dir),
            on_result=lambda table: self._compared(table, out_dir),
            on_error=self._export_failed,
        )

    def _compared(self, table: dict[str, Any], out_dir: Path) -> None:
        self.status.setText(f"Compared {len(table.get('formats', []))} formats: {out_dir}.")
        self.cost_dialog = CostDialog(table, out_dir, self)
        self.cost_dialog.open()

    def _export_failed(self, message: str, fix: str, details: str) -> None:
        self.status.setText("Export failed.")
        self.state.report_error("Export failed", message, fix, details)

    def _exported(self, result: Any) -> None:
        text = f"Exported {', '.join(result.paths)} to {result.out_dir}."
        if result.accuracy and result.reference_accuracy is not None:
            scores = ", ".join(f"{name} {value:.1%}" for name, value in result.accuracy.items())
            text += f" Re-scored: {scores} (the app: {result.reference_accuracy:.1%})."
        mismatched = result.mismatches()
        if mismatched:
            text += f" ⚠ {', '.join(mismatched)} disagree with the app; see export.json."
        self.status.setText(text)

    def open_run_folder(self) -> None:
        if self.run_dir is not None:
            self.folder_dialog = open_folder(self, self.run_dir)


def trust_warning(evaluation: dict[str, Any]) -> str:
    """The engine's reasons not to trust this accuracy (training.evaluate), one line each."""
    from gpu_assistant.training.evaluate import trust_warnings

    return "\n".join(f"⚠ {note}" for note in trust_warnings(evaluation))


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"
