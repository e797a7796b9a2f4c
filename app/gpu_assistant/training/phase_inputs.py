"""What each training phase fits on, built when a phase first needs it.

The small CNN and fine-tuning fit on decoded, cached, augmented pixels (data/pipeline.py). A
backbone model's head fits on each image's pooled backbone features, the top phase on the
maps where the offline backbone's top starts (training/top_tuning.py); both are computed once
per image and cached (training/features.py).

The first pass is the wait before the first epoch, so it does only what the head needs: with
a top phase to come, each image goes through the bottom of the backbone once (its map is
cached) and the features are that map through the top. The mirror images' maps, which only
the top phase trains on, are computed when that phase starts, and for the training images
alone: on 1,000 drawn objects that moved about 10 s of a 25 s first pass after the head,
which is trained by then.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from gpu_assistant.training import top_tuning
from gpu_assistant.training.models import BACKBONE_LAYER, HEAD_LAYER

# A fine-tuning step costs about this many (folded) forward passes: on 1,000 drawn objects at
# 224 px, 21.9 s for an epoch of 800 + 200 images where 3 * 800 + 200 passes at the measured
# 122 images/s make 21.3 s.
FINE_TUNE_COST = 3.0
OFFERED_FINE_TUNE_EPOCHS = 5  # what the estimate is given for when fine-tuning is off


class PhaseInputs:
    """The datasets a run's phases train on and the model each phase fits."""

    def __init__(
        self,
        run: Any,
        model: Any,
        scan: Any,
        split: Any,
        batch: int,
        *,
        fine_tunes: bool,
        tunes_top: bool,
    ) -> None:
        self.run, self.model, self.scan, self.split, self.batch = run, model, scan, split, batch
        self.fine_tunes, self.tunes_top = fine_tunes, tunes_top
        self._pixels: Any = None
        self._features: Any = None
        self._image_maps: np.ndarray | None = None  # train then val, as the features
        self._image_map_stats: Any = None
        self._maps: Any = None
        self._tuner: Any = None
        self._frozen: Any = None  # the backbone for the feature and map passes

    def for_phase(self, phase: Any) -> Any:
        if phase.name == "head":
            return self.features()
        return self.maps() if phase.name == "top" else self.pixels()

    def target(self, phase: Any) -> Any:
        """The model `phase` fits: the head, the tuner (top + head) or the whole model."""
        if phase.name == "head":
            return self.model.get_layer(HEAD_LAYER)
        return self.tuner() if phase.name == "top" else self.model

    def tuner(self) -> Any:
        if self._tuner is None:
            with self.run.strategy.scope():  # its optimizer's variables: mirrored
                self._tuner = top_tuning.tuner(self.model)
        return self._tuner

    def pixels(self) -> Any:
        if self._pixels is None:
            from gpu_assistant.data.pipeline import build_datasets

            run = self.run
            options = run.settings.pipeline_options(self.batch * run.replicas)
            self._pixels = build_datasets(
                self.scan, options, split=self.split, report=run.report, cancel=run.cancel
            )
        return self._pixels

    def features(self) -> Any:
        """With fine-tuning to come, the pixel cache is filled first and the features read
        from it: one decode per image for both (and for the maps). Only for the head phase,
        before any phase has changed the backbone (the rows go to a cache other runs share)."""
        if self._features is None:
            cache = self._cache()
            if self.tunes_top:
                maps, map_stats = self._images_maps(cache)
                features, top = cache.pooled_from(maps, map_stats.images_per_s)
                seconds = map_stats.seconds + top.seconds  # its rate: the whole backbone's
                stats = replace(map_stats, seconds=seconds, images_per_s=top.images_per_s)
            else:
                features, stats = cache.pooled()
            cache.report_pass(stats)
            self._features = cache.datasets(features, "features")
        return self._features

    def maps(self) -> Any:
        """(maps, labels) datasets: a training image's map or its mirror image's at random
        when the run mirrors (those maps computed now, once), validation maps as they are.
        A run resumed in this phase needs no pooled features: only the maps (the bottom of
        the backbone, which never trains, makes them)."""
        if self._maps is None:
            cache = self._cache()
            maps, _ = self._images_maps(cache)
            self._image_maps = None  # the datasets hold what they need: the arrays can go
            settings = self.run.settings
            mirrors = None
            if top_tuning.view_count(settings.augment, settings.flip) == 2:
                mirrors, _ = cache.maps(mirrored=True, train_only=True)
            self._maps = cache.map_datasets(maps, mirrors)
        return self._maps

    def evaluation(self) -> tuple[Any, Any]:
        """(model, validation batches) for the final report: the full model on pixels when
        they were prepared, else the tuner on the maps or the head on the features (the same
        numbers, without a decode)."""
        if self._pixels is not None:
            return self.model, self._pixels.val
        if self._maps is not None:
            return self.tuner(), self._maps.val
        if self._features is not None:
            return self.model.get_layer(HEAD_LAYER), self._features.val
        return self.model, self.pixels().val

    def _images_maps(self, cache: _CachedRows) -> tuple[np.ndarray, _PassStats]:
        """The maps of every image (train then val), computed once for the features and the
        top phase."""
        if self._image_maps is None:
            self._image_maps, self._image_map_stats = cache.maps(mirrored=False)
        return self._image_maps, self._image_map_stats

    def _cache(self) -> _CachedRows:
        pixels = self.pixels() if self.fine_tunes else None
        if self._frozen is None:  # for the maps (the bottom never trains) and the features
            self._frozen = top_tuning.frozen_backbone(self.model)  # (computed before the top is)
        return _CachedRows(self.run, self.model, self._frozen, self.scan, self.split, pixels=pixels)


