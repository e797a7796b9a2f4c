"""Exports that report their cost: int8 TFLite and ONNX beside the float TFLite, each
re-scored against the Keras model (agreement >= 0.99, or the report says why)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from data_factory import make_class_folder
from gpu_assistant.jobs import CancelToken
from gpu_assistant.training.export_cost import AGREEMENT, cost_report
from gpu_assistant.training.settings import TrainSettings
from gpu_assistant.training.trainer import train

pytestmark = [pytest.mark.tf, pytest.mark.slow]


def test_every_export_agrees_or_says_why(tmp_path: Path) -> None:
    data = make_class_folder(tmp_path / "data", {"red": 12, "green": 12, "blue": 12})
    settings = TrainSettings(
        data_dir=data,
        out_dir=tmp_path / "run",
        image_size=32,
        batch_size=8,
        epochs=2,
        augment=False,
    )
    train(settings, lambda _event: None, CancelToken())

    table = cost_report(tmp_path / "run", tmp_path / "run" / "export")

    rows = {row["format"]: row for row in table["formats"]}
    assert set(rows) == {"keras", "tflite", "tflite_int8", "onnx"}
    assert rows["keras"]["agreement"] == 1.0
    for row in rows.values():
        assert row.get("agreement", 0) >= AGREEMENT or row.get("why"), row
        if "agreement" in row:
            assert row["size_bytes"] > 0 and 0 < row["p50_ms"] <= row["p95_ms"]
    assert rows["tflite_int8"]["size_bytes"] < rows["tflite"]["size_bytes"]
    saved = json.loads((tmp_path / "run" / "export" / "report.json").read_text())
    assert saved == table
