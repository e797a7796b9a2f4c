"""Every action on Results, Runs and the menus, driven the way a user does: mouse clicks and
keys on the real widgets (never by calling the slot), each checked by what it visibly does.

Runs come from one CLI training run on the sample set (`trained_run`), copied into the app's
runs folder, plus a stopped and a failed variant of it.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from unittest import mock

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QDesktopServices, QGuiApplication
from PySide6.QtWidgets import QFileDialog, QMessageBox, QPushButton, QTableWidget

from gpu_assistant import paths
from gpu_assistant.data.sample import sample_data_dir
from gpu_assistant.ui.pages.results import trust_warning

pytestmark = [pytest.mark.tf, pytest.mark.slow]

LEFT = Qt.MouseButton.LeftButton


def _runs(trained_run: Path) -> dict[str, Path]:
    """A finished, a stopped and a failed run in the app's runs folder."""
    root = paths.runs_dir()
    finished = root / "20260102-100000-small_cnn"
    shutil.copytree(trained_run, finished)
    stopped = root / "20260101-100000-small_cnn"
    shutil.copytree(trained_run, stopped)
    (stopped / "evaluation.json").unlink()
    metrics = json.loads((stopped / "metrics.json").read_text(encoding="utf-8"))
    (stopped / "metrics.json").write_text(
        json.dumps({**metrics, "status": "cancelled"}), encoding="utf-8"
    )
    (stopped / "checkpoints").mkdir(exist_ok=True)
    (stopped / "checkpoints" / "state.json").touch()
    failed = root / "20260103-100000-small_cnn"
    failed.mkdir()
    shutil.copy(trained_run / "settings.json", failed / "settings.json")
    for age, run in enumerate((failed, finished, stopped)):  # newest first, as named
        os.utime(run / "settings.json", (1_800_000_000 - age * 3600,) * 2)
    return {"finished": finished, "stopped": stopped, "failed": failed}


def _row(page, path: Path) -> int:
    return next(i for i, run in enumerate(page.runs) if run.path == path)


def _click_row(qtbot, table, row: int) -> None:
    rect = table.visualItemRect(table.item(row, 1))
    qtbot.mouseClick(table.viewport(), LEFT, pos=rect.center())


def test_a_relaunched_window_lists_earlier_runs_and_opens_them(make_window, qtbot, trained_run):
    runs = _runs(trained_run)
    window = make_window()
    page = window.page("runs")
    qtbot.waitUntil(lambda: page.table.rowCount() == 3, timeout=10_000)
    states = {page.table.item(_row(page, p), 4).text() for p in runs.values()}
    assert states == {"finished", "stopped (can resume)", "failed (no model)"}
    assert page.table.item(_row(page, runs["finished"]), 3).text().endswith("%")

    results = window.page("results")  # the newest run with a model opened by itself
    qtbot.waitUntil(lambda: bool(results.evaluation), timeout=10_000)
    assert results.run_dir == runs["finished"]

    qtbot.keyClick(window, Qt.Key.Key_6, Qt.KeyboardModifier.ControlModifier)
    assert window.stack.currentWidget() is page
    _click_row(qtbot, page.table, _row(page, runs["failed"]))
    assert not page.open_button.isEnabled() and not page.resume_button.isEnabled()

    _click_row(qtbot, page.table, _row(page, runs["stopped"]))
    assert page.resume_button.isEnabled()
    qtbot.mouseClick(page.open_button, LEFT)
    assert window.stack.currentWidget() is results
    qtbot.waitUntil(lambda: "Stopped after" in results.summary.text(), timeout=10_000)
    assert "resume it" in results.summary.text() and results.matrix.rowCount() == 0
    assert results.export_buttons[0].isEnabled() and results.try_button.isEnabled()


def test_delete_asks_first_and_removes_only_after_yes(make_window, qtbot, trained_run):
    runs = _runs(trained_run)
    window = make_window()
    page = window.page("runs")
    qtbot.waitUntil(lambda: page.table.rowCount() == 3, timeout=10_000)
    window.go(5)
    _click_row(qtbot, page.table, _row(page, runs["failed"]))
    qtbot.mouseClick(page.delete_button, LEFT)
    assert page.confirm is not None and page.confirm.isVisible()
    qtbot.mouseClick(page.confirm.button(QMessageBox.StandardButton.Cancel), LEFT)
    assert runs["failed"].exists()

    _click_row(qtbot, page.table, _row(page, runs["finished"]))
    qtbot.mouseClick(page.delete_button, LEFT)
    qtbot.mouseClick(page.confirm.findChild(QPushButton, "confirmDeleteButton"), LEFT)
    assert not runs["finished"].exists()
    qtbot.waitUntil(lambda: page.table.rowCount() == 2, timeout=10_000)
    results = window.page("results")
    assert results.run_dir is None and "Train a model" in results.summary.text()


