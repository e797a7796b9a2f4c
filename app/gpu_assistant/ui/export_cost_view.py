"""The export cost table in the window: what each format weighs and how fast it answers here.

`training.export_cost.cost_report` (run in a child, like every model job) exports TFLite,
int8 TFLite and ONNX beside the Keras model, re-scores each on the validation images and
times it on this CPU; this dialog shows that table as `export/report.json` holds it, with the
reason in place of the numbers for a format that could not be made.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from gpu_assistant.ui.widgets import named, wrap_label

COLUMNS = (
    "Format",
    "Runtime",
    "File",
    "Size",
    "p50 per image",
    "p95 per image",
    "Agrees",
    "Accuracy",
    "Note",
)
FORMAT_NAMES = {
    "keras": "Keras",
    "tflite": "TFLite",
    "tflite_int8": "TFLite int8",
    "onnx": "ONNX",
}


def cost_rows(table: dict[str, Any]) -> list[list[str]]:
    """One row of text per format, in COLUMNS' order; a format that could not be made says
    why in its Note and leaves the figures empty."""
    rows = []
    for row in table.get("formats", []):
        name = FORMAT_NAMES.get(row.get("format", ""), str(row.get("format", "")))
        file = str(row.get("file", ""))
        if "size_bytes" not in row:
            rows.append([name, "", file, "", "", "", "", "", f"not made: {row.get('why', '')}"])
            continue
        rows.append(
            [
                name,
                str(row.get("runtime", "")),
                file,
                _size(int(row["size_bytes"])),
                f"{row['p50_ms']:.1f} ms",
                f"{row['p95_ms']:.1f} ms",
                f"{row['agreement']:.1%}",
                f"{row['accuracy']:.1%}",
                f"⚠ {row['why']}" if row.get("why") else "",
            ]
        )
    return rows


def _size(size_bytes: int) -> str:
    return f"{size_bytes / 2**20:.1f} MB" if size_bytes >= 2**20 else f"{size_bytes / 1024:.0f} KB"


class CostDialog(QDialog):
    """The table, with where the files and report.json were written."""

    def __init__(self, table: dict[str, Any], out_dir: Path, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Export formats compared")
        self.setObjectName("costDialog")
        layout = QVBoxLayout(self)
        images = table.get("validation_images", 0)
        layout.addWidget(
            wrap_label(
                f"Each format re-scored on the {images} validation images and timed one image "
                "at a time on this computer's CPU (agrees: the same answer as the Keras "
                f"model). Files and report.json: {out_dir}",
                "costSummary",
            )
        )
        rows = cost_rows(table)
        self.table = named(QTableWidget(len(rows), len(COLUMNS)), "costTable", "Export costs")
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        for r, cells in enumerate(rows):
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(text)  # the note can be longer than its column
                self.table.setItem(r, c, item)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        layout.addWidget(self.table)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.resize(1100, 300)
