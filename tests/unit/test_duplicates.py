"""Duplicate groups from file hashes and from feature similarity (numpy only, no TensorFlow)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from data_factory import make_class_folder
from gpu_assistant.data import duplicates
from gpu_assistant.data.duplicates import (
    find_duplicates,
    remember_pairs,
    remembered_pairs,
    similar_pairs,
)
from gpu_assistant.data.scan import scan_folder
from gpu_assistant.data.split import split_records


def _index(scan, relative: str) -> int:
    return next(i for i, r in enumerate(scan.records) if r.relative_key(scan.root) == relative)


def test_identical_files_form_one_exact_group_across_classes(tmp_path: Path) -> None:
    make_class_folder(tmp_path, {"a": 4, "b": 4})
    shutil.copy(tmp_path / "a/img_0001.png", tmp_path / "a/copy.png")
    shutil.copy(tmp_path / "a/img_0001.png", tmp_path / "b/copy-in-b.png")
    scan = scan_folder(tmp_path)

    found = find_duplicates(scan.records)

    expected = {_index(scan, p) for p in ("a/img_0001.png", "a/copy.png", "b/copy-in-b.png")}
    assert [set(g.members) for g in found.groups] == [expected]
    assert found.groups[0].exact and found.threshold is None
    assert found.duplicates == 2
    assert len(found.cross_class(scan.records)) == 1
    summary = found.summary(scan.records, scan.class_names)
    assert "1 group" in summary and "different classes (a, b)" in summary
    files = found.to_json(scan.records, scan.root)["groups"][0]["files"]
    assert sorted(files) == ["a/copy.png", "a/img_0001.png", "b/copy-in-b.png"]


def test_similar_pairs_across_blocks(monkeypatch) -> None:
    monkeypatch.setattr(duplicates, "_BLOCK", 2)  # pairs must be found across row blocks
    rng = np.random.default_rng(0)
    features = rng.normal(size=(7, 64)).astype(np.float32)
    features[5] = features[0] + 0.05 * rng.normal(size=64)
    features[4] = features[3] * 3.0  # scale does not matter to the cosine

    pairs = similar_pairs(features, 0.95)

    assert [(a, b) for a, b, _ in pairs] == [(0, 5), (3, 4)]
    assert pairs[1][2] == pytest.approx(1.0)


def _plane(degrees: dict[int, float]) -> np.ndarray:
    """Features of 6 images: those in `degrees` lie in one plane at those angles."""
    features = np.eye(6, dtype=np.float32)
    for index, angle in degrees.items():
        features[index] = 0
        features[index, [1, 4]] = np.cos(np.radians(angle)), np.sin(np.radians(angle))
    return features


def test_near_copies_do_not_chain_into_one_group(tmp_path: Path) -> None:
    make_class_folder(tmp_path, {"a": 3, "b": 3})
    scan = scan_folder(tmp_path)
    # 1~4 (15 degrees) and 4~5 (25) pass the threshold, 1~5 (40) does not: chaining them
    # grouped 13 different faces once. 5 joins no group, as it is not alike to 1.
    found = find_duplicates(scan.records, _plane({1: 0, 4: 15, 5: 40}), threshold=0.9)

    assert [g.members for g in found.groups] == [(1, 4)]
    assert not found.groups[0].exact
    assert found.groups[0].similarity == pytest.approx(np.cos(np.radians(15)), abs=1e-5)
    assert found.threshold == 0.9 and found.checked == 6


def test_near_copies_alike_to_each_other_form_one_group_with_the_weakest_link(
    tmp_path: Path,
) -> None:
    make_class_folder(tmp_path, {"a": 3, "b": 3})
    scan = scan_folder(tmp_path)
    found = find_duplicates(scan.records, _plane({1: 0, 4: 10, 5: 20}), threshold=0.9)

    assert [g.members for g in found.groups] == [(1, 4, 5)]
    assert found.groups[0].similarity == pytest.approx(np.cos(np.radians(20)), abs=1e-5)


def test_duplicate_groups_never_straddle_the_split(tmp_path: Path) -> None:
    make_class_folder(tmp_path, {"a": 12, "b": 12})
    for i in range(6):  # each image copied three times under other names
        for copy in range(3):
            shutil.copy(tmp_path / f"a/img_{i:04d}.png", tmp_path / f"a/dup_{i}_{copy}.png")
    scan = scan_folder(tmp_path)
    groups = find_duplicates(scan.records).index_groups()
    assert len(groups) == 6

    def sides(split) -> list[set[str]]:
        side = {id(r): n for n in ("train", "val", "test") for r in getattr(split, n)}
        return [{side[id(scan.records[i])] for i in members} for members in groups]

    plain = split_records(scan, 0.4, 0.2, seed=3)
    assert any(len(s) > 1 for s in sides(plain)), "the test needs a split that leaks"

    grouped = split_records(scan, 0.4, 0.2, seed=3, groups=groups)
    assert all(len(s) == 1 for s in sides(grouped))
    assert sorted(map(id, grouped.train + grouped.val + grouped.test)) == sorted(
        map(id, scan.records)
    )
    assert grouped == split_records(scan, 0.4, 0.2, seed=3, groups=groups[::-1])
    grouped_ids = {i for members in groups for i in members}
    ungrouped = [r for i, r in enumerate(scan.records) if i not in grouped_ids]
    for record in ungrouped:  # images in no group keep their side
        assert (record in plain.val) == (record in grouped.val)


def test_near_copies_found_by_an_audit_are_remembered_for_unchanged_files(tmp_path: Path) -> None:
    make_class_folder(tmp_path / "data", {"a": 3, "b": 3})
    scan = scan_folder(tmp_path / "data")
    features = np.eye(6, dtype=np.float32)
    features[4] = features[1]
    audited = find_duplicates(scan.records, features, threshold=0.9)
    remember_pairs(scan.records, scan.root, audited.pairs)

    again = find_duplicates(scan.records, known_pairs=remembered_pairs(scan.records, scan.root))
    assert [g.members for g in again.groups] == [(1, 4)] and again.threshold is not None

    edited = scan.records[4].path
    edited.write_bytes(edited.read_bytes() + b"\0")  # the file changed: the pair is forgotten
    rescanned = scan_folder(tmp_path / "data")
    assert remembered_pairs(rescanned.records, rescanned.root) == []
