"""The folder scan on real files: every messy case, exact counts and reasons (no TensorFlow)."""

from __future__ import annotations

import json
import os
import threading
import unicodedata
from pathlib import Path

import pytest

from data_factory import make_class_folder, make_messy_folder, write_image
from gpu_assistant.cli import main
from gpu_assistant.data import images
from gpu_assistant.data.scan import scan_folder
from gpu_assistant.jobs import Cancelled, CancelToken, UserError


def _skipped(result) -> dict[str, str]:
    return {item["path"]: item["reason"] for item in result.to_json()["skipped"]}


def test_messy_folder_gives_exact_classes_counts_and_reasons(tmp_path: Path) -> None:
    messy = make_messy_folder(tmp_path)
    result = scan_folder(tmp_path)

    assert {c.name: c.count for c in result.classes} == messy.counts
    assert result.class_names == sorted(messy.counts)
    assert result.total == sum(messy.counts.values())
    assert _skipped(result) == messy.skipped
    converted = {r.relative_key(result.root) for r in result.records if r.needs_conversion}
    assert converted == messy.converted
    assert all(r.path.is_relative_to(result.root) for r in result.records)


def test_hidden_and_system_files_are_ignored_silently(tmp_path: Path) -> None:
    make_messy_folder(tmp_path)
    result = scan_folder(tmp_path)
    seen = [str(r.path) for r in result.records] + [str(s.path) for s in result.skipped]
    for name in (".DS_Store", "Thumbs.db", "desktop.ini", ".hidden", "__MACOSX", ".git"):
        assert not [p for p in seen if name in p], name
    assert "__MACOSX" not in result.class_names


def test_layout_problems_come_with_fixes(tmp_path: Path) -> None:
    make_messy_folder(tmp_path)
    problems = scan_folder(tmp_path).problems
    assert [p.message for p in problems] == [
        "1 image(s) sit directly in the folder, outside any class sub-folder, and are not used.",
        "The class folder 'empty class' has no usable images, so it is left out.",
    ]
    assert all(p.fix for p in problems)


def test_imbalance_warning_lists_counts(tmp_path: Path) -> None:
    make_class_folder(tmp_path, {"many": 9, "few": 3, "some": 5})
    warnings = scan_folder(tmp_path).warnings
    assert any("imbalanced (3.0x" in w and "many 9, some 5, few 3" in w for w in warnings)
    balanced = make_class_folder(tmp_path / "b", {"a": 4, "b": 3})
    assert not any("imbalanced" in w for w in scan_folder(balanced).warnings)


def test_single_class_is_a_problem(tmp_path: Path) -> None:
    make_class_folder(tmp_path, {"only": 3})
    result = scan_folder(tmp_path)
    assert result.total == 3
    assert "Only one class ('only')" in result.problems[0].message


def test_size_statistics(tmp_path: Path) -> None:
    write_image(tmp_path / "a" / "1.png", size=(40, 32))
    write_image(tmp_path / "a" / "2.png", size=(100, 50))
    write_image(tmp_path / "b" / "3.jpg", size=(10, 20))
    stats = scan_folder(tmp_path).size_stats()
    assert stats["min_width"] == 10 and stats["max_width"] == 100
    assert stats["median_width"] == 40 and stats["median_height"] == 32
    assert stats["smaller_than_32px"] == 1


def test_symlink_loops_terminate_and_count_once(tmp_path: Path) -> None:
    make_class_folder(tmp_path, {"a": 2, "b": 2})
    os.symlink(tmp_path / "b", tmp_path / "a" / "to_b")  # a/to_b -> b: b's files count twice?
    os.symlink(tmp_path / "a", tmp_path / "b" / "to_a")  # ... and a loop a -> b -> a
    os.symlink(tmp_path, tmp_path / "a" / "root")
    result = scan_folder(tmp_path)
    assert {c.name: c.count for c in result.classes} == {"a": 2, "b": 2}


