"""GUI test fixtures: the real main window (offscreen), with a fake NVML at the probe's seam."""

from __future__ import annotations

from collections.abc import Callable, Iterator

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
