"""The trainer under faults, with real TensorFlow on the CPU: resumes that must be refused
before any file changes, a second writer, Ctrl-C mid-epoch, too few images, file names that are
not UTF-8, files deleted while the caches fill, and a full or read-only disk (tmpfs mounts)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from data_factory import make_class_folder, write_image
from gpu_assistant.jobs import CancelToken, UserError
from gpu_assistant.paths import temp_path
from gpu_assistant.training.checkpoints import latest_checkpoint, load_values
from gpu_assistant.training.lock import LOCK_FILE, run_lock
from gpu_assistant.training.settings import TrainSettings
from gpu_assistant.training.trainer import train

pytestmark = pytest.mark.tf


class Recorder:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def __call__(self, event: dict[str, Any]) -> None:
        self.events.append(event)

    def named(self, name: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event"] == name]


def _settings(data: Path, out: Path, **kwargs: Any) -> TrainSettings:
    defaults: dict[str, Any] = {
        "image_size": 32,
        "batch_size": 4,
        "epochs": 1,
        "augment": False,
        "early_stopping": False,
    }
    return TrainSettings(data_dir=data, out_dir=out, **(defaults | kwargs))


def _files(root: Path) -> dict[str, bytes]:
    """Every file of a run folder and its bytes (the lock file aside: it holds a pid)."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != LOCK_FILE
    }


def _callback(**hooks: Any) -> Any:
    """A Keras callback: on_batch_end(epoch, batch), on_epoch_begin(epoch)."""
    import keras

    class Hook(keras.callbacks.Callback):
        epoch = 0

        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            self.epoch = epoch
            if "on_epoch_begin" in hooks:
                hooks["on_epoch_begin"](epoch)

        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            if "on_batch_end" in hooks:
                hooks["on_batch_end"](self.epoch, batch)

    return Hook()


@pytest.mark.slow
def test_a_refused_resume_changes_no_file_and_an_accepted_one_cleans_up(tmp_path: Path) -> None:
    data = make_class_folder(tmp_path / "data", {"red": 6, "green": 6})
    out = tmp_path / "run"
    train(_settings(data, out), Recorder(), CancelToken())
    before = _files(out)

    def resume(data_dir: Path = data, **changes: Any) -> TrainSettings:
        settings = TrainSettings.load(out / "settings.json")
        settings.data_dir, settings.resume, settings.epochs = data_dir, True, 2
        for name, value in changes.items():
            setattr(settings, name, value)
        return settings

    def refused(settings: TrainSettings, words: str) -> None:
        expected = _files(out)
        report = Recorder()
        with pytest.raises(UserError, match=words):
            train(settings, report, CancelToken())
        assert report.named("error")
        assert not report.named("start")
        assert _files(out) == expected  # labels.txt, settings.json, the model: as they were

    # 1: a class folder was added since the run started
    make_class_folder(tmp_path / "more", {"red": 6, "green": 6, "blue": 6})
    refused(resume(tmp_path / "more"), "classes differ.*added 'blue'")
    # 6: another folder with other classes, and an image size the model was not built for
    make_class_folder(tmp_path / "other", {"cat": 6, "dog": 6})
    refused(resume(tmp_path / "other"), "classes differ")
    refused(resume(image_size=48), "keeps its --image-size")
    # 3: another process writes to the run folder
    with run_lock(out):
        refused(resume(), "Another training is writing")
    # 2: the checkpoint file is gone: no silent restart from epoch 1
    values = next((out / "checkpoints").glob("epoch-*.npz"))
    shutil.move(values, tmp_path / values.name)
    refused(resume(), "epoch 1")
    shutil.move(tmp_path / values.name, values)
    assert _files(out) == before

    # 16: temp files of a crash are removed when the next run starts
    stale = [temp_path(out / "checkpoints" / "epoch-0002.npz"), temp_path(out / "model.keras")]
    for path in stale:
        path.write_bytes(b"x" * 4096)
    report = Recorder()
    result = train(resume(), report, CancelToken())
    assert result.epochs_completed == 2
    assert report.named("start")[0]["initial_epoch"] == 1
    assert not any(path.exists() for path in stale)


