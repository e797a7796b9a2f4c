"""What a user sees when something goes wrong: a failed scan leaves nothing of the previous
folder, an unexpected exception becomes a dialog naming the log, Help > About shows the log."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMenu

from data_factory import make_class_folder
from gpu_assistant import paths

LEFT = Qt.MouseButton.LeftButton


def _scan_typed(qtbot, data, folder: str) -> None:
    data.path_edit.clear()
    qtbot.keyClicks(data.path_edit, folder)
    qtbot.keyClick(data.path_edit, Qt.Key.Key_Return)


def test_a_failed_scan_leaves_nothing_of_the_previous_folder(make_window, qtbot, tmp_path):
    root = make_class_folder(tmp_path / "photos", {"cats": 4, "dogs": 4})
    window = make_window()
    window.go(2)
    data, train = window.page("data"), window.page("train")
    _scan_typed(qtbot, data, str(root))
    qtbot.waitUntil(lambda: window.state.scan is not None and data.job is None, timeout=60_000)
    assert data.next_button.isEnabled() and "Ready: 8 images" in train.status.text()

    _scan_typed(qtbot, data, str(tmp_path / "missing"))
    qtbot.waitUntil(lambda: data.job is None, timeout=60_000)
    dialog = window.last_error_dialog
    assert dialog is not None and dialog.isVisible()
    dialog.close()
    assert window.state.scan is None and not data.next_button.isEnabled()
    assert data.readiness.text() == "" and data.thumbs.count() == 0
    assert "Could not use this folder" in data.summary.text()
    assert "Scan a folder" in train.status.text() and not train.start_button.isEnabled()


@pytest.mark.qt_no_exception_capture
def test_an_unexpected_exception_shows_a_dialog_and_the_app_goes_on(
    make_window, qtbot, monkeypatch
):
    window = make_window()
    window.go(2)
    data = window.page("data")

    def broken(_folder: str) -> None:
        raise RuntimeError("a bug in a slot")

    monkeypatch.setattr(data, "scan", broken)
    qtbot.keyClicks(data.path_edit, "x")
    qtbot.keyClick(data.path_edit, Qt.Key.Key_Return)
    dialog = window.last_error_dialog
    assert dialog is not None and dialog.isVisible()
    assert "a bug in a slot" in dialog.text()
    assert str(paths.log_file()) in dialog.informativeText()
    assert "RuntimeError: a bug in a slot" in paths.log_file().read_text(encoding="utf-8")
    dialog.close()
    window.go(3)  # still alive and responding
    assert window.stack.currentWidget() is window.page("train")


def test_help_about_shows_the_log_path(make_window, qtbot):
    window = make_window()
    menu = window.menuBar().findChild(QMenu, "helpMenu")
    about = next(a for a in menu.actions() if a.objectName() == "aboutAction")
    about.trigger()
    assert window.about_box is not None and window.about_box.isVisible()
    assert str(paths.log_file()) in window.about_box.informativeText()
