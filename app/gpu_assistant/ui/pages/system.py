"""Page 1, System: OS, Python, every NVIDIA GPU and the driver, whether TensorFlow is installed.

The probe is NVML and package metadata only (no TensorFlow import), run as a job so even a slow
driver call never blocks the window; it answers within a second.
"""

from __future__ import annotations

import html
import re
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

from gpu_assistant.jobs import CancelToken, Report
from gpu_assistant.ui.job_slot import JobSlot
from gpu_assistant.ui.state import AppState
from gpu_assistant.ui.widgets import Page, button, wrap_label

GPU_COLUMNS = ("#", "Name", "Compute capability", "Memory", "MIG")
# The probe's message is "what was found. What to do." -- split after the first sentence.
_FIRST_SENTENCE = re.compile(r"(?<=[.)])\s+(?=[A-Z`])")


def split_message(message: str) -> tuple[str, str]:
    """("what was found", "what to do") from the probe's one-string message."""
    parts = _FIRST_SENTENCE.split(message.strip(), maxsplit=1)
    return (parts[0], parts[1]) if len(parts) == 2 else (message.strip(), "")


class SystemPage(Page):
    def __init__(self, state: AppState) -> None:
        super().__init__(
            "System",
            "What this computer has. Detection uses the NVIDIA driver directly, so it is quick "
            "and safe even when TensorFlow or CUDA are broken.",
        )
        self.state = state
        self.slot = JobSlot(state.runner, parent=self)
        self.verdict = wrap_label("Detecting…", "systemVerdict")
        self.body.addWidget(self.verdict)
        form = QFormLayout()
        self.fields: dict[str, Any] = {}
        for key, label in (
            ("os", "Operating system"),
            ("python", "Python"),
            ("driver", "NVIDIA driver"),
            ("cuda", "CUDA supported by the driver"),
            ("tensorflow", "TensorFlow installed"),
        ):
            self.fields[key] = wrap_label("…", f"system_{key}")
            form.addRow(label + ":", self.fields[key])
        self.body.addLayout(form)
        self.gpu_table = QTableWidget(0, len(GPU_COLUMNS))
        self.gpu_table.setObjectName("gpuTable")
        self.gpu_table.setAccessibleName("NVIDIA GPUs")
        self.gpu_table.setHorizontalHeaderLabels(GPU_COLUMNS)
        self.gpu_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        header = self.gpu_table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.gpu_table.verticalHeader().hide()
        self.gpu_table.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.body.addWidget(self.gpu_table)
        self.gpu_empty = self._empty_state()
        self.body.addWidget(self.gpu_empty)
        self.notes = wrap_label("", "systemNotes")
        self.body.addWidget(self.notes)
        self.body.addStretch(1)
        row = QHBoxLayout()
        self.refresh_button = button("&Detect again", "detectButton", self.start_probe)
        row.addWidget(self.refresh_button)
        row.addStretch(1)
        row.addWidget(button("Continue to &Setup →", "systemNextButton", self.next_requested.emit))
        self.body.addLayout(row)

    def _empty_state(self) -> QFrame:
        """Shown instead of the GPU table when there is no GPU: what was found, what to do."""
        frame = QFrame()
        frame.setObjectName("gpuEmptyState")
        frame.setAccessibleName("No NVIDIA GPU")
        frame.setFrameShape(QFrame.Shape.StyledPanel)
        layout = QVBoxLayout(frame)
        layout.setContentsMargins(24, 20, 24, 20)
        layout.setSpacing(8)
        self.empty_found = wrap_label("", "gpuEmptyFound")
        self.empty_found.setStyleSheet("font-size: 15px; font-weight: 600;")
        self.empty_fix = wrap_label("", "gpuEmptyFix")
        self.empty_fix.setTextFormat(Qt.TextFormat.RichText)
        self.empty_cpu = wrap_label(
            "Until then the app still works: training runs on the CPU, only more slowly. The "
            "Setup page shows which TensorFlow to install for this computer.",
            "gpuEmptyCpu",
        )
        for label in (self.empty_found, self.empty_fix, self.empty_cpu):
            label.setAlignment(Qt.AlignmentFlag.AlignHCenter)
            layout.addWidget(label)
        frame.setVisible(False)
        return frame

    def _fit_table(self) -> None:
        """As tall as its rows: a GPU list, not an empty box filling the page."""
        table = self.gpu_table
        table.resizeRowsToContents()
        rows = sum(table.rowHeight(r) for r in range(table.rowCount()))
        header = table.horizontalHeader().sizeHint().height()
        table.setFixedHeight(header + rows + 2 * table.frameWidth())

    def start_probe(self) -> None:
        nvml = self.state.nvml

        def job(_report: Report, _cancel: CancelToken) -> Any:
            from gpu_assistant.system.hardware import probe

            return probe(nvml=nvml)

        self.refresh_button.setEnabled(False)
        self.slot.start(
            "detect",
            job,
            on_result=self.show_info,
            on_error=lambda m, f, d: self.state.report_error("Detection failed", m, f, d),
            on_finished=lambda: self.refresh_button.setEnabled(True),
        )

    def show_info(self, info: Any) -> None:
        self.fields["os"].setText(f"{info.os_detail} ({info.arch})")
        self.fields["python"].setText(info.python)
        self.fields["driver"].setText(info.driver.version or "not found")
        self.fields["cuda"].setText(info.driver.cuda_driver_version or "—")
        package = info.tensorflow_package
        self.fields["tensorflow"].setText(
            f"{package[0]} {package[1]}" if package else "no (the Setup page can install it)"
        )
        self.gpu_table.setRowCount(len(info.gpus))
        for row, gpu in enumerate(info.gpus):
            cells = (
                str(gpu.index),
                gpu.name,
                gpu.compute_capability,
                f"{gpu.memory_total_mib / 1024:.1f} GiB",
                "yes" if gpu.mig_enabled else "no",
            )
            for column, text in enumerate(cells):
                self.gpu_table.setItem(row, column, QTableWidgetItem(text))
        count = len(info.gpus)
        self._fit_table()
        self.gpu_table.setVisible(bool(count))
        self.gpu_empty.setVisible(not count)
        if count:
            self.verdict.setText(f"Found {count} NVIDIA GPU{'s' if count > 1 else ''}.")
            self.verdict.setProperty("role", "verdict-ok")
        else:
            found, fix = split_message(info.nvml_message)
            self.verdict.setText("No NVIDIA GPU found.")
            self.verdict.setProperty("role", "verdict-warn")
            self.empty_found.setText(found)
            self.empty_fix.setText(f"<b>What to do:</b> {html.escape(fix)}" if fix else "")
            self.empty_fix.setVisible(bool(fix))
        self.verdict.style().polish(self.verdict)
        self.notes.setText(
            "\n".join(f"• {n.message}" + (f" — {n.fix}" if n.fix else "") for n in info.notes)
        )
        self.state.set_system(info)
