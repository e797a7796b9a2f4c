"""The new-user path in a real X window, clicked through the X server: the acceptance walk of
the window, with each step's time and a screenshot of the whole screen after it.

    Xvfb :99 -screen 0 1600x1000x24 & openbox &       # or any X display with a window manager
    DISPLAY=:99 python benchmarks/walk_real_window.py OUT_DIR

Part 1 (one app process): sample data -> Train -> Start -> Stop after two epochs -> Resume ->
See results -> every Export button. Part 2 (the app started again, same data folder): Runs ->
the earlier run -> Open in Results -> Export SavedModel again. Clicks are `xdotool` mouse
clicks at the widget's place on the screen (what a person does; not QTest, which hands the
event to the widget directly), screenshots `import -window root` (ImageMagick). Each step
waits for what the user would see (a label, a button enabled, a file written) and fails with
the step's name when it does not come. The app's data folder is OUT_DIR/data (XDG_DATA_HOME),
so the walk never touches a real user's runs.

Needs: Xvfb (or a display), a window manager, xdotool, ImageMagick; TensorFlow installed.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

STEP_TIMEOUT_S = 300.0


class Walk:
    """One app process driven step by step; every step timed and screenshotted."""

    def __init__(self, out: Path, part: str) -> None:
        from gpu_assistant.ui.app import application
        from gpu_assistant.ui.main_window import MainWindow

        self.out, self.part = out, part
        self.app = application()
        self.window = MainWindow()
        self.window.resize(1280, 860)
        self.window.show()
        self.window.page("system").start_probe()  # as run_gui does
        self.steps: list[dict[str, Any]] = []
        self._pause(1500)  # mapped and placed by the window manager

    def page(self, name: str) -> Any:
        return self.window.page(name)

    def step(self, name: str, action: Callable[[], None], done: Callable[[], bool]) -> None:
        """Do `action`, wait until `done()` holds (what the user would see), screenshot."""
        start = time.perf_counter()
        action()
        deadline = time.monotonic() + STEP_TIMEOUT_S
        while not done():
            if time.monotonic() > deadline:
                self.shot(f"FAILED-{name}")
                raise SystemExit(f"{self.part}: step '{name}' did not finish in time")
            self._pause(100)
        seconds = round(time.perf_counter() - start, 1)
        self._pause(300)
        shot = self.shot(name)
        self.steps.append({"part": self.part, "step": name, "seconds": seconds, "shot": shot})
        print(f"{self.part:6} {seconds:7.1f} s  {name}", flush=True)

    def click(self, widget: Any) -> None:
        """A real mouse click: xdotool moves the X pointer to the widget's centre and clicks."""
        if not widget.isVisible() or not widget.isEnabled():
            raise SystemExit(f"{self.part}: '{widget.objectName()}' is not clickable")
        centre = widget.mapToGlobal(widget.rect().center())
        ratio = widget.devicePixelRatioF()
        x, y = round(centre.x() * ratio), round(centre.y() * ratio)
        _xclick(x, y)
        self._pause(150)

    def type_into_dialog(self, title: str, text: str) -> None:
        """Type `text` and Enter into the dialog called `title` once it is on the screen (its
        file name field has the focus), from a helper process: the click that opens it comes
        next, and a modal dialog's event loop holds this thread until it closes."""
        wait = f"xdotool search --sync --onlyvisible --name {shlex.quote(title)}"
        typing = f"xdotool type --delay 10 {shlex.quote(text)}; xdotool key Return"
        subprocess.Popen(["sh", "-c", f"{wait} >/dev/null; sleep 0.5; {typing}"])

    def click_step(self, name: str) -> None:
        """Click a page's entry in the step list on the left."""
        steps = self.window.steps
        row = list(self.window.pages).index(name)
        rect = steps.visualItemRect(steps.item(row))
        centre = steps.viewport().mapToGlobal(rect.center())
        _xclick(centre.x(), centre.y())
        self._pause(150)

    def shot(self, name: str) -> str:
        path = self.out / f"{self.part}-{len(self.steps) + 1:02d}-{name}.png"
        subprocess.run(["import", "-window", "root", str(path)], check=True)
        return path.name

    def close(self) -> None:
        self.window.close()
        self._pause(500)

    @staticmethod
    def _pause(ms: int) -> None:
        from PySide6.QtCore import QEventLoop, QTimer

        loop = QEventLoop()
        QTimer.singleShot(ms, loop.quit)
        loop.exec()


def _xclick(x: int, y: int) -> None:
    """Move the X pointer there and click. Not `mousemove --sync`: it waits ~15 s when the
    pointer is already there (a second click on the same button)."""
    subprocess.run(
        ["xdotool", "mousemove", str(x), str(y), "sleep", "0.1", "click", "1"], check=True
    )


def _epochs_seen(train: Any) -> int:
    return len(train.accuracy_plot.series("val accuracy")[0])


