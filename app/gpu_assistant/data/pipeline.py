"""From a `ScanResult` to batched tf.data datasets that keep the accelerator fed.

  records in a stable pseudo-random order -> read + decode + resize in parallel (AUTOTUNE;
  big JPEGs shrunk by the decoder, see `images.decode_group`) -> batch -> cache the uint8
  batches (memory, or a disk file reused while the folder is unchanged) -> [train: reshuffle
  the batch order every epoch -> augment] -> prefetch(AUTOTUNE).

`build_datasets` fills the caches before it returns (progress events, cancellable), so the
first epoch of training already reads from them. Cached batches are handed out as they are,
without a copy, which is what keeps later epochs as cheap as the usual recipe's float32 cache
at a quarter of its memory; the price is that a batch keeps its images from epoch to epoch
(the batch order and the augmentation change every epoch). Models rescale themselves, so an
exported model takes raw pixels exactly like the app does.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gpu_assistant.data.augment import Augmentation, augmenter
from gpu_assistant.data.cache import CachePlan, plan_cache
from gpu_assistant.data.images import decode_group, decode_resized, shrinks
from gpu_assistant.data.scan import ImageRecord, ScanResult
from gpu_assistant.data.split import (
    PipelineOptions,
    Split,
    class_weights,
    split_records,
    stable_order,
)
from gpu_assistant.jobs import CancelToken, Report, UserError, ignore

if TYPE_CHECKING:
    import tensorflow as tf

SHUFFLE_BUFFER_BYTES = 64 * 1024 * 1024  # batch-shuffle window over a disk cache, in bytes
PROGRESS_INTERVAL = 0.25  # seconds between progress events
DISK_FULL_TEXTS = ("No space left on device", "Disk quota exceeded")  # strerror, in TF errors


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
    # The training images as cached: stable order, not shuffled, not augmented (one more pass
    # over them costs no decode with a memory or disk cache: backbone features).
    plain_train: tf.data.Dataset | None = None


def _decoded(records: list[ImageRecord], image_size: int) -> tf.data.Dataset:
    """(uint8 [S, S, 3], int32 label) per record, decoded in parallel, in the records' order."""
    import tensorflow as tf

    paths = tf.constant([os.fsencode(r.path) for r in records], dtype=tf.string)
    labels = tf.constant([r.label for r in records], dtype=tf.int32)
    groups = [
        decode_group(r.format, r.width, r.height, r.needs_conversion, image_size) for r in records
    ]
    # Usually one decoder and one resize direction serve every file (a folder of similar
    # photos): then they are fixed in the graph instead of chosen per image.
    same_group = groups[0] if len(set(groups)) == 1 else None
    directions = {shrinks(r.width, r.height, image_size) for r in records}
    shrinking = directions.pop() if len(directions) == 1 else None

    def load(path: tf.Tensor, label: tf.Tensor, group: tf.Tensor):
        chosen = group if same_group is None else same_group
        return decode_resized(path, chosen, image_size, shrinking), label

    dataset = tf.data.Dataset.from_tensor_slices((paths, labels, tf.constant(groups, tf.int32)))
    # No ignore_errors(): it would hide the epoch length from Keras (no progress, no ETA).
    # Files are checked by the scan, and again for changes by `_check_unchanged`.
    return dataset.map(_traced(load), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def _traced(function):
    """`function` for `Dataset.map` as it is: it has no Python control flow over tensors, and
    AutoGraph's rewriting of it (and of everything it calls) took 0.6 s, half the time of
    decoding 600 photos."""
    import tensorflow as tf

    return tf.autograph.experimental.do_not_convert(function)


class _Progress:
    """Progress events while the caches are filled, at most every PROGRESS_INTERVAL."""

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


def _cached_batches(
    records: list[ImageRecord], options: PipelineOptions, plan: CachePlan, name: str
) -> tf.data.Dataset:
    """Batches of the records in their (stable) order, cached as they are: later epochs hand
    out the cached batch tensors without copying a pixel."""
    dataset = _decoded(records, options.image_size).batch(options.batch_size)
    if plan.mode == "memory":
        return dataset.cache()
    if plan.mode == "disk":
        return dataset.cache(plan.prefix(name))
    return dataset


def _fill(dataset: tf.data.Dataset, progress: _Progress, cancel: CancelToken) -> None:
    """Run the first pass now, so that the cache is complete before training starts (and a
    stopped pass leaves no partial cache: TF discards it when the iterator goes away).

    This pass runs alone, so AUTOTUNE's starting point (one decode per core) is already right
    and the autotuner is left out (see `_untuned`): a third of the whole pass for 600 photos.
    """
    for _images, labels in _untuned(dataset):
        cancel.raise_if_cancelled()
        progress.advance(int(labels.shape[0]))


def _untuned(dataset: tf.data.Dataset) -> tf.data.Dataset:
    """`dataset` without tf.data's autotuner, for a pass that gains nothing from tuning.

    Every iterator of an autotuned dataset has a model thread, and dropping the iterator waits
    for that thread's current optimisation round: 0.1-0.5 s on a busy 2-core machine. AUTOTUNE
    values then keep their starting points (parallel calls: one per core).
    """
    import tensorflow as tf

    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.with_options(options)


def _shuffled(dataset: tf.data.Dataset, options: PipelineOptions, plan: CachePlan, batches: int):
    """Batch order reshuffled every epoch. In memory the buffer holds references to cached
    batches (no copies); from disk it is capped at SHUFFLE_BUFFER_BYTES of images."""
    buffer = batches
    if plan.mode != "memory":
        batch_bytes = options.batch_size * options.image_size**2 * 3
        buffer = min(batches, max(2, SHUFFLE_BUFFER_BYTES // batch_bytes))
    return dataset.shuffle(buffer, seed=options.seed, reshuffle_each_iteration=True)


def _augmenter(options: PipelineOptions):
    """The training augmentation these options ask for (mirroring only where `flip` allows)."""
    return augmenter(options.seed, Augmentation(flip=options.flip))


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
    while True:
        try:
            return _build(scan, options, split, report, cancel)
        except tf.errors.NotFoundError:
            smaller = _without_vanished(split, report)
            if smaller is None:  # nothing vanished: another error
                raise
            split = smaller


def _disk_full(error: Exception, plan: CachePlan) -> UserError | None:
    """The message for a disk cache that filled its disk (TensorFlow reports it as resources
    exhausted, like memory); None for a real out-of-memory."""
    if plan.directory is None or not any(text in str(error) for text in DISK_FULL_TEXTS):
        return None
    return UserError(
        f"The disk holding the image cache ({plan.directory}) is full.",
        "Free some space on it, or set GPU_ASSISTANT_CACHE_DIR to a folder on another disk.",
    )


def _without_vanished(split: Split, report: Report) -> Split | None:
    """`split` less the files deleted while the caches were being filled, each reported as a
    warning; None when none vanished."""
    gone = {r.path for r in [*split.train, *split.val, *split.test] if not r.path.exists()}
    if not gone:
        return None
    for path in sorted(gone):
        shown = os.fsencode(path).decode("utf-8", "replace")
        report(
            {
                "event": "warning",
                "message": f"'{shown}' was deleted while the images were being prepared; "
                "training goes on without it.",
                "path": shown,
            }
        )
    kept = {
        name: [r for r in getattr(split, name) if r.path not in gone]
        for name in ("train", "val", "test")
    }
    return Split(**kept)


def _build(
    scan: ScanResult, options: PipelineOptions, split: Split, report: Report, cancel: CancelToken
) -> Datasets:
    """The datasets of `split`, caches filled (see `build_datasets`)."""
    import tensorflow as tf

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
    built: dict[str, tf.data.Dataset | None] = dict.fromkeys(parts)
    plain_train = None
    for name, records in parts.items():
        if not records:
            continue
        dataset = _cached_batches(records, options, plan, name)
        if plan.mode == "memory" or (plan.mode == "disk" and not plan.complete(name)):
            try:
                _fill(dataset, progress, cancel)
            except tf.errors.ResourceExhaustedError as error:
                full = _disk_full(error, plan)
                if full is None:
                    raise
                raise full from error
        if name == "train":
            plain_train = _untuned(dataset)
            batches = -(-len(records) // options.batch_size)
            dataset = _shuffled(dataset, options, plan, batches)
            if options.augment:
                augment = _augmenter(options)
                dataset = dataset.map(_traced(augment), num_parallel_calls=tf.data.AUTOTUNE)
        dataset = dataset.prefetch(tf.data.AUTOTUNE)
        # Keras reads validation (and test) through a new iterator at every evaluation, so a
        # tuned one would stall at every epoch's end; their cached batches need no tuning.
        built[name] = dataset if name == "train" else _untuned(dataset)
    return Datasets(
        train=built["train"],
        val=built["val"],
        test=built["test"],
        class_names=list(scan.class_names),
        class_weights=class_weights(split.train, len(scan.class_names)),
        split=split,
        cache_mode=plan.mode,
        cache_bytes=plan.bytes,
        plain_train=plain_train,
    )


def image_batches(records: list[ImageRecord], image_size: int, batch_size: int) -> tf.data.Dataset:
    """(uint8 [B, S, S, 3], int32 [B]) batches of `records` in their order, decoded as training
    decodes them, not cached, not augmented: for a single pass (backbone features)."""
    _check_unchanged(records)
    return _untuned(_decoded(records, image_size).batch(batch_size).prefetch(2))
