"""Page 2, Setup: which TensorFlow fits this machine, what blocks the GPU and how to fix it;
install or repair it with pip (live log, progress, cancel), verify it, copy a report.

Verification runs in a child process (a broken CUDA install can hang or crash on import); the
install runs pip with an argument list into the Python the app runs in.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
)

from gpu_assistant.jobs import CancelToken, Report, UserError
from gpu_assistant.system.diagnose import gpu_order_check
from gpu_assistant.ui.job_slot import JobSlot
from gpu_assistant.ui.state import AppState
from gpu_assistant.ui.widgets import Page, button, named, wrap_label
from gpu_assistant.ui.worker import Job

VERIFY_TIMEOUT_S = 180.0
STATUS_MARK = {"pass": "✔ pass", "warn": "⚠ warn", "fail": "✖ fail", "skip": "– skip"}
# What each check is called on screen (the ids stay in the CLI's JSON and the report).
CHECK_TITLES = {
    "tensorflow_import": "TensorFlow loads",
    "tensorflow_installed": "TensorFlow installed",
    "cuda_build": "Built with CUDA",
    "cuda_libraries": "CUDA libraries (pip)",
    "gpu_libraries": "CUDA/cuDNN libraries load",
    "cuda_driver": "NVIDIA driver seen by TensorFlow",
    "cuda_init": "CUDA starts",
    "driver_version": "Driver new enough",
    "compute_capability": "GPU supported",
    "gpu_kernels": "Kernels for this GPU",
    "ptx_jit": "Kernel compilation",
    "ld_library_path": "LD_LIBRARY_PATH",
    "cuda_visible_devices": "CUDA_VISIBLE_DEVICES",
    "gpus_visible": "GPUs visible",
    "gpu_order": "GPU numbering",
    "cpu_compute": "Compute on the CPU",
    "gpu_compute": "Compute on the GPU",
    "nvidia_driver": "NVIDIA driver",
    "app_requirements": "App's own packages",
}


# Checks about using a GPU: on a machine without an NVIDIA GPU their "fail" and their fix (install
# tensorflow[and-cuda], the driver) contradict the page's own advice, the CPU build.
GPU_ONLY_CHECKS = frozenset(
    {
        "cuda_libraries",
        "gpu_libraries",
        "cuda_driver",
        "cuda_init",
        "gpus_visible",
        "driver_version",
        "compute_capability",
        "gpu_kernels",
        "ptx_jit",
        "gpu_compute",
        "gpu_order",
    }
)


def check_title(check_id: str) -> str:
    return CHECK_TITLES.get(check_id, check_id.replace("_", " ").capitalize())


def plain(text: str) -> str:
    """Markdown's `code` marks are for the report; on screen they would show as backticks."""
    return text.replace("`", "")


def _recommend_job(info: Any) -> Any:
    def job(_report: Report, _cancel: CancelToken) -> Any:
        from gpu_assistant.system.recommend import query_from_system, recommend

        return recommend(query_from_system(info))

    return job


def _verify_job(python: str) -> Any:
    def job(report: Report, cancel: CancelToken) -> Any:
        from gpu_assistant.system.verify import verify

        return verify(VERIFY_TIMEOUT_S, report, cancel, python=python)

    return job


def _install_job(rec: Any, python: str) -> Any:
    def job(report: Report, cancel: CancelToken) -> int:
        from gpu_assistant.system.install import install_args, pip_install

        args = install_args(rec, cpu=not rec.package)
        code = pip_install(args, report, cancel, python=python)
        if code != 0:
            raise UserError(
                f"pip could not install TensorFlow (exit code {code}).",
                "The log above shows pip's own message; fix what it names and try again.",
            )
        return code

    return job


def _report_job(nvml: Any) -> Any:
    def job(report: Report, cancel: CancelToken) -> str:
        from gpu_assistant.system.doctor import doctor

        return doctor(verify=True, nvml=nvml, report=report, cancel=cancel).to_markdown()

    return job


