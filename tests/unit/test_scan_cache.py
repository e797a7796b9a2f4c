"""Choosing the cache and fingerprinting the folder (no TensorFlow)."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

from data_factory import make_class_folder
from gpu_assistant.data import cache
from gpu_assistant.data.scan import scan_folder
from gpu_assistant.data.split import PipelineOptions, Split, split_records


@pytest.fixture
def scan(tmp_path: Path):
    return scan_folder(make_class_folder(tmp_path / "data", {"a": 6, "b": 4}))


def test_auto_cache_uses_memory_only_within_a_quarter_of_the_free_ram(
    scan, monkeypatch: pytest.MonkeyPatch
) -> None:
    split = split_records(scan)
    options = PipelineOptions(image_size=100)
    size = cache.estimate_cache_bytes(10, 100)
    assert size == 303_000
    monkeypatch.setattr(cache, "available_memory_bytes", lambda: 4 * size)
    assert cache.plan_cache(scan, split, options) == cache.CachePlan("memory", size)
    monkeypatch.setattr(cache, "available_memory_bytes", lambda: 4 * size - 1)
    plan = cache.plan_cache(scan, split, options)
    assert plan.mode == "disk" and plan.directory is not None and plan.directory.is_dir()
    assert plan.directory.is_relative_to(Path(os.environ["GPU_ASSISTANT_CACHE_DIR"]))
    assert cache.plan_cache(scan, split, replace(options, cache="none")).bytes == 0


def test_fingerprint_follows_every_change_that_alters_cached_pixels(scan) -> None:
    split = split_records(scan)
    base = cache.fingerprint(scan, split, 64)
    reordered = Split(list(reversed(split.train)), split.val, split.test)
    assert cache.fingerprint(scan, reordered, 64) == base
    first = split.train[0]
    variants = {
        "image size": (split, 80),
        "edited": (Split([replace(first, mtime_ns=1), *split.train[1:]], split.val), 64),
        "resized": (Split([replace(first, size_bytes=1), *split.train[1:]], split.val), 64),
        "moved to val": (Split(split.train[1:], [*split.val, first]), 64),
        "removed": (Split(split.train[1:], split.val), 64),
    }
    prints = {name: cache.fingerprint(scan, *args) for name, args in variants.items()}
    assert base not in prints.values() and len(set(prints.values())) == len(prints)


def test_crash_leftovers_are_cleared_but_a_complete_cache_is_kept(tmp_path: Path) -> None:
    plan = cache.CachePlan("disk", 0, tmp_path)
    (tmp_path / "train_0.lockfile").write_text("x")
    (tmp_path / "train.data-00000-of-00001.tempstate1").write_text("x")
    (tmp_path / "val.index").write_text("x")
    (tmp_path / "val.data-00000-of-00001").write_text("x")
    assert plan.prefix("train") == str(tmp_path / "train")
    assert plan.prefix("val") == str(tmp_path / "val")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["val.data-00000-of-00001", "val.index"]
    assert plan.complete("val") and not plan.complete("train")
