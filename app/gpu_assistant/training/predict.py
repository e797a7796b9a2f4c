"""predict(model_path, images): classify image files with a trained model, as the app trained it.

Images go through the data module's own loader (`load_for_model`: same decoder, same squash-
to-square resize), so a prediction here equals what validation saw during training.
"""

from __future__ import annotations

import functools
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gpu_assistant.jobs import UserError
from gpu_assistant.training.run_folder import read_labels

if TYPE_CHECKING:
    import numpy as np

TOP_K = 3


@dataclass
class Prediction:
    """One image's answer; `error` instead of a label when the file could not be read."""

    path: Path
    label: str | None = None
    confidence: float | None = None
    top: list[tuple[str, float]] = field(default_factory=list)
    error: str | None = None


def resolve_model(model_path: Path) -> tuple[Path, Path]:
    """(model.keras, labels.txt) from a run folder or a .keras file with labels.txt beside it."""
    path = Path(model_path)
    model = path / "model.keras" if path.is_dir() else path
    labels = model.parent / "labels.txt"
    if not model.is_file() or model.suffix != ".keras":
        raise UserError(
            f"{path} is not a trained model.",
            "Give a run folder or its model.keras (see `gpu-assistant train`).",
        )
    if not labels.is_file():
        raise UserError(
            f"labels.txt is missing next to {model}.",
            "Copy the run's labels.txt next to the model (one class name per line).",
        )
    return model, labels


@functools.lru_cache(maxsize=2)
def _load(model: Path, mtime_ns: int) -> Any:
    """The Keras model, cached per file version (the Results page predicts many times)."""
    import keras

    fix = "Use a model.keras written by this app (copy it again from the run folder, or retrain)."
    if not zipfile.is_zipfile(model):
        raise UserError(f"{model} is not a Keras model file (damaged or truncated).", fix)
    try:
        return keras.models.load_model(model)
    except Exception as error:  # a foreign file raises anything (KeyError, TypeError...)
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UserError(f"Cannot load the model {model}: {reason}", fix) from error


def load_model(model: Path) -> Any:
    return _load(model, model.stat().st_mtime_ns)


@dataclass(frozen=True)
class Classifier:
    """A model checked to be one the app can feed: one square RGB image input of a known
    size, one output with a probability per line of labels.txt."""

    model_file: Path
    labels_file: Path
    model: Any
    labels: list[str]
    image_size: int


def load_classifier(model_path: Path) -> Classifier:
    """The model and its labels, or UserError saying why this app cannot use them."""
    model_file, labels_file = resolve_model(model_path)
    labels = read_labels(labels_file)
    model = load_model(model_file)
    fix = "Use a model.keras written by this app (or retrain)."
    inputs, outputs = list(model.inputs), list(model.outputs)
    if len(inputs) != 1 or len(outputs) != 1:
        raise UserError(
            f"The model {model_file} has {len(inputs)} input(s) and {len(outputs)} output(s); "
            "this app's models take one image and give one answer.",
            fix,
        )
    shape = tuple(inputs[0].shape)
    if len(shape) != 4 or shape[1] is None or shape[1] != shape[2]:
        raise UserError(
            f"The model {model_file} takes inputs of shape {shape}; this app feeds square "
            "images of a fixed size ([batch, size, size, 3]).",
            fix,
        )
    if shape[3] != 3:
        raise UserError(
            f"The model {model_file} takes {shape[3]}-channel images; this app feeds RGB "
            "(3 channels).",
            fix,
        )
    classes = tuple(outputs[0].shape)[-1]
    if len(tuple(outputs[0].shape)) != 2 or classes != len(labels):
        raise UserError(
            f"{labels_file} names {len(labels)} classes, but the model gives "
            f"{classes} outputs: the names would not match the answers.",
            "Put the labels.txt of the same run next to the model.",
        )
    return Classifier(model_file, labels_file, model, labels, int(shape[1]))


def predict(model_path: Path, images: Sequence[Path | str]) -> list[Prediction]:
    """Classify each image file; unreadable files get an `error` and do not stop the others."""
    import numpy as np

    from gpu_assistant.data.images import BadImage, load_for_model

    classifier = load_classifier(model_path)
    model, labels, size = classifier.model, classifier.labels, classifier.image_size
    results: list[Prediction] = []
    loaded: list[np.ndarray] = []
    for image in images:
        path = Path(image)
        try:
            loaded.append(load_for_model(path, size))
            results.append(Prediction(path))
        except (BadImage, OSError) as error:
            results.append(Prediction(path, error=str(error) or type(error).__name__))
    if not loaded:
        return results
    probabilities = np.asarray(model.predict(np.stack(loaded), verbose=0, batch_size=32))
    good = (r for r in results if r.error is None)
    for result, probs in zip(good, probabilities, strict=True):
        order = np.argsort(probs)[::-1][:TOP_K]
        result.label = labels[order[0]]
        result.confidence = round(float(probs[order[0]]), 5)
        result.top = [(labels[i], round(float(probs[i]), 5)) for i in order]
    return results
