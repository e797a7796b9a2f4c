"""Links, special files and unreadable folders: nothing outside the data folder is used, no
image counts twice, and each entry that is not used is listed with its true reason."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from data_factory import make_class_folder, write_image
from gpu_assistant.data import scan
from gpu_assistant.data.scan import scan_folder


def _skipped(result: scan.ScanResult) -> dict[str, str]:
    return {item["path"]: item["reason"] for item in result.to_json()["skipped"]}


def test_links_out_of_the_folder_are_not_followed(tmp_path: Path) -> None:
    data = make_class_folder(tmp_path / "data", {"a": 2, "b": 2})
    outside = make_class_folder(tmp_path / "outside", {"x": 3})
    os.symlink(outside / "x", data / "a" / "more")  # a folder elsewhere
    os.symlink(outside / "x" / "img_0000.png", data / "b" / "borrowed.png")  # a file elsewhere
    os.symlink(outside / "x", data / "c")  # a whole class elsewhere
    result = scan_folder(data)
    assert {c.name: c.count for c in result.classes} == {"a": 2, "b": 2}
    assert all(r.path.resolve().is_relative_to(data.resolve()) for r in result.records)
    assert _skipped(result) == {
        "a/more": scan.LINK_OUTSIDE,
        "b/borrowed.png": scan.LINK_OUTSIDE,
        "c": scan.LINK_OUTSIDE,
    }
    assert any("skipped" in w for w in result.warnings)


def test_a_link_to_another_class_does_not_count_it_twice(tmp_path: Path) -> None:
    data = make_class_folder(tmp_path, {"a": 2, "b": 3})
    os.symlink(data / "b", data / "also_b")  # a class folder that is another class
    os.link(data / "a" / "img_0000.png", data / "b" / "hard.png")  # one file in two classes
    os.symlink(data / "a" / "img_0001.png", data / "b" / "soft.png")
    result = scan_folder(data)
    assert {c.name: c.count for c in result.classes} == {"a": 2, "b": 3}
    skipped = _skipped(result)
    assert skipped["also_b"] == scan.LINK_SEEN.format(target="b")
    assert skipped["b/hard.png"] == scan.SAME_FILE.format(target="a/img_0000.png")
    assert skipped["b/soft.png"] == scan.SAME_FILE.format(target="a/img_0001.png")


def test_broken_links_loops_and_fifos_are_listed(tmp_path: Path) -> None:
    data = make_class_folder(tmp_path, {"a": 2, "b": 2})
    os.symlink(data / "nowhere.png", data / "a" / "dangling.png")
    os.symlink(data / "a" / "self.png", data / "a" / "self.png")  # a link to itself
    os.symlink(data / "a", data / "a" / "back")
    os.mkfifo(data / "b" / "pipe.png")
    skipped = _skipped(scan_folder(data))
    assert skipped["a/dangling.png"] == scan.BROKEN_LINK
    assert skipped["a/self.png"].startswith("a link that cannot be followed")
    assert skipped["a/back"] == scan.LINK_LOOP
    assert skipped["b/pipe.png"] == scan.NOT_A_FILE


def _unreadable(monkeypatch: pytest.MonkeyPatch, *folders: Path) -> None:
    """Root ignores chmod, so fail the listing like EACCES does."""
    real = os.scandir

    def guarded(path: object) -> object:
        if Path(str(path)) in folders:
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)  # type: ignore[arg-type]

    monkeypatch.setattr(scan.os, "scandir", guarded)


def test_an_unreadable_sub_folder_is_listed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = make_class_folder(tmp_path, {"a": 2, "b": 2}).resolve()
    write_image(data / "a" / "locked" / "x.png")
    _unreadable(monkeypatch, data / "a" / "locked")
    result = scan_folder(data)
    assert _skipped(result) == {
        "a/locked": scan.UNREADABLE_FOLDER.format(reason="Permission denied")
    }


def test_an_unreadable_class_folder_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = make_class_folder(tmp_path, {"a": 2, "b": 2, "c": 2}).resolve()
    _unreadable(monkeypatch, data / "c")
    result = scan_folder(data)
    assert result.class_names == ["a", "b"]
    (problem,) = result.problems
    assert "'c' cannot be read (Permission denied)" in problem.message
    assert "Add images" not in problem.fix
