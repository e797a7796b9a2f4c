"""Data page: a messy folder dropped on it shows classes, thumbnails and every skipped file."""

from __future__ import annotations

from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QPushButton

from data_factory import make_class_folder, make_messy_folder, write_image


def drop_files(widget, paths) -> None:
    """Deliver a real drag-enter and drop, as a file manager would."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    point = QPointF(widget.rect().center())
    enter = QDragEnterEvent(
        point.toPoint(),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(widget, enter)
    assert enter.isAccepted()
    drop = QDropEvent(
        point,
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(widget, drop)


def test_dropped_messy_folder_is_scanned_and_explained(make_window, qtbot, tmp_path):
    messy = make_messy_folder(tmp_path / "photos", symlink_loop=False)
    window = make_window()
    data = window.page("data")
    window.go(2)
    drop_files(data.path_edit.parentWidget(), [messy.root])
    qtbot.waitUntil(lambda: window.state.scan is not None, timeout=60_000)
    scan = window.state.scan
    assert data.path_edit.text() == str(messy.root)
    assert data.skipped.rowCount() == len(scan.skipped) > 0
    rows = {
        data.skipped.item(r, 0).text(): data.skipped.item(r, 1).text()
        for r in range(data.skipped.rowCount())
    }
    assert rows == messy.skipped  # every skipped file, with the exact reason
    assert data.tabs.tabText(2) == f"Skipped ({len(scan.skipped)})"
    shown = {data.thumbs.item(i).text() for i in range(data.thumbs.count())}
    assert shown == {c.name for c in scan.classes if c.count}
    for warning in scan.warnings:
        assert warning in data.summary.text()
    assert window.state.settings.last_folder == str(messy.root)


def test_harmless_problems_are_shown_but_do_not_block_continuing(make_window, qtbot, tmp_path):
    # A stray image at the top level and an empty class folder (left out): training can still
    # run on the two classes with images, so Continue stays enabled and each problem shows its fix.
    root = make_class_folder(tmp_path / "photos", {"cats": 4, "dogs": 4})
    write_image(root / "stray.jpg", 0)
    (root / "empty class").mkdir()
    window = make_window()
    data = window.page("data")
    data.scan(str(root))
    qtbot.waitUntil(lambda: window.state.scan is not None and data.job is None, timeout=60_000)
    scan = window.state.scan
    assert len(scan.problems) == 2
    for problem in scan.problems:
        assert problem.message in data.summary.text() and problem.fix in data.summary.text()
    assert data.next_button.isEnabled()
    assert "Ready to train on 8 images in 2 classes" in data.readiness.text()
    data.next_button.click()
    assert window.stack.currentWidget() is window.page("train")


def test_a_single_class_blocks_continuing_and_says_why(make_window, qtbot, tmp_path):
    root = make_class_folder(tmp_path / "photos", {"cats": 4})
    (root / "dogs").mkdir()  # empty: left out, so only one class has images
    window = make_window()
    data = window.page("data")
    data.scan(str(root))
    qtbot.waitUntil(lambda: window.state.scan is not None and data.job is None, timeout=60_000)
    assert not data.next_button.isEnabled()
    assert "at least two class folders (1 found)" in data.readiness.text()
    assert data.next_button.toolTip() == data.readiness.text()
    assert "at least two class folders" in window.page("train").status.text()  # Ctrl+4 too
    for problem in window.state.scan.problems:
        assert problem.fix in data.summary.text()


def test_options_are_remembered_and_the_cache_estimate_follows_them(make_window, qtbot):
    window = make_window()
    data = window.page("data")
    data.image_size.setValue(128)
    data.cache.setCurrentText("disk")
    assert "on disk" in data.estimate.text() and "Scan a folder" in data.estimate.text()
    window.close()
    again = make_window().page("data")
    assert again.image_size.value() == 128 and again.cache.currentText() == "disk"


def test_image_size_starts_at_auto_and_a_typed_size_reaches_every_model(
    make_window, qtbot, tmp_path
):
    window = make_window()
    data, train = window.page("data"), window.page("train")
    assert data.image_size.value() == 0 and data.image_size.text() == "Auto"
    data.scan(str(make_class_folder(tmp_path / "tiny", {"a": 3, "b": 3}, size=(16, 16))))
    qtbot.waitUntil(lambda: window.state.scan is not None and data.job is None, timeout=60_000)
    assert "at 32 px, the model's own size" in data.estimate.text()  # Auto's small CNN
    data.scan(str(make_class_folder(tmp_path / "photos", {"a": 3, "b": 3}, size=(64, 48))))

    def photos_scanned() -> bool:
        scan = window.state.scan
        return scan is not None and scan.root.name == "photos" and data.job is None

    qtbot.waitUntil(photos_scanned, timeout=60_000)
    assert "at 224 px, the model's own size" in data.estimate.text()  # the pretrained one
    assert train.settings().image_size == 0  # the model's own: 224 px for the pretrained one
    data.image_size.selectAll()
    qtbot.keyClicks(data.image_size, "160")
    qtbot.keyClick(data.image_size, Qt.Key.Key_Return)
    assert data.image_size.text() == "160 px" and "at 224 px" not in data.estimate.text()
    assert train.settings().image_size == 160  # Auto too: the user chose it
    data.image_size.selectAll()
    qtbot.keyClicks(data.image_size, "20")
    qtbot.keyClick(data.image_size, Qt.Key.Key_Return)
    assert data.image_size.text() == "32 px" and train.settings().image_size == 32  # the least


def test_mirror_follows_augmentation_is_remembered_and_reaches_training(make_window):
    window = make_window()
    data, train = window.page("data"), window.page("train")
    assert data.flip.isChecked() and data.flip.isEnabled()
    data.augment.setChecked(False)
    assert not data.flip.isEnabled()  # nothing to mirror without augmentation
    data.augment.setChecked(True)
    assert data.flip.isEnabled()
    data.flip.setChecked(False)
    window.state.scan = type("Scan", (), {"root": "/data"})()
    settings = train.settings()
    assert (settings.augment, settings.flip) == (True, False)
    window.close()
    again = make_window()
    assert not again.page("data").flip.isChecked()
    again.page("data").flip.setChecked(True)
    again.state.scan = window.state.scan
    assert again.page("train").settings().flip is True


def test_the_sample_digits_turn_the_mirror_off(make_window, qtbot):
    window = make_window()
    data = window.page("data")
    assert data.flip.isChecked()
    qtbot.mouseClick(window.findChild(QPushButton, "useSampleButton"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.state.scan is not None and data.job is None, timeout=60_000)
    assert not data.flip.isChecked() and data.augment.isChecked()
    assert window.page("train").settings().flip is False


def test_another_folder_after_the_sample_gets_the_users_mirror_back(make_window, qtbot, tmp_path):
    """The digits switch the mirror off for themselves only; a choice the user made while on
    the sample set is kept."""
    root = make_class_folder(tmp_path / "photos", {"cats": 3, "dogs": 3})
    window = make_window()
    data = window.page("data")
    sample = window.findChild(QPushButton, "useSampleButton")
    qtbot.mouseClick(sample, Qt.MouseButton.LeftButton)
    assert not data.flip.isChecked()
    data.scan(str(root))
    assert data.flip.isChecked()
    qtbot.mouseClick(sample, Qt.MouseButton.LeftButton)
    data.flip.click()  # the user ticks it (a real click: `clicked` is emitted) ...
    data.flip.click()  # ... and unticks it again: now "off" is their own choice
    data.scan(str(root))
    assert not data.flip.isChecked()
    qtbot.waitUntil(lambda: data.job is None, timeout=60_000)
