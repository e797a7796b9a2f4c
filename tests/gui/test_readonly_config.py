"""The window opens with a read-only HOME / config folder (was: exit 3 at start-up): the
folders fall back to a temp folder with a warning. Root ignores permissions, so the folders
are a read-only tmpfs mount (skipped where mounting is not allowed)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from gpu_assistant import paths


@pytest.fixture
def read_only_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    folder = tmp_path / "ro"
    folder.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(folder)],
                          capture_output=True, text=True, check=False)  # fmt: skip
    if done.returncode != 0:
        pytest.skip(f"cannot mount a read-only tmpfs here: {done.stderr.strip()}")
    for kind in ("DATA", "CACHE", "CONFIG"):
        monkeypatch.setenv(f"GPU_ASSISTANT_{kind}_DIR", str(folder / kind.lower()))
    monkeypatch.setattr(paths, "_fallbacks", {})
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=False)


def test_the_window_opens_and_keeps_its_settings(read_only_home: Path, make_window) -> None:
    from gpu_assistant.ui.settings import Settings

    window = make_window()
    assert window.isVisible()
    settings = Settings()
    assert not Path(settings.store.fileName()).is_relative_to(read_only_home)
