"""Keras callbacks that connect a fit() to the job contract: progress events, cancel, checkpoints,
and early stopping that a resumed run continues.

The classes live in `keras_callbacks.py`, which imports Keras at its top; these functions import
it when a run builds its callbacks, so importing the trainer leaves TensorFlow unloaded.
Per-batch work is a clock check; metrics are read and an event built at most 10 times a second,
which keeps reporting out of the training time (see benchmarks/bench_training.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from gpu_assistant.jobs import CancelToken, Report
from gpu_assistant.training.progress import RunClock

if TYPE_CHECKING:
    from gpu_assistant.training.keras_callbacks import (
        EpochCheckpoint,
        EpochTensorBoard,
        Progress,
        ResumableEarlyStopping,
    )

__all__ = [
    "RunClock",
    "checkpoint_callback",
    "early_stopping_callback",
    "epoch_tensorboard",
    "progress_callback",
]


def progress_callback(report: Report, cancel: CancelToken, clock: RunClock) -> Progress:
    """Throttled `batch` events, one `epoch` event per completed epoch, and cancel."""
    from gpu_assistant.training.keras_callbacks import Progress

    return Progress(report, cancel, clock)


def checkpoint_callback(
    folder: Path, progress: Progress, state: dict[str, Any], stopper: ResumableEarlyStopping | None
) -> EpochCheckpoint:
    """Checkpoints each epoch that `progress` (a `progress_callback`) saw complete; with
    `stopper` (an `early_stopping_callback` placed before it), keeps the best epoch's too."""
    from gpu_assistant.training.keras_callbacks import EpochCheckpoint

    return EpochCheckpoint(folder, progress, state, stopper)


def early_stopping_callback(
    progress: Progress,
    patience: int,
    earlier: list[dict[str, Any]],
    first_epoch: int,
    best: tuple[int, list[np.ndarray]] | None,
) -> ResumableEarlyStopping:
    """Early stopping for the phase that starts at epoch `first_epoch` (0-based), continuing
    from its `earlier` epochs and their `best` (epoch count, weights) on resume."""
    from gpu_assistant.training.keras_callbacks import ResumableEarlyStopping

    return ResumableEarlyStopping(progress, patience, earlier, first_epoch, best)


def epoch_tensorboard(logs: Path) -> EpochTensorBoard:
    """TensorBoard logs per epoch (train and validation scalars), no graph, no profiling."""
    from gpu_assistant.training.keras_callbacks import EpochTensorBoard

    return EpochTensorBoard(str(logs), write_graph=False, update_freq="epoch", profile_batch=0)
