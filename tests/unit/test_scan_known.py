"""A scan handed on (the Data page's, to the training child): unchanged files are not opened
again, edited, added and removed ones are found as in a full scan."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from data_factory import make_class_folder, write_image
from gpu_assistant.data import scan as scan_module
from gpu_assistant.data.scan import fingerprints, scan_folder


def test_a_known_scan_is_rechecked_by_size_and_mtime_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_class_folder(tmp_path / "data", {"a": 5, "b": 5})
    first = scan_folder(root)
    opened: list[Path] = []
    inspect = scan_module.inspect_image

    def counting(path: Path) -> object:
        opened.append(Path(path))
        return inspect(path)

    monkeypatch.setattr(scan_module, "inspect_image", counting)
    again = scan_folder(root, known=fingerprints(first))
    assert opened == []
    assert again.records == first.records

    edited = root / "a" / "img_0001.png"
    write_image(edited, 1, size=(20, 10))
    os.utime(edited, ns=(5, 5))
    added = write_image(root / "b" / "new.png", 1)
    (root / "a" / "img_0002.png").unlink()
    changed = scan_folder(root, known=fingerprints(first))
    assert sorted(opened) == sorted([edited, added])
    assert changed.records == scan_folder(root).records
    assert next(r for r in changed.records if r.path == edited).width == 20
