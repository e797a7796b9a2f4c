"""The main window: a step list on the left, the five wizard pages in a stack on the right.

The window owns nothing but layout and shutdown: pages do their own work through
`AppState.runner`, and closing the window cancels every job and waits for its thread.
"""

from __future__ import annotations

import sys
from typing import Any

from PySide6.QtCore import QCoreApplication, Qt
from PySide6.QtGui import QCloseEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMessageBox,
    QStackedWidget,
    QWidget,
)

from gpu_assistant import APP_NAME, __version__, paths
from gpu_assistant.ui.dialogs import install_excepthook, show_error
from gpu_assistant.ui.pages.data import DataPage
from gpu_assistant.ui.pages.results import ResultsPage
from gpu_assistant.ui.pages.runs import RunsPage
from gpu_assistant.ui.pages.setup import SetupPage
from gpu_assistant.ui.pages.system import SystemPage
from gpu_assistant.ui.pages.train import TrainPage
from gpu_assistant.ui.settings import Settings
from gpu_assistant.ui.state import AppState
from gpu_assistant.ui.widgets import Page

SHUTDOWN_WAIT_MS = 60_000  # a training step on a slow CPU; cancel is honoured at the next step
SHUTDOWN_ROUNDS = 3  # jobs started by the last signals of stopped ones, stopped in turn


class MainWindow(QMainWindow):
    def __init__(self, settings: Settings | None = None, nvml: Any = None) -> None:
        super().__init__()
        self.setWindowTitle(APP_NAME)
        self.setObjectName("mainWindow")
        self.state = AppState(settings or Settings(), nvml=nvml, parent=self)
        self.state.error.connect(self._show_error)
        self.last_error_dialog: QMessageBox | None = None  # the last error shown (tests read it)

        self.pages: dict[str, Page] = {
            "system": SystemPage(self.state),
            "setup": SetupPage(self.state),
            "data": DataPage(self.state),
            "train": TrainPage(self.state),
            "results": ResultsPage(self.state),
            "runs": RunsPage(self.state),
        }
        self.steps = QListWidget()
        self.steps.setObjectName("stepList")
        self.steps.setAccessibleName("Steps")
        self.stack = QStackedWidget()
        self.stack.setObjectName("pageStack")
        for number, page in enumerate(self.pages.values(), start=1):
            item = QListWidgetItem(f"{number}  {page.title}")
            item.setToolTip(f"{page.title} (Ctrl+{number})")
            self.steps.addItem(item)
            self.stack.addWidget(page)
            QShortcut(QKeySequence(f"Ctrl+{number}"), self, lambda n=number: self.go(n - 1))
        self.steps.currentRowChanged.connect(self.stack.setCurrentIndex)
        self.steps.setFixedWidth(self.steps.sizeHintForColumn(0) + 40)
        self.steps.setCurrentRow(0)
        for index, page in enumerate(self.pages.values()):
            page.next_requested.connect(lambda i=index: self.go(i + 1))
        keys = list(self.pages)
        self.state.page_requested.connect(lambda key: self.go(keys.index(key)))
        self.about_box: QMessageBox | None = None
        self._menus()
        self._previous_hook = install_excepthook(self.state.report_error)

        central = QWidget()
        layout = QHBoxLayout(central)
        layout.addWidget(self.steps)
        layout.addWidget(self.stack, 1)
        self.setCentralWidget(central)
        self.job_label = QLabel("")
        self.job_label.setObjectName("jobStatus")
        self.statusBar().addPermanentWidget(self.job_label)
        self.state.runner.job_started.connect(self._update_job_label)
        self.state.runner.job_finished.connect(self._update_job_label)

        geometry = self.state.settings.geometry()
        if geometry is None or not self.restoreGeometry(geometry):
            self.resize(1180, 780)

    def _menus(self) -> None:
        runs = self.menuBar().addMenu("&Runs")
        runs.setObjectName("runsMenu")
        action = runs.addAction("&Show all runs", lambda: self.go(list(self.pages).index("runs")))
        action.setObjectName("showRunsAction")
        help_menu = self.menuBar().addMenu("&Help")
        help_menu.setObjectName("helpMenu")
        about = help_menu.addAction("&About", self.show_about)
        about.setObjectName("aboutAction")

    def show_about(self) -> QMessageBox:
        """Version and where the log and the runs are (what support asks for first)."""
        box = QMessageBox(self)
        box.setObjectName("aboutDialog")
        box.setWindowTitle(f"About {APP_NAME}")
        box.setText(f"{APP_NAME} {__version__}")
        box.setInformativeText(
            f"Log file: {paths.log_file()}\nRuns: {paths.runs_dir()}\n"
            "Attach the log and `gpu-assistant doctor --markdown` to a bug report."
        )
        box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        box.open()
        self.about_box = box
        return box

    def go(self, index: int) -> None:
        self.steps.setCurrentRow(max(0, min(index, self.stack.count() - 1)))

    def page(self, name: str) -> Page:
        return self.pages[name]

    def _update_job_label(self, _job: object = None) -> None:
        names = [job.name for job in self.state.runner.running()]
        self.job_label.setText(f"Running: {', '.join(names)}" if names else "")

    def _show_error(self, title: str, message: str, fix: str, details: str) -> None:
        self.last_error_dialog = show_error(self, title, message, fix, details)

    def closeEvent(self, event: QCloseEvent) -> None:
        """Stop every job (training keeps its last checkpoint) before the window goes."""
        self.state.settings.save_geometry(self.saveGeometry())
        if self.state.runner.running():
            self.statusBar().showMessage("Stopping running jobs…")
            self.setCursor(Qt.CursorShape.WaitCursor)
        self.state.runner.shutdown(SHUTDOWN_WAIT_MS)
        # A stopped job's last signals may start another (a page refreshing after it): let
        # them arrive, and stop what they started, so no thread outlives the window.
        for _ in range(SHUTDOWN_ROUNDS):
            QCoreApplication.processEvents()
            if not self.state.runner.running():
                break
            self.state.runner.shutdown(SHUTDOWN_WAIT_MS)
        self.state.models.close()
        sys.excepthook = self._previous_hook
        event.accept()
