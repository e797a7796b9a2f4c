"""Tuning the top of the offline backbone on cached mid-level maps: fine-tuning's gain at a few
seconds an epoch on a laptop CPU.

The frozen backbone's pooled features cap what any head learns from them (8 classes of drawn
objects: 0.85-0.86 for every head tried, logistic regression included; docs/training.md).
Fine-tuning the backbone's top lifts that cap, but on pixels each epoch pushes every image
through the whole backbone forward and back: minutes an epoch on 2 cores. The bottom of the
backbone stays frozen while the top trains, though, so its output for an image never changes:
here the backbone is cut where its last two stages start (`efficientnet_lite.TUNE_FROM`, a
14x14x112 map at 224 px), that map is computed once per image alongside the features and
cached the same way (training/features.py), and the top (5 blocks and the 1x1 head conv, 2.65 M
of the 3.4 M weights) trains on it with the head. The price is the augmentation the pixels
would get each epoch: the maps of the mirrored training pictures are cached too (when the run
mirrors; computed when the phase starts, training/phase_inputs.py), the rest is left to the
top's drop-connect and early stopping.

The tuner model shares its layers with the full model, so model.keras (pixels in) holds the
tuned weights without a copy. Batch norm stays frozen (inference statistics), as in the
Keras fine-tuning guide.
"""

from __future__ import annotations

import math
from typing import Any

from gpu_assistant.training.models import BACKBONE_LAYER, HEAD_LAYER, unfreeze_from

TUNER_NAME = "top_tuner"
# The maps stay in memory while the top trains: 2 GiB, counting the arrays and their tensors
# while both exist, holds those of ~12,000 training images with their mirror images at 224 px.
MAX_MAP_BYTES = 2 * 2**30


def cut_layer(model: Any) -> str | None:
    """The backbone layer the top starts after, or None for models that have no tunable top
    (the small CNN, the downloadable keras.applications backbones)."""
    from gpu_assistant.training.efficientnet_lite import TUNE_FROM

    try:
        backbone = model.get_layer(BACKBONE_LAYER)
        backbone.get_layer(TUNE_FROM)
    except ValueError:
        return None
    return TUNE_FROM


def view_count(augment: bool, flip: bool) -> int:
    """Maps cached per image: the image's, and its mirror image's when the run mirrors."""
    return 2 if augment and flip else 1


def frozen_backbone(model: Any) -> Any:
    """The backbone for passes that change no weight (features, maps): the offline backbone
    with its batch norm folded into its convolutions (about twice as fast on a CPU,
    `efficientnet_lite.fold_batch_norm`), any other backbone as it is. From the weights it
    has now: build it again after they change."""
    backbone = model.get_layer(BACKBONE_LAYER)
    if cut_layer(model) is None:
        return backbone
    from gpu_assistant.training.efficientnet_lite import fold_batch_norm

    return fold_batch_norm(backbone)


def map_extractor(frozen: Any, *, mirrored: bool) -> Any:
    """uint8 image batch -> [B, H, W, C] float16 maps at the cut of `frozen` (the
    `frozen_backbone`), of the images or (mirrored) of their left-right mirror images. One
    traced function, no Keras predict loop."""
    import keras
    import tensorflow as tf

    from gpu_assistant.training.efficientnet_lite import TUNE_FROM

    bottom = keras.Model(frozen.inputs, frozen.get_layer(TUNE_FROM).output)

    @tf.function(reduce_retracing=True)
    def extract(images: Any) -> Any:
        pixels = tf.cast(images, tf.float32)
        pixels = tf.reverse(pixels, axis=[2]) if mirrored else pixels
        return tf.cast(bottom(pixels, training=False), tf.float16)

    return extract


def map_bytes(model: Any, maps: int) -> int:
    """Memory `maps` float16 maps take."""
    backbone = model.get_layer(BACKBONE_LAYER)
    shape = backbone.get_layer(str(cut_layer(model))).output.shape[1:]
    return maps * 2 * math.prod(int(side) for side in shape)


def view_picker(views: list[Any]) -> Any:
    """A dataset map function (training image index, label) -> (its map, label): from
    `views[0]` (the images' maps), or at random from one of `views` (the mirror images'
    second) when there are two: RandomFlip, on the cached maps."""
    import tensorflow as tf

    def pick(index: Any, label: Any) -> tuple[Any, Any]:
        if len(views) == 1:
            return views[0][index], label
        mirrored = tf.random.uniform(()) < 0.5
        return tf.cond(mirrored, lambda: views[1][index], lambda: views[0][index]), label

    return pick


def pooled_extractor(frozen: Any) -> Any:
    """Maps at the cut -> the pooled features: the top of `frozen` (the `frozen_backbone`)."""
    import keras
    import tensorflow as tf

    from gpu_assistant.training.efficientnet_lite import TUNE_FROM

    top = keras.Model(frozen.get_layer(TUNE_FROM).output, frozen.output)

    @tf.function(reduce_retracing=True)
    def extract(maps: Any) -> Any:
        return tf.cast(top(tf.cast(maps, tf.float32), training=False), tf.float32)

    return extract


def tuner(model: Any) -> Any:
    """maps at the cut -> probabilities: the backbone's top and the head, the very layers of
    `model` (training one trains the other)."""
    import keras

    top = _top(model)
    inputs = keras.Input(tuple(top.input.shape[1:]), name="maps")
    outputs = model.get_layer(HEAD_LAYER)(top(inputs))
    return keras.Model(inputs, outputs, name=TUNER_NAME)


def unfreeze(model: Any) -> int:
    """Make the backbone's layers after the cut trainable, batch norm excepted; returns how
    many layers that is."""
    backbone = model.get_layer(BACKBONE_LAYER)
    names = [layer.name for layer in backbone.layers]
    return unfreeze_from(backbone, names.index(str(cut_layer(model))) + 1)


def freeze(model: Any) -> None:
    """The backbone frozen again after the phase: the full model's optimizer was built for
    the head's weights alone, and Keras cannot load back a model.keras whose trainable
    weights no longer match its optimizer's."""
    model.get_layer(BACKBONE_LAYER).trainable = False


def _top(model: Any) -> Any:
    import keras

    backbone = model.get_layer(BACKBONE_LAYER)
    start = backbone.get_layer(str(cut_layer(model))).output
    return keras.Model(start, backbone.output, name="backbone_top")
