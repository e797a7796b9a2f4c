"""`gpu-assistant audit` on real photos: a resized, re-encoded copy is found as a near copy,
and remembered for the split of a training run afterwards."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gpu_assistant.cli import main
from gpu_assistant.data.duplicates import remembered_pairs
from gpu_assistant.data.scan import scan_folder

pytestmark = [pytest.mark.tf, pytest.mark.slow]


def _photos(root: Path) -> None:
    """Two classes of scikit-image's photos (crops of each), one picture copied resized as
    a JPEG: only the backbone's features can tell it is the same picture."""
    data = pytest.importorskip("skimage.data")
    for name, sources in {
        "living": ("astronaut", "chelsea", "coffee"),
        "things": ("rocket", "camera", "clock"),
    }.items():
        (root / name).mkdir(parents=True)
        for source in sources:
            array = np.asarray(getattr(data, source)())
            Image.fromarray(array).convert("RGB").save(root / name / f"{source}.png")
    with Image.open(root / "things/rocket.png") as rocket:
        rocket.resize((rocket.width // 2, rocket.height // 2)).save(
            root / "things/rocket-small.jpg", quality=70
        )


def test_audit_finds_a_near_copy_and_remembers_it_for_training(tmp_path: Path, capsys) -> None:
    _photos(tmp_path / "data")

    assert main(["audit", str(tmp_path / "data"), "--json"]) == 0

    result = json.loads(capsys.readouterr().out)
    groups = result["duplicates"]["groups"]
    assert [sorted(g["files"]) for g in groups] == [
        ["things/rocket-small.jpg", "things/rocket.png"]
    ]
    assert not groups[0]["exact"] and groups[0]["similarity"] >= result["duplicates"]["threshold"]
    assert isinstance(result["mislabels"], list)
    scan = scan_folder(tmp_path / "data")
    assert len(remembered_pairs(scan.records, scan.root)) == 1
