"""The trainer with real TensorFlow on the CPU: learning, events, cancel/resume (early stopping
included), OOM, transfer."""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from data_factory import make_class_folder
from gpu_assistant.data.sample import sample_data_dir
from gpu_assistant.jobs import CancelToken, UserError
from gpu_assistant.training import trainer
from gpu_assistant.training.checkpoints import latest_checkpoint, load_best
from gpu_assistant.training.distribute import DEFAULT_STRATEGY
from gpu_assistant.training.settings import TrainSettings
from gpu_assistant.training.stopping import replay
from gpu_assistant.training.trainer import train

pytestmark = pytest.mark.tf


class Recorder:
    """A `Report` that keeps every event with the time it arrived."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.times: list[float] = []

    def __call__(self, event: dict[str, Any]) -> None:
        json.dumps(event)  # the contract: JSON-serialisable
        self.events.append(event)
        self.times.append(time.monotonic())

    def named(self, name: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event"] == name]


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    return make_class_folder(tmp_path / "data", {"red": 16, "green": 16, "blue": 16})


def _settings(data: Path, out: Path, **kwargs: Any) -> TrainSettings:
    defaults: dict[str, Any] = {"image_size": 32, "batch_size": 4, "epochs": 2, "augment": False}
    return TrainSettings(data_dir=data, out_dir=out, **(defaults | kwargs))


def test_short_run_on_the_sample_data_learns(tmp_path: Path) -> None:
    report = Recorder()
    out = tmp_path / "run"
    settings = _settings(sample_data_dir(), out, epochs=5, batch_size=32, learning_rate=3e-3)
    result = train(settings, report, CancelToken())

    assert result.status in ("completed", "stopped_early")
    (start,) = report.named("start")
    assert start["strategy"] == DEFAULT_STRATEGY
    assert start["replicas"] == 1
    assert start["global_batch"] == 32
    assert start["steps_per_epoch"] == -(-start["train_images"] // 32)
    assert start["mixed_precision"] is False
    batches = [t for e, t in zip(report.events, report.times, strict=True) if e["event"] == "batch"]
    assert batches, "no batch progress at all"
    assert all(b - a >= 0.09 for a, b in itertools.pairwise(batches))  # <= 10/s
    batch = report.named("batch")[0]
    assert batch["memory"]["kind"] == "host_rss"
    assert batch["images_per_s"] > 0
    epochs = report.named("epoch")
    assert [e["epoch"] for e in epochs] == list(range(1, result.epochs_completed + 1))
    assert {"loss", "accuracy", "val_loss", "val_accuracy", "seconds", "images_per_s"} <= set(
        epochs[-1]
    )
    (done,) = report.named("done")
    # Four classes: chance is 0.25.
    assert done["metrics"]["model_val_accuracy"] > 0.7

    for name in ("model.keras", "labels.txt", "metrics.json", "settings.json", "split.json"):
        assert (out / name).is_file(), name
    assert list((out / "logs").rglob("events.out.tfevents.*"))
    assert latest_checkpoint(out / "checkpoints") is not None
    evaluation = json.loads((out / "evaluation.json").read_text())
    assert evaluation["class_names"] == ["0", "1", "2", "3"]
    assert sum(map(sum, evaluation["confusion_matrix"])) == start["val_images"]
    assert evaluation["accuracy"] == done["metrics"]["model_val_accuracy"]
    val_files = set(json.loads((out / "split.json").read_text())["val"])
    for wrong in evaluation["misclassified"]:
        assert Path(wrong["path"]).relative_to(sample_data_dir()).as_posix() in val_files
        assert wrong["true"] != wrong["predicted"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert len(metrics["history"]) == result.epochs_completed


def _callback(on_batch_end: Any, on_epoch_end: Any = None) -> Any:
    """A Keras callback calling on_batch_end(epoch, batch) and on_epoch_end(epoch, model)."""
    import keras

    class Hook(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.epoch = 0

        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            self.epoch = epoch

        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            on_batch_end(self.epoch, batch)

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            if on_epoch_end is not None:
                on_epoch_end(epoch, self.model)

    return Hook()


def test_cancel_stops_at_the_next_step_and_resume_continues(tiny: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    cancel = CancelToken()
    steps_after_cancel: list[int] = []

    def cancel_in_epoch_two(epoch: int, batch: int) -> None:
        if cancel.cancelled:
            steps_after_cancel.append(batch)
        elif epoch == 1 and batch == 2:
            cancel.cancel()

    report = Recorder()
    result = train(
        _settings(tiny, out, epochs=3), report, cancel, callbacks=[_callback(cancel_in_epoch_two)]
    )
    assert result.status == "cancelled"
    assert len(steps_after_cancel) <= 1  # stopped at the next step
    assert [e["epoch"] for e in report.named("epoch")] == [1]  # epoch 2 never counted
    assert report.named("cancelled")
    assert not report.named("done")
    assert (out / "model.keras").is_file()  # what was learned is kept
    checkpoint = latest_checkpoint(out / "checkpoints")
    assert checkpoint is not None
    assert checkpoint.epoch == 1
    # ... and scored: the Results page shows the kept epoch's matrix for a stopped run.
    (cancelled,) = report.named("cancelled")
    assert cancelled["evaluation_path"] == str(out / "evaluation.json")
    evaluation = json.loads((out / "evaluation.json").read_text())
    kept = report.named("epoch")[0]["val_accuracy"]
    assert evaluation["accuracy"] == pytest.approx(kept, abs=1 / evaluation["samples"] + 1e-9)
    split_before = (out / "split.json").read_bytes()

    resumed = TrainSettings.load(out / "settings.json")
    resumed.resume = True
    report = Recorder()
    result = train(resumed, report, CancelToken())
    assert result.status in ("completed", "stopped_early")
    (start,) = report.named("start")
    assert start["initial_epoch"] == 1
    assert next(e["epoch"] for e in report.named("epoch")) == 2
    assert (out / "split.json").read_bytes() == split_before
    history = json.loads((out / "metrics.json").read_text())["history"]
    assert len(history) == result.epochs_completed == len(report.named("epoch")) + 1


@pytest.mark.parametrize(
    "options",
    [{}, {"min_delta": 0.05}, {"baseline": 0.45}, {"start_from_epoch": 3}, {"patience": 0}],
)
def test_replayed_early_stopping_memory_is_keras_own(options: dict[str, Any]) -> None:
    """`stopping.replay` agrees with the installed Keras's EarlyStopping after every epoch."""
    import keras

    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    rng = np.random.default_rng(7)
    options = {"patience": 2} | options
    for _ in range(30):
        first_epoch = int(rng.choice([0, 4]))
        losses = [float(v) for v in rng.choice([0.3, 0.4, 0.44, 0.45, 0.5, 0.5 - 1e-9], 10)]
        stopper = keras.callbacks.EarlyStopping(restore_best_weights=True, **options)
        stopper.set_model(model)
        stopper.on_train_begin()
        for done, (epoch, loss) in enumerate(enumerate(losses, start=first_epoch), start=1):
            stopper.on_epoch_end(epoch, {"val_loss": loss})
            state = replay(losses[:done], first_epoch, **options)
            keras_state = (stopper.best, stopper.best_epoch, stopper.wait, stopper.stopped_epoch)
            assert (state.best, state.best_epoch, state.wait, state.stopped_epoch) == keras_state
            if state.stopped:  # fit() would end here
                break


