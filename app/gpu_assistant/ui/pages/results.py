"""Page 5, Results: how good the model is, where it goes wrong (click the confusion matrix),
try it on a new image, export it, open the run folder.

Everything shown comes from the run folder (evaluation.json, metrics.json), so a run trained
from the command line looks the same here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSize, Qt, QUrl
from PySide6.QtGui import QColor, QDesktopServices, QIcon, QPixmap
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
    QVBoxLayout,
)

from gpu_assistant.jobs import CancelToken, Report
from gpu_assistant.ui.model_process import export_in_child, predict_in_child
from gpu_assistant.ui.state import AppState
from gpu_assistant.ui.thumbnails import THUMB_PX, load_thumbnail
from gpu_assistant.ui.widgets import DropArea, Page, button, named, wrap_label

PREVIEW_PX = 128  # small images (the sample set is 32 px) are scaled up to stay visible
STRETCH_MATRIX_UP_TO = 12  # classes; more keep their content size and scroll
EXPORT_FORMATS = (
    ("Keras + labels", ("keras", "labels"), "keras"),
    ("SavedModel", ("savedmodel",), "savedmodel"),
    ("TFLite", ("tflite",), "tflite"),
    ("Python training script", ("script",), "script"),
)


def _load_run_job(run_dir: Path) -> Any:
    def job(_report: Report, cancel: CancelToken) -> dict[str, Any]:
        evaluation = json.loads((run_dir / "evaluation.json").read_text(encoding="utf-8"))
        metrics_file = run_dir / "metrics.json"
        metrics = (
            json.loads(metrics_file.read_text(encoding="utf-8")) if metrics_file.exists() else {}
        )
        thumbs = {}
        for item in evaluation.get("misclassified", []):
            cancel.raise_if_cancelled()
            if item.get("path"):
                thumbs[item["path"]] = load_thumbnail(item["path"])
        return {"evaluation": evaluation, "metrics": metrics, "thumbs": thumbs}

    return job


def _predict_job(model: Path, image: Path) -> Any:
    def job(report: Report, cancel: CancelToken) -> Any:
        return predict_in_child(model, [image], report, cancel)[0]

    return job


def _export_job(model: Path, formats: list[str], out_dir: Path) -> Any:
    def job(report: Report, cancel: CancelToken) -> Any:
        return export_in_child(model, formats, out_dir, report, cancel)

    return job


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
        self.thumbs: dict[str, Any] = {}
        self.summary = wrap_label("Train a model first: its results appear here.", "resultsSummary")
        self.body.addWidget(self.summary)

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
        grid.addWidget(
            self._boxed("Confusion matrix (rows: true class, columns: predicted)", self.matrix),
            0,
            0,
        )
        grid.addWidget(self._boxed("Per-class accuracy", self.per_class), 0, 1)
        self.cell_label = wrap_label("Misclassified validation images", "misclassifiedLabel")
        self.examples = named(QListWidget(), "misclassifiedList", "Misclassified images")
        self.examples.setViewMode(QListView.ViewMode.IconMode)
        self.examples.setIconSize(QSize(THUMB_PX, THUMB_PX))
        self.examples.setResizeMode(QListView.ResizeMode.Adjust)
        self.examples.setMovement(QListView.Movement.Static)
        self.examples.setSpacing(6)
        box = QGroupBox("Where it goes wrong")
        layout = QVBoxLayout(box)
        layout.addWidget(self.cell_label)
        layout.addWidget(self.examples)
        grid.addWidget(box, 1, 0)
        grid.addWidget(self._try_box(), 1, 1)
        self.body.addLayout(grid, 1)

        row = QHBoxLayout()
        self.export_buttons = []
        for label, formats, key in EXPORT_FORMATS:
            widget = button(
                f"Export {label}",
                f"export_{key}Button",
                lambda f=formats: self.export(list(f)),
                f"Write {label} into the run folder's export/ sub-folder; model formats are "
                "re-scored on the validation images to prove they match the app.",
            )
            self.export_buttons.append(widget)
            row.addWidget(widget)
        self.open_button = button("&Open run folder", "openRunFolderButton", self.open_run_folder)
        row.addStretch(1)
        row.addWidget(self.open_button)
        self.body.addLayout(row)
        self.status = wrap_label("", "resultsStatus")
        self.body.addWidget(self.status)
        self._set_enabled(False)
        state.run_finished.connect(self.load_run)

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
        self.try_preview.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.try_preview.setMinimumHeight(PREVIEW_PX + 8)
        self.prediction = wrap_label("", "predictionLabel")
        layout.addWidget(self.try_button)
        layout.addWidget(self.try_preview, 1)
        layout.addWidget(self.prediction)
        QVBoxLayout(box).addWidget(self.drop)
        return box

    def _set_enabled(self, enabled: bool) -> None:
        for widget in (*self.export_buttons, self.open_button, self.try_button):
            widget.setEnabled(enabled)

    # -- loading a run -------------------------------------------------------------------------
    def load_run(self, run_dir: Path) -> None:
        self.run_dir = Path(run_dir)
        job = self.state.runner.start("load results", _load_run_job(self.run_dir))
        job.result.connect(self.show_run)
        job.error.connect(
            lambda m, f, d: self.state.report_error("Could not read results", m, f, d)
        )

    def show_run(self, loaded: dict[str, Any]) -> None:
        self.evaluation, self.thumbs = loaded["evaluation"], loaded["thumbs"]
        evaluation = self.evaluation
        names = evaluation["class_names"]
        accuracy = evaluation.get("accuracy")
        accuracy_text = f"{accuracy:.1%}" if accuracy is not None else "—"
        self.summary.setText(
            f"Validation accuracy {accuracy_text} on {evaluation.get('samples', 0)} images; "
            f"{evaluation.get('misclassified_count', 0)} misclassified. Run folder: {self.run_dir}"
        )
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
        self.show_examples(evaluation.get("misclassified", []), "Misclassified validation images")
        self._set_enabled(True)

    def show_cell(self, row: int, column: int) -> None:
        names = self.evaluation.get("class_names", [])
        if not names:
            return
        true, predicted = names[row], names[column]
        if row == column:
            count = self.evaluation["confusion_matrix"][row][column]
            self.show_examples([], f"{count} {true} images were classified correctly.")
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
        path, _ = QFileDialog.getOpenFileName(
            self, "Choose an image", "", "Images (*.jpg *.jpeg *.png *.bmp *.gif *.webp)"
        )
        if path:
            self.try_image(Path(path))

    def try_image(self, image: Path) -> None:
        if self.run_dir is None:
            self.state.report_error("No model yet", "Train a model first.", "Use the Train page.")
            return
        preview = load_thumbnail(image, PREVIEW_PX)
        if preview is not None:
            pixmap = QPixmap.fromImage(preview).scaled(
                PREVIEW_PX,
                PREVIEW_PX,
                Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.SmoothTransformation,
            )
            self.try_preview.setPixmap(pixmap)
        self.prediction.setText("Predicting…")
        job = self.state.runner.start("predict", _predict_job(self.run_dir / "model.keras", image))
        job.result.connect(self._show_prediction)
        job.error.connect(self._prediction_failed)

    def _prediction_failed(self, message: str, fix: str, details: str) -> None:
        self.prediction.setText("")
        self.state.report_error("Prediction failed", message, fix, details)

    def _show_prediction(self, prediction: Any) -> None:
        if prediction.error:
            self.prediction.setText("")
            self.state.report_error(
                "Cannot read this image", prediction.error, "Choose a JPEG, PNG, BMP or GIF file."
            )
            return
        self.prediction.setText(
            f"<b>{prediction.label}</b> ({prediction.confidence:.0%})<br>"
            + "<br>".join(f"{name}: {p:.0%}" for name, p in prediction.top)
        )

    def export(self, formats: list[str]) -> None:
        if self.run_dir is None:
            return
        out_dir = self.run_dir / "export"
        self.status.setText(f"Exporting {', '.join(formats)}…")
        model = self.run_dir / "model.keras"
        job = self.state.runner.start("export", _export_job(model, formats, out_dir))
        job.result.connect(self._exported)
        job.error.connect(self._export_failed)

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
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.run_dir)))


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"
