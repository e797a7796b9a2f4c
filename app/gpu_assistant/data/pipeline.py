"""From a `ScanResult` to batched tf.data datasets that keep the accelerator fed.

Images are decoded once (in parallel, JPEGs shrunk in the DCT, see `images.decode_group`),
resized to uint8 squares and cached; models rescale themselves, so the cache is a quarter of
float32's size and an exported model takes raw pixels exactly like the app does.

- memory cache: every split is decoded up front into one host array (progress and cancel
  through the job contract); each epoch then shuffles *indices* and gathers whole batches,
  a full reshuffle every epoch at the cost of one copy per batch.
- disk cache (data larger than the memory budget): decode -> TF cache file (reused while the
  folder is unchanged, see `cache.py`) -> shuffle window -> batch, streaming.
- none: decode every epoch.
Then, for training only, augmentation on whole batches (after the cache, so every epoch
differs), and prefetch(AUTOTUNE) everywhere.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from gpu_assistant.data.augment import augmenter
from gpu_assistant.data.cache import CachePlan, plan_cache
from gpu_assistant.data.images import decode_group, decode_resized
from gpu_assistant.data.scan import ImageRecord, ScanResult
from gpu_assistant.jobs import CancelToken, Report, UserError, ignore

if TYPE_CHECKING:
    import tensorflow as tf

CacheMode = Literal["auto", "memory", "disk", "none"]
SHUFFLE_BUFFER_BYTES = 64 * 1024 * 1024  # shuffle window after a disk cache, in image bytes
PREPARE_BATCH = 64  # images decoded per step while filling the memory cache
PROGRESS_INTERVAL = 0.25  # seconds between progress events


@dataclass(frozen=True)
class PipelineOptions:
    image_size: int = 160
    batch_size: int = 32
    val_split: float = 0.2
    test_split: float = 0.0
    seed: int = 1337
    augment: bool = True
    cache: CacheMode = "auto"
    cache_dir: Path | None = None


@dataclass(frozen=True)
class Split:
    train: list[ImageRecord]
    val: list[ImageRecord]
    test: list[ImageRecord] = field(default_factory=list)


@dataclass
class Datasets:
    train: tf.data.Dataset
    val: tf.data.Dataset | None
    test: tf.data.Dataset | None
    class_names: list[str]
    class_weights: dict[int, float]
    split: Split
    cache_mode: str
    cache_bytes: int


def stable_order(records: list[ImageRecord], root: Path, seed: int) -> list[ImageRecord]:
    """Records sorted by a hash of (seed, relative path): a shuffle that is the same on every
    run and machine and does not depend on the order the files were listed in."""

    def key(record: ImageRecord) -> bytes:
        text = f"{seed}\0{record.relative_key(root)}".encode()
        return hashlib.sha256(text).digest()

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
    scan: ScanResult, val_split: float = 0.2, test_split: float = 0.0, seed: int = 1337
) -> Split:
    """Stratified, deterministic split: each class is divided in the same proportions, by a
    stable hash of the file's relative path (never Python's hash() or a random state)."""
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
    return Split(train, val, test)


def class_weights(records: list[ImageRecord], num_classes: int) -> dict[int, float]:
    """Weights that make every class count as much as the others ("balanced" weighting)."""
    counts = np.bincount([r.label for r in records], minlength=num_classes)
    total = int(counts.sum())
    return {i: (total / (num_classes * int(c)) if c else 0.0) for i, c in enumerate(counts)}


def _decoded(records: list[ImageRecord], image_size: int) -> tf.data.Dataset:
    """(uint8 [S, S, 3], int32 label) per record, decoded in parallel, in the records' order."""
    import tensorflow as tf

    paths = tf.constant([str(r.path) for r in records], dtype=tf.string)
    labels = tf.constant([r.label for r in records], dtype=tf.int32)
    groups = tf.constant(
        [
            decode_group(r.format, r.width, r.height, r.needs_conversion, image_size)
            for r in records
        ],
        dtype=tf.int32,
    )

    def load(path: tf.Tensor, label: tf.Tensor, group: tf.Tensor):
        return decode_resized(path, group, image_size), label

    dataset = tf.data.Dataset.from_tensor_slices((paths, labels, groups))
    # No ignore_errors(): it would hide the epoch length from Keras (no progress, no ETA).
    # Files are checked by the scan, and again for changes by `_check_unchanged`.
    return dataset.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def _host_array(shape: tuple[int, ...]) -> np.ndarray:
    """An uninitialised uint8 array on a 64-byte boundary, which TF can use without a copy."""
    count = int(np.prod(shape))
    raw = np.empty(count + 64, dtype=np.uint8)
    offset = -raw.ctypes.data % 64
    return raw[offset : offset + count].reshape(shape)


class _Progress:
    """Progress events for filling the memory cache, at most every PROGRESS_INTERVAL."""

    def __init__(self, report: Report, total: int) -> None:
        self.report, self.total, self.done, self.last = report, total, 0, 0.0

    def advance(self, count: int) -> None:
        self.done += count
        now = time.monotonic()
        if now - self.last >= PROGRESS_INTERVAL or self.done == self.total:
            self.last = now
            message = f"Preparing images: {self.done} of {self.total} decoded and resized"
            self.report(
                {"event": "progress", "done": self.done, "total": self.total, "message": message}
            )


