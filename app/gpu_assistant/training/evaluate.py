"""After training: where the model is right and wrong on the validation set (evaluation.json)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

MAX_MISCLASSIFIED = 200  # enough for the Results page; the counts stay exact
MIN_VAL_IMAGES, MIN_VAL_PER_CLASS = 30, 5  # fewer: the accuracy is too noisy to trust


def predict_probabilities(model: Any, dataset: Any) -> tuple[np.ndarray, np.ndarray]:
    """(probabilities [N, C], true labels [N]) over a batched (images, labels) dataset, in order."""
    probs, labels = [], []
    for images, batch_labels in dataset:
        probs.append(np.asarray(model(images, training=False)))
        labels.append(np.asarray(batch_labels))
    if not probs:
        return np.zeros((0, 0), np.float32), np.zeros((0,), np.int64)
    return np.concatenate(probs), np.concatenate(labels).astype(np.int64)


def evaluation_report(
    probabilities: np.ndarray,
    labels: np.ndarray,
    class_names: Sequence[str],
    paths: Sequence[Path | str] | None = None,
) -> dict[str, Any]:
    """Confusion matrix, per-class precision/recall/accuracy and the misclassified files.

    `paths[i]` is the file of sample i (the validation split, in dataset order).
    """
    count = len(class_names)
    predicted = probabilities.argmax(axis=1) if len(labels) else np.zeros(0, np.int64)
    matrix = np.zeros((count, count), np.int64)
    np.add.at(matrix, (labels, predicted), 1)
    per_class = []
    for index, name in enumerate(class_names):
        true_pos = int(matrix[index, index])
        support = int(matrix[index].sum())
        predicted_as = int(matrix[:, index].sum())
        per_class.append(
            {
                "class": name,
                "support": support,
                "precision": _ratio(true_pos, predicted_as),
                "recall": _ratio(true_pos, support),
                # Of this class's images, the share classified correctly (= recall); named for
                # the Results page's "per-class accuracy".
                "accuracy": _ratio(true_pos, support),
            }
        )
    wrong = np.flatnonzero(predicted != labels)
    misclassified = [
        {
            "path": str(paths[i]) if paths is not None else None,
            "true": class_names[labels[i]],
            "predicted": class_names[predicted[i]],
            "confidence": round(float(probabilities[i, predicted[i]]), 4),
        }
        for i in wrong[:MAX_MISCLASSIFIED]
    ]
    return {
        "class_names": list(class_names),
        "samples": len(labels),
        "accuracy": _ratio(int(np.trace(matrix)), len(labels)),
        "confusion_matrix": matrix.tolist(),
        "per_class": per_class,
        "misclassified_count": len(wrong),
        "misclassified": misclassified,
    }


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 5) if whole else None


def trust_warnings(evaluation: dict[str, Any]) -> list[str]:
    """Why this accuracy should not be trusted (none: []): at or below chance, or too few
    validation images. The CLI, its JSON events, evaluation.json and the Results page all say
    the same, so no user is handed a useless model with a plain "Done".

    Chance is the better of guessing (1 / classes) and always answering the most common class
    (its share of the validation images)."""
    samples = int(evaluation.get("samples") or 0)
    supports = [int(entry.get("support") or 0) for entry in evaluation.get("per_class", [])]
    accuracy = evaluation.get("accuracy")
    notes = []
    if samples and supports and accuracy is not None:
        chance = max(1 / len(supports), max(supports) / samples)
        if accuracy <= chance + 1e-9:
            notes.append(
                f"{accuracy:.0%} is no better than chance ({chance:.0%}: always answering the "
                "most common class): the model has not learned to tell the classes apart. Add "
                "images, check the labels, train longer or try the other model."
            )
    small = [s for s in supports if s < MIN_VAL_PER_CLASS]
    if samples < MIN_VAL_IMAGES or small:
        notes.append(
            f"Only {samples} validation images (fewest in one class: {min(supports, default=0)})"
            f": one image more or less right moves the accuracy by {1 / max(samples, 1):.0%}. "
            f"Trust it once there are at least {MIN_VAL_IMAGES} (and {MIN_VAL_PER_CLASS} per "
            "class): add images or raise the validation split."
        )
    return notes