def test_unicode_keys_are_the_same_in_composed_and_decomposed_form(tmp_path: Path) -> None:
    name = unicodedata.normalize("NFD", "café")
    make_class_folder(tmp_path, {name: 1, "thé": 1})
    result = scan_folder(tmp_path)
    keys = sorted(r.relative_key(result.root) for r in result.records)
    assert keys == ["café/img_0000.png", "thé/img_0000.png"]


def test_unreadable_file_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_class_folder(tmp_path, {"a": 2, "b": 2})
    locked = tmp_path / "a" / "img_0001.png"
    real_open = open

    def guarded_open(path, *args, **kwargs):  # root ignores chmod, so fail like EACCES does
        if Path(path) == locked:
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(images, "open", guarded_open, raising=False)
    result = scan_folder(tmp_path)
    assert _skipped(result) == {"a/img_0001.png": "unreadable (Permission denied)"}


def test_progress_is_reported_and_ends_complete(tmp_path: Path) -> None:
    make_class_folder(tmp_path, {"a": 20, "b": 20})
    events: list[dict] = []
    scan_folder(tmp_path, report=events.append, max_workers=2)
    progress = [e for e in events if e["event"] == "progress" and e["total"]]
    assert progress[-1]["done"] == progress[-1]["total"] == 40
    assert [e["done"] for e in progress] == sorted(e["done"] for e in progress)
    assert events[-1] == {"event": "done", "total": 40, "skipped": 0}
    json.dumps(events)  # the CLI prints them as JSON Lines


def test_cancel_stops_the_scan(tmp_path: Path) -> None:
    make_class_folder(tmp_path, {"a": 30, "b": 30})
    cancel = CancelToken()

    def cancel_when_checking(event: dict) -> None:
        if event.get("message") == "Checking images":
            cancel.cancel()

    before = threading.active_count()
    with pytest.raises(Cancelled):
        scan_folder(tmp_path, report=cancel_when_checking, cancel=cancel)
    assert threading.active_count() == before  # the pool's threads are gone


@pytest.mark.parametrize("case", ["missing", "file", "no images", "only bad files"])
def test_nothing_usable_is_a_user_error(tmp_path: Path, case: str) -> None:
    target = tmp_path / "data"
    if case == "file":
        target.write_text("x")
    elif case == "no images":
        (target / "a").mkdir(parents=True)
    elif case == "only bad files":
        (target / "a").mkdir(parents=True)
        (target / "a" / "x.jpg").write_bytes(b"")
    with pytest.raises(UserError) as error:
        scan_folder(target)
    assert str(target) in error.value.message and error.value.fix
    if case == "only bad files":
        assert "(1 file(s) in 1 sub-folder(s): 1 empty file (0 bytes))" in error.value.message


def test_cli_scan_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    messy = make_messy_folder(tmp_path, symlink_loop=False)
    assert main(["scan", str(tmp_path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {c["name"]: c["count"] for c in out["classes"]} == messy.counts
    assert out["total"] == sum(messy.counts.values())
    assert {s["path"]: s["reason"] for s in out["skipped"]} == messy.skipped
    assert len(out["warnings"]) == 3 and len(out["problems"]) == 2
    assert out["size_stats"]["needs_conversion"] == len(messy.converted)


def test_cli_scan_text_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_class_folder(tmp_path / "ok", {"a": 2, "b": 1})
    assert main(["scan", str(tmp_path / "ok")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("3 usable images in 2 classes") and "  a  2" in out
    assert main(["scan", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and "Traceback" not in err
    make_class_folder(tmp_path / "one", {"a": 3})
    assert main(["scan", str(tmp_path / "one")]) == 1  # read, but nothing to train on
    assert "Only one class ('a')" in capsys.readouterr().out


def test_cli_scan_progress_is_json_lines_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make_class_folder(tmp_path, {"a": 3, "b": 3})
    assert main(["scan", str(tmp_path), "--json", "--progress"]) == 0
    captured = capsys.readouterr()
    events = [json.loads(line) for line in captured.err.splitlines()]
    assert events[-1] == {"event": "done", "total": 6, "skipped": 0}
    assert {e["event"] for e in events} == {"progress", "done"}
    assert json.loads(captured.out)["total"] == 6
