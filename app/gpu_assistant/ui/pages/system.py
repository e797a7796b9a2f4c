"""Page 1, System: OS, Python, every NVIDIA GPU and the driver, whether TensorFlow is installed.

The probe is NVML and package metadata only (no TensorFlow import), run as a job so even a slow
driver call never blocks the window; it answers within a second.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import (
    QAbstractItemView,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QTableWidget,
    QTableWidgetItem,
)

from gpu_assistant.jobs import CancelToken, Report
from gpu_assistant.ui.state import AppState
from gpu_assistant.ui.widgets import Page, button, wrap_label

GPU_COLUMNS = ("#", "Name", "Compute capability", "Memory", "MIG")


class SystemPage(Page):
    def __init__(self, state: AppState) -> None:
        super().__init__(
            "System",
            "What this computer has. Detection uses the NVIDIA driver directly, so it is quick "
            "and safe even when TensorFlow or CUDA are broken.",
        )
        self.state = state
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
        self.body.addWidget(self.gpu_table, 1)
        self.notes = wrap_label("", "systemNotes")
        self.body.addWidget(self.notes)
        row = QHBoxLayout()
        self.refresh_button = button("&Detect again", "detectButton", self.start_probe)
        row.addWidget(self.refresh_button)
        row.addStretch(1)
        row.addWidget(button("Continue to &Setup →", "systemNextButton", self.next_requested.emit))
        self.body.addLayout(row)

    def start_probe(self) -> None:
        nvml = self.state.nvml

        def job(_report: Report, _cancel: CancelToken) -> Any:
            from gpu_assistant.system.hardware import probe

            return probe(nvml=nvml)

        self.refresh_button.setEnabled(False)
        running = self.state.runner.start("detect", job)
        running.result.connect(self.show_info)
        running.error.connect(lambda m, f, d: self.state.report_error("Detection failed", m, f, d))
        running.finished.connect(lambda: self.refresh_button.setEnabled(True))

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
        if count:
            self.verdict.setText(f"Found {count} NVIDIA GPU{'s' if count > 1 else ''}.")
            self.verdict.setProperty("role", "verdict-ok")
        else:
            self.verdict.setText(f"No NVIDIA GPU found. {info.nvml_message}")
            self.verdict.setProperty("role", "verdict-warn")
        self.verdict.style().polish(self.verdict)
        self.notes.setText(
            "\n".join(f"• {n.message}" + (f" — {n.fix}" if n.fix else "") for n in info.notes)
        )
        self.state.set_system(info)
