"""How a scanned folder is divided into training, validation and test images, and the options
that describe a pipeline: plain Python (no TensorFlow), so the cache planner, run folders and
the trainer's bookkeeping can use them without loading TF.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from gpu_assistant.data.scan import ImageRecord, ScanResult
from gpu_assistant.jobs import UserError
from gpu_assistant.paths import path_bytes

CacheMode = Literal["auto", "memory", "disk", "none"]


@dataclass(frozen=True)
class PipelineOptions:
    image_size: int = 160
    batch_size: int = 32
    val_split: float = 0.2
    test_split: float = 0.0
    seed: int = 1337
    augment: bool = True
    flip: bool = True  # mirror left-right; off for digits, text, signs (a mirrored 2 is no 2)
    cache: CacheMode = "auto"
    cache_dir: Path | None = None


@dataclass(frozen=True)
class Split:
    train: list[ImageRecord]
    val: list[ImageRecord]
    test: list[ImageRecord] = field(default_factory=list)


def stable_order(records: list[ImageRecord], root: Path, seed: int) -> list[ImageRecord]:
    """Records sorted by a hash of (seed, relative path): a shuffle that is the same on every
    run and machine and does not depend on the order the files were listed in."""

    def key(record: ImageRecord) -> bytes:
        return hashlib.sha256(path_bytes(f"{seed}\0{record.relative_key(root)}")).digest()

    return sorted(records, key=key)


def _split_counts(count: int, val_split: float, test_split: float) -> tuple[int, int]:
    """How many of one class go to validation and test; training always keeps one."""
    n_val = round(count * val_split) if val_split > 0 else 0
    n_test = round(count * test_split) if test_split > 0 else 0
    if val_split > 0 and count >= 2:
        n_val = max(1, n_val)
    if test_split > 0 and count >= 3:
        n_test = max(1, n_test)
    while n_val + n_test > count - 1 and (n_val or n_test):
        if n_test >= n_val:
            n_test -= 1
        else:
            n_val -= 1
    return n_val, n_test


def split_records(
    scan: ScanResult,
    val_split: float = 0.2,
    test_split: float = 0.0,
    seed: int = 1337,
    *,
    groups: Sequence[Sequence[int]] = (),
) -> Split:
    """Stratified, deterministic split: each class is divided in the same proportions, by a
    stable hash of the file's relative path (never Python's hash() or a random state).
    `groups` (indices into `scan.records`: duplicates) each land wholly on one side."""
    if not (0 <= val_split < 1 and 0 <= test_split < 1 and val_split + test_split < 1):
        raise UserError(
            f"The validation ({val_split:g}) and test ({test_split:g}) fractions must each be "
            "between 0 and 1 and leave images for training.",
            "Use e.g. a validation split of 0.2 and a test split of 0 to 0.1.",
        )
    train: list[ImageRecord] = []
    val: list[ImageRecord] = []
    test: list[ImageRecord] = []
    for label in range(len(scan.class_names)):
        ordered = stable_order([r for r in scan.records if r.label == label], scan.root, seed)
        n_val, n_test = _split_counts(len(ordered), val_split, test_split)
        val += ordered[:n_val]
        test += ordered[n_val : n_val + n_test]
        train += ordered[n_val + n_test :]
    split = Split(train, val, test)
    return _keep_groups_together(split, scan, groups, seed) if groups else split


def _keep_groups_together(
    split: Split, scan: ScanResult, groups: Sequence[Sequence[int]], seed: int
) -> Split:
    """Every member of a group follows its anchor (the member first in the stable order) to
    the anchor's side, so no copy of a training image is validated or tested on; images in
    no group keep their side, and the result is as deterministic as the split itself."""
    side_of = {id(r): name for name in ("train", "val", "test") for r in getattr(split, name)}
    for members in groups:
        records = [scan.records[i] for i in members]
        anchor = stable_order(records, scan.root, seed)[0]
        for record in records:
            side_of[id(record)] = side_of[id(anchor)]
    parts: dict[str, list[ImageRecord]] = {"train": [], "val": [], "test": []}
    for record in split.train + split.val + split.test:
        parts[side_of[id(record)]].append(record)
    return Split(parts["train"], parts["val"], parts["test"])


def class_weights(records: list[ImageRecord], num_classes: int) -> dict[int, float]:
    """Weights that make every class count as much as the others ("balanced" weighting)."""
    counts = np.bincount([r.label for r in records], minlength=num_classes)
    total = int(counts.sum())
    return {i: (total / (num_classes * int(c)) if c else 0.0) for i, c in enumerate(counts)}