@pytest.mark.slow
def test_ctrl_c_mid_epoch_keeps_the_last_completed_epoch(tmp_path: Path) -> None:
    data = make_class_folder(tmp_path / "data", {"red": 8, "green": 8})
    out = tmp_path / "run"
    cancel = CancelToken()

    def cancel_after_one_step_of_epoch_two(epoch: int, batch: int) -> None:
        if epoch == 1 and batch == 0:
            cancel.cancel()

    report = Recorder()
    hook = _callback(on_batch_end=cancel_after_one_step_of_epoch_two)
    result = train(_settings(data, out, epochs=3), report, cancel, callbacks=[hook])
    assert result.status == "cancelled"
    scoring = [e for e in report.named("progress") if e.get("phase") == "evaluation"]
    assert scoring and "validation images" in scoring[0]["message"]  # what Stop waits for
    checkpoint = latest_checkpoint(out / "checkpoints")
    assert checkpoint is not None
    assert checkpoint.epoch == 1
    import keras

    saved = keras.models.load_model(out / "model.keras")
    for kept, completed in zip(saved.weights, load_values(checkpoint)["model"], strict=True):
        np.testing.assert_array_equal(kept.numpy(), completed)

    # Resumed, then stopped at once (while it scans): the run is as the first stop left it.
    model_bytes = (out / "model.keras").read_bytes()
    cancel, report = CancelToken(), Recorder()

    def stop_at_the_first_event(event: dict[str, Any]) -> None:
        report(event)
        cancel.cancel()

    resumed = replace(TrainSettings.load(out / "settings.json"), resume=True)
    result = train(resumed, stop_at_the_first_event, cancel)
    assert (result.status, result.epochs_completed) == ("cancelled", 1)
    assert result.model_path == out / "model.keras"
    assert report.named("cancelled")[0]["epochs_completed"] == 1
    assert (out / "model.keras").read_bytes() == model_bytes

    cancel = CancelToken()  # cancelled before any epoch completed: no model.keras at all
    report = Recorder()
    hook = _callback(on_batch_end=lambda epoch, batch: cancel.cancel())
    result = train(_settings(data, tmp_path / "first"), report, cancel, callbacks=[hook])
    assert result.status == "cancelled"
    assert result.model_path is None
    assert report.named("cancelled")[0]["model_path"] is None
    assert not (tmp_path / "first" / "model.keras").exists()


def test_one_image_per_class_is_refused_before_training(tmp_path: Path) -> None:
    data = make_class_folder(tmp_path / "data", {"cat": 1, "dog": 1, "fox": 3})
    report = Recorder()
    with pytest.raises(UserError, match="at least 2 images") as error:
        train(_settings(data, tmp_path / "run"), report, CancelToken())
    assert "'cat' has 1, 'dog' has 1" in error.value.message
    assert "Add 2 more image(s)" in error.value.fix
    assert not report.named("start")


@pytest.mark.skipif(sys.platform in ("win32", "darwin"), reason="needs names of any bytes")
def test_a_file_name_that_is_not_utf8_trains(tmp_path: Path) -> None:
    data = make_class_folder(tmp_path / "data", {"red": 4, "green": 4})
    name = os.fsdecode(b"caf\xe9-latin1.png")  # not UTF-8: Python holds it with a surrogate
    write_image(data / "red" / name, 0)
    result = train(_settings(data, tmp_path / "run"), Recorder(), CancelToken())
    assert result.status == "completed"


@pytest.mark.skipif(sys.platform in ("win32", "darwin"), reason="needs names of any bytes")
def test_a_class_folder_whose_name_is_not_utf8_is_refused_with_a_clear_message(
    tmp_path: Path,
) -> None:
    data = make_class_folder(tmp_path / "data", {"red": 3})
    for variant in range(3):
        write_image(data / os.fsdecode(b"caf\xe9") / f"{variant}.png", 1, variant=variant)
    report = Recorder()
    with pytest.raises(UserError, match="'caf\ufffd' has a name that is not UTF-8"):
        train(_settings(data, tmp_path / "run"), report, CancelToken())
    json.dumps(report.named("error"))  # printable under --json
    assert not (tmp_path / "run" / "labels.txt").exists()


@pytest.mark.slow
def test_a_file_deleted_while_the_cache_fills_is_skipped_and_reported(tmp_path: Path) -> None:
    data = make_class_folder(tmp_path / "data", {"red": 8, "green": 8})
    out = tmp_path / "run"
    report = Recorder()
    deleted: list[Path] = []

    def delete_when_preparing(event: dict[str, Any]) -> None:
        # The first "Preparing" event comes after a batch of training images is decoded: the
        # last validation image (decoded after every training image) is still to come.
        report(event)
        if event["event"] == "progress" and "Preparing" in event["message"] and not deleted:
            victim = data / json.loads((out / "split.json").read_text())["val"][-1]
            victim.unlink()
            deleted.append(victim)

    settings = _settings(data, out, cache="memory")
    result = train(settings, delete_when_preparing, CancelToken())
    assert result.status == "completed"
    (warning,) = [w for w in report.named("warning") if "path" in w]
    assert warning["path"] == str(deleted[0])
    assert "deleted while the images were being prepared" in warning["message"]
    (start,) = report.named("start")
    assert start["train_images"] + start["val_images"] == 15


def _fill_disk(filler: Path) -> None:
    """Write `filler` until its disk is full."""
    with open(filler, "wb", buffering=0) as handle:
        try:
            while True:
                handle.write(bytes(2**20))
        except OSError:
            pass


