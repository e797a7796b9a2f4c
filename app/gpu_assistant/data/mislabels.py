"""Images that may be in the wrong class folder, found from out-of-sample predictions.

Why: a few images in the wrong folder cap what any model can learn and make the confusion
matrix blame the model. A model's predictions on its own training images are no evidence
(it has learned them); so every image gets probabilities from a logistic regression that
never saw it (k-fold over the cached backbone features: seconds), and cleanlab's confident
learning (Northcutt et al., 2021; Apache-2.0) says which given labels those probabilities
contradict, ranked by its label-quality score.

Moving a file into the folder the model believes is one `move_to_class` call, undone by
`undo_move`; the run folder records it (`relabels.json`) so the run shows as stale.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gpu_assistant.data.scan import ImageRecord
from gpu_assistant.jobs import UserError

FOLDS = 5
RELABELS_FILE = "relabels.json"  # in a run folder: files moved since the run was trained


@dataclass(frozen=True)
class LikelyMislabel:
    index: int  # into the records
    path: Path
    given: int  # the class folder it is in
    predicted: int  # the class the out-of-sample model believes
    confidence: float  # that model's probability of `predicted`
    quality: float  # cleanlab's label quality (0: surely wrong, 1: surely right)


def out_of_sample_probabilities(
    features: np.ndarray, labels: np.ndarray, *, folds: int = FOLDS, seed: int = 0
) -> np.ndarray:
    """[N, C] probabilities, each row from a logistic regression fitted without that image
    (stratified k-fold; fewer folds when the smallest class is smaller than `folds`)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    labels = np.asarray(labels)
    smallest = int(np.bincount(labels).min())
    if smallest < 2:
        raise UserError(
            "Every class needs at least two images to check for likely mislabels.",
            "Add images to the smallest class.",
        )
    splitter = StratifiedKFold(min(folds, smallest), shuffle=True, random_state=seed)
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=500))
    return cross_val_predict(model, features, labels, cv=splitter, method="predict_proba")


def label_quality(labels: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """cleanlab's normalized-margin label quality per image: low means the given label is
    likely wrong (the ranking the Results page and the benchmark use)."""
    from cleanlab.rank import get_label_quality_scores

    return get_label_quality_scores(np.asarray(labels), probabilities, method="normalized_margin")


def likely_mislabels(
    records: Sequence[ImageRecord], probabilities: np.ndarray, *, limit: int | None = None
) -> list[LikelyMislabel]:
    """The images confident learning flags as label issues, most suspicious first."""
    from cleanlab.filter import find_label_issues

    labels = np.array([r.label for r in records])
    quality = label_quality(labels, probabilities)
    flagged = find_label_issues(labels, probabilities, filter_by="prune_by_noise_rate", n_jobs=1)
    order = sorted(np.flatnonzero(flagged).tolist(), key=lambda i: (quality[i], i))
    found = []
    for index in order[:limit]:
        predicted = int(np.argmax(probabilities[index]))
        found.append(
            LikelyMislabel(
                index,
                records[index].path,
                int(labels[index]),
                predicted,
                float(probabilities[index, predicted]),
                float(quality[index]),
            )
        )
    return found


def mislabels_json(
    found: Sequence[LikelyMislabel], root: Path, class_names: Sequence[str]
) -> list[dict[str, Any]]:
    return [
        {
            "file": item.path.relative_to(root).as_posix(),
            "folder": class_names[item.given],
            "predicted": class_names[item.predicted],
            "confidence": round(item.confidence, 4),
            "quality": round(item.quality, 4),
        }
        for item in found
    ]


@dataclass(frozen=True)
class Move:
    source: Path
    target: Path


def move_to_class(root: Path, path: Path, class_name: str) -> Move:
    """Move `path` into `root/class_name/` (never overwriting: a clash gets a numbered name)."""
    folder = root / class_name
    if not folder.is_dir():
        raise UserError(f"There is no class folder '{class_name}' in {root}.", "Scan again.")
    target = folder / path.name
    counter = 1
    while target.exists():
        target = folder / f"{path.stem}-{counter}{path.suffix}"
        counter += 1
    shutil.move(path, target)
    return Move(path, target)


def undo_move(move: Move) -> Move:
    """Put the file back where it was (refused when something else took its place)."""
    if move.source.exists():
        raise UserError(
            f"'{move.source}' exists again, so the move cannot be undone.",
            f"Move '{move.target}' back by hand.",
        )
    shutil.move(move.target, move.source)
    return Move(move.target, move.source)


def record_move(run_dir: Path, move: Move, *, undone: bool = False) -> list[dict[str, str]]:
    """Add (or, when `undone`, remove) `move` in the run's relabels.json; the run is stale
    while the list is not empty. Returns the list."""
    path = run_dir / RELABELS_FILE
    moves = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else []
    entry = {key: str(value) for key, value in asdict(move).items()}
    if undone:
        moves = [m for m in moves if m != entry]
    else:
        moves.append(entry)
    if moves:
        path.write_text(json.dumps(moves, indent=2), encoding="utf-8")
    else:
        path.unlink(missing_ok=True)
    return moves


def stale_moves(run_dir: Path) -> list[dict[str, str]]:
    """Files moved between classes since this run was trained (empty: the run is current)."""
    path = run_dir / RELABELS_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else []
