"""The data audit in the window: duplicate groups on the Data page (thumbnails, what the
split does about them) and, on Results, images that may be in the wrong folder.

Identical files are found in a thread right after each scan (hashing only). Every group is
shown with its thumbnails, the class folder of each copy, and the sentence the trainer also
prints: each group stays on one side of the train/validation split. Likely mislabels need the
backbone's features, so `gpu-assistant audit` computes them in a child process; a move into
the class the model believes is undoable and marks the run stale (relabels.json).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSize
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import (
    QHBoxLayout,
    QListView,
    QListWidget,
    QListWidgetItem,
    QVBoxLayout,
    QWidget,
)

from gpu_assistant.data.mislabels import Move, move_to_class, record_move, stale_moves, undo_move
from gpu_assistant.jobs import CancelToken, Report, UserError
from gpu_assistant.ui.job_slot import JobSlot
from gpu_assistant.ui.model_process import audit_in_child
from gpu_assistant.ui.state import AppState
from gpu_assistant.ui.thumbnails import THUMB_PX, load_thumbnail
from gpu_assistant.ui.widgets import button, named, wrap_label

GROUPS_SHOWN = 40  # the biggest groups first; the summary counts them all


def _duplicates_job(scan: Any) -> Any:
    """Identical files only (hashing, no TensorFlow), shaped like the audit's result."""

    def job(report: Report, cancel: CancelToken) -> dict[str, Any]:
        from gpu_assistant.data.duplicates import find_duplicates

        found = find_duplicates(scan.records, report=report, cancel=cancel)
        result = {
            "root": str(scan.root),
            "duplicates": found.to_json(scan.records, scan.root),
            "duplicates_summary": found.summary(scan.records, scan.class_names),
        }
        return {"result": result, "thumbs": _thumbnails(scan.root, _group_files(result), cancel)}

    return job


def _group_files(result: dict[str, Any]) -> list[str]:
    return [f for group in result["duplicates"]["groups"][:GROUPS_SHOWN] for f in group["files"]]


def _thumbnails(root: Path, files: list[str], cancel: CancelToken) -> dict[str, Any]:
    thumbs = {}
    for name in files:
        cancel.raise_if_cancelled()
        thumbs[name] = load_thumbnail(Path(root) / name)
    return thumbs


def _icon(image: Any) -> QIcon:
    return QIcon(QPixmap.fromImage(image)) if image is not None else QIcon()


class DuplicatesView(QWidget):
    """A Data page tab: the groups of copies in the scanned folder. Identical files are
    checked after every scan; near copies (resized, re-encoded, cropped) on request, by the
    audit in a child process, which also remembers them for training's split."""

    def __init__(self, state: AppState) -> None:
        super().__init__()
        self.state = state
        self.slot = JobSlot(state.runner, parent=self)
        self.scan: Any = None
        self.on_count: Any = None
        layout = QVBoxLayout(self)
        row = QHBoxLayout()
        self.summary = wrap_label("Scan a folder to check it for duplicates.", "duplicatesSummary")
        row.addWidget(self.summary, 1)
        self.near_button = button(
            "Find &near copies",
            "findNearCopiesButton",
            self.find_near,
            "Compare every image's pretrained features (resized, re-encoded or cropped copies, "
            "burst shots); the groups found stay on one side of the split when you train.",
        )
        self.near_button.setEnabled(False)
        row.addWidget(self.near_button)
        layout.addLayout(row)
        self.groups = named(QListWidget(), "duplicatesList", "Groups of duplicate images")
        self.groups.setViewMode(QListView.ViewMode.IconMode)
        self.groups.setIconSize(QSize(THUMB_PX, THUMB_PX))
        self.groups.setResizeMode(QListView.ResizeMode.Adjust)
        self.groups.setMovement(QListView.Movement.Static)
        self.groups.setSpacing(6)
        layout.addWidget(self.groups, 1)

    def check(self, scan: Any, on_count: Any) -> None:
        """Look for identical files in `scan`; `on_count(groups)` hears how many were found."""
        self.scan, self.on_count = scan, on_count
        self._start("duplicates", _duplicates_job(scan), "Looking for identical files…")

    def find_near(self) -> None:
        if self.scan is not None:
            message = "Computing every image's features in a child process…"
            self._start("audit", _audit_job(str(self.scan.root)), message)

    def _start(self, name: str, fn: Any, message: str) -> None:
        self.summary.setText(message)
        self.groups.clear()
        self.near_button.setEnabled(False)
        # The slot drops a late result of the check this one replaces.
        self.slot.start(
            name,
            fn,
            on_progress=lambda event: self.summary.setText(event.get("message") or message),
            on_result=self._show,
            on_error=lambda message, _fix, _details: self.summary.setText(message),
            on_finished=lambda: self.near_button.setEnabled(self.scan is not None),
        )

    @property
    def job(self) -> Any:
        return self.slot.job

    def clear(self) -> None:
        """A new folder is coming: nothing of the previous one stays."""
        self.slot.discard()
        self.scan = None
        self.near_button.setEnabled(False)
        self.summary.setText("Scan a folder to check it for duplicates.")
        self.groups.clear()

    def _show(self, value: dict[str, Any]) -> None:
        result = value["result"]
        self.summary.setText(result["duplicates_summary"])
        self.groups.clear()
        groups = result["duplicates"]["groups"]
        for number, group in enumerate(groups[:GROUPS_SHOWN], start=1):
            kind = "identical" if group["exact"] else f"near copy, {group['similarity']:.2f}"
            for name in group["files"]:
                folder, _, file = name.rpartition("/")
                item = QListWidgetItem(
                    _icon(value["thumbs"].get(name)), f"#{number} {folder}\n{file}"
                )
                item.setToolTip(f"Group {number} ({kind}): {name}")
                self.groups.addItem(item)
        if self.on_count is not None:
            self.on_count(len(groups))