def _scripted_val_loss(monkeypatch: pytest.MonkeyPatch, losses: list[float]) -> None:
    """Every epoch reports losses[epoch] as its val_loss, to early stopping and the checkpoint
    alike (the progress callback runs first): real training with a known curve."""
    make_progress = trainer.progress_callback

    def scripted(*args: Any) -> Any:
        progress = make_progress(*args)
        report_epoch = progress.on_epoch_end

        def on_epoch_end(epoch: int, logs: Any = None) -> None:
            logs["val_loss"] = losses[epoch]
            report_epoch(epoch, logs)

        progress.on_epoch_end = on_epoch_end
        return progress

    monkeypatch.setattr(trainer, "progress_callback", scripted)


def _weights(model_path: Path) -> list[np.ndarray]:
    import keras

    return keras.models.load_model(model_path).get_weights()


def test_resume_continues_early_stopping_and_keeps_the_best_weights(
    tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Best epoch 2; patience 2 runs out at epoch 4. Stop during epoch 4, resume: a fresh
    # stopper would count from epoch 4 and train all 8 epochs (0.4, 0.3, 0.2 improve).
    _scripted_val_loss(monkeypatch, [1.0, 0.5, 0.6, 0.7, 0.8, 0.4, 0.3, 0.2])
    settings = _settings(tiny, tmp_path / "whole", epochs=8, batch_size=8, patience=2)
    whole = train(settings, Recorder(), CancelToken())
    assert (whole.status, whole.epochs_completed) == ("stopped_early", 4)

    out = tmp_path / "run"
    cancel = CancelToken()
    after_epoch: dict[int, list[np.ndarray]] = {}

    def cancel_in_epoch_four(epoch: int, batch: int) -> None:
        if epoch == 3 and batch == 1:
            cancel.cancel()

    def keep_weights(epoch: int, model: Any) -> None:
        after_epoch[epoch] = model.get_weights()

    hook = _callback(cancel_in_epoch_four, keep_weights)
    first = train(replace(settings, out_dir=out), Recorder(), cancel, callbacks=[hook])
    assert (first.status, first.epochs_completed) == ("cancelled", 3)
    checkpoint = latest_checkpoint(out / "checkpoints")
    assert checkpoint is not None
    best = load_best(checkpoint)
    assert best is not None
    assert best[0] == 2
    for kept, learned in zip(best[1], after_epoch[1], strict=True):
        np.testing.assert_array_equal(kept, learned)

    resumed = replace(TrainSettings.load(out / "settings.json"), resume=True)
    report = Recorder()
    result = train(resumed, report, CancelToken())
    assert (result.status, result.epochs_completed) == (whole.status, whole.epochs_completed)
    assert [e["epoch"] for e in report.named("epoch")] == [4]
    assert result.model_path is not None
    for final, learned in zip(_weights(result.model_path), after_epoch[1], strict=True):
        np.testing.assert_array_equal(final, learned)  # epoch 2's, from before the stop

    # Patience is spent at this resume point: nothing is trained, the best weights stay.
    report = Recorder()
    again = train(resumed, report, CancelToken())
    assert (again.status, again.epochs_completed) == ("stopped_early", 4)
    assert not report.named("epoch")
    for final, learned in zip(_weights(out / "model.keras"), after_epoch[1], strict=True):
        np.testing.assert_array_equal(final, learned)


def _raise_oom(epoch: int, batch: int) -> None:
    import tensorflow as tf

    raise tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor (simulated)")


def test_out_of_memory_halves_the_batch_once_and_goes_on(tiny: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    failed: list[int] = []

    def oom_once(epoch: int, batch: int) -> None:
        if epoch == 1 and batch == 1 and not failed:  # in the second epoch
            failed.append(batch)
            _raise_oom(epoch, batch)

    report = Recorder()
    settings = _settings(tiny, out, batch_size=8, mixed_precision="on")
    result = train(settings, report, CancelToken(), callbacks=[_callback(oom_once)])
    assert result.status in ("completed", "stopped_early")
    warnings = [e["message"] for e in report.named("warning")]
    assert any("Mixed precision" in w and "CPU" in w for w in warnings)  # "on" on a CPU
    assert any("Out of memory" in w and "batch of 4" in w for w in warnings)
    starts = report.named("start")
    assert [s["per_replica_batch"] for s in starts] == [8, 4]
    assert starts[1]["initial_epoch"] == 1  # again from the checkpoint of epoch 1
    assert any("from epoch 2" in w for w in warnings)
    assert result.epochs_completed == 2
    assert json.loads((out / "settings.json").read_text())["batch_size"] == 4


def test_out_of_memory_twice_stops_with_a_clear_message(tiny: Path, tmp_path: Path) -> None:
    report = Recorder()
    with pytest.raises(UserError) as error:
        train(
            _settings(tiny, tmp_path / "run", batch_size=8),
            report,
            CancelToken(),
            callbacks=[_callback(_raise_oom)],
        )
    assert "Out of memory even with a batch of 4" in error.value.message
    assert "--image-size" in error.value.fix
    (event,) = report.named("error")
    assert event["message"] == error.value.message


def test_a_run_folder_is_never_mixed_or_resumed_from_nothing(tiny: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    with pytest.raises(UserError, match="does not exist"):  # a failed start...
        train(_settings(tmp_path / "no-such-folder", out), Recorder(), CancelToken())
    assert (out / "settings.json").is_file()
    result = train(_settings(tiny, out, epochs=1), Recorder(), CancelToken())  # ...is retried
    assert result.model_path is not None
    with pytest.raises(UserError, match="already holds a training run"):
        train(_settings(tiny, out), Recorder(), CancelToken())
    with pytest.raises(UserError, match="no run to resume"):
        train(_settings(tiny, tmp_path / "empty", resume=True), Recorder(), CancelToken())


def test_the_runs_augmentation_choices_reach_the_pipeline(
    tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gpu_assistant.data import pipeline

    seen = []
    original = pipeline.build_datasets

    def recording(scan: Any, options: Any, **kwargs: Any) -> Any:
        seen.append(options)
        return original(scan, options, **kwargs)

    monkeypatch.setattr(pipeline, "build_datasets", recording)
    settings = _settings(tiny, tmp_path / "run", epochs=1, augment=True, flip=False)
    assert train(settings, Recorder(), CancelToken()).epochs_completed == 1
    assert [(o.augment, o.flip) for o in seen] == [(True, False)]


@pytest.mark.slow
def test_transfer_learning_from_a_weights_file_with_fine_tuning(tiny: Path, tmp_path: Path) -> None:
    import keras

    backbone = keras.applications.MobileNetV3Small(
        input_shape=(32, 32, 3), include_top=False, pooling="avg", weights=None
    )
    weights = tmp_path / "backbone.weights.h5"
    backbone.save_weights(weights)
    report = Recorder()
    settings = _settings(
        tiny,
        tmp_path / "run",
        model="mobilenet_v3_small",
        weights_path=weights,
        epochs=1,
        fine_tune_epochs=1,
        early_stopping=False,
    )
    result = train(settings, report, CancelToken())
    assert result.status == "completed"
    assert report.named("start")[0]["epochs"] == 2
    assert [e["epoch"] for e in report.named("epoch")] == [1, 2]
