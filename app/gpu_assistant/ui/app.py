"""Start the app window (`run_gui`) or check the whole stack without a person (`self_test`)."""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gpu_assistant import APP_NAME, __version__, paths
from gpu_assistant.jobs import UserError

NO_DISPLAY_HELP = """\
gpu-assistant: there is no display to open the window on (DISPLAY and WAYLAND_DISPLAY are unset).
What you can do instead:
  - check this machine:          gpu-assistant --self-test --report report.json
  - use the command line:        gpu-assistant doctor | recommend | scan | train | predict | export
  - show the window from here:   ssh -X this-machine gpu-assistant   (or: xvfb-run gpu-assistant)
"""


def has_display(environ: dict[str, str] | None = None, platform: str = sys.platform) -> bool:
    """False on Linux without an X11/Wayland display and no explicit Qt platform plugin."""
    env = os.environ if environ is None else environ
    if not platform.startswith("linux"):
        return True  # Windows and macOS always have a window system for a desktop user
    if env.get("QT_QPA_PLATFORM"):
        return True  # the user chose a platform plugin (offscreen, vnc, eglfs...)
    return bool(env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"))


def application() -> Any:
    """The QApplication, with the app's names, style sheet and high-DPI behaviour."""
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QApplication

    from gpu_assistant.ui.theme import apply_theme

    existing = QApplication.instance()
    if existing is not None:
        return existing
    QGuiApplication.setHighDpiScaleFactorRoundingPolicy(
        Qt.HighDpiScaleFactorRoundingPolicy.PassThrough
    )
    app = QApplication(sys.argv[:1])
    app.setApplicationName(APP_NAME)
    app.setApplicationVersion(__version__)
    app.setOrganizationName("tf-gpu-assistant")
    apply_theme(app)
    return app


def run_gui() -> int:
    """Open the window; TensorFlow is only imported later, in the background, when needed."""
    if not has_display():
        sys.stderr.write(NO_DISPLAY_HELP)
        return 2
    app = application()
    from gpu_assistant.ui.main_window import MainWindow
    from gpu_assistant.ui.pages.system import SystemPage

    window = MainWindow()
    window.show()
    system = window.page("system")
    assert isinstance(system, SystemPage)
    system.start_probe()
    return int(app.exec())


def _timed(checks: list[dict[str, Any]], name: str, step: Callable[[], str]) -> bool:
    """Run one check into `checks`: its message in plain words; for a bug (not a UserError)
    the traceback goes into its own field, for the bug report."""
    start = time.perf_counter()
    details: dict[str, str] = {}
    try:
        message, ok = step(), True
    except UserError as error:
        message, ok = f"{error.message} {error.fix}".strip(), False
    except Exception as exc:  # every failure becomes a line of the report
        message, ok = f"{type(exc).__name__}: {exc}", False
        details["traceback"] = traceback.format_exc(limit=5)
    checks.append(
        {
            "name": name,
            "ok": ok,
            "seconds": round(time.perf_counter() - start, 3),
            "message": message,
            **details,
        }
    )
    return ok


def self_test(report_path: str | None) -> int:
    """Qt, the window, TensorFlow and one training step on the sample data; JSON report; 0/1."""
    if not has_display():
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    checks: list[dict[str, Any]] = []
    state: dict[str, Any] = {}

    def start_qt() -> str:
        from gpu_assistant.ui.main_window import MainWindow

        app = application()
        state["window"] = MainWindow()
        state["window"].show()
        app.processEvents()
        state["window"].close()
        return f"Qt {app.platformName()} platform, main window built"

    def detect() -> str:
        from gpu_assistant.system.hardware import probe

        info = probe()
        gpus = ", ".join(g.name for g in info.gpus) or f"none ({info.nvml_message})"
        return f"{info.os_detail}, Python {info.python}, NVIDIA GPUs: {gpus}"

    def import_tf() -> str:
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        return f"TensorFlow {tf.__version__}, GPUs visible: {len(gpus)}"

    def train_one_step() -> str:
        from gpu_assistant.data.sample import sample_data_dir
        from gpu_assistant.jobs import CancelToken
        from gpu_assistant.training.settings import TrainSettings
        from gpu_assistant.training.trainer import train

        token = CancelToken()
        seen: list[dict[str, Any]] = []

        def report(event: dict[str, Any]) -> None:
            seen.append(event)
            if event.get("event") == "batch":
                token.cancel()  # the first reported step proves the stack trains

        with tempfile.TemporaryDirectory(prefix="self-test-", dir=paths.data_dir()) as out:
            settings = TrainSettings(
                data_dir=sample_data_dir(), out_dir=Path(out), epochs=1, early_stopping=False
            )
            train(settings, report, token)
        steps = [e for e in seen if e.get("event") in {"batch", "epoch"}]
        if not steps:
            raise RuntimeError("training reported no step")
        start = next((e for e in seen if e.get("event") == "start"), {})
        return (
            f"trained on {', '.join(start.get('devices') or ['?'])}: "
            f"step {steps[-1].get('step', '?')}, loss {steps[-1].get('loss')}"
        )

    steps = (
        ("qt", start_qt),
        ("detect", detect),
        ("tensorflow", import_tf),
        ("train", train_one_step),
    )
    for name, step in steps:
        if not _timed(checks, name, step):
            break
    ok = len(checks) == len(steps) and all(c["ok"] for c in checks)
    report = {"app": APP_NAME, "version": __version__, "ok": ok, "checks": checks}
    text = json.dumps(report, indent=2)
    if report_path:
        paths.atomic_write_text(Path(report_path), text + "\n")
    print(text)
    return 0 if ok else 1