class SetupPage(Page):
    def __init__(self, state: AppState) -> None:
        super().__init__(
            "Setup",
            "The TensorFlow build that fits this computer, everything that stops it from using "
            "the GPU, and the fix. Install / repair runs pip for you; Verify checks that it works.",
        )
        self.state = state
        self.recommendation: Any = None
        self._after_finish: Any = None  # what runs when the current job ends (install -> verify)
        self.verdict = wrap_label("Waiting for detection…", "setupVerdict")
        self.body.addWidget(self.verdict)
        form = QFormLayout()
        self.fields = {
            key: wrap_label("—", f"setup_{key}")
            for key in ("tensorflow", "package", "cuda", "command")
        }
        form.addRow("TensorFlow:", self.fields["tensorflow"])
        form.addRow("Package:", self.fields["package"])
        form.addRow("CUDA / cuDNN:", self.fields["cuda"])
        form.addRow("Install command:", self.fields["command"])
        self.body.addLayout(form)
        self.blockers = wrap_label("", "blockerList")
        self.body.addWidget(self.blockers)
        target = QHBoxLayout()
        self.python = sys.executable  # where Install and Verify work: this app's Python
        self.python_label = wrap_label("", "targetPythonLabel")
        target.addWidget(self.python_label, 1)
        target.addWidget(
            button(
                "Use another P&ython…",
                "choosePythonButton",
                self.choose_python,
                "Install into (and verify) another Python, e.g. your project's virtual "
                "environment, instead of the one this app runs in.",
            )
        )
        self.body.addLayout(target)
        self.set_python(sys.executable)

        row = QHBoxLayout()
        self.install_button = button(
            "&Install / repair TensorFlow",
            "installButton",
            self.install,
            "Runs pip in the Python this app runs in, then verifies the result.",
        )
        self.verify_button = button(
            "&Verify",
            "verifyButton",
            self.verify,
            "Imports TensorFlow in a separate process and runs real work on every GPU.",
        )
        self.copy_button = button(
            "&Copy report",
            "copyReportButton",
            self.copy_report,
            "A Markdown report of this machine, fit to paste into a forum post or issue.",
        )
        self.cancel_button = named(QPushButton("Cancel"), "cancelSetupButton", "Cancel")
        for widget in (self.install_button, self.verify_button, self.copy_button):
            row.addWidget(widget)
        row.addWidget(self.cancel_button)
        row.addStretch(1)
        row.addWidget(button("Continue to &Data →", "setupNextButton", self.next_requested.emit))
        self.body.addLayout(row)
        self.progress = named(QProgressBar(), "setupProgress", "Install or verify progress")
        self.body.addWidget(self.progress)
        self.slot = JobSlot(
            state.runner, cancel_button=self.cancel_button, progress=self.progress, parent=self
        )
        self.recommend_slot = JobSlot(state.runner, parent=self)

        splitter = QSplitter(Qt.Orientation.Vertical)
        self.checks = named(QTableWidget(0, 3), "verifyTable", "Verification checks")
        self.checks.setHorizontalHeaderLabels(("Check", "Result", "Details and fix"))
        self.checks.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.checks.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.checks.setWordWrap(True)
        self.checks.verticalHeader().hide()
        self.log = named(QPlainTextEdit(), "installLog", "Install and verify log")
        self.log.setReadOnly(True)
        self.log.setPlaceholderText("The output of pip and of the verification appears here.")
        self.log.setMaximumBlockCount(5000)
        splitter.addWidget(self.checks)
        splitter.addWidget(self.log)
        splitter.setStretchFactor(0, 3)  # the checks matter more than pip's scrollback
        splitter.setStretchFactor(1, 1)
        self.body.addWidget(splitter, 1)
        state.system_changed.connect(self._on_system)

    @property
    def job(self) -> Job | None:
        return self.slot.job

    def _on_system(self, info: Any) -> None:
        self.recommend_slot.start(
            "recommend",
            _recommend_job(info),
            on_result=self.show_recommendation,
            on_error=lambda m, f, d: self.state.report_error("Recommendation failed", m, f, d),
        )

    def show_recommendation(self, rec: Any) -> None:
        self.recommendation = rec
        if rec.ok:
            self.verdict.setText(f"TensorFlow {rec.tensorflow} will use your GPU here.")
            role = "verdict-ok"
        elif rec.tensorflow:
            self.verdict.setText(
                f"TensorFlow {rec.tensorflow} runs here, but not on the GPU until the problems "
                "below are fixed."
            )
            role = "verdict-warn"
        else:
            fallback = (
                "The CPU build below works here (slower)."
                if rec.cpu_fallback.get("package")
                else str(rec.cpu_fallback.get("note", ""))
            )
            self.verdict.setText(
                f"TensorFlow cannot use a GPU on this machine as it is (see below). {fallback}"
            )
            role = "verdict-fail"
        self.verdict.setProperty("role", role)
        self.verdict.style().polish(self.verdict)
        package, command = rec.package, rec.install_command
        if not rec.install_argv and rec.cpu_fallback.get("install_argv"):
            package = f"{rec.cpu_fallback['package']} (CPU only)"
            command = rec.cpu_fallback["install_command"]
        self.fields["tensorflow"].setText(rec.tensorflow or "— (no GPU build fits)")
        self.fields["package"].setText(package or "—")
        self.fields["cuda"].setText(
            f"CUDA {rec.cuda}, cuDNN {rec.cudnn}" if rec.cuda else "none (CPU build)"
        )
        self.fields["command"].setText(command or "—")
        lines = [f"✖ {b.message}\n    Fix: {b.fix}" for b in rec.blockers]
        lines += [f"⚠ {w.message}" for w in rec.warnings]
        self.blockers.setText(plain("\n".join(lines)))
        self.install_button.setEnabled(self._can_install())

    def _can_install(self) -> bool:
        """The GPU build when one fits, else the CPU build; neither when Python is unsupported."""
        rec = self.recommendation
        return rec is not None and bool(rec.package or rec.cpu_fallback.get("package"))

    # -- jobs ----------------------------------------------------------------------------------
    def _run(self, name: str, fn: Any, on_result: Any) -> Job | None:
        """Start a job unless one runs (an install must not be replaced by a verify)."""
        if self.slot.busy:
            return None
        for widget in (self.install_button, self.verify_button, self.copy_button):
            widget.setEnabled(False)
        return self.slot.start(
            name,
            fn,
            on_progress=self._on_progress,
            on_result=on_result,
            on_cancelled=lambda: self.log.appendPlainText(f"— {name} cancelled —"),
            on_error=lambda m, f, d: self.state.report_error(f"{name} failed", m, f, d),
            on_finished=self._on_finished,
        )

    def install(self) -> None:
        if self._can_install():
            job = _install_job(self.recommendation, self.python)
            self._run("install", job, self._on_installed)

    def verify(self) -> None:
        self.checks.setRowCount(0)
        self._run("verify", _verify_job(self.python), self.show_verification)

    def set_python(self, python: str) -> None:
        self.python = python
        mine = " (the Python this app runs in)" if python == sys.executable else ""
        self.python_label.setText(f"Install and verify in: {python}{mine}")

    def choose_python(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Choose the Python to install TensorFlow into", str(Path(self.python).parent)
        )
        if path:
            self.set_python(path)

    def copy_report(self) -> None:
        self.log.appendPlainText("Writing the report (it includes a fresh verification)…")
        self._run("report", _report_job(self.state.nvml), self._copy)

    def _copy(self, markdown: str) -> None:
        QGuiApplication.clipboard().setText(markdown)
        self.log.appendPlainText("Report copied to the clipboard (Markdown).")

    def _on_progress(self, event: dict[str, Any]) -> None:
        if event.get("line"):
            self.log.appendPlainText(str(event["line"]))
        if event.get("message"):
            self.log.appendPlainText(str(event["message"]))

    def _on_installed(self, _result: Any) -> None:
        self.log.appendPlainText("Install finished; verifying…")
        self._after_finish = self.verify

    def _on_finished(self) -> None:
        self.verify_button.setEnabled(True)
        self.copy_button.setEnabled(True)
        self.install_button.setEnabled(self._can_install())
        follow, self._after_finish = self._after_finish, None
        if follow is not None:
            follow()

    def show_verification(self, result: Any) -> None:
        checks = list(result.checks)
        nvml = [g.name for g in self.state.system.gpus] if self.state.system is not None else []
        order = gpu_order_check(nvml, list(result.gpus_visible))
        if order is not None:
            checks.append(order)
        self.checks.setRowCount(len(checks))
        no_gpu = self.state.system is not None and not self.state.system.gpus
        for row, check in enumerate(checks):
            status, fix = check.status, check.fix
            if no_gpu and check.id in GPU_ONLY_CHECKS:
                status, fix = "skip", ""  # no NVIDIA GPU: the CPU build needs none of this
            detail = plain(check.message + (f"\nFix: {fix}" if fix else ""))
            if status == "skip":
                detail = f"Not needed without an NVIDIA GPU (training runs on the CPU). {detail}"
            for column, text in enumerate(
                (check_title(check.id), STATUS_MARK.get(status, status), detail)
            ):
                item = QTableWidgetItem(text)
                item.setToolTip(check.id)
                self.checks.setItem(row, column, item)
        self.checks.resizeColumnToContents(0)
        self.checks.resizeRowsToContents()
        works = "TensorFlow uses the GPU." if result.gpu_works else "TensorFlow does not use a GPU."
        self.log.appendPlainText(
            f"Verification finished in {result.seconds:.0f} s: TensorFlow "
            f"{result.version or 'not installed'}. {works}"
        )
