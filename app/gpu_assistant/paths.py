"""Where the app keeps the user's things: runs, caches, logs, settings.

Each folder can be moved with an environment variable (tests point them at a temp dir):
GPU_ASSISTANT_DATA_DIR (runs, logs), GPU_ASSISTANT_CACHE_DIR (dataset caches),
GPU_ASSISTANT_CONFIG_DIR (settings). Defaults follow each platform's convention.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

APP_DIR_NAME = "tf-gpu-assistant"


def _platform_base(kind: str) -> Path:
    home = Path.home()
    if sys.platform == "win32":
        root = os.environ.get("LOCALAPPDATA") or str(home / "AppData" / "Local")
        return Path(root) / APP_DIR_NAME / kind
    if sys.platform == "darwin":
        sub = {"data": "Application Support", "cache": "Caches", "config": "Preferences"}[kind]
        return home / "Library" / sub / APP_DIR_NAME
    xdg = {"data": "XDG_DATA_HOME", "cache": "XDG_CACHE_HOME", "config": "XDG_CONFIG_HOME"}[kind]
    default = {"data": ".local/share", "cache": ".cache", "config": ".config"}[kind]
    return Path(os.environ.get(xdg) or home / default) / APP_DIR_NAME


_fallbacks: dict[Path, Path] = {}  # unwritable folder -> the temp folder used instead


def _dir(kind: str) -> Path:
    """The folder for `kind`, created. Where it cannot be written (a read-only HOME, a full
    disk) a temp folder stands in, with one warning on stderr: the app still starts, and the
    user learns where things go and how to choose a lasting place."""
    override = os.environ.get(f"GPU_ASSISTANT_{kind.upper()}_DIR")
    path = Path(override) if override else _platform_base(kind)
    if path in _fallbacks:
        return _fallbacks[path]
    try:
        path.mkdir(parents=True, exist_ok=True)
        if os.access(path, os.W_OK | os.X_OK):
            return path
        reason = "Read-only file system" if _read_only_mount(path) else "Permission denied"
    except OSError as error:
        reason = error.strerror or str(error)
    fallback = Path(tempfile.gettempdir()) / f"{APP_DIR_NAME}-{_user()}" / kind
    fallback.mkdir(parents=True, exist_ok=True)
    _fallbacks[path] = fallback
    print(
        f"Warning: cannot write the {kind} folder {path} ({reason}); using {fallback} for "
        f"now, which may be emptied at reboot. Set GPU_ASSISTANT_{kind.upper()}_DIR to a "
        "writable folder to keep things there.",
        file=sys.stderr,
    )
    return fallback


def _read_only_mount(path: Path) -> bool:
    return bool(os.statvfs(path).f_flag & os.ST_RDONLY) if hasattr(os, "statvfs") else False


def _user() -> str:
    """A per-user name for the shared temp folder (no other user's files get mixed in)."""
    return str(os.getuid()) if hasattr(os, "getuid") else os.environ.get("USERNAME", "user")


def data_dir() -> Path:
    return _dir("data")


def cache_dir() -> Path:
    return _dir("cache")


def config_dir() -> Path:
    return _dir("config")


def runs_dir() -> Path:
    """Default parent folder of training runs (one sub-folder per run)."""
    path = data_dir() / "runs"
    path.mkdir(parents=True, exist_ok=True)
    return path


def log_file() -> Path:
    path = data_dir() / "logs"
    path.mkdir(parents=True, exist_ok=True)
    return path / "gpu-assistant.log"


def path_bytes(text: str) -> bytes:
    """UTF-8 of a path string, with the bytes of a name that is not UTF-8 (Linux allows any)
    given back as they were (Python holds them as surrogate escapes, which .encode() refuses)."""
    return text.encode("utf-8", "surrogateescape")


TEMP_PREFIX = ".tmp-"  # every temp file the app writes starts so: `.tmp-<pid>-<final name>`


def temp_path(path: Path) -> Path:
    """The temp name `path` is written under before `os.replace`; it keeps the final name's
    suffix (Keras insists on `.keras`) and is hidden, so no `*.npz`-style listing sees it."""
    return path.with_name(f"{TEMP_PREFIX}{os.getpid()}-{path.name}")


def write_atomically(path: Path, write: Callable[[Path], object]) -> None:
    """`write(tmp)`, then `os.replace(tmp, path)`: a crash never leaves `path` half-written,
    and a failed write (a full disk, Ctrl-C) removes its temp file instead of leaving MBs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def check_writable_file(path: Path, what: str) -> None:
    """Raise UserError unless `path` can be written (its folder exists or can be made, and a
    file can be created there); leaves nothing behind."""
    from gpu_assistant.jobs import UserError

    path = Path(path)
    if path.is_dir():
        raise UserError(f"{what} {path} is a folder.", "Give a file name, e.g. report.json.")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        probe = temp_path(path)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise UserError(
            f"Cannot write {what} {path}: {error.strerror or error}.",
            "Choose a file in a folder you can write to.",
        ) from error


def atomic_write_text(path: Path, text: str) -> None:
    """Write a file so that a crash mid-write never leaves it half-written."""
    write_atomically(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
