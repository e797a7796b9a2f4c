"""One writer per run folder: an OS file lock held for the whole run.

Two trainings (or two `--resume`) into the same folder would overwrite each other's model and
race on the checkpoint's temp files. The lock is `flock` (POSIX) or `msvcrt.locking` (Windows)
on `RUN/run.lock`; the OS drops it when the process ends in any way (a crash, `kill -9`), so a
stale lock can never block the next run. The file itself stays: deleting a lock file while
another process waits on it would let two processes hold "the" lock at once.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from gpu_assistant.jobs import UserError

LOCK_FILE = "run.lock"


class RunFolderBusy(UserError):
    """Another process holds the run folder's lock."""


@contextmanager
def run_lock(root: Path) -> Iterator[None]:
    """Hold the lock of run folder `root` (created if missing) for the `with` block; a second
    holder gets `RunFolderBusy` at once, with the holder's process id when it is known."""
    root.mkdir(parents=True, exist_ok=True)
    path = root / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if not _try_lock(fd):
            raise RunFolderBusy(
                f"Another training is writing to {root}{_holder(fd)}.",
                "Wait for it to finish (or stop it), or choose another --out folder.",
            )
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        try:
            yield
        finally:
            _unlock(fd)
    finally:
        os.close(fd)


def _holder(fd: int) -> str:
    """' (process N)' from the pid the holder wrote into the file, or '' when unreadable."""
    try:
        text = os.pread(fd, 32, 0).decode("ascii").strip()
    except (OSError, UnicodeDecodeError, AttributeError):  # no pread on Windows
        return ""
    return f" (process {text})" if text.isdigit() else ""


if sys.platform == "win32":
    import msvcrt

    def _try_lock(fd: int) -> bool:
        os.lseek(fd, 0, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)
