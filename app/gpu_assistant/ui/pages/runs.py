"""Page 6, Runs: every training run on disk, from this session or an earlier one.

Each run shows its date, data folder, model, validation accuracy and state (finished / stopped
/ failed). *Open* shows it on Results (exports and try-an-image included), *Resume* continues a
stopped run on the Train page (the CLI's ``train --resume --out RUN``), *Delete* removes the
folder after a confirmation, *Open folder* opens it in the file manager.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QMessageBox,
    QTableWidget,
    QTableWidgetItem,
)

from gpu_assistant.jobs import CancelToken, Report, UserError
from gpu_assistant.training.models import MODELS
from gpu_assistant.training.runs import FINISHED, STOPPED, RunSummary, delete_run, list_runs
from gpu_assistant.ui.folders import open_folder
from gpu_assistant.ui.job_slot import JobSlot
from gpu_assistant.ui.state import AppState
from gpu_assistant.ui.widgets import Page, button, named, wrap_label

COLUMNS = ("Date", "Data", "Model", "Val. accuracy", "State")
STATE_TEXT = {
    FINISHED: "finished",
    STOPPED: "stopped (can resume)",
    "failed": "failed (no model)",
}


def _list_job(_report: Report, _cancel: CancelToken) -> list[RunSummary]:
    return list_runs()


class RunsPage(Page):
    def __init__(self, state: AppState) -> None:
        super().__init__(
            "Runs",
            "Every training run kept on this computer. Open one to see its results, export it or "
            "try an image; resume a stopped one where it stopped.",
        )
        self.state = state
        self.runs: list[RunSummary] = []
        self.confirm: QMessageBox | None = None
        self.slot = JobSlot(state.runner, parent=self)
        self.table = named(QTableWidget(0, len(COLUMNS)), "runsTable", "Training runs")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.table.itemSelectionChanged.connect(self._sync_buttons)
        self.table.cellDoubleClicked.connect(lambda _row, _column: self.open_selected())
        self.body.addWidget(self.table, 1)

        row = QHBoxLayout()
        self.open_button = button("&Open in Results", "openRunButton", self.open_selected)
        self.resume_button = button(
            "&Resume training", "resumeRunButton", self.resume_selected, "Continue a stopped run"
        )
        self.delete_button = button("&Delete…", "deleteRunButton", self.delete_selected)
        self.folder_button = button("Open &folder", "openRunDirButton", self.open_selected_folder)
        self.refresh_button = button("Re&fresh", "refreshRunsButton", self.refresh)
        for widget in (
            self.open_button,
            self.resume_button,
            self.delete_button,
            self.folder_button,
        ):
            row.addWidget(widget)
        row.addStretch(1)
        row.addWidget(self.refresh_button)
        self.body.addLayout(row)
        self.status = wrap_label("", "runsStatus")
        self.body.addWidget(self.status)
        self._sync_buttons()
        state.run_finished.connect(lambda _run: self.refresh())
        state.run_deleted.connect(lambda _run: self.refresh())
        state.training_changed.connect(lambda _run: self._sync_buttons())
        self.refresh()

    # -- the list ------------------------------------------------------------------------------
    def refresh(self) -> None:
        self.slot.start("list runs", _list_job, on_result=self.show_runs)

    def show_runs(self, runs: list[RunSummary]) -> None:
        selected = self.selected()
        self.runs = runs
        self.table.setRowCount(len(runs))
        for row, run in enumerate(runs):
            accuracy = "—" if run.accuracy is None else f"{run.accuracy:.1%}"
            model = MODELS[run.model].label if run.model in MODELS else run.model
            cells = (run.date_text(), run.dataset, model, accuracy, STATE_TEXT[run.state])
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(str(run.path))
                self.table.setItem(row, column, item)
            if selected is not None and run.path == selected.path:
                self.table.selectRow(row)
        if not runs:
            self.status.setText("No runs yet: train a model and it appears here.")
        else:
            self.status.setText(f"{len(runs)} run(s) in {runs[0].path.parent}.")
        self._sync_buttons()
        latest = next((run for run in runs if run.has_model), None)
        if self.state.run_dir is None and latest is not None:
            self.state.set_run(latest.path)  # after a relaunch, Results shows the newest run

    def selected(self) -> RunSummary | None:
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        if not rows or rows[0].row() >= len(self.runs):
            return None
        return self.runs[rows[0].row()]

    def select(self, path: Path) -> None:
        for row, run in enumerate(self.runs):
            if run.path == Path(path):
                self.table.selectRow(row)

    def _sync_buttons(self) -> None:
        run = self.selected()
        training = self.state.training_run
        busy = run is not None and training is not None and run.path == training
        self.open_button.setEnabled(run is not None and run.has_model and not busy)
        self.resume_button.setEnabled(run is not None and run.resumable and training is None)
        self.delete_button.setEnabled(run is not None and not busy)
        self.folder_button.setEnabled(run is not None)

    # -- actions -------------------------------------------------------------------------------
    def open_selected(self) -> None:
        run = self.selected()
        if run is not None and run.has_model:
            self.state.set_run(run.path)
            self.state.request_page("results")

    def resume_selected(self) -> None:
        run = self.selected()
        if run is not None and run.resumable:
            self.state.request_resume(run.path)
            self.state.request_page("train")

    def open_selected_folder(self) -> None:
        run = self.selected()
        if run is not None:
            open_folder(self, run.path)

    def delete_selected(self) -> None:
        run = self.selected()
        if run is None:
            return
        box = QMessageBox(self)
        box.setObjectName("confirmDeleteDialog")
        box.setIcon(QMessageBox.Icon.Question)
        box.setWindowTitle("Delete this run?")
        box.setText(f"Delete the run from {run.date_text()} ({run.dataset}, {run.model})?")
        box.setInformativeText(f"This removes {run.path} and everything in it.")
        delete = box.addButton("Delete", QMessageBox.ButtonRole.DestructiveRole)
        delete.setObjectName("confirmDeleteButton")
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.finished.connect(lambda _code: self._deleted(run, box.clickedButton() is delete))
        self.confirm = box
        box.open()

    def _deleted(self, run: RunSummary, confirmed: bool) -> None:
        self.confirm = None
        if not confirmed:
            return
        try:
            delete_run(run.path)
        except UserError as error:
            self.state.report_error("Could not delete the run", error.message, error.fix)
            return
        except OSError as error:
            self.state.report_error(
                "Could not delete the run", str(error), "Close programs using its files."
            )
            return
        self.status.setText(f"Deleted {run.path}.")
        self.state.run_deleted.emit(run.path)
