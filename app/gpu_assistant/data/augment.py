"""Random flip, rotation, zoom and contrast for uint8 training batches.

Why not four Keras preprocessing layers: each geometric layer resamples the whole batch on
its own (rotation, then zoom), which on a CPU costs more than the training step of a small
model. Here flip, rotation and zoom are folded into one affine matrix per image and applied
in a single resampling pass (`ImageProjectiveTransformV3`, reflect padding, bilinear), then
contrast; about twice the images per second of the layer stack (benchmarks/bench_pipeline.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import tensorflow as tf


@dataclass(frozen=True)
class Augmentation:
    flip: bool = True  # mirror left-right with probability 1/2
    max_rotation: float = 0.05  # fraction of a full turn either way (0.05: +-18 degrees)
    max_zoom: float = 0.15  # zoom in or out by up to this fraction
    max_contrast: float = 0.2  # scale the contrast around the mean by up to this fraction


def affine_transforms(
    flip: tf.Tensor, angle: tf.Tensor, zoom: tf.Tensor, height: int, width: int
) -> tf.Tensor:
    """Per-image [N, 8] transforms mapping output pixels to input pixels, about the centre.

    `flip` is +1 or -1 (mirror), `angle` in radians, `zoom` > 1 shows more of the image.
    """
    import tensorflow as tf

    cx, cy = (width - 1) / 2.0, (height - 1) / 2.0
    cos, sin = tf.cos(angle) * zoom, tf.sin(angle) * zoom
    a0, a1 = cos * flip, -sin
    b0, b1 = sin * flip, cos
    a2 = cx - a0 * cx - a1 * cy
    b2 = cy - b0 * cx - b1 * cy
    zeros = tf.zeros_like(a0)
    return tf.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)


def augmenter(seed: int, settings: Augmentation | None = None):
    """A `map` function (images, labels) -> (augmented images, labels) for uint8 batches."""
    import tensorflow as tf

    settings = settings or Augmentation()
    turn = 2 * math.pi * settings.max_rotation

    def augment(images: tf.Tensor, labels: tf.Tensor):
        count = tf.shape(images)[0]
        height, width = images.shape[1], images.shape[2]
        flip = tf.ones([count])
        if settings.flip:
            coin = tf.random.uniform([count], seed=seed)
            flip = tf.where(coin < 0.5, -1.0, 1.0)
        angle = tf.random.uniform([count], -turn, turn, seed=seed + 1)
        zoom = tf.random.uniform(
            [count], 1 - settings.max_zoom, 1 + settings.max_zoom, seed=seed + 2
        )
        pixels = tf.raw_ops.ImageProjectiveTransformV3(
            images=tf.cast(images, tf.float32),
            transforms=affine_transforms(flip, angle, zoom, height, width),
            output_shape=tf.shape(images)[1:3],
            fill_value=0.0,
            interpolation="BILINEAR",
            fill_mode="REFLECT",
        )
        low, high = 1 - settings.max_contrast, 1 + settings.max_contrast
        factor = tf.random.uniform([count, 1, 1, 1], low, high, seed=seed + 3)
        mean = tf.reduce_mean(pixels, axis=[1, 2, 3], keepdims=True)
        pixels = (pixels - mean) * factor + mean
        return tf.cast(tf.clip_by_value(tf.round(pixels), 0.0, 255.0), tf.uint8), labels

    return augment
