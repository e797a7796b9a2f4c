"""Early stopping's memory rebuilt from a checkpoint's history, so that a resumed run counts
patience exactly as one uninterrupted run would have.

Keras's `EarlyStopping` forgets everything in `on_train_begin`. Its state after some epochs is
a pure function of the monitored values it saw, which every checkpoint already keeps (the
per-epoch history), so `replay` recomputes it with Keras's own rules instead of persisting
Keras internals. No TensorFlow here: the rules are checked against Keras in the integration
tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class StopState:
    """What `EarlyStopping(monitor="val_loss", restore_best_weights=True)` holds after some
    epochs of one `fit()`: epochs are 0-based run epochs, as Keras counts them."""

    best: float | None = None  # None: no epoch monitored yet (so no best weights either)
    best_epoch: int = 0
    wait: int = 0
    stopped_epoch: int = 0  # > 0: patience ran out at this epoch (Keras's own convention)

    @property
    def stopped(self) -> bool:
        return self.stopped_epoch > 0


def replay(
    val_losses: Sequence[float | None],
    first_epoch: int,
    *,
    patience: int,
    min_delta: float = 0.0,
    baseline: float | None = None,
    start_from_epoch: int = 0,
) -> StopState:
    """The state after `val_losses` of epochs `first_epoch`, `first_epoch + 1`, ... (None where
    an epoch had no value), following `EarlyStopping.on_epoch_end` step by step, up to the
    epoch where patience runs out."""
    best: float | None = None
    best_epoch = wait = 0
    for epoch, value in enumerate(val_losses, start=first_epoch):
        if value is None or epoch < start_from_epoch:
            continue
        wait += 1
        if _improves(value, best, min_delta):
            best, best_epoch = value, epoch
            # Like Keras: the count restarts only when the baseline is beaten as well.
            if baseline is None or _improves(value, baseline, min_delta):
                wait = 0
            continue
        if wait >= patience and epoch > 0:
            return StopState(best, best_epoch, wait, stopped_epoch=epoch)
    return StopState(best, best_epoch, wait)


def _improves(value: float, reference: float | None, min_delta: float) -> bool:
    """Keras's `_is_improvement` for a minimised metric: `ops.less` compares in float32."""
    if reference is None:
        return True
    return bool(np.float32(value + abs(min_delta)) < np.float32(reference))
