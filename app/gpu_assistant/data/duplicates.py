"""Exact and near duplicates across a whole folder, found before training.

Why: the same photo twice, one copy in training and one in validation, makes validation
accuracy lie, and burst shots or a resized copy do the same more quietly. Exact copies are
found by a hash of the file's bytes; near copies (resized, re-encoded, slightly cropped) by
the cosine similarity of the pretrained backbone's pooled features, at a threshold measured
on injected copies (benchmarks/bench_audit.py). Links are joined transitively (union-find)
into groups, and the split keeps every group on one side.

Numpy and hashlib only: the features come in as an array (computed elsewhere, cached).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gpu_assistant import paths
from gpu_assistant.data.scan import ImageRecord
from gpu_assistant.jobs import CancelToken, Report, ignore

# Cosine similarity of EfficientNet-Lite0 pooled features (224 px) above which two images
# count as the same picture, measured by benchmarks/bench_audit.py on injected resized /
# re-encoded / cropped copies (README). A picture then joins a group only when it is at least
# LINK_SLACK less alike to every member (see _Groups): two copies of one photo (half size,
# cropped) can be less alike to each other than each is to the original.
NEAR_DUPLICATE_COSINE = 0.88
LINK_SLACK = 0.10
_HASH_CHUNK = 1 << 20
_BLOCK = 1024  # rows of the similarity matrix computed at once (1024 x N float32)


@dataclass(frozen=True)
class DuplicateGroup:
    """Images that are the same picture: `members` index the scan's records."""

    members: tuple[int, ...]
    exact: bool  # every member has the same bytes
    similarity: float  # the weakest link that joined the group (1.0 for exact copies)


@dataclass
class DuplicateReport:
    groups: list[DuplicateGroup] = field(default_factory=list)
    threshold: float | None = None  # None: no features, exact copies only
    checked: int = 0
    pairs: list[tuple[int, int, float]] = field(default_factory=list)  # near links found

    def index_groups(self) -> list[tuple[int, ...]]:
        """Members of each group, for `split_records(groups=...)`."""
        return [group.members for group in self.groups]

    @property
    def duplicates(self) -> int:
        """Images beyond the first of each group: what the folder holds twice."""
        return sum(len(group.members) - 1 for group in self.groups)

    def cross_class(self, records: Sequence[ImageRecord]) -> list[DuplicateGroup]:
        """Groups whose copies sit in different class folders: at least one label is wrong."""
        return [g for g in self.groups if len({records[i].label for i in g.members}) > 1]

    def summary(self, records: Sequence[ImageRecord], class_names: Sequence[str]) -> str:
        """One sentence for the user: what was found and what the split does about it."""
        if not self.groups:
            how = "exact copies" if self.threshold is None else "exact or near copies"
            return f"No duplicates: checked {self.checked} images for {how}."
        exact = sum(1 for g in self.groups if g.exact)
        text = (
            f"{len(self.groups)} group(s) of duplicates ({exact} of identical files, "
            f"{len(self.groups) - exact} of near copies), {self.duplicates} extra image(s); "
            "each group is kept on one side of the train/validation split, so validation "
            "never sees a copy of a training image."
        )
        conflicts = self.cross_class(records)
        if conflicts:
            names = sorted({class_names[records[i].label] for g in conflicts for i in g.members})
            text += (
                f" {len(conflicts)} group(s) have copies in different classes "
                f"({', '.join(names)}): keep each picture in one class folder only."
            )
        return text

    def to_json(self, records: Sequence[ImageRecord], root: Path) -> dict[str, Any]:
        return {
            "threshold": self.threshold,
            "checked": self.checked,
            "groups": [
                {
                    "exact": group.exact,
                    "similarity": round(group.similarity, 4),
                    "files": [records[i].relative_key(root) for i in group.members],
                }
                for group in self.groups
            ],
        }


