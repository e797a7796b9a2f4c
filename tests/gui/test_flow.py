"""The whole path with real TensorFlow on the CPU: sample data -> scan -> train -> results.

Also: Stop during training, and closing the window during training (thread stopped, the last
completed epoch's checkpoint kept). Images are 32 px and epochs short to keep this quick.
"""

from __future__ import annotations

from unittest import mock

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QPushButton

from gpu_assistant.data.sample import sample_data_dir

pytestmark = [pytest.mark.tf, pytest.mark.slow]


def _scan_sample(window, qtbot) -> None:
    window.go(2)
    data = window.page("data")
    data.image_size.setValue(32)
    data.augment.setChecked(False)
    data.cache.setCurrentText("memory")
    qtbot.mouseClick(window.findChild(QPushButton, "useSampleButton"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.state.scan is not None, timeout=60_000)


def _start(window, qtbot, epochs: int) -> None:
    window.go(3)
    train = window.page("train")
    train.epochs.setValue(epochs)
    qtbot.mouseClick(train.start_button, Qt.MouseButton.LeftButton)
    assert train.job is not None and train.stop_button.isEnabled()


def test_sample_data_to_results(make_window, qtbot):
    window = make_window()
    _scan_sample(window, qtbot)
    data = window.page("data")
    scan = window.state.scan
    assert len(scan.class_names) >= 2 and scan.total > 100
    assert f"{scan.total} images in {len(scan.class_names)} classes" in data.summary.text()
    assert data.thumbs.count() >= len(scan.class_names)
    assert "Cache size: about" in data.estimate.text()
    assert data.next_button.isEnabled()

    _start(window, qtbot, epochs=1)
    results = window.page("results")
    qtbot.waitUntil(lambda: bool(results.evaluation), timeout=240_000)
    train = window.page("train")
    assert train.job is None and train.start_button.isEnabled()
    assert train.last_result.status in {"completed", "stopped_early"}
    assert len(train.loss_plot.series("val loss")[1]) == 1
    assert len(train.loss_plot.series("train loss")[1]) >= 1
    assert train.memory_plot.series("training process (on the CPU)")[1]  # host memory
    assert train.results_button.isEnabled()

    names = results.evaluation["class_names"]
    assert results.matrix.rowCount() == results.matrix.columnCount() == len(names)
    assert results.per_class.rowCount() == len(names)
    assert "Validation accuracy" in results.summary.text()
    for row, column in ((0, 1), (0, 0)):
        cell = results.matrix.visualItemRect(results.matrix.item(row, column)).center()
        qtbot.mouseClick(results.matrix.viewport(), Qt.MouseButton.LeftButton, pos=cell)
        if row != column:
            assert f"True {names[0]}, predicted {names[1]}" in results.cell_label.text()
    assert "classified correctly" in results.cell_label.text()

    image = next((sample_data_dir() / names[0]).glob("*.png"))
    with mock.patch.object(QFileDialog, "getOpenFileName", return_value=(str(image), "")):
        qtbot.mouseClick(results.try_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "%" in results.prediction.text(), timeout=240_000)
    assert any(name in results.prediction.text() for name in names)

    qtbot.mouseClick(results.export_buttons[0], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: results.status.text().startswith("Exported"), timeout=120_000)
    assert (window.state.run_dir / "export" / "labels.txt").exists()


def test_stop_mid_training_keeps_the_app_usable(make_window, qtbot):
    window = make_window()
    _scan_sample(window, qtbot)
    _start(window, qtbot, epochs=30)
    train = window.page("train")
    qtbot.waitUntil(lambda: len(train.loss_plot.series("train loss")[0]) >= 1, timeout=120_000)
    qtbot.mouseClick(train.stop_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: train.job is None, timeout=60_000)
    assert train.last_result.status == "cancelled"
    assert "Stopped" in train.status.text()
    assert train.start_button.isEnabled() and not train.stop_button.isEnabled()
    assert not window.state.runner.running()  # the memory monitor stopped too


def test_closing_during_training_stops_the_thread_and_keeps_the_checkpoint(make_window, qtbot):
    window = make_window()
    _scan_sample(window, qtbot)
    _start(window, qtbot, epochs=30)
    train = window.page("train")
    job = train.job
    qtbot.waitUntil(lambda: len(train.loss_plot.series("val loss")[0]) >= 1, timeout=180_000)
    window.close()
    assert not job.is_running() and job.worker_thread.isFinished()
    assert not window.state.runner.running()
    checkpoints = train.run_dir / "checkpoints"
    assert any(checkpoints.iterdir()), "the completed epoch's checkpoint is kept"
