"""Backbone features computed once per image and cached, so the head trains in seconds.

With the backbone frozen, every epoch of the usual recipe pushes every image through the same
network again to get the same 1280 numbers. Here each image's pooled features are computed
once (no augmentation), kept in `paths.cache_dir()/features/`, one file per data folder and
backbone setup, and the head (dropout + softmax) is fit on them. Each row is keyed by its
file's relative path, size and modification time: a folder that did not change costs no
decode at all, an added or edited image costs only its own row (the teachable loop: add
pictures, retrain), and a removed one drops out when the file is written again. Another image
size, backbone, weights or precision is another file, and so are the maps where the offline
backbone's top starts (`layer`, training/top_tuning.py), stored as float16.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gpu_assistant import paths
from gpu_assistant.jobs import CancelToken, Report

# Change when the same settings would give other numbers, or the saved rate another meaning.
# v2: batch norm folded for the passes; a row computed from maps saves the whole backbone's
# rate (v1 saved the top's alone, which made the fine-tuning estimate 4x too short).
FEATURE_FORMAT = "pooled-v2"
PROGRESS_INTERVAL = 0.25  # seconds between progress events


@dataclass(frozen=True)
class FeatureSource:
    """What the numbers depend on, besides the image files themselves."""

    model: str
    image_size: int
    weights: str  # "imagenet", "random" or a weights file's name, size and mtime
    dtype: str  # the backbone's compute dtype (mixed precision gives other numbers)
    layer: str = "pooled"  # the pooled features, or the maps a top-tuning run starts from

    def key(self, root: Path) -> str:
        text = f"{FEATURE_FORMAT}\0{Path(root).resolve()}\0{self}"
        return hashlib.sha256(text.encode()).hexdigest()[:32]


def weights_identity(weights_path: Path | None, pretrained: bool) -> str:
    if weights_path is not None:
        stat = Path(weights_path).stat()
        return f"{Path(weights_path).name}:{stat.st_size}:{stat.st_mtime_ns}"
    return "imagenet" if pretrained else "random"


def cache_file(source: FeatureSource, root: Path) -> Path:
    return paths.cache_dir() / "features" / f"{source.key(root)}.npz"


def file_key(record: Any, root: Path) -> str:
    """A row's key: the file's relative path, size and modification time at the scan."""
    return f"{record.relative_key(root)}\0{record.size_bytes}\0{record.mtime_ns}"


@dataclass
class FeatureStats:
    """What one `features_for` call did, for the run's events and the docs' measurements."""

    cached: int = 0
    computed: int = 0
    seconds: float = 0.0
    rate: float = 0.0  # images/s of this pass, after its first batch
    earlier_rate: float | None = None  # images/s when the cached rows were computed

    @property
    def images_per_s(self) -> float | None:
        """This pass's extraction speed, else the one saved with the cached rows."""
        if self.computed and self.rate:
            return round(self.rate, 1)
        return self.earlier_rate


def load_cache(path: Path) -> tuple[dict[str, np.ndarray], float | None]:
    """(key -> feature row, the images/s its rows were computed at) of a cache file; empty
    when there is none or it cannot be read."""
    try:
        with np.load(path, allow_pickle=False) as saved:
            keys, rows, rate = saved["keys"], saved["features"], float(saved["images_per_s"])
    except (OSError, ValueError, KeyError):
        return {}, None
    return dict(zip((str(k) for k in keys), rows, strict=True)), (rate or None)


def save_cache(path: Path, rows: dict[str, np.ndarray], images_per_s: float | None) -> None:
    """Write the cache through a temp file, so a crash never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}.npz")
    keys = sorted(rows)
    features = np.stack([rows[k] for k in keys]) if keys else np.zeros((0, 0), np.float32)
    with open(tmp, "wb") as handle:
        np.savez(
            handle,
            keys=np.array(keys, dtype=str),
            features=features,
            images_per_s=np.float64(images_per_s or 0.0),
        )
    os.replace(tmp, path)


def features_for(
    records: Sequence[Any],
    root: Path,
    source: FeatureSource,
    extract: Any,
    batches: Any,
    *,
    report: Report,
    cancel: CancelToken,
    storage: Any = np.float32,
    what: str = "image features",
    upstream_rate: float | None = None,
) -> tuple[np.ndarray, FeatureStats]:
    """[len(records), ...] features in the order of `records` (as `storage`, float16 for the
    large maps), from the cache where the file is unchanged; the others go through
    `batches(missing)` (uint8 image batches in that order) and `extract` (images ->
    features), and are added to the cache. `upstream_rate`: the images/s of the pass that
    made `batches`' input when it is not images (the maps the top runs on), so that the rate
    reported and saved is that of the whole backbone, what the fine-tuning estimate needs."""
    path = cache_file(source, root)
    cached, rate = load_cache(path)
    keys = [file_key(r, root) for r in records]
    missing = [r for r, k in zip(records, keys, strict=True) if k not in cached]
    stats = FeatureStats(cached=len(records) - len(missing), earlier_rate=rate)
    if missing:
        new_rows, stats.seconds, stats.rate = _compute(
            missing,
            extract,
            batches,
            report=report,
            cancel=cancel,
            cached=stats.cached,
            storage=storage,
            what=what,
        )
        if upstream_rate and stats.rate:  # both passes, one after the other, per image
            stats.rate = 1 / (1 / upstream_rate + 1 / stats.rate)
        cached.update(zip((file_key(r, root) for r in missing), new_rows, strict=True))
        stats.computed = len(missing)
    wanted = set(keys)
    save_cache(path, {k: v for k, v in cached.items() if k in wanted}, stats.images_per_s)
    return np.stack([cached[k] for k in keys]).astype(storage), stats


def _compute(
    records: Sequence[Any],
    extract: Any,
    batches: Any,
    *,
    report: Report,
    cancel: CancelToken,
    cached: int,
    storage: Any,
    what: str,
) -> tuple[list[np.ndarray], float, float]:
    """(feature rows, seconds, images/s): the rate leaves the first batch out (it includes
    tracing), so the ETA and the fine-tuning estimate are what the machine does."""
    rows: list[np.ndarray] = []
    total = len(records)
    start = last = time.perf_counter()
    first = 0  # images in the first batch, and when it was done
    first_done = start
    rate = 0.0
    for images, _labels in batches(records):
        cancel.raise_if_cancelled()
        rows.extend(np.asarray(extract(images), dtype=storage))
        now = time.perf_counter()
        if not first:
            first, first_done = len(rows), now
        steady = len(rows) - first
        rate = steady / (now - first_done) if steady else len(rows) / (now - start)
        if now - last >= PROGRESS_INTERVAL or len(rows) == total:
            last = now
            eta = (total - len(rows)) / rate if rate else None
            report(
                {
                    "event": "progress",
                    "phase": "features",
                    "done": len(rows),
                    "total": total,
                    "cached": cached,
                    "images_per_s": round(rate, 1),
                    "eta_s": round(eta, 1) if eta is not None else None,
                    "message": f"Computing {what}: {len(rows)} of {total} "
                    f"({rate:.0f} images/s, about {eta or 0:.0f} s left)",
                }
            )
    return rows, time.perf_counter() - start, rate
