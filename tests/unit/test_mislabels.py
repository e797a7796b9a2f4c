"""Likely mislabels from out-of-sample probabilities (cleanlab), and moving a file with undo."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from data_factory import make_class_folder
from gpu_assistant.data.mislabels import (
    label_quality,
    likely_mislabels,
    mislabels_json,
    move_to_class,
    out_of_sample_probabilities,
    record_move,
    stale_moves,
    undo_move,
)
from gpu_assistant.data.scan import ImageRecord, scan_folder
from gpu_assistant.jobs import UserError


def _blobs(classes: int = 4, per_class: int = 50, flip_fraction: float = 0.05):
    """Separable Gaussian features with `flip_fraction` of the labels changed on purpose."""
    rng = np.random.default_rng(3)
    centers = rng.normal(size=(classes, 32)) * 1.5
    truth = np.repeat(np.arange(classes), per_class)
    features = centers[truth] + rng.normal(size=(len(truth), 32))
    flipped = rng.choice(len(truth), round(flip_fraction * len(truth)), replace=False)
    labels = truth.copy()
    labels[flipped] = (truth[flipped] + rng.integers(1, classes, len(flipped))) % classes
    return features, labels, truth, flipped


def test_flipped_labels_rank_in_the_top_tenth() -> None:
    features, labels, _truth, flipped = _blobs()
    probabilities = out_of_sample_probabilities(features, labels)

    assert probabilities.shape == (len(labels), 4)
    assert np.allclose(probabilities.sum(axis=1), 1.0)
    ranking = np.argsort(label_quality(labels, probabilities))
    assert np.isin(flipped, ranking[: len(labels) // 10]).mean() >= 0.8


def test_likely_mislabels_name_the_true_class(tmp_path: Path) -> None:
    features, labels, truth, flipped = _blobs()
    records = [
        ImageRecord(tmp_path / f"{i}.png", int(label), 8, 8, False)
        for i, label in enumerate(labels)
    ]
    found = likely_mislabels(records, out_of_sample_probabilities(features, labels))

    assert found, "no label issues found"
    hits = [item for item in found if item.index in set(flipped.tolist())]
    assert len(hits) >= 0.8 * len(flipped)
    assert all(item.predicted == truth[item.index] for item in hits)
    assert [item.quality for item in found] == sorted(item.quality for item in found)
    row = mislabels_json(found[:1], tmp_path, ["w", "x", "y", "z"])[0]
    assert set(row) == {"file", "folder", "predicted", "confidence", "quality"}


def test_a_class_of_one_image_is_refused() -> None:
    with pytest.raises(UserError, match="at least two images"):
        out_of_sample_probabilities(np.zeros((3, 2)), np.array([0, 0, 1]))


def test_move_to_class_and_undo_mark_and_unmark_the_run(tmp_path: Path) -> None:
    data = make_class_folder(tmp_path / "data", {"cat": 2, "dog": 2})
    (data / "dog" / "img_0000.png").write_bytes(b"taken")  # a name clash in the target
    run = tmp_path / "run"
    run.mkdir()
    source = data / "cat" / "img_0000.png"

    move = move_to_class(data, source, "dog")
    assert move.target == data / "dog" / "img_0000-1.png" and move.target.is_file()
    assert not source.exists()
    assert len(record_move(run, move)) == 1 and stale_moves(run)
    assert scan_folder(data).classes[1].count == 3 - 1  # the clash file is not an image

    undo_move(move)
    assert source.is_file() and not move.target.exists()
    assert record_move(run, move, undone=True) == [] and stale_moves(run) == []
    with pytest.raises(UserError, match="no class folder"):
        move_to_class(data, source, "bird")