def _load_into_memory(
    records: list[ImageRecord], image_size: int, progress: _Progress, cancel: CancelToken
) -> tf.Tensor:
    """Every record decoded once into one uint8 [N, S, S, 3] host tensor (no second copy)."""
    import tensorflow as tf

    images = _host_array((len(records), image_size, image_size, 3))
    done = 0
    for batch, _labels in _decoded(records, image_size).batch(PREPARE_BATCH).prefetch(1):
        cancel.raise_if_cancelled()
        images[done : done + len(batch)] = batch.numpy()
        done += len(batch)
        progress.advance(len(batch))
    return tf.experimental.dlpack.from_dlpack(images.__dlpack__())


def _from_memory(
    images: tf.Tensor, labels: list[int], options: PipelineOptions, *, training: bool
) -> tf.data.Dataset:
    import tensorflow as tf

    label_tensor = tf.constant(labels, dtype=tf.int32)
    indices = tf.data.Dataset.range(len(labels))
    if training:
        indices = indices.shuffle(len(labels), seed=options.seed, reshuffle_each_iteration=True)

    def gather(batch_indices: tf.Tensor):
        return tf.gather(images, batch_indices), tf.gather(label_tensor, batch_indices)

    return indices.batch(options.batch_size).map(gather, num_parallel_calls=tf.data.AUTOTUNE)


def _streamed(
    records: list[ImageRecord],
    options: PipelineOptions,
    plan: CachePlan,
    name: str,
    *,
    training: bool,
) -> tf.data.Dataset:
    dataset = _decoded(records, options.image_size)
    if plan.mode == "disk":
        dataset = dataset.cache(plan.prefix(name))
    if training:
        per_image = options.image_size**2 * 3
        buffer = max(options.batch_size * 4, SHUFFLE_BUFFER_BYTES // per_image)
        dataset = dataset.shuffle(min(len(records), buffer), seed=options.seed)
    return dataset.batch(options.batch_size)


def _check_unchanged(records: list[ImageRecord]) -> None:
    """Refuse to start on files edited or removed since the scan (their check is stale)."""
    changed = []
    for record in records:
        if not record.mtime_ns:
            continue  # built by hand, not by a scan: nothing to compare with
        try:
            stat = record.path.stat()
            same = (stat.st_size, stat.st_mtime_ns) == (record.size_bytes, record.mtime_ns)
        except OSError:
            same = False
        if not same:
            changed.append(record.path)
    if changed:
        raise UserError(
            f"{len(changed)} image(s) changed or disappeared since the folder was scanned, "
            f"e.g. '{changed[0]}'.",
            "Scan the folder again, then start.",
        )


def build_datasets(
    scan: ScanResult,
    options: PipelineOptions,
    *,
    split: Split | None = None,
    report: Report = ignore,
    cancel: CancelToken | None = None,
) -> Datasets:
    """Train / validation / test datasets of (uint8 [B, S, S, 3], int32 [B]) batches.

    Each split's images come in `stable_order` (validation and test batches in exactly that
    order). With the memory cache this decodes every image before returning, reporting
    progress; `cancel` stops it.
    """
    import tensorflow as tf

    cancel = cancel or CancelToken()
    if options.image_size < 8 or options.batch_size < 1:
        raise UserError(
            f"Image size {options.image_size} / batch size {options.batch_size} is too small.",
            "Use an image size of at least 8 pixels (e.g. 160) and a batch size of at least 1.",
        )
    split = split or split_records(scan, options.val_split, options.test_split, options.seed)
    if not split.train:
        raise UserError(
            "No images are left for training after the split.",
            "Add images, or lower the validation and test fractions.",
        )
    _check_unchanged([*split.train, *split.val, *split.test])
    plan = plan_cache(scan, split, options)
    parts = {
        name: stable_order(records, scan.root, options.seed)
        for name, records in (("train", split.train), ("val", split.val), ("test", split.test))
    }
    progress = _Progress(report, sum(len(records) for records in parts.values()))
    built: dict[str, tf.data.Dataset | None] = {}
    for name, records in parts.items():
        training = name == "train"
        if not records:
            built[name] = None
            continue
        if plan.mode == "memory":
            images = _load_into_memory(records, options.image_size, progress, cancel)
            labels = [r.label for r in records]
            dataset = _from_memory(images, labels, options, training=training)
        else:
            dataset = _streamed(records, options, plan, name, training=training)
        if training and options.augment:
            dataset = dataset.map(augmenter(options.seed), num_parallel_calls=tf.data.AUTOTUNE)
        built[name] = dataset.prefetch(tf.data.AUTOTUNE)
    return Datasets(
        train=built["train"],
        val=built["val"],
        test=built["test"],
        class_names=list(scan.class_names),
        class_weights=class_weights(split.train, len(scan.class_names)),
        split=split,
        cache_mode=plan.mode,
        cache_bytes=plan.bytes,
    )


def preview_batches(
    scan: ScanResult, options: PipelineOptions, *, batches: int = 2, per_batch: int = 8
) -> list[np.ndarray]:
    """A few augmented batches (uint8 [N, S, S, 3]) for the UI, read without touching the cache."""
    split = split_records(scan, options.val_split, options.test_split, options.seed)
    sample = stable_order(split.train, scan.root, options.seed)[: max(1, per_batch)]
    dataset = _decoded(sample, options.image_size).batch(per_batch)
    augment = augmenter(options.seed) if options.augment else None
    images = next(iter(dataset))[0]
    out = []
    for _ in range(batches):
        out.append((augment(images, None)[0] if augment else images).numpy())
    return out
