"""Why the model decides: a Grad-CAM heatmap over an image (Selvaraju et al., 2017).

The last convolutional features (the input of the model's global average pooling, inside a
nested backbone too) are weighted by the gradient of the chosen class's probability,
averaged over the positions; their positive sum is the heatmap, scaled to 0-1 and stretched
over the picture. It needs the model split at that pooling layer, which `_split` finds in the
app's models: the small CNN (one flat graph) and the backbone models (a nested Model with its
own pooling, then dropout and the dense head).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from gpu_assistant.jobs import UserError

OVERLAY_ALPHA = 0.45


@dataclass(frozen=True)
class Explanation:
    heatmap: np.ndarray  # [H, W] float32 in 0-1 at the model's input size
    label: int  # the class explained (the top prediction unless one was asked for)
    probability: float


def _chain(layers: Sequence[Any]) -> Callable[[Any], Any]:
    def run(x: Any) -> Any:
        for layer in layers:
            x = layer(x, training=False)
        return x

    return run


def _split(model: Any) -> tuple[Callable[[Any], Any], Callable[[Any], Any]] | None:
    """(to_features, head) with head(to_features(x)) == model(x), cut at the input of the
    model's global average pooling; None when the model has none."""
    import keras

    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    for index, layer in enumerate(layers):
        if isinstance(layer, keras.layers.GlobalAveragePooling2D):
            # One input tensor, not a list of one: called with a batch, Keras would warn.
            (image,) = model.inputs
            return keras.Model(image, layer.input), _chain(layers[index:])
        if isinstance(layer, keras.Model):
            inner = _split(layer)
            if inner is not None:
                return _around(_chain(layers[:index]), inner, _chain(layers[index + 1 :]))
    return None


def _around(
    before: Callable[[Any], Any],
    inner: tuple[Callable[[Any], Any], Callable[[Any], Any]],
    after: Callable[[Any], Any],
) -> tuple[Callable[[Any], Any], Callable[[Any], Any]]:
    """A nested backbone's split, with the outer model's layers before and after it."""
    to_features, inner_head = inner
    return (lambda x: to_features(before(x))), (lambda f: after(inner_head(f)))


def explain(model: Any, image: np.ndarray, label: int | None = None) -> Explanation:
    """Grad-CAM of `model` ([S, S, 3] uint8 `image`, as `load_for_model` gives it) for class
    `label` (default: the predicted one)."""
    import tensorflow as tf

    parts = _split(model)
    if parts is None:
        raise UserError(
            "This model has no convolutional features to explain (no global average pooling).",
            "Explanations work with the app's own models.",
        )
    to_features, head = parts
    batch = tf.convert_to_tensor(image[None])
    features = tf.convert_to_tensor(to_features(batch))
    with tf.GradientTape() as tape:
        tape.watch(features)
        probabilities = head(features)
        chosen = int(tf.argmax(probabilities[0])) if label is None else int(label)
        score = probabilities[:, chosen]
    gradients = tape.gradient(score, features)
    weights = tf.reduce_mean(tf.cast(gradients, tf.float32), axis=(1, 2), keepdims=True)
    cam = tf.nn.relu(tf.reduce_sum(weights * tf.cast(features, tf.float32), axis=-1))[0]
    cam = cam.numpy()
    peak = float(cam.max())
    cam = cam / peak if peak > 0 else cam
    size = image.shape[1], image.shape[0]
    heatmap = np.asarray(
        Image.fromarray(cam.astype(np.float32)).resize(size, Image.Resampling.BILINEAR)
    )
    return Explanation(heatmap.astype(np.float32), chosen, float(probabilities[0, chosen]))


def _colour(heatmap: np.ndarray) -> np.ndarray:
    """A blue-green-yellow-red ramp (no matplotlib): [H, W] 0-1 -> [H, W, 3] uint8."""
    ramp = np.array([[0, 0, 128], [0, 128, 255], [0, 200, 120], [255, 220, 0], [220, 20, 20]])
    position = np.clip(heatmap, 0, 1) * (len(ramp) - 1)
    low = np.floor(position).astype(int)
    high = np.minimum(low + 1, len(ramp) - 1)
    mix = (position - low)[..., None]
    return (ramp[low] * (1 - mix) + ramp[high] * mix).astype(np.uint8)


def save_overlay(original: str | Path, explanation: Explanation, out: Path) -> Path:
    """The heatmap blended over the original picture at its own size, as PNG."""
    with Image.open(original) as opened:
        picture = opened.convert("RGB")
    heat = Image.fromarray(_colour(explanation.heatmap)).resize(
        picture.size, Image.Resampling.BILINEAR
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.blend(picture, heat, OVERLAY_ALPHA).save(out)
    return out


def explain_files(
    model_path: Path, images: Sequence[Path | str], out_dir: Path
) -> list[dict[str, Any]]:
    """A heatmap overlay `<name>-heatmap.png` in `out_dir` for each image (top class); an
    unreadable image gets an `error` and does not stop the others."""
    from gpu_assistant.data.images import BadImage, load_for_model
    from gpu_assistant.training.predict import load_classifier

    classifier = load_classifier(Path(model_path))
    done: list[dict[str, Any]] = []
    for image in images:
        path = Path(image)
        try:
            explanation = explain(classifier.model, load_for_model(path, classifier.image_size))
        except (BadImage, OSError) as error:
            done.append({"path": str(path), "error": str(error) or type(error).__name__})
            continue
        out = save_overlay(path, explanation, Path(out_dir) / f"{path.stem}-heatmap.png")
        done.append(
            {
                "path": str(path),
                "heatmap": str(out),
                "label": classifier.labels[explanation.label],
                "probability": round(explanation.probability, 5),
            }
        )
    return done