@contextmanager
def _tmpfs(where: Path, *options: str) -> Iterator[Path]:
    """A small tmpfs at `where` (a full or read-only disk); skips where mounting is refused."""
    where.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", ",".join(options), "tmpfs", str(where)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN): {done.stderr}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def test_too_little_free_space_is_refused_before_training(tmp_path: Path) -> None:
    data = make_class_folder(tmp_path / "data", {"red": 4, "green": 4})
    with _tmpfs(tmp_path / "disk", "size=3m") as disk:
        report = Recorder()
        with pytest.raises(UserError, match="needs about") as error:
            train(_settings(data, disk / "run"), report, CancelToken())
        assert "another disk" in error.value.fix
        assert report.named("error")
        assert not report.named("start")
        assert not list((disk / "run").rglob(".tmp-*"))


@pytest.mark.slow
def test_a_disk_that_fills_up_mid_run_is_a_clear_error_and_resume_works_after(
    tmp_path: Path,
) -> None:
    data = make_class_folder(tmp_path / "data", {"red": 6, "green": 6})
    with _tmpfs(tmp_path / "disk", "size=40m") as disk:
        out = disk / "run"
        filler = disk / "filler"

        def fill_the_disk(epoch: int) -> None:
            if epoch == 1:
                _fill_disk(filler)

        report = Recorder()
        hook = _callback(on_epoch_begin=fill_the_disk)
        with pytest.raises(UserError, match="disk is full"):
            train(_settings(data, out, epochs=2), report, CancelToken(), callbacks=[hook])
        assert report.named("error")
        assert not list(out.rglob(".tmp-*"))  # the failed write took its temp file with it
        filler.unlink()
        resumed = TrainSettings.load(out / "settings.json")
        resumed.resume = True
        result = train(resumed, Recorder(), CancelToken())
        assert result.epochs_completed == 2


def test_a_disk_cache_that_fills_its_disk_is_a_clear_error_not_out_of_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TensorFlow reports a full disk under the cache as ResourceExhaustedError, the class of
    an out-of-memory: it must say "disk", not retry with a smaller batch or crash."""
    data = make_class_folder(tmp_path / "data", {"red": 6, "green": 6})
    with _tmpfs(tmp_path / "disk", "size=8m") as disk:
        monkeypatch.setenv("GPU_ASSISTANT_CACHE_DIR", str(disk / "cache"))
        filler = disk / "filler"
        report = Recorder()

        def fill_when_preparing(event: dict[str, Any]) -> None:
            report(event)
            preparing = event["event"] == "progress" and "Preparing" in event["message"]
            if preparing and not filler.exists():
                _fill_disk(filler)

        settings = _settings(data, tmp_path / "run", cache="disk")
        with pytest.raises(UserError, match=r"image cache .* is full") as error:
            train(settings, fill_when_preparing, CancelToken())
        assert "GPU_ASSISTANT_CACHE_DIR" in error.value.fix
        assert report.named("error")


def test_an_output_folder_that_cannot_be_written_is_a_clear_error(tmp_path: Path) -> None:
    data = make_class_folder(tmp_path / "data", {"red": 2, "green": 2})
    a_file = tmp_path / "passwd"
    a_file.write_text("root:x:0:0\n")
    with _tmpfs(tmp_path / "ro", "ro", "size=1m") as read_only:
        for out in (a_file, read_only / "run", read_only):
            report = Recorder()
            with pytest.raises(UserError, match="Cannot write the run folder") as error:
                train(_settings(data, out), report, CancelToken())
            assert "--out" in error.value.fix
            assert report.named("error")


def test_the_command_line_says_so_in_one_line_and_a_json_error_event(tmp_path: Path) -> None:
    data = make_class_folder(tmp_path / "data", {"red": 2, "green": 2})
    a_file = tmp_path / "passwd"
    a_file.write_text("root:x:0:0\n")
    command = [sys.executable, "-m", "gpu_assistant", "train", str(data), "--out", str(a_file)]
    done = subprocess.run(
        [*command, "--json"], capture_output=True, text=True, check=False, timeout=120
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert "Cannot write the run folder" in done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    assert [e["event"] for e in events] == ["error"]


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0 or not shutil.which("setpriv"),
    reason="drops from root to another user with setpriv (root itself ignores permissions)",
)
def test_an_output_folder_without_permission_is_a_clear_error(tmp_path: Path) -> None:
    data = make_class_folder(tmp_path / "data", {"red": 2, "green": 2})
    owned = tmp_path / "owned"
    owned.mkdir(mode=0o755)  # root's: another user may look, not write
    command = [sys.executable, "-m", "gpu_assistant", "train", str(data), "--json"]
    nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    done = subprocess.run(
        [*nobody, *command, "--out", str(owned / "run")],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        cwd="/",
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert "Cannot write the run folder" in done.stderr
    assert "Permission denied" in done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    assert [e["event"] for e in events] == ["error"]
