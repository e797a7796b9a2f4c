"""GUI test fixtures: the real main window (offscreen), with a fake NVML at the probe's seam."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from fakes.nvml import FakeNVML
from gpu_assistant.ui.main_window import MainWindow


@pytest.fixture
def make_window(qtbot) -> Iterator[Callable[..., MainWindow]]:
    """Build a shown, probed window; every window is closed (jobs stopped) at teardown."""
    windows: list[MainWindow] = []

    def make(nvml: FakeNVML | None = None) -> MainWindow:
        window = MainWindow(nvml=nvml if nvml is not None else FakeNVML.no_gpus())
        qtbot.addWidget(window)
        window.show()
        window.page("system").start_probe()
        qtbot.waitUntil(lambda: window.state.system is not None, timeout=10_000)
        windows.append(window)
        return window

    yield make
    for window in windows:
        window.close()
        assert not window.state.runner.running()


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished run on the sample set (1 epoch, 32 px), trained once by the CLI in a child.

    Tests that open, export or predict with a run use it; copy it before changing it."""
    import subprocess
    import sys

    from gpu_assistant.data.sample import sample_data_dir

    run = tmp_path_factory.mktemp("trained") / "run"
    argv = [sys.executable, "-m", "gpu_assistant", "train", str(sample_data_dir())]
    argv += ["--epochs", "1", "--image-size", "32", "--no-augment"]
    argv += ["--out", str(run)]
    env = dict(os.environ, GPU_ASSISTANT_DATA_DIR=str(run.parent / "data"))
    done = subprocess.run(argv, check=False, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return run
