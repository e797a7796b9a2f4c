"""benchmarks/folders.py builds the quality benchmark's folders (tiny here, so it cannot rot)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
from PIL import Image

from gpu_assistant.data.scan import scan_folder

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "folders.py"


@pytest.fixture(scope="module")
def folders():
    spec = importlib.util.spec_from_file_location("bench_folders", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while building
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


def _files(root: Path) -> dict[str, list[str]]:
    return {d.name: sorted(f.name for f in d.iterdir()) for d in sorted(root.iterdir())}


@pytest.mark.parametrize(
    ("name", "classes"),
    [
        ("objects", ["bird", "building", "car", "cat", "dog", "fish", "flower", "tree"]),
        ("textures", ["brick", "grass", "gravel", "stars"]),
        ("digits", ["0", "1", "2", "3"]),
    ],
)
def test_each_folder_has_its_classes_with_readable_images(folders, tmp_path, name, classes):
    counts = folders.build(name, tmp_path / name, per_class=3)
    assert counts == dict.fromkeys(classes, 3)
    scan = scan_folder(tmp_path / name)
    assert scan.class_names == classes
    assert [c.count for c in scan.classes] == [3] * len(classes)
    assert not scan.skipped
    for record in scan.records:
        with Image.open(record.path) as image:
            assert min(image.size) >= 25


def test_the_messy_folder_mixes_broken_files_with_real_photos(folders, tmp_path):
    counts = folders.build("messy", tmp_path / "messy", per_class=4)
    assert counts == {"face": 4, "not_face": 4}
    scan = scan_folder(tmp_path / "messy")
    assert [(c.name, c.count) for c in scan.classes] == [("face", 4), ("not_face", 4)]
    skipped = {f"{s.path.parent.name}/{s.path.name}" for s in scan.skipped}
    broken = {f"{c}/{b}" for c in counts for b in folders.MESSY_BROKEN}
    stray = {f"{c}/{b}" for c in counts for b in folders.MESSY_STRAY}
    assert broken <= skipped <= broken | stray


def test_the_same_seed_gives_the_same_files_and_another_seed_others(folders, tmp_path):
    folders.build("objects", tmp_path / "a", per_class=2)
    folders.build("objects", tmp_path / "b", per_class=2)
    folders.build("objects", tmp_path / "c", per_class=2, seed=7)
    first = tmp_path / "a" / "cat" / "cat_0000.jpg"
    assert first.read_bytes() == (tmp_path / "b" / "cat" / "cat_0000.jpg").read_bytes()
    assert first.read_bytes() != (tmp_path / "c" / "cat" / "cat_0000.jpg").read_bytes()
    assert _files(tmp_path / "a") == _files(tmp_path / "c")


def test_it_refuses_to_write_into_a_folder_that_has_files(folders, tmp_path):
    (tmp_path / "keep.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(FileExistsError):
        folders.build("digits", tmp_path, per_class=1)
