"""The run folder's safety parts without TensorFlow: one writer at a time (the lock), temp files
that no listing takes for checkpoints and that failures and crashes do not leave behind, and a
resume that refuses to start over when the checkpoint is gone."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gpu_assistant.jobs import UserError
from gpu_assistant.paths import temp_path
from gpu_assistant.training import checkpoints
from gpu_assistant.training.checkpoints import (
    latest_checkpoint,
    resumable_checkpoint,
    save_checkpoint,
)
from gpu_assistant.training.lock import LOCK_FILE, RunFolderBusy, run_lock
from gpu_assistant.training.run_folder import RunFolder, remove_temp_files

# A child that takes the run folder's lock, says so, and waits to be killed.
HOLDER = """
import sys, time
from pathlib import Path
from gpu_assistant.training.lock import run_lock
with run_lock(Path(sys.argv[1])):
    print("locked", flush=True)
    time.sleep(120)
"""


def _values(fill: float) -> dict[str, list[np.ndarray]]:
    return {"model": [np.full((2, 3), fill)], "optimizer": [np.ones(4) * fill]}


def test_a_second_writer_in_the_same_process_is_refused(tmp_path: Path) -> None:
    with run_lock(tmp_path / "run"):
        refused = pytest.raises(RunFolderBusy, match="Another training is writing")
        with refused as busy, run_lock(tmp_path / "run"):
            pass
        assert f"process {os.getpid()}" in busy.value.message
        assert "--out" in busy.value.fix
    with run_lock(tmp_path / "run"):  # released at the end of the block
        pass


def test_a_lock_held_by_another_process_refuses_and_a_killed_holder_frees_it(
    tmp_path: Path,
) -> None:
    root = tmp_path / "run"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(root)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(RunFolderBusy, match=f"process {holder.pid}"), run_lock(root):
            pass
        holder.send_signal(signal.SIGKILL)  # a crash: the OS drops the lock
        holder.wait(timeout=30)
    finally:
        holder.kill()
        holder.communicate()
    with run_lock(root):
        pass
    assert (root / LOCK_FILE).is_file()


def test_another_writers_temp_file_is_never_taken_for_an_old_checkpoint(tmp_path: Path) -> None:
    """Committing epoch N deletes older `epoch-*.npz` files; a temp file being written by
    someone else at that moment (two resumes racing, before the lock) must not be one of them."""
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    others = [folder / "tmp-999-epoch-0003.npz", folder / ".tmp-999-epoch-0003.npz"]
    for path in others:
        path.write_bytes(b"being written")
    save_checkpoint(folder, _values(1.0), 1, {})
    save_checkpoint(folder, _values(2.0), 2, {})
    assert all(path.exists() for path in others)
    assert sorted(p.name for p in folder.glob("epoch-*.npz")) == ["epoch-0002.npz"]


def test_a_failed_checkpoint_write_leaves_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "checkpoints"
    save_checkpoint(folder, _values(1.0), 1, {})
    (folder / checkpoints.BASE_FILE).write_bytes(b"base")
    before = sorted(p.name for p in folder.iterdir())

    def disk_full(handle, **arrays) -> None:
        handle.write(b"PK\x03\x04" + bytes(1000))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoints.np, "savez", disk_full)
    with pytest.raises(OSError, match="No space"):
        save_checkpoint(folder, _values(2.0), 2, {})
    assert sorted(p.name for p in folder.iterdir()) == before
    last = latest_checkpoint(folder)
    assert last is not None
    assert last.epoch == 1


def test_temp_files_left_by_a_crash_are_removed_and_nothing_else(tmp_path: Path) -> None:
    folder = RunFolder(tmp_path / "run")
    folder.checkpoints.mkdir(parents=True)
    stale = [
        temp_path(folder.checkpoints / "epoch-0003.npz"),
        temp_path(folder.model),
        temp_path(folder.settings),
        folder.checkpoints / "tmp-4242-epoch-0002.npz",  # names of earlier versions
        folder.checkpoints / "tmp-4242-base.keras",
        folder.root / "tmp-4242-model.keras",
        folder.root / ".metrics.json.tmp-4242",
    ]
    kept = [  # --out may be a folder of the user's own files: only the app's temp names go
        folder.checkpoints / "epoch-0002.npz",
        folder.settings,
        folder.root / "tmp-notes.txt",
        folder.root / "tmp-2024-report.json",
        folder.root / ".tmp-archive",
        folder.root / "photo.jpg.tmp-3",
    ]
    for path in [*stale, *kept]:
        path.write_bytes(b"x" * 100)
    assert remove_temp_files(folder) == len(stale)
    assert not any(path.exists() for path in stale)
    assert all(path.exists() for path in kept)


def test_a_resume_whose_checkpoint_is_gone_stops_instead_of_starting_over(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "checkpoints"
    assert resumable_checkpoint(folder, has_model=False) is None  # no epoch ever completed
    with pytest.raises(UserError, match="no checkpoint") as error:
        resumable_checkpoint(folder, has_model=True)  # a model, but checkpoints/ was emptied
    assert "epoch 1" in error.value.message
    save_checkpoint(folder, _values(1.0), 1, {})
    (folder / checkpoints.BASE_FILE).write_bytes(b"base")
    found = resumable_checkpoint(folder, has_model=True)
    assert found is not None
    assert found.epoch == 1
    (folder / "epoch-0001.npz").unlink()
    with pytest.raises(UserError, match=r"epoch-0001\.npz") as error:
        resumable_checkpoint(folder, has_model=True)
    assert "without --resume" in error.value.fix
    (folder / checkpoints.STATE_FILE).write_text("{not json")
    with pytest.raises(UserError, match=r"state\.json"):
        resumable_checkpoint(folder, has_model=False)
