"""The trainer's pure parts, without TensorFlow: settings, mixed-precision rule, checkpoints,
early stopping's replayed memory, evaluation numbers, the script template and the `train`
command line."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import numpy as np
import pytest

from gpu_assistant.cli import build_parser
from gpu_assistant.cli.train import settings_from_args
from gpu_assistant.jobs import UserError
from gpu_assistant.training import checkpoints
from gpu_assistant.training.checkpoints import (
    latest_checkpoint,
    load_best,
    load_values,
    save_checkpoint,
)
from gpu_assistant.training.distribute import cluster_spec, decide_mixed_precision, is_chief
from gpu_assistant.training.evaluate import evaluation_report
from gpu_assistant.training.script_template import render_script
from gpu_assistant.training.settings import TrainSettings
from gpu_assistant.training.stopping import StopState, replay


def test_settings_round_trip_through_json(tmp_path: Path) -> None:
    settings = TrainSettings(
        data_dir=tmp_path / "data",
        out_dir=tmp_path / "run",
        model="mobilenet_v3_small",
        gpus=[0, 1],
        weights_path=tmp_path / "w.h5",
        cluster={"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 1}},
    )
    settings.save(tmp_path / "settings.json")
    assert TrainSettings.load(tmp_path / "settings.json") == settings


def test_settings_from_a_newer_app_are_refused_with_the_reason(tmp_path: Path) -> None:
    """An unknown key would be dropped silently (and the run no longer reproduced)."""
    data = TrainSettings(data_dir=tmp_path).to_json() | {"future_option": 3}
    with pytest.raises(UserError, match="newer app"):
        TrainSettings.from_json(data)


def test_settings_saved_before_the_flip_option_load_and_still_mirror(tmp_path: Path) -> None:
    """Runs saved before `flip` existed mirrored their images: resuming them must too."""
    data = TrainSettings(data_dir=tmp_path, flip=False).to_json()
    del data["flip"]
    (tmp_path / "settings.json").write_text(json.dumps(data))
    assert TrainSettings.load(tmp_path / "settings.json").flip is True


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("epochs", 0, "--epochs"),
        ("val_split", 1.0, "--val-split"),
        ("batch_size", 0, "--batch-size"),
        ("mixed_precision", "fast", "mixed precision"),
        ("image_size", 8, "--image-size"),
    ],
)
def test_impossible_settings_are_refused_with_a_fix(field: str, value: object, words: str) -> None:
    settings = TrainSettings(data_dir=Path("x"), **{field: value})
    with pytest.raises(UserError) as error:
        settings.validate()
    assert words in error.value.message
    assert error.value.fix


def test_unreadable_saved_settings_say_how_to_go_on(tmp_path: Path) -> None:
    (tmp_path / "settings.json").write_text("{not json")
    with pytest.raises(UserError, match="Cannot read the saved settings"):
        TrainSettings.load(tmp_path / "settings.json")


@pytest.mark.parametrize(
    ("mode", "device", "ccs", "expected", "warns"),
    [
        ("auto", "GPU", [(8, 6), (7, 5)], True, False),
        ("auto", "GPU", [(8, 6), (6, 1)], False, False),  # one old GPU: off for all
        ("on", "GPU", [(6, 1)], False, True),
        ("auto", "CPU", [], False, False),
        ("on", "CPU", [], False, True),  # never on the CPU, and the user is told
        ("off", "GPU", [(9, 0)], False, False),
    ],
)
def test_mixed_precision_only_where_every_gpu_has_tensor_cores(
    mode: str, device: str, ccs: list[tuple[int, int]], expected: bool, warns: bool
) -> None:
    use, warning = decide_mixed_precision(mode, device, ccs)
    assert use is expected
    assert (warning is not None) is warns


def test_cluster_spec_from_settings_or_tf_config(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = {"cluster": {"worker": ["h:1", "h:2"]}, "task": {"type": "worker", "index": 1}}
    settings = TrainSettings(data_dir=Path("x"), cluster=spec)
    assert cluster_spec(settings) == spec
    assert is_chief(settings) == (False, 1)
    plain = TrainSettings(data_dir=Path("x"))
    monkeypatch.setenv("TF_CONFIG", json.dumps({**spec, "task": {"type": "worker", "index": 0}}))
    assert is_chief(plain) == (True, 0)
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["only:1"]}}))
    assert cluster_spec(plain) is None  # one worker: nothing to distribute
    monkeypatch.setenv("TF_CONFIG", "{broken")
    with pytest.raises(UserError, match="TF_CONFIG"):
        cluster_spec(plain)


def _checkpoint_folder(tmp_path: Path) -> Path:
    """A checkpoint folder with its architecture file, as `save_base` leaves it."""
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    (folder / "base.keras").write_bytes(b"architecture")
    return folder


def _values(fill: float) -> dict[str, list[np.ndarray]]:
    return {"model": [np.full((2, 3), fill)], "optimizer": [np.array(fill), np.ones(4) * fill]}


def test_a_crash_while_saving_keeps_the_previous_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _checkpoint_folder(tmp_path)
    save_checkpoint(folder, _values(1.0), 1, {"history": [{"loss": 1.0}]})

    def dies_midway(handle, **arrays) -> None:
        handle.write(b"PK\x03\x04 half a file")
        raise KeyboardInterrupt  # the process is killed while writing

    with monkeypatch.context() as patch:
        patch.setattr(checkpoints.np, "savez", dies_midway)
        with pytest.raises(KeyboardInterrupt):
            save_checkpoint(folder, _values(2.0), 2, {})
    last = latest_checkpoint(folder)
    assert last is not None
    assert last.epoch == 1
    assert last.state["history"] == [{"loss": 1.0}]
    restored = load_values(last)
    np.testing.assert_array_equal(restored["model"][0], np.full((2, 3), 1.0))
    assert [float(np.mean(v)) for v in restored["optimizer"]] == [1.0, 1.0]

    save_checkpoint(folder, _values(2.0), 2, {})
    last = latest_checkpoint(folder)
    assert last is not None
    assert last.epoch == 2
    np.testing.assert_array_equal(load_values(last)["model"][0], np.full((2, 3), 2.0))
    assert sorted(p.name for p in folder.glob("*.npz")) == ["epoch-0002.npz"]  # temp gone too


def test_the_best_epoch_is_kept_beside_the_last_until_a_better_one_is_committed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _checkpoint_folder(tmp_path)
    for epoch, best in [(1, 1), (2, 2), (3, 2), (4, 2)]:
        save_checkpoint(folder, _values(float(epoch)), epoch, {"best": best})
    assert sorted(p.name for p in folder.glob("*.npz")) == ["epoch-0002.npz", "epoch-0004.npz"]
    last = latest_checkpoint(folder)
    assert last is not None
    best = load_best(last)
    assert best is not None
    assert best[0] == 2
    np.testing.assert_array_equal(best[1][0], np.full((2, 3), 2.0))  # model weights only
    assert len(best[1]) == 1

    def dies_midway(handle, **arrays) -> None:
        raise KeyboardInterrupt  # killed while writing epoch 5, the new best

    with monkeypatch.context() as patch:
        patch.setattr(checkpoints.np, "savez", dies_midway)
        with pytest.raises(KeyboardInterrupt):
            save_checkpoint(folder, _values(5.0), 5, {"best": 5})
    last = latest_checkpoint(folder)
    assert last is not None
    assert load_best(last) is not None  # the committed best survives the crash
    save_checkpoint(folder, _values(5.0), 5, {"best": 5})
    assert sorted(p.name for p in folder.glob("*.npz")) == ["epoch-0005.npz"]
    save_checkpoint(folder, _values(6.0), 6, {"best": None})  # early stopping off
    last = latest_checkpoint(folder)
    assert last is not None
    assert load_best(last) is None
    assert sorted(p.name for p in folder.glob("*.npz")) == ["epoch-0006.npz"]


@pytest.mark.parametrize(
    ("losses", "first_epoch", "options", "expected"),
    [
        ([], 0, {}, StopState()),
        # best at epoch 1, then two epochs without improvement
        ([1.0, 0.5, 0.7, 0.6], 0, {}, StopState(0.5, 1, 2)),
        # the third epoch without improvement spends patience 3
        ([1.0, 0.5, 0.7, 0.6, 0.8], 0, {}, StopState(0.5, 1, 3, stopped_epoch=4)),
        # equal is no improvement, and neither is a difference float32 cannot represent
        ([0.5, 0.5, 0.5 - 1e-12], 0, {}, StopState(0.5, 0, 2)),
        # min_delta: better by less than 0.01 does not count
        ([1.0, 0.995, 0.98], 0, {"min_delta": 0.01}, StopState(0.98, 2, 0)),
        # baseline: improving epochs above it still count as waiting...
        ([1.0, 0.9, 0.95], 0, {"baseline": 0.5, "patience": 2}, StopState(0.9, 1, 3, 2)),
        # ...and the first one below it restarts the count
        ([1.0, 0.4, 0.45], 0, {"baseline": 0.5}, StopState(0.4, 1, 1)),
        # epochs before start_from_epoch and epochs without a value are not monitored
        ([0.1, None, 0.9, 1.0], 0, {"start_from_epoch": 1}, StopState(0.9, 2, 1)),
        # a fine-tuning phase counts its own epochs (run epochs 10, 11, 12)
        ([0.3, 0.4, 0.5], 10, {"patience": 2}, StopState(0.3, 10, 2, stopped_epoch=12)),
    ],
)
def test_early_stopping_memory_is_replayed_from_the_history(
    losses: list[float | None], first_epoch: int, options: dict, expected: StopState
) -> None:
    assert replay(losses, first_epoch, **({"patience": 3} | options)) == expected


def test_no_checkpoint_when_state_is_missing_or_points_nowhere(tmp_path: Path) -> None:
    assert latest_checkpoint(tmp_path) is None
    (tmp_path / "state.json").write_text(json.dumps({"epoch": 3, "values": "gone.npz"}))
    assert latest_checkpoint(tmp_path) is None


def test_evaluation_report_counts() -> None:
    labels = np.array([0, 0, 1, 1, 2])
    probabilities = np.eye(3)[[0, 1, 1, 1, 0]] * 0.9 + 0.03
    report = evaluation_report(
        probabilities, labels, ["a", "b", "c"], ["f0", "f1", "f2", "f3", "f4"]
    )
    assert report["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]
    assert report["accuracy"] == 0.6
    a, b, c = report["per_class"]
    assert (a["precision"], a["recall"], a["support"]) == (0.5, 0.5, 2)
    assert (b["precision"], b["recall"]) == (round(2 / 3, 5), 1.0)
    assert c["precision"] is None  # never predicted: undefined, not 0
    assert c["accuracy"] == 0.0
    assert [(m["path"], m["true"], m["predicted"]) for m in report["misclassified"]] == [
        ("f1", "a", "b"),
        ("f4", "c", "a"),
    ]
    assert report["misclassified_count"] == 2


def test_script_template_renders_valid_python_with_the_run_settings(tmp_path: Path) -> None:
    settings = TrainSettings(
        data_dir=tmp_path,
        model="small_cnn",  # a run's settings: Auto already resolved
        epochs=10,
        image_size=64,
        seed=7,
        learning_rate=0.0005,
        flip=False,
    )
    text = render_script(settings, ["cats", "dogs"], "run-1")
    ast.parse(text)
    assert "IMAGE_SIZE = 64" in text
    assert "SEED = 7" in text
    assert "AUGMENT = True" in text and "FLIP = False" in text
    assert "CLASS_NAMES = ['cats', 'dogs']" in text
    assert "gpu_assistant" not in text.split('"""', 2)[2]  # no app import in the code


