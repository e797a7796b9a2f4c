"""Render every wizard page, populated, into PNGs: `python -m gpu_assistant.ui.screenshots DIR`.

It drives the real app offscreen on this machine: detection, verification, a scan of the sample
data, a short real training run, a prediction. Add `--dark` for the dark theme.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

SIZE = (1180, 780)


def _wait(predicate: Callable[[], bool], timeout_s: float) -> None:
    from PySide6.QtTest import QTest

    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("the app did not reach the state to capture in time")
        QTest.qWait(50)


def capture(out_dir: Path, dark: bool = False) -> list[Path]:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

    from gpu_assistant.ui.app import application
    from gpu_assistant.ui.main_window import MainWindow
    from gpu_assistant.ui.theme import apply_theme, dark_palette

    app = application()
    if dark:
        apply_theme(app, dark_palette())
    window = MainWindow()
    window.resize(*SIZE)
    window.show()
    try:
        return _drive_and_grab(window, out_dir, "-dark" if dark else "")
    finally:
        window.close()  # cancels and waits for any job still running


def _drive_and_grab(window: Any, out_dir: Path, suffix: str) -> list[Path]:
    from PySide6.QtTest import QTest

    window.page("system").start_probe()
    setup, data, train, results = (window.page(n) for n in ("setup", "data", "train", "results"))
    _wait(lambda: setup.recommendation is not None, 30)
    setup.verify()
    _wait(lambda: setup.job is None and setup.checks.rowCount() > 0, 300)
    data.image_size.setValue(64)
    data.use_sample()
    _wait(lambda: window.state.scan is not None and data.job is None, 120)
    train.epochs.setValue(3)
    train.start()
    _wait(lambda: bool(results.evaluation), 600)
    results.show_cell(*_worst_cell(results.evaluation["confusion_matrix"]))
    first = sorted(p for p in window.state.scan.root.rglob("*.png"))[0]
    results.try_image(first)
    _wait(lambda: "%" in results.prediction.text(), 300)  # imports TensorFlow here first

    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for index, name in enumerate(("system", "setup", "data", "train", "results"), start=1):
        window.go(index - 1)
        if name == "data":
            window.page("data").tabs.setCurrentIndex(0)
        QTest.qWait(300)  # let plots redraw (5 Hz)
        path = out_dir / f"{index}-{name}{suffix}.png"
        window.grab().save(str(path))
        written.append(path)
    return written


def _worst_cell(matrix: list[list[int]]) -> tuple[int, int]:
    """The off-diagonal cell with the most mistakes, so the screenshot shows some images."""
    cells = [(count, r, c) for r, row in enumerate(matrix) for c, count in enumerate(row) if r != c]
    _, row, column = max(cells, default=(0, 0, 1))
    return row, column


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--dark", action="store_true", help="render with a dark palette")
    args = parser.parse_args(argv)
    for path in capture(args.out_dir, dark=args.dark):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