def _audit_job(folder: str) -> Any:
    """The audit in a child process (TensorFlow stays out of the window), then thumbnails."""

    def job(report: Report, cancel: CancelToken) -> dict[str, Any]:
        result = audit_in_child(Path(folder), report, cancel)
        files = [item["file"] for item in result["mislabels"]] + _group_files(result)
        return {"result": result, "thumbs": _thumbnails(Path(result["root"]), files, cancel)}

    return job


class MislabelsView(QWidget):
    """A Results page tab: images that may be in the wrong folder, each with its folder and
    the class the out-of-sample model believes, a one-click move (with undo)."""

    def __init__(self, state: AppState) -> None:
        super().__init__()
        self.state = state
        self.slot = JobSlot(state.runner, parent=self)
        self.run_dir: Path | None = None
        self.root: Path | None = None
        self.items: list[dict[str, Any]] = []
        self.moves: list[Move] = []
        layout = QVBoxLayout(self)
        controls = QVBoxLayout()
        self.summary = wrap_label(
            "Checks every image with a model that never saw it (5-fold, on the backbone's "
            "features) and lists those whose folder it disagrees with.",
            "mislabelsSummary",
        )
        self.find_button = button("&Find them", "findMislabelsButton", self.find_mislabels)
        self.move_button = button("Move to …", "moveToClassButton", self.move_selected)
        self.undo_button = button("&Undo move", "undoMoveButton", self.undo)
        self.stale = wrap_label("", "staleRunLabel")
        row = QHBoxLayout()
        for widget in (self.find_button, self.move_button, self.undo_button):
            row.addWidget(widget)
        controls.addWidget(self.summary)
        controls.addLayout(row)
        controls.addWidget(self.stale)
        layout.addLayout(controls)
        self.list = named(QListWidget(), "mislabelsList", "Images that may be in the wrong folder")
        self.list.setViewMode(QListView.ViewMode.IconMode)
        self.list.setIconSize(QSize(THUMB_PX, THUMB_PX))
        self.list.setResizeMode(QListView.ResizeMode.Adjust)
        self.list.setMovement(QListView.Movement.Static)
        self.list.setSpacing(6)
        self.list.currentRowChanged.connect(self._selected)
        layout.addWidget(self.list, 1)
        self.find_button.setEnabled(False)
        self.move_button.setEnabled(False)
        self.undo_button.setEnabled(False)

    def show_run(self, run_dir: Path) -> None:
        """The run whose data folder is checked, and whose staleness moves are recorded in."""
        self.slot.discard()
        self.run_dir = Path(run_dir)
        settings = json.loads((self.run_dir / "settings.json").read_text(encoding="utf-8"))
        self.root = Path(settings["data_dir"])
        self.items, self.moves = [], []
        self.list.clear()
        self.find_button.setEnabled(True)
        self._show_stale()

    def find_mislabels(self) -> None:  # not `find`: that is QWidget.find, a static method
        if self.root is None:
            return
        self.summary.setText("Computing every image's features in a child process…")
        self.find_button.setEnabled(False)
        self.slot.start(
            "audit",
            _audit_job(str(self.root)),
            on_progress=lambda event: self.summary.setText(event.get("message") or "…"),
            on_result=self._show,
            on_error=self._failed,
            on_finished=lambda: self.find_button.setEnabled(self.root is not None),
        )

    def _failed(self, message: str, fix: str, details: str) -> None:
        self.summary.setText(f"The check failed: {message}")
        self.state.report_error("Could not check the labels", message, fix, details)

    def _show(self, value: dict[str, Any]) -> None:
        result = value["result"]
        self.root = Path(result["root"])
        self.items = list(result["mislabels"])
        self.list.clear()
        for item in self.items:
            text = f"in {item['folder']}\nlooks like {item['predicted']} ({item['confidence']:.0%})"
            entry = QListWidgetItem(_icon(value["thumbs"].get(item["file"])), text)
            entry.setToolTip(item["file"])
            self.list.addItem(entry)
        self.summary.setText(
            f"{len(self.items)} image(s) may be in the wrong folder."
            if self.items
            else result["mislabels_note"] or "No image looks like it is in the wrong folder."
        )

    def _selected(self, row: int) -> None:
        ok = 0 <= row < len(self.items)
        self.move_button.setEnabled(ok)
        self.move_button.setText(f"Move to '{self.items[row]['predicted']}'" if ok else "Move to …")

    def move_selected(self) -> None:
        row = self.list.currentRow()
        if self.root is None or self.run_dir is None or not 0 <= row < len(self.items):
            return
        item = self.items[row]
        try:
            move = move_to_class(self.root, self.root / item["file"], item["predicted"])
        except (UserError, OSError) as error:
            self.state.report_error("Could not move the file", str(error))
            return
        record_move(self.run_dir, move)
        self.moves.append(move)
        del self.items[row]
        self.list.takeItem(row)
        self._show_stale()

    def undo(self) -> None:
        if not self.moves or self.run_dir is None:
            return
        move = self.moves.pop()
        try:
            undo_move(move)
        except (UserError, OSError) as error:
            self.moves.append(move)
            self.state.report_error("Could not undo the move", str(error))
            return
        record_move(self.run_dir, move, undone=True)
        self._show_stale()

    def _show_stale(self) -> None:
        moved = stale_moves(self.run_dir) if self.run_dir is not None else []
        self.undo_button.setEnabled(bool(self.moves))
        self.stale.setText(
            f"⚠ This run is stale: {len(moved)} file(s) moved to another class since it was "
            "trained. Train again to learn from the corrected folders."
            if moved
            else ""
        )
