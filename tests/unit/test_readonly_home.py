"""A read-only HOME or config folder (a locked-down account, a full or read-only mount): the
app still starts, with a warning and a temporary folder, and the self-test reports plainly.
Root ignores permissions, so the folders are a read-only tmpfs (skipped where mounting is
not allowed)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from gpu_assistant import paths
from gpu_assistant.jobs import UserError


@pytest.fixture
def read_only(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "ro"
    folder.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(folder)],
                          capture_output=True, text=True, check=False)  # fmt: skip
    if done.returncode != 0:
        pytest.skip(f"cannot mount a read-only tmpfs here: {done.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=False)


def test_user_folders_fall_back_to_a_temp_folder_with_a_warning(
    read_only: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    for kind in ("DATA", "CACHE", "CONFIG"):
        monkeypatch.setenv(f"GPU_ASSISTANT_{kind}_DIR", str(read_only / kind.lower()))
    monkeypatch.setattr(paths, "_fallbacks", {})
    for folder in (paths.config_dir(), paths.cache_dir(), paths.runs_dir(), paths.data_dir()):
        assert not folder.is_relative_to(read_only)
        (folder / "probe").write_text("ok")
    paths.log_file().write_text("ok")
    err = capsys.readouterr().err
    assert err.count("Warning:") == 3  # once per folder, not per call
    assert "Read-only file system" in err and "GPU_ASSISTANT_DATA_DIR" in err


def test_self_test_report_says_what_failed_without_a_traceback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from gpu_assistant.ui import app

    checks: list[dict] = []

    def fails() -> str:
        raise UserError("The folder is read-only.", "Choose another one.")

    def crashes() -> str:
        raise RuntimeError("boom")

    assert not app._timed(checks, "x", fails)
    assert not app._timed(checks, "y", crashes)
    assert checks[0]["message"] == "The folder is read-only. Choose another one."
    assert "Traceback" not in checks[1]["message"] and checks[1]["message"] == "RuntimeError: boom"
    assert "Traceback" in checks[1]["traceback"]  # kept apart, for a bug report
    json.dumps(checks)
