"""The data audit in the window: duplicate groups on the Data page (thumbnails, what the
split does about them).

Identical files are found in a thread right after each scan (hashing only). Every group is
shown with its thumbnails, the class folder of each copy, and the sentence the trainer also
prints: each group stays on one side of the train/validation split.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QSize
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import QListView, QListWidget, QListWidgetItem, QVBoxLayout, QWidget

from gpu_assistant.jobs import CancelToken, Report
from gpu_assistant.ui.job_slot import JobSlot
from gpu_assistant.ui.state import AppState
from gpu_assistant.ui.thumbnails import THUMB_PX, load_thumbnail
from gpu_assistant.ui.widgets import named, wrap_label

GROUPS_SHOWN = 40  # the biggest groups first; the summary counts them all


def _duplicates_job(scan: Any) -> Any:
    def job(report: Report, cancel: CancelToken) -> dict[str, Any]:
        from gpu_assistant.data.duplicates import find_duplicates

        found = find_duplicates(scan.records, report=report, cancel=cancel)
        thumbs = {}
        for group in found.groups[:GROUPS_SHOWN]:
            for index in group.members:
                cancel.raise_if_cancelled()
                thumbs[index] = load_thumbnail(scan.records[index].path)
        return {
            "summary": found.summary(scan.records, scan.class_names),
            "groups": [g.members for g in found.groups[:GROUPS_SHOWN]],
            "exact": [g.exact for g in found.groups[:GROUPS_SHOWN]],
            "thumbs": thumbs,
            "count": len(found.groups),
        }

    return job


class DuplicatesView(QWidget):
    """A Data page tab: the groups of copies in the scanned folder."""

    def __init__(self, state: AppState) -> None:
        super().__init__()
        self.state = state
        self.slot = JobSlot(state.runner, parent=self)
        layout = QVBoxLayout(self)
        self.summary = wrap_label("Scan a folder to check it for duplicates.", "duplicatesSummary")
        layout.addWidget(self.summary)
        self.groups = named(QListWidget(), "duplicatesList", "Groups of duplicate images")
        self.groups.setViewMode(QListView.ViewMode.IconMode)
        self.groups.setIconSize(QSize(THUMB_PX, THUMB_PX))
        self.groups.setResizeMode(QListView.ResizeMode.Adjust)
        self.groups.setMovement(QListView.Movement.Static)
        self.groups.setSpacing(6)
        layout.addWidget(self.groups, 1)

    def check(self, scan: Any, on_count: Any) -> None:
        """Look for duplicates in `scan`; `on_count(groups)` hears how many were found."""
        self.summary.setText("Looking for identical files…")
        self.groups.clear()
        # The slot drops a late result of the check this one replaces.
        self.slot.start(
            "duplicates",
            _duplicates_job(scan),
            on_result=lambda value: self._show(scan, value, on_count),
            on_error=lambda message, _fix, _details: self.summary.setText(message),
        )

    @property
    def job(self) -> Any:
        return self.slot.job

    def clear(self) -> None:
        """A new folder is coming: nothing of the previous one stays."""
        self.slot.discard()
        self.summary.setText("Scan a folder to check it for duplicates.")
        self.groups.clear()

    def _show(self, scan: Any, value: dict[str, Any], on_count: Any) -> None:
        self.summary.setText(value["summary"])
        self.groups.clear()
        for number, (members, exact) in enumerate(
            zip(value["groups"], value["exact"], strict=True), start=1
        ):
            for index in members:
                record = scan.records[index]
                image = value["thumbs"].get(index)
                icon = QIcon(QPixmap.fromImage(image)) if image is not None else QIcon()
                kind = "identical" if exact else "near copy"
                text = f"#{number} {scan.class_names[record.label]}\n{Path(record.path).name}"
                item = QListWidgetItem(icon, text)
                item.setToolTip(f"Group {number} ({kind}): {record.path}")
                self.groups.addItem(item)
        on_count(value["count"])