def test_resume_continues_a_stopped_run_on_the_train_page(make_window, qtbot, trained_run):
    runs = _runs(trained_run)
    window = make_window()
    page = window.page("runs")
    qtbot.waitUntil(lambda: page.table.rowCount() == 3, timeout=10_000)
    window.go(5)
    _click_row(qtbot, page.table, _row(page, runs["stopped"]))
    qtbot.mouseClick(page.resume_button, LEFT)
    train = window.page("train")
    assert window.stack.currentWidget() is train
    assert train.job is not None and "Resuming" in train.status.text()
    qtbot.waitUntil(lambda: train.job is None, timeout=240_000)
    assert train.last_result is not None and train.last_result.run_dir == runs["stopped"]


def test_every_results_button_does_what_it_says(make_window, qtbot, trained_run):
    runs = _runs(trained_run)
    window = make_window()
    results = window.page("results")
    qtbot.waitUntil(lambda: bool(results.evaluation), timeout=10_000)
    window.go(4)
    names = results.evaluation["class_names"]

    diagonal = results.matrix.item(0, 0)
    qtbot.mouseClick(
        results.matrix.viewport(), LEFT, pos=results.matrix.visualItemRect(diagonal).center()
    )
    assert f"of class “{names[0]}” were classified correctly" in results.cell_label.text()

    image = next((sample_data_dir() / names[1]).glob("*.png"))
    with mock.patch.object(QFileDialog, "getOpenFileName", return_value=(str(image), "")):
        qtbot.mouseClick(results.try_button, LEFT)
        assert not results.why_button.isEnabled()  # until the prediction is in
    qtbot.waitUntil(lambda: "%" in results.prediction.text(), timeout=120_000)
    assert any(name in results.prediction.text() for name in names)
    tried = results.try_preview.pixmap().toImage()
    qtbot.mouseClick(results.why_button, LEFT)  # the heatmap replaces the picture tried
    assert not results.why_button.isEnabled()  # a second click would cancel the first
    qtbot.waitUntil(lambda: results.try_preview.pixmap().toImage() != tried, timeout=120_000)
    qtbot.waitUntil(results.why_button.isEnabled, timeout=10_000)
    assert list((runs["finished"] / "explain").glob("*.png"))

    expected = {
        "export_kerasButton": ["model.keras", "labels.txt"],
        "export_savedmodelButton": ["savedmodel"],
        "export_tfliteButton": ["model.tflite"],
        "export_scriptButton": ["train_small_cnn.py"],
    }
    for name, files in expected.items():
        widget = results.findChild(QPushButton, name)
        qtbot.mouseClick(widget, LEFT)
        qtbot.waitUntil(lambda: results.status.text().startswith("Exported"), timeout=240_000)
        for file in files:
            assert (runs["finished"] / "export" / file).exists(), (name, file)
        results.status.setText("")

    qtbot.mouseClick(results.findChild(QPushButton, "compareFormatsButton"), LEFT)
    qtbot.waitUntil(lambda: results.cost_dialog is not None, timeout=240_000)
    costs = results.cost_dialog
    assert costs is not None and costs.isVisible()
    table = costs.findChild(QTableWidget, "costTable")
    formats = [table.item(row, 0).text() for row in range(table.rowCount())]
    assert formats == ["Keras", "TFLite", "TFLite int8", "ONNX"]
    assert table.item(1, 3).text().endswith(("KB", "MB"))  # TFLite: made, sized and timed
    assert table.item(1, 6).text().startswith(("99.", "100.0%"))  # agrees with Keras
    assert (runs["finished"] / "export" / "report.json").is_file()
    costs.reject()

    with mock.patch.object(QDesktopServices, "openUrl", return_value=False):
        qtbot.mouseClick(results.open_button, LEFT)
    dialog = results.folder_dialog
    assert dialog is not None and dialog.isVisible() and str(runs["finished"]) in dialog.text()
    qtbot.mouseClick(dialog.findChild(QPushButton, "copyPathButton"), LEFT)
    assert QGuiApplication.clipboard().text() == str(runs["finished"])


def test_opening_another_run_clears_the_previous_prediction(make_window, qtbot, trained_run):
    runs = _runs(trained_run)
    window = make_window()
    results = window.page("results")
    qtbot.waitUntil(lambda: bool(results.evaluation), timeout=10_000)
    image = next((sample_data_dir() / "0").glob("*.png"))
    with mock.patch.object(QFileDialog, "getOpenFileName", return_value=(str(image), "")):
        qtbot.mouseClick(results.try_button, LEFT)
    qtbot.waitUntil(lambda: "%" in results.prediction.text(), timeout=120_000)
    page = window.page("runs")
    window.go(5)
    _click_row(qtbot, page.table, _row(page, runs["stopped"]))
    qtbot.mouseClick(page.open_button, LEFT)
    assert results.prediction.text() == "" and results.try_preview.pixmap().isNull()


def test_trust_warnings_for_chance_level_and_few_images():
    per_class = [{"support": 10}, {"support": 6}, {"support": 4}]
    useless = {"samples": 20, "accuracy": 0.10, "per_class": per_class}
    text = trust_warning(useless)
    assert "no better than chance (50%" in text and "Only 20 validation images" in text
    fine = {"samples": 300, "accuracy": 0.9, "per_class": [{"support": 150}] * 2}
    assert trust_warning(fine) == ""
