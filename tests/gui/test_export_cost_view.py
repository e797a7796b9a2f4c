"""The export cost table as the window shows it: a row per format, reasons where one failed."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QLabel, QTableWidget

from gpu_assistant.ui.export_cost_view import CostDialog, cost_rows

TABLE = {
    "validation_images": 144,
    "formats": [
        {
            "format": "keras",
            "file": "model.keras",
            "runtime": "Keras",
            "size_bytes": 3_500_000,
            "agreement": 1.0,
            "accuracy": 0.9722,
            "p50_ms": 21.4,
            "p95_ms": 25.05,
        },
        {
            "format": "tflite_int8",
            "file": "model-int8.tflite",
            "runtime": "TFLite interpreter",
            "size_bytes": 90_000,
            "agreement": 0.9861,
            "accuracy": 0.9653,
            "p50_ms": 0.4,
            "p95_ms": 0.61,
            "why": "2 of 144 answers differ (int8 rounding)",
        },
        {"format": "onnx", "file": "model.onnx", "why": "onnxruntime is not installed"},
    ],
}


def test_rows_say_size_speed_agreement_and_why() -> None:
    keras, int8, onnx = cost_rows(TABLE)
    assert keras == [
        "Keras",
        "Keras",
        "model.keras",
        "3.3 MB",
        "21.4 ms",
        "25.1 ms",
        "100.0%",
        "97.2%",
        "",
    ]
    assert (int8[3], int8[6]) == ("88 KB", "98.6%")
    assert int8[8] == "⚠ 2 of 144 answers differ (int8 rounding)"
    assert onnx == ["ONNX", "", "model.onnx", *[""] * 5, "not made: onnxruntime is not installed"]


def test_the_dialog_shows_every_format(qtbot) -> None:
    dialog = CostDialog(TABLE, Path("/runs/r1/export"))
    qtbot.addWidget(dialog)
    table = dialog.findChild(QTableWidget, "costTable")
    assert table.rowCount() == 3
    assert table.item(2, 8).text().startswith("not made")
    summary = dialog.findChild(QLabel, "costSummary")
    assert "144 validation images" in summary.text() and "/runs/r1/export" in summary.text()