@dataclass
class _PassStats:
    """What the first pass did: for the `features` event and the fine-tuning estimate."""

    cached: int
    computed: int
    seconds: float
    images_per_s: float | None  # of the pass; for the features: whole-backbone passes

    @classmethod
    def of(cls, stats: Any) -> _PassStats:
        return cls(stats.cached, stats.computed, stats.seconds, stats.images_per_s)


class _CachedRows:
    """Rows of the feature cache for a run's train + val images (in their stable order),
    computed for the images the cache lacks, and datasets of them."""

    def __init__(
        self, run: Any, model: Any, frozen: Any, scan: Any, split: Any, *, pixels: Any
    ) -> None:
        from gpu_assistant.data.split import stable_order
        from gpu_assistant.training.features import FeatureSource, weights_identity

        self.run, self.model, self.frozen = run, model, frozen
        self.scan, self.split, self.pixels = scan, split, pixels
        settings = run.settings
        self.source = FeatureSource(
            settings.model,
            settings.image_size,
            weights_identity(settings.weights_path, settings.pretrained),
            str(model.get_layer(BACKBONE_LAYER).compute_dtype),
        )
        self.train = stable_order(split.train, scan.root, settings.seed)
        self.val = stable_order(split.val, scan.root, settings.seed)
        self.everything = [*self.train, *self.val]
        self.global_batch = settings.batch_size * run.replicas

    def pooled(self) -> tuple[np.ndarray, _PassStats]:
        """The pooled features of every image, through the whole backbone."""
        rows, stats = self._rows(self.source, _extractor(self.frozen), self._images, np.float32)
        return rows, _PassStats.of(stats)

    def maps(self, *, mirrored: bool, train_only: bool = False) -> tuple[np.ndarray, Any]:
        """float16 maps at the cut of every image (or of the training images), or of their
        mirror images."""
        cut = top_tuning.cut_layer(self.model)
        source = replace(self.source, layer=f"{cut}:mirror" if mirrored else str(cut))
        extract = top_tuning.map_extractor(self.frozen, mirrored=mirrored)
        records = self.train if train_only else self.everything
        what = "the mirror images' maps for tuning the top" if mirrored else "image features"
        rows, stats = self._rows(source, extract, self._images, np.float16, records, what=what)
        return rows, _PassStats.of(stats)

    def pooled_from(
        self, maps: np.ndarray, maps_rate: float | None
    ) -> tuple[np.ndarray, _PassStats]:
        """The pooled features from the images' maps (`maps`, in self.everything's order,
        made at `maps_rate` images/s): the top of the backbone only, no decode."""
        from gpu_assistant.training.features import file_key

        row_of = {file_key(r, self.scan.root): i for i, r in enumerate(self.everything)}

        def from_maps(records: list[Any]) -> Any:
            import tensorflow as tf

            rows = maps[[row_of[file_key(r, self.scan.root)] for r in records]]
            return tf.data.Dataset.from_tensor_slices((rows, np.zeros(len(rows)))).batch(32)

        extract = top_tuning.pooled_extractor(self.frozen)
        rows, stats = self._rows(
            self.source, extract, from_maps, np.float32, upstream_rate=maps_rate
        )
        return rows, _PassStats.of(stats)

    def report_pass(self, stats: _PassStats) -> None:
        self.run.report(
            {
                "event": "features",
                "cached": stats.cached,
                "computed": stats.computed,
                "seconds": round(stats.seconds, 2),
                "images_per_s": stats.images_per_s,
            }
        )
        _fine_tune_estimate(self.run, stats.images_per_s, len(self.train), len(self.val))

    def datasets(self, rows: np.ndarray, mode: str) -> Any:
        """Datasets of (row, label) from rows of every image (train then val): the training
        rows shuffled each epoch, the validation rows in order."""
        import tensorflow as tf

        n = len(self.train)
        train = tf.data.Dataset.from_tensor_slices((rows[:n], self._labels(self.train)))
        train = train.shuffle(n, self.run.settings.seed, reshuffle_each_iteration=True)
        val = tf.data.Dataset.from_tensor_slices((rows[n:], self._labels(self.val)))
        return self._batched(train, val, mode, int(rows.nbytes))

    def map_datasets(self, maps: np.ndarray, mirrors: np.ndarray | None) -> Any:
        """Datasets of (map, label) from the maps of every image (train then val) and, when
        the run mirrors, those of the training images' mirror images: each epoch a training
        image gets one of its two at random (RandomFlip, on the maps). Indices are shuffled,
        not maps, and each array is held once, as a tensor both datasets share."""
        import tensorflow as tf

        n = len(self.train)
        images = tf.constant(maps)
        views = [images] if mirrors is None else [images, tf.constant(mirrors)]
        train = tf.data.Dataset.from_tensor_slices((tf.range(n), self._labels(self.train)))
        train = train.shuffle(n, self.run.settings.seed, reshuffle_each_iteration=True)
        train = train.map(top_tuning.view_picker(views))
        val = tf.data.Dataset.range(n, n + len(self.val)).map(lambda i: images[i])
        val = tf.data.Dataset.zip(val, tf.data.Dataset.from_tensor_slices(self._labels(self.val)))
        held = maps.nbytes + (0 if mirrors is None else mirrors.nbytes)
        return self._batched(train, val, "maps", int(held))

    def _labels(self, records: list[Any]) -> Any:
        import tensorflow as tf

        return tf.constant([r.label for r in records], tf.int32)

    def _batched(self, train: Any, val: Any, mode: str, held: int) -> Any:
        import tensorflow as tf

        from gpu_assistant.data.pipeline import Datasets
        from gpu_assistant.data.split import class_weights

        names = list(self.scan.class_names)
        batch = self.global_batch
        return Datasets(
            train=train.batch(batch).prefetch(tf.data.AUTOTUNE),
            val=val.batch(batch).prefetch(tf.data.AUTOTUNE) if self.val else None,
            test=None,
            class_names=names,
            class_weights=class_weights(self.split.train, len(names)),
            split=self.split,
            cache_mode=mode,
            cache_bytes=held,
        )

    def _images(self, records: list[Any]) -> Any:
        """uint8 image batches of `records`: read from the filled pixel cache when it holds
        exactly them, else decoded."""
        from gpu_assistant.data.pipeline import image_batches

        pixels = self.pixels
        if pixels is not None and records in (self.everything, self.train):
            train = pixels.plain_train
            if records == self.train or pixels.val is None:
                return train
            return train.concatenate(pixels.val)
        return image_batches(records, self.run.settings.image_size, self.global_batch)

    def _rows(
        self,
        source: Any,
        extract: Any,
        batches: Any,
        storage: Any,
        records: Any = None,
        *,
        what: str = "image features",
        upstream_rate: float | None = None,
    ) -> tuple[np.ndarray, Any]:
        from gpu_assistant.training.features import features_for

        return features_for(
            self.everything if records is None else records,
            self.scan.root,
            source,
            extract,
            batches,
            report=self.run.report,
            cancel=self.run.cancel,
            storage=storage,
            what=what,
            upstream_rate=upstream_rate,
        )


