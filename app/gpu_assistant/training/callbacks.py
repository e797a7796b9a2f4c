"""Keras callbacks that connect a fit() to the job contract: progress events, cancel, checkpoints,
and early stopping that a resumed run continues.

Keras is imported lazily, so the callback classes are created on first use by `_classes()`.
Per-batch work is a clock check; metrics are read and an event built at most 10 times a second,
which keeps reporting out of the training time (see benchmarks/bench_training.py).
"""

from __future__ import annotations

import functools
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gpu_assistant.jobs import CancelToken, Report
from gpu_assistant.training.checkpoints import save_checkpoint, snapshot
from gpu_assistant.training.stopping import replay

MIN_BATCH_INTERVAL_S = 0.1  # at most 10 batch events a second


@dataclass
class RunClock:
    """What the progress callback needs to know about the run to compute rates and ETA."""

    steps_per_epoch: int
    global_batch: int
    epochs: int
    device_type: str  # "GPU" or "CPU": which memory figure the batch events carry


def memory_info(device_type: str) -> dict[str, Any]:
    """TF's current/peak GPU memory, or this process's resident memory on the CPU."""
    if device_type == "GPU":
        import tensorflow as tf

        info = tf.config.experimental.get_memory_info("GPU:0")
        return {
            "kind": "tf_gpu",
            "current_mb": round(info["current"] / 2**20, 1),
            "peak_mb": round(info["peak"] / 2**20, 1),
        }
    return {"kind": "host_rss", "current_mb": round(_rss_bytes() / 2**20, 1)}


def _rss_bytes() -> int:
    """Resident set size now (Linux /proc), else the peak from getrusage."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            import os

            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024


def _metric(logs: dict[str, Any] | None, name: str) -> float | None:
    value = (logs or {}).get(name)
    return None if value is None else round(float(value), 5)


@functools.cache
def _classes() -> dict[str, type]:
    import keras

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
            clock = self.clock
            remaining = (clock.steps_per_epoch - done) + clock.steps_per_epoch * (
                clock.epochs - self._epoch - 1
            )
            self.report(
                {
                    "event": "batch",
                    "epoch": self._epoch + 1,
                    "epochs": clock.epochs,
                    "step": done,
                    "steps": clock.steps_per_epoch,
                    "loss": _metric(logs, "loss"),
                    "accuracy": _metric(logs, "accuracy"),
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
            images = self.clock.steps_per_epoch * self.clock.global_batch
            event = {
                "event": "epoch",
                "epoch": epoch + 1,
                "epochs": self.clock.epochs,
                "seconds": round(seconds, 3),
                "images_per_s": round(images / train_seconds, 1) if train_seconds > 0 else None,
            }
            for name in ("loss", "accuracy", "val_loss", "val_accuracy"):
                event[name] = _metric(logs, name)
            self.report(event)

    class EpochCheckpoint(keras.callbacks.Callback):
        """Saves an atomic checkpoint after every completed (not cancelled) epoch, and marks it
        as the best one to keep when `stopper` (which runs before it) just found it best."""

        def __init__(
            self, folder: Path, progress: Any, state: dict[str, Any], stopper: Any | None
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
            progress: Any,
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

        def restore_best(self, model: Any) -> None:
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

    return {
        "Progress": Progress,
        "EpochCheckpoint": EpochCheckpoint,
        "ResumableEarlyStopping": ResumableEarlyStopping,
        "EpochTensorBoard": EpochTensorBoard,
    }


def progress_callback(report: Report, cancel: CancelToken, clock: RunClock) -> Any:
    return _classes()["Progress"](report, cancel, clock)


def checkpoint_callback(
    folder: Path, progress: Any, state: dict[str, Any], stopper: Any | None
) -> Any:
    """Checkpoints each epoch that `progress` (a `progress_callback`) saw complete; with
    `stopper` (an `early_stopping_callback` placed before it), keeps the best epoch's too."""
    return _classes()["EpochCheckpoint"](folder, progress, state, stopper)


def early_stopping_callback(
    progress: Any,
    patience: int,
    earlier: list[dict[str, Any]],
    first_epoch: int,
    best: tuple[int, list[np.ndarray]] | None,
) -> Any:
    """Early stopping for the phase that starts at epoch `first_epoch` (0-based), continuing
    from its `earlier` epochs and their `best` (epoch count, weights) on resume."""
    return _classes()["ResumableEarlyStopping"](progress, patience, earlier, first_epoch, best)


def epoch_tensorboard(logs: Path) -> Any:
    """TensorBoard logs per epoch (train and validation scalars), no graph, no profiling."""
    return _classes()["EpochTensorBoard"](
        str(logs), write_graph=False, update_freq="epoch", profile_batch=0
    )
