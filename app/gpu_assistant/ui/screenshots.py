"""Render every wizard page, populated, into PNGs: `python -m gpu_assistant.ui.screenshots DIR`.

It drives the real app offscreen on this machine: detection, verification, a scan of the sample
data, a short real training run, a prediction. Add `--dark` for the dark theme.

`--simulated-gpus N` renders only the System and Train pages with N simulated RTX 3090s: the
tests' `FakeNVML` (tests/fakes/nvml.py, so a source checkout is needed) is passed in at the
probe's NVML seam. Nothing is trained or measured; the window title and a caption in the status
bar say "simulated" so the pictures are never mistaken for real hardware.
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
SIMULATED_GPU = ("NVIDIA GeForce RTX 3090", (8, 6), 24576)


def _pause(ms: int) -> None:
    """Run the event loop for `ms`. Not QTest.qWait: PySide6 6.11 holds the GIL through it,
    which starved the app's worker threads (a scan of the sample data took minutes)."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def _wait(predicate: Callable[[], bool], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("the app did not reach the state to capture in time")
        _pause(50)


def capture(
    out_dir: Path,
    dark: bool = False,
    simulated_gpus: int = 0,
    extra_sizes: tuple[tuple[int, int], ...] = (),
) -> list[Path]:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

    from gpu_assistant.ui.app import application
    from gpu_assistant.ui.main_window import MainWindow
    from gpu_assistant.ui.theme import apply_theme, dark_palette

    app = application()
    if dark:
        apply_theme(app, dark_palette())
    suffix = "-dark" if dark else ""
    if simulated_gpus:
        window = MainWindow(nvml=simulated_nvml(simulated_gpus))
        _label_simulated(window, simulated_gpus)
    else:
        window = MainWindow()
    window.resize(*SIZE)
    window.show()
    try:
        if simulated_gpus:
            return _grab_simulated(window, out_dir, f"-{simulated_gpus}gpus{suffix}")
        return _drive_and_grab(window, out_dir, suffix, extra_sizes)
    finally:
        window.close()  # cancels and waits for any job still running


def simulated_nvml(count: int) -> Any:
    """The tests' FakeNVML with `count` RTX 3090s (imported from tests/, a checkout only)."""
    tests = Path(__file__).resolve().parents[3] / "tests"
    if not (tests / "fakes" / "nvml.py").is_file():
        raise SystemExit(
            f"--simulated-gpus needs the tests' FakeNVML ({tests / 'fakes' / 'nvml.py'}); "
            "run it from a source checkout."
        )
    if str(tests) not in sys.path:
        sys.path.insert(0, str(tests))
    from fakes.nvml import FakeGPU, FakeNVML  # type: ignore[import-not-found]  # tests/ on path

    return FakeNVML.with_gpus([FakeGPU(*SIMULATED_GPU) for _ in range(count)])


def simulated_caption(count: int) -> str:
    short = SIMULATED_GPU[0].removeprefix("NVIDIA GeForce ")
    return f"simulated: {count} × {short}"


def _label_simulated(window: Any, count: int) -> None:
    """Say on the window itself (a grab has no title bar) that the GPUs are not real."""
    from PySide6.QtWidgets import QLabel

    caption = simulated_caption(count)
    window.setWindowTitle(f"{window.windowTitle()} ({caption})")
    label = QLabel(
        f"⚠ {caption[0].upper()}{caption[1:]} — GPUs from the tests' FakeNVML, not real "
        "hardware; nothing here was measured."
    )
    label.setObjectName("simulatedCaption")
    label.setContentsMargins(8, 0, 0, 0)
    label.setProperty("role", "verdict-warn")
    window.statusBar().addWidget(label, 1)


def _grab_simulated(window: Any, out_dir: Path, suffix: str) -> list[Path]:
    """System and Train only: the GPU table, and multi-GPU switched on with a box per GPU."""

    window.page("system").start_probe()
    data, train = window.page("data"), window.page("train")
    _wait(lambda: window.state.system is not None, 30)
    data.use_sample()  # so the Train page reads "Ready", as it would before Start
    _wait(lambda: window.state.scan is not None and data.job is None, 120)
    train.multi_gpu.setChecked(True)

    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for index, name in ((1, "system"), (4, "train")):
        window.go(index - 1)
        _pause(300)
        path = out_dir / f"{index}-{name}{suffix}.png"
        window.grab().save(str(path))
        written.append(path)
    return written


def _drive_and_grab(
    window: Any, out_dir: Path, suffix: str, extra_sizes: tuple[tuple[int, int], ...]
) -> list[Path]:
    window.page("system").start_probe()
    setup, data, train, results = (window.page(n) for n in ("setup", "data", "train", "results"))
    _wait(lambda: setup.recommendation is not None, 30)
    setup.verify()
    _wait(lambda: setup.job is None and setup.checks.rowCount() > 0, 300)
    data.image_size.setValue(64)
    data.use_sample()
    _wait(lambda: window.state.scan is not None and data.job is None, 120)
    train.epochs.setValue(6)  # long enough for batch norm's moving statistics to settle
    train.start()
    _wait(lambda: bool(results.evaluation), 600)
    results.show_cell(*_worst_cell(results.evaluation["confusion_matrix"]))
    first = sorted(p for p in window.state.scan.root.rglob("*.png"))[0]
    results.try_image(first)
    _wait(lambda: "%" in results.prediction.text(), 300)  # imports TensorFlow here first

    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for size in (None, *extra_sizes):
        if size is not None:
            window.resize(*size)
        tag = "" if size is None else f"-{size[0]}x{size[1]}"
        for index, name in enumerate(window.pages, start=1):
            window.go(index - 1)
            if name == "data":
                window.page("data").tabs.setCurrentIndex(0)
            _pause(300)  # let plots redraw (5 Hz)
            path = out_dir / f"{index}-{name}{suffix}{tag}.png"
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
    parser.add_argument(
        "--simulated-gpus",
        type=int,
        default=0,
        metavar="N",
        help="render only System and Train with N simulated RTX 3090s (the tests' FakeNVML; "
        "labelled 'simulated' in the pictures)",
    )
    parser.add_argument(
        "--also-size",
        action="append",
        default=[],
        metavar="WxH",
        help="also grab every page at this window size (repeat; file names get -WxH)",
    )
    args = parser.parse_args(argv)
    if args.simulated_gpus < 0:
        parser.error("--simulated-gpus must be 0 or more")
    try:
        sizes = tuple(tuple(int(n) for n in s.lower().split("x", 1)) for s in args.also_size)
    except ValueError:
        parser.error("--also-size takes WIDTHxHEIGHT, e.g. 1024x700")
    shots = capture(
        args.out_dir,
        dark=args.dark,
        simulated_gpus=args.simulated_gpus,
        extra_sizes=sizes,  # type: ignore[arg-type]
    )
    for path in shots:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