def file_digest(path: Path) -> str:
    """BLAKE2b of the file's bytes (hashlib releases the GIL: threads hash in parallel)."""
    digest = hashlib.blake2b(digest_size=20)
    with open(path, "rb") as handle:
        while chunk := handle.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def file_digests(
    records: Sequence[ImageRecord],
    *,
    cancel: CancelToken | None = None,
    max_workers: int | None = None,
) -> list[str]:
    """`file_digest` of every record, in order; an unreadable file gets a unique marker."""
    cancel = cancel or CancelToken()

    def one(index: int) -> str:
        cancel.raise_if_cancelled()
        try:
            return file_digest(records[index].path)
        except OSError:
            return f"unreadable:{index}"

    with ThreadPoolExecutor(max_workers or os.cpu_count() or 1) as pool:
        return list(pool.map(one, range(len(records))))


class _Groups:
    """Union-find over record indices, remembering the weakest link of each set.

    Near copies join by complete linkage with slack (`join_if_all_alike`): a pair above the
    threshold joins two groups only when every pair across them is within LINK_SLACK of it.
    Plain chaining let distinct photos of one kind (13 different faces) join through a run of
    pairs each just above the threshold; strict complete linkage kept a half-size copy out
    of its original's group when it was less alike to the cropped copy (recall 0.91 on drawn
    objects, 0.87 on photos, against 0.95 for either)."""

    def __init__(self, count: int) -> None:
        self.parent = list(range(count))
        self.weakest: dict[int, float] = {}
        self.members: dict[int, list[int]] = {i: [i] for i in range(count)}

    def find(self, index: int) -> int:
        while self.parent[index] != index:
            self.parent[index] = self.parent[self.parent[index]]
            index = self.parent[index]
        return index

    def join(self, a: int, b: int, similarity: float) -> None:
        root_a, root_b = self.find(a), self.find(b)
        if root_a == root_b:
            return
        weakest = min(similarity, self.weakest.pop(root_a, 1.0), self.weakest.pop(root_b, 1.0))
        low, high = min(root_a, root_b), max(root_a, root_b)
        self.parent[high] = low
        self.weakest[low] = weakest
        self.members[low] += self.members.pop(high)

    def join_if_all_alike(
        self, a: int, b: int, similarity: float, alike: dict[tuple[int, int], float]
    ) -> None:
        """Join a's and b's groups when every pair across them is alike (in `alike`, keyed
        (low, high), or the same file): the groups' weakest link is then that pair's."""
        root_a, root_b = self.find(a), self.find(b)
        if root_a == root_b:
            return
        links = [
            alike.get((min(i, j), max(i, j)))
            for i in self.members[root_a]
            for j in self.members[root_b]
        ]
        if all(link is not None for link in links):
            self.join(a, b, min([similarity, *(link for link in links if link is not None)]))

    def sets(self) -> list[tuple[list[int], float]]:
        members: dict[int, list[int]] = {}
        for index in range(len(self.parent)):
            members.setdefault(self.find(index), []).append(index)
        return [(m, self.weakest.get(root, 1.0)) for root, m in members.items() if len(m) > 1]


