"""The data audit inside a training run: copies of a picture never straddle the split."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from data_factory import make_class_folder
from gpu_assistant.jobs import CancelToken
from gpu_assistant.training.settings import TrainSettings
from gpu_assistant.training.trainer import train

pytestmark = pytest.mark.tf


def test_a_run_keeps_copies_on_one_side_and_says_so(tmp_path: Path) -> None:
    data = make_class_folder(tmp_path / "data", {"red": 10, "green": 10})
    copies = {}
    for i in range(4):  # each picture three times more, one copy in the other class
        original = f"red/img_{i:04d}.png"
        names = [f"red/again_{i}.png", f"red/and_again_{i}.png", f"green/wrong_{i}.png"]
        for name in names:
            shutil.copy(data / original, data / name)
        copies[original] = names
    events: list[dict] = []
    settings = TrainSettings(
        data_dir=data,
        out_dir=tmp_path / "run",
        image_size=32,
        batch_size=4,
        epochs=1,
        augment=False,
        val_split=0.5,
    )

    train(settings, events.append, CancelToken())

    split = json.loads((tmp_path / "run" / "split.json").read_text())
    side = {name: part for part, names in split.items() for name in names}
    for original, names in copies.items():
        assert {side[n] for n in [original, *names]} in ({"train"}, {"val"})
    saved = json.loads((tmp_path / "run" / "duplicates.json").read_text())
    assert sorted(sorted(g["files"]) for g in saved["groups"]) == sorted(
        sorted([o, *n]) for o, n in copies.items()
    )
    warnings = [e["message"] for e in events if e["event"] == "warning"]
    assert any("4 group(s) of duplicates" in w and "different classes" in w for w in warnings)
