"""What the pages share: the job runner, settings, the NVML seam and the results so far.

Pages never call each other; they read this object and listen to its signals, so each page can
be built, tested and replaced on its own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from gpu_assistant.ui.model_process import model_server
from gpu_assistant.ui.settings import Settings
from gpu_assistant.ui.worker import JobRunner


class AppState(QObject):
    system_changed = Signal(object)  # SystemInfo
    scan_changed = Signal(object)  # ScanResult
    run_finished = Signal(object)  # Path of the run folder to show on Results
    run_deleted = Signal(object)  # Path of a run folder that is gone
    training_changed = Signal(object)  # Path of the run being trained, or None
    resume_requested = Signal(object)  # Path of a stopped run to continue
    page_requested = Signal(str)  # a page's key: the window shows it
    error = Signal(str, str, str, str)  # title, message, fix, details -> the one error path

    def __init__(self, settings: Settings, nvml: Any = None, parent: QObject | None = None):
        super().__init__(parent)
        self.settings = settings
        self.nvml = nvml  # None: the real pynvml; tests pass tests/fakes/nvml.FakeNVML
        self.runner = JobRunner(self)
        self.models = model_server()  # the kept child that predicts (started on first use)
        self.system: Any = None
        self.scan: Any = None
        self.options = settings.options()  # the Data and Train pages' (ui.settings.Options)
        self.run_dir: Path | None = None
        self.training_run: Path | None = None

    def set_system(self, info: Any) -> None:
        self.system = info
        self.system_changed.emit(info)

    def set_scan(self, scan: Any) -> None:
        self.scan = scan
        self.scan_changed.emit(scan)

    def set_run(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.run_finished.emit(run_dir)

    def set_training(self, run_dir: Path | None) -> None:
        self.training_run = run_dir
        self.training_changed.emit(run_dir)

    def request_resume(self, run_dir: Path) -> None:
        self.resume_requested.emit(run_dir)

    def request_page(self, key: str) -> None:
        self.page_requested.emit(key)

    def report_error(self, title: str, message: str, fix: str = "", details: str = "") -> None:
        self.error.emit(title, message, fix, details)


def training_blocker(scan: Any) -> str:
    """Why training cannot start on this scan, or "" when it can.

    Only what truly stops training blocks: no usable images, or fewer than two classes with
    images. Other problems (a stray image at the top level, an empty class folder that is left
    out) stay on screen with their fixes but do not stop the user."""
    usable = [c for c in scan.classes if c.count]
    if not scan.total:
        return "Cannot continue: no usable images were found."
    if len(usable) < 2:
        return (
            "Cannot continue: training needs images in at least two class folders "
            f"({len(usable)} found)."
        )
    return ""
