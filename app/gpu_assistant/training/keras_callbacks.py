"""The Keras callback classes of a fit() (see callbacks.py for what each is for).

This is the one module that imports Keras at its top, so that the classes are plain, typed
module-level classes; only `callbacks.py` imports it, inside the functions that build them, so
importing the training package still leaves TensorFlow unloaded.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import keras
import numpy as np

from gpu_assistant.jobs import CancelToken, Report
from gpu_assistant.training.checkpoints import save_checkpoint, snapshot
from gpu_assistant.training.progress import MIN_BATCH_INTERVAL_S, RunClock, memory_info, metric
from gpu_assistant.training.stopping import replay


class Progress(keras.callbacks.Callback):
    """Emits throttled `batch` events and one `epoch` event per completed epoch."""

    def __init__(self, report: Report, cancel: CancelToken, clock: RunClock) -> None:
        super().__init__()
        self.report, self.cancel, self.clock = report, cancel, clock
        self._last_emit = 0.0
        self._epoch = 0
        self._epoch_start = self._first_step_end = self._last_step_end = 0.0
        # The epoch that cancel cut short: it is neither reported nor checkpointed. A cancel
        # arriving after an epoch's last step leaves that epoch complete.
        self.interrupted_epoch: int | None = None

    @property
    def steps(self) -> int:
        """Steps per epoch, as fit() was given them (Keras' `params`)."""
        return int(self.params["steps"])

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._epoch = epoch
        self._epoch_start = time.perf_counter()
        self._first_step_end = 0.0

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if self.cancel.cancelled:
            self.model.stop_training = True
            self.interrupted_epoch = self._epoch
            return
        now = self._last_step_end = time.perf_counter()
        if not self._first_step_end:
            self._first_step_end = now  # the first step includes tracing: rate starts here
            return
        if now - self._last_emit < MIN_BATCH_INTERVAL_S:
            return
        self._last_emit = now
        done = batch + 1
        per_step = (now - self._first_step_end) / max(done - 1, 1)
        clock, steps = self.clock, self.steps
        remaining = (steps - done) + steps * (clock.epochs - self._epoch - 1)
        self.report(
            {
                "event": "batch",
                "epoch": self._epoch + 1,
                "epochs": clock.epochs,
                "step": done,
                "steps": steps,
                "loss": metric(logs, "loss"),
                "accuracy": metric(logs, "accuracy"),
                "images_per_s": round(clock.global_batch / per_step, 1),
                "eta_s": round(max(remaining, 0) * per_step, 1),
                "memory": memory_info(clock.device_type),
            }
        )

    def on_test_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if self.interrupted_epoch == self._epoch:
            self.model.stop_evaluating = True  # do not validate a cancelled epoch

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self.interrupted_epoch == epoch:
            return
        seconds = time.perf_counter() - self._epoch_start
        train_seconds = self._last_step_end - self._epoch_start  # without validation
        images = self.steps * self.clock.global_batch
        event = {
            "event": "epoch",
            "epoch": epoch + 1,
            "epochs": self.clock.epochs,
            "seconds": round(seconds, 3),
            "images_per_s": round(images / train_seconds, 1) if train_seconds > 0 else None,
        }
        for name in ("loss", "accuracy", "val_loss", "val_accuracy"):
            event[name] = metric(logs, name)
        self.report(event)


class EpochCheckpoint(keras.callbacks.Callback):
    """Saves an atomic checkpoint after every completed (not cancelled) epoch, and marks it
    as the best one to keep when `stopper` (which runs before it) just found it best."""

    def __init__(
        self,
        folder: Path,
        progress: Progress,
        state: dict[str, Any],
        stopper: ResumableEarlyStopping | None,
    ) -> None:
        super().__init__()
        self.folder, self.progress, self.stopper = folder, progress, stopper
        self.state = {**state, "history": list(state.get("history", []))}

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self.progress.interrupted_epoch == epoch:
            return
        self.state["history"].append({k: float(v) for k, v in (logs or {}).items()})
        if self.stopper is not None and self.stopper.new_best:
            self.state["best"] = epoch + 1
        save_checkpoint(self.folder, snapshot(self.model), epoch + 1, self.state)


class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
    """Keras's early stopping on val_loss (best weights restored at the end) for one phase,
    continued, not restarted, when the run is resumed.

    The phase's epochs before this fit (`earlier`, from the checkpoint's history) are
    replayed with Keras's rules (`stopping.replay`), and their best weights come back from
    the checkpoint (`best`: `checkpoints.load_best`). An epoch cut short by cancel is
    ignored: its validation is partial and it is not checkpointed either.
    """

    def __init__(
        self,
        progress: Progress,
        patience: int,
        earlier: list[dict[str, Any]],
        first_epoch: int,
        best: tuple[int, list[np.ndarray]] | None,
    ) -> None:
        super().__init__(monitor="val_loss", patience=patience, restore_best_weights=True)
        self.progress = progress
        self.resumed = replay(
            [e.get("val_loss") for e in earlier],
            first_epoch,
            patience=patience,
            min_delta=self.min_delta,
            baseline=self.baseline,
            start_from_epoch=self.start_from_epoch,
        )
        best_count, weights = best if best is not None else (0, None)
        # Only the replayed best epoch's weights will do. Without them (a checkpoint from
        # before bests were kept), Keras takes the next epoch's weights, as it always does.
        found = self.resumed.best is not None and best_count == self.resumed.best_epoch + 1
        self.resumed_weights = weights if found else None
        self.new_best = False  # whether the last epoch's weights became the best ones

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        super().on_train_begin(logs)
        self.best, self.best_epoch = self.resumed.best, self.resumed.best_epoch
        self.wait, self.best_weights = self.resumed.wait, self.resumed_weights

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        before = self.best_weights
        if self.progress.interrupted_epoch != epoch:
            super().on_epoch_end(epoch, logs)
        self.new_best = self.best_weights is not before

    def restore_best(self, model: keras.Model) -> None:
        """What `on_train_end` does, for a phase a resumed run has nothing left to train in."""
        if self.resumed_weights is not None:
            model.set_weights(self.resumed_weights)


class EpochTensorBoard(keras.callbacks.TensorBoard):
    """TensorBoard logs written once per epoch, with no per-batch cost.

    Keras 3.15's `TensorBoard.on_train_batch_end` calls `summary.scalar` for every log
    value on every batch even with `update_freq="epoch"`, where no writer is active and
    nothing is recorded (~0.8 ms a batch on the CPU, ~15 ms an epoch on the sample set).
    With nothing to do per batch (epoch updates, no profiling, no graph, no steps/s), that
    call is skipped; the files written are the same.
    """

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        idle = (
            self.update_freq == "epoch"
            and not getattr(self, "_should_trace", True)
            and not getattr(self, "_should_write_train_graph", True)
            and not getattr(self, "write_steps_per_second", True)
        )
        if not idle:
            super().on_train_batch_end(batch, logs)
