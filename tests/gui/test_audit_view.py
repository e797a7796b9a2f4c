"""The data audit in the window: duplicate groups on the Data page, likely mislabels moved
with undo on Results, heatmaps and near copies computed in a child process."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

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


def test_a_likely_mislabel_moves_with_one_click_and_back_with_undo(qtbot, tmp_path):
    from gpu_assistant.ui.audit import MislabelsView
    from gpu_assistant.ui.settings import Settings
    from gpu_assistant.ui.state import AppState

    root = make_class_folder(tmp_path / "photos", {"cats": 3, "dogs": 3})
    run = tmp_path / "run"
    run.mkdir()
    (run / "settings.json").write_text(json.dumps({"data_dir": str(root)}))
    view = MislabelsView(AppState(Settings()))
    qtbot.addWidget(view)
    view.show_run(run)
    item = {"file": "cats/img_0001.png", "folder": "cats", "predicted": "dogs"}
    view._show(
        {
            "result": {"root": str(root), "mislabels": [{**item, "confidence": 0.9}]},
            "thumbs": {},
        }
    )
    assert view.list.count() == 1 and "looks like dogs (90%)" in view.list.item(0).text()

    view.list.setCurrentRow(0)
    assert view.move_button.text() == "Move to 'dogs'"
    view.move_button.click()
    moved = root / "dogs/img_0001-1.png"  # dogs/ has its own img_0001.png: never overwritten
    assert moved.is_file() and not (root / "cats/img_0001.png").exists()
    assert view.list.count() == 0 and "stale: 1 file(s) moved" in view.stale.text()
    assert (run / "relabels.json").is_file()

    view.undo_button.click()
    assert (root / "cats/img_0001.png").is_file() and not moved.exists()
    assert view.stale.text() == "" and not (run / "relabels.json").exists()
    assert not view.undo_button.isEnabled()


@pytest.mark.slow
def test_near_copies_are_found_in_a_child_and_shown(make_window, qtbot, tmp_path):
    from PIL import Image

    data = pytest.importorskip("skimage.data")
    root = tmp_path / "photos"
    for name, sources in {
        "living": ("astronaut", "coffee"),
        "things": ("rocket", "camera"),
    }.items():
        (root / name).mkdir(parents=True)
        for source in sources:
            Image.fromarray(getattr(data, source)()).convert("RGB").save(
                root / name / f"{source}.png"
            )
    with Image.open(root / "things/rocket.png") as rocket:
        rocket.resize((rocket.width // 2, rocket.height // 2)).save(root / "things/small.jpg")
    window = make_window()
    page = window.page("data")
    page.scan(str(root))
    tab = page.tabs.indexOf(page.duplicates)
    qtbot.waitUntil(lambda: page.tabs.tabText(tab) == "Duplicates (0)", timeout=60_000)
    qtbot.waitUntil(page.duplicates.near_button.isEnabled, timeout=10_000)

    page.duplicates.near_button.click()

    qtbot.waitUntil(lambda: page.tabs.tabText(tab) == "Duplicates (1)", timeout=300_000)
    view = page.duplicates
    texts = sorted(view.groups.item(i).text() for i in range(view.groups.count()))
    assert texts == ["#1 things\nrocket.png", "#1 things\nsmall.jpg"]
    assert "near copy" in view.groups.item(0).toolTip()


@pytest.mark.slow
def test_a_heatmap_is_made_in_a_child(tmp_path):
    from PIL import Image

    from gpu_assistant.jobs import CancelToken
    from gpu_assistant.training.models import build_model
    from gpu_assistant.ui.model_process import explain_in_child

    build_model("small_cnn", 2, 32).save(tmp_path / "model.keras")
    (tmp_path / "labels.txt").write_text("a\nb\n")
    Image.new("RGB", (50, 40), (200, 30, 30)).save(tmp_path / "red.png")

    done = explain_in_child(
        tmp_path / "model.keras", tmp_path / "red.png", tmp_path / "why", print, CancelToken()
    )

    assert done["label"] in {"a", "b"} and Path(done["heatmap"]).is_file()
