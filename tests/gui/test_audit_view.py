"""The data audit in the window: duplicate groups on the Data page."""

from __future__ import annotations

import shutil

from data_factory import make_class_folder


def test_copies_are_shown_as_groups_with_thumbnails(make_window, qtbot, tmp_path):
    root = make_class_folder(tmp_path / "photos", {"cats": 4, "dogs": 4})
    shutil.copy(root / "cats/img_0000.png", root / "cats/again.png")
    shutil.copy(root / "cats/img_0000.png", root / "dogs/wrong.png")
    window = make_window()
    data = window.page("data")
    data.scan(str(root))
    tab = data.tabs.indexOf(data.duplicates)
    qtbot.waitUntil(lambda: data.tabs.tabText(tab) == "Duplicates (1)", timeout=60_000)

    view = data.duplicates
    assert "1 group(s) of duplicates" in view.summary.text()
    assert "different classes (cats, dogs)" in view.summary.text()
    texts = sorted(view.groups.item(i).text() for i in range(view.groups.count()))
    assert texts == ["#1 cats\nagain.png", "#1 cats\nimg_0000.png", "#1 dogs\nwrong.png"]
    assert all(not view.groups.item(i).icon().isNull() for i in range(view.groups.count()))