def _args(*argv: str):
    return build_parser().parse_args(["train", *argv])


def test_train_command_line_maps_onto_settings(tmp_path: Path) -> None:
    settings = settings_from_args(
        _args(str(tmp_path), "--epochs", "3", "--gpus", "0,1", "--multi-gpu", "--no-early-stopping")
    )
    assert (settings.epochs, settings.gpus, settings.multi_gpu) == (3, [0, 1], True)
    assert settings.early_stopping is False
    assert settings.batch_size == TrainSettings(data_dir=tmp_path).batch_size


@pytest.mark.parametrize(
    ("argv", "augment", "flip"),
    [
        ([], True, True),
        (["--no-flip"], True, False),
        (["--no-augment"], False, True),
        (["--no-augment", "--no-flip"], False, False),
    ],
)
def test_augmentation_flags_map_onto_settings(
    tmp_path: Path, argv: list[str], augment: bool, flip: bool
) -> None:
    settings = settings_from_args(_args(str(tmp_path), *argv))
    assert (settings.augment, settings.flip) == (augment, flip)


def test_resume_keeps_the_saved_settings_and_takes_new_epochs(tmp_path: Path) -> None:
    run = tmp_path / "run"
    TrainSettings(data_dir=tmp_path, out_dir=run, image_size=48, epochs=2, flip=False).save(
        run / "settings.json"
    )
    settings = settings_from_args(
        _args(str(tmp_path), "--resume", "--out", str(run), "--epochs", "5")
    )
    assert (settings.image_size, settings.epochs, settings.resume) == (48, 5, True)
    assert settings.flip is False  # no --no-flip needed again
    with pytest.raises(UserError, match="no run to resume"):
        settings_from_args(_args(str(tmp_path), "--resume", "--out", str(tmp_path / "none")))


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--gpus", "zero"], "--gpus"),
        (["--cluster-spec", "{nope"], "TF_CONFIG"),
        (["--cluster-spec", '{"cluster": {"worker": []}, "task": {"index": 0}}'], "no workers"),
        (["--val-split", "0"], "--val-split"),
    ],
)
def test_bad_train_options_are_user_errors(tmp_path: Path, argv: list[str], words: str) -> None:
    with pytest.raises(UserError, match=words):
        settings_from_args(_args(str(tmp_path), *argv))