def similar_pairs(
    features: np.ndarray, threshold: float, cancel: CancelToken | None = None
) -> list[tuple[int, int, float]]:
    """Every pair (i < j) whose features' cosine similarity is at least `threshold`, computed
    in blocks of rows so memory stays at _BLOCK x N."""
    cancel = cancel or CancelToken()
    vectors = np.asarray(features, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit = vectors / np.maximum(norms, 1e-12)
    pairs: list[tuple[int, int, float]] = []
    for start in range(0, len(unit), _BLOCK):
        cancel.raise_if_cancelled()
        block = unit[start : start + _BLOCK] @ unit.T
        rows, cols = np.nonzero(block >= threshold)
        for row, col in zip(rows.tolist(), cols.tolist(), strict=True):
            if col > start + row:
                pairs.append((start + row, col, float(block[row, col])))
    return pairs


def find_duplicates(
    records: Sequence[ImageRecord],
    features: np.ndarray | None = None,
    *,
    threshold: float = NEAR_DUPLICATE_COSINE,
    digests: Sequence[str] | None = None,
    known_pairs: Sequence[tuple[int, int, float]] = (),
    report: Report = ignore,
    cancel: CancelToken | None = None,
) -> DuplicateReport:
    """Group `records` that are the same file (same bytes) or, with `features` (one row per
    record, any pooled embedding), the same picture (cosine similarity >= `threshold`);
    `known_pairs` are near copies found earlier (`remembered_pairs`)."""
    cancel = cancel or CancelToken()
    if features is not None and len(features) != len(records):
        raise ValueError(f"{len(features)} feature rows for {len(records)} images")
    report({"event": "progress", "done": 0, "total": len(records), "message": "Hashing files"})
    digests = list(digests) if digests is not None else file_digests(records, cancel=cancel)
    groups = _Groups(len(records))
    first_with: dict[str, int] = {}
    for index, digest in enumerate(digests):
        groups.join(first_with.setdefault(digest, index), index, 1.0)
    pairs: list[tuple[int, int, float]] = []
    if features is not None:
        message = "Comparing images for near copies"
        report({"event": "progress", "done": 0, "total": len(records), "message": message})
        pairs = similar_pairs(features, threshold - LINK_SLACK, cancel)
    alike = {(min(a, b), max(a, b)): s for a, b, s in [*known_pairs, *pairs]}
    for index, digest in enumerate(digests):  # the same file is alike to its copies' matches
        first = first_with[digest]
        if first != index:
            for (i, j), s in list(alike.items()):
                if first in (i, j):
                    other = j if i == first else i
                    alike.setdefault((min(index, other), max(index, other)), s)
            alike[(first, index)] = 1.0
    for (a, b), similarity in sorted(alike.items(), key=lambda item: -item[1]):
        if similarity >= threshold:  # the pairs below only vouch for a join
            groups.join_if_all_alike(a, b, similarity, alike)
    found = [
        DuplicateGroup(tuple(members), len({digests[i] for i in members}) == 1, weakest)
        for members, weakest in groups.sets()
    ]
    found.sort(key=lambda g: (-len(g.members), g.members))
    report({"event": "progress", "done": len(records), "total": len(records), "message": ""})
    near = threshold if features is not None or known_pairs else None
    return DuplicateReport(found, near, len(records), pairs)


def _pairs_file(root: Path) -> Path:
    key = hashlib.sha256(str(Path(root).resolve()).encode()).hexdigest()[:32]
    return paths.cache_dir() / "near-copies" / f"{key}.json"


def _fingerprint(record: ImageRecord, root: Path) -> list[Any]:
    return [record.relative_key(root), record.size_bytes, record.mtime_ns]


def remember_pairs(
    records: Sequence[ImageRecord], root: Path, pairs: Sequence[tuple[int, int, float]]
) -> None:
    """Keep the near copies an audit found (by file fingerprint), so that training, which
    runs no backbone before its split, keeps them on one side too."""
    rows = [
        [_fingerprint(records[a], root), _fingerprint(records[b], root), similarity]
        for a, b, similarity in pairs
    ]
    path = _pairs_file(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    paths.atomic_write_text(path, json.dumps({"pairs": rows}))


def remembered_pairs(records: Sequence[ImageRecord], root: Path) -> list[tuple[int, int, float]]:
    """The near copies of the last audit of `root` whose two files are unchanged."""
    try:
        rows = json.loads(_pairs_file(root).read_text(encoding="utf-8"))["pairs"]
    except (OSError, ValueError, KeyError, TypeError):
        return []
    index = {tuple(_fingerprint(r, root)): i for i, r in enumerate(records)}
    found = []
    for first, second, similarity in rows:
        a, b = index.get(tuple(first)), index.get(tuple(second))
        if a is not None and b is not None:
            found.append((a, b, float(similarity)))
    return found