def _extractor(backbone: Any) -> Any:
    """uint8 image batch -> pooled features, one traced function (no Keras predict loop)."""
    import tensorflow as tf

    @tf.function(reduce_retracing=True)
    def extract(images: Any) -> Any:
        return tf.cast(backbone(tf.cast(images, tf.float32), training=False), tf.float32)

    return extract


def _fine_tune_estimate(run: Any, images_per_s: float | None, train: int, val: int) -> None:
    """Say what fine-tuning costs here, measured from the feature pass: a training step is
    about FINE_TUNE_COST forward passes (forward, backward, update), validation one."""
    if not images_per_s:
        return
    per_epoch = (FINE_TUNE_COST * train + val) / images_per_s
    planned = run.settings.fine_tune_epochs or 0
    shown = planned or OFFERED_FINE_TUNE_EPOCHS
    where = "GPU" if run.device_type == "GPU" else "CPU"
    action = "planned" if planned else f"off; --fine-tune-epochs {shown} turns it on"
    run.report(
        {
            "event": "fine_tune_estimate",
            "device_type": run.device_type,
            "epochs": planned,
            "seconds_per_epoch": round(per_epoch, 1),
            "seconds": round(per_epoch * shown, 1),
            "message": f"Fine-tuning the top of the backbone on this {where}: about "
            f"{_duration(per_epoch)} an epoch, {_duration(per_epoch * shown)} for {shown} "
            f"epochs ({action}).",
        }
    )


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"