def first_part(out: Path) -> tuple[list[dict[str, Any]], Path]:
    walk = Walk(out, "part1")
    data, train, results = walk.page("data"), walk.page("train"), walk.page("results")
    state = walk.window.state
    walk.step("open Data", lambda: walk.click_step("data"), data.isVisible)
    walk.step(
        "Use sample data",
        lambda: walk.click(data.findChild(type(data.next_button), "useSampleButton")),
        lambda: state.scan is not None and data.next_button.isEnabled(),
    )
    walk.step("Continue to Train", lambda: walk.click(data.next_button), train.isVisible)
    walk.step(
        "Start, two epochs",
        lambda: walk.click(train.start_button),
        lambda: _epochs_seen(train) >= 2,
    )
    walk.step(
        "Stop",
        lambda: walk.click(train.stop_button),
        lambda: not train.slot.busy and train.resume_button.isVisible(),
    )
    run_dir = Path(train.run_dir)
    stopped = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
    assert stopped["status"] == "cancelled", stopped["status"]
    walk.step(
        "Resume",
        lambda: walk.click(train.resume_button),
        lambda: not train.slot.busy and train.results_button.isEnabled(),
    )
    finished = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
    assert finished["status"] in ("completed", "stopped_early"), finished["status"]
    kept = len(stopped["history"])
    assert finished["history"][:kept] == stopped["history"], "the resume started over"
    assert len(finished["history"]) > kept, "the resume trained no epoch"
    print(f"          stopped after {kept} epochs, finished after {len(finished['history'])}")
    walk.step(
        "See results",
        lambda: walk.click(train.results_button),
        lambda: results.isVisible() and bool(results.evaluation),
    )
    model = json.loads((run_dir / "settings.json").read_text(encoding="utf-8"))["model"]
    expected = {
        "keras": ["model.keras", "labels.txt"],
        "savedmodel": ["savedmodel/saved_model.pb"],
        "tflite": ["model.tflite"],
        "script": [f"train_{model}.py"],
    }
    for widget in results.export_buttons[:-1]:  # the last one is Compare formats…
        key = widget.objectName().removeprefix("export_").removesuffix("Button")
        wanted = [run_dir / "export" / name for name in expected[key]]
        walk.step(
            f"Export {key}",
            lambda w=widget: walk.click(w),
            lambda w=wanted: all(p.exists() for p in w) and "Exported" in results.status.text(),
        )
        print("         ", results.status.text(), flush=True)
    steps = walk.steps
    walk.close()
    return steps, run_dir


def second_part(out: Path, run_dir: Path) -> list[dict[str, Any]]:
    walk = Walk(out, "part2")
    runs, results = walk.page("runs"), walk.page("results")
    walk.step("open Runs", lambda: walk.click_step("runs"), lambda: bool(runs.runs))
    row = next(i for i, run in enumerate(runs.runs) if run.path == run_dir)
    table = runs.table

    def click_row() -> None:
        rect = table.visualItemRect(table.item(row, 1))
        centre = table.viewport().mapToGlobal(rect.center())
        _xclick(centre.x(), centre.y())

    walk.step("select the earlier run", click_row, runs.open_button.isEnabled)
    walk.step(
        "Open in Results",
        lambda: walk.click(runs.open_button),
        lambda: results.isVisible() and results.run_dir == run_dir and bool(results.evaluation),
    )
    from gpu_assistant.data.sample import sample_data_dir

    for digit in ("2", "3"):  # Try an image, twice: the file dialog typed into, as a person would
        picture = sorted((sample_data_dir() / digit).glob("*.png"))[0]

        def choose(path: Path = picture) -> None:
            walk.type_into_dialog("Choose an image", str(path))  # first: the dialog is modal
            walk.click(results.try_button)

        walk.step(
            f"Try an image ({digit})",
            choose,
            lambda d=digit: results.prediction.text().startswith(f"<b>{d}</b>"),
        )
    if walk.window.state.models.starts != 1:
        raise SystemExit("the second picture did not reuse the kept predicting child")
    saved_model = run_dir / "export" / "savedmodel" / "saved_model.pb"
    before = saved_model.stat().st_mtime_ns
    button = next(b for b in results.export_buttons if "savedmodel" in b.objectName())
    walk.step(
        "Export savedmodel again",
        lambda: walk.click(button),
        lambda: saved_model.stat().st_mtime_ns != before and "Exported" in results.status.text(),
    )
    print("         ", results.status.text(), flush=True)
    loaded = "tensorflow" in sys.modules
    steps = walk.steps
    walk.close()
    if loaded:
        raise SystemExit("TensorFlow was imported into the window's process")
    return steps


def main() -> int:
    out = Path(sys.argv[1]).resolve()
    out.mkdir(parents=True, exist_ok=True)
    if len(sys.argv) == 2:  # the driver: each part in its own app process, as relaunching is
        env = {**os.environ, "XDG_DATA_HOME": str(out / "data"), "QT_QPA_PLATFORM": "xcb"}
        steps: list[dict[str, Any]] = []
        for part in ("part1", "part2"):
            subprocess.run([sys.executable, __file__, str(out), part], env=env, check=True)
            steps += json.loads((out / f"{part}.json").read_text(encoding="utf-8"))
        total = sum(s["seconds"] for s in steps)
        print(f"walk done: {len(steps)} steps, {total:.0f} s of waiting for the app")
        return 0
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "app"))
    if sys.argv[2] == "part1":
        steps, run_dir = first_part(out)
        (out / "run_dir.txt").write_text(str(run_dir), encoding="utf-8")
    else:
        run_dir = Path((out / "run_dir.txt").read_text(encoding="utf-8"))
        steps = second_part(out, run_dir)
    (out / f"{sys.argv[2]}.json").write_text(json.dumps(steps, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
