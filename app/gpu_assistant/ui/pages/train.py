"""Page 4, Train: model and options, the multi-GPU and mixed-precision choices, Start / Stop, and
live plots (loss, accuracy, memory, GPU utilisation) fed by the trainer's events.

Training runs in a child process driven by a job (see train_process.py); a second job samples
GPU memory. Plots redraw 5 times a second.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QProgressBar,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from gpu_assistant.data.scan import fingerprints
from gpu_assistant.jobs import CancelToken, Report
from gpu_assistant.system.compat import release_part
from gpu_assistant.training.auto import choose_model
from gpu_assistant.training.distribute import MIN_MIXED_PRECISION_CC
from gpu_assistant.training.models import AUTO, AUTO_DESCRIPTION, AUTO_LABEL, MODELS
from gpu_assistant.ui.job_slot import JobSlot
from gpu_assistant.ui.monitor import SAMPLE_EVERY_S, monitor_job
from gpu_assistant.ui.plots import LivePlot
from gpu_assistant.ui.state import AppState, training_blocker
from gpu_assistant.ui.train_process import train_in_child
from gpu_assistant.ui.widgets import Page, button, named, wrap_label
from gpu_assistant.ui.worker import Job

PROCESS_SERIES = "training process (on the CPU)"
WAITING_NOTE = "Fills in live once training starts."


def _train_job(settings: Any, known_files: list[Any]) -> Any:
    def job(report: Report, cancel: CancelToken) -> Any:
        return train_in_child(settings, report, cancel, known_files)

    return job


STATUS_INTERVAL_S = 0.25  # the batch line in the progress bar: 4 updates a second to read
PROGRESS_FORMAT = "%p%"


class TrainPage(Page):
    def __init__(self, state: AppState) -> None:
        super().__init__(
            "Train",
            "Train an image classifier on the scanned folder. The plots update live; Stop keeps "
            "what was learned so far (the last completed epoch is saved).",
        )
        self.state = state
        self.slot = JobSlot(state.runner, parent=self)
        self.monitor = JobSlot(state.runner, parent=self)
        self.best_epoch: int | None = None  # the epoch whose weights the run kept
        self.early_stopping = True  # the run's: its epoch count is then an upper bound
        self._status_shown = 0.0  # when the status line last changed for a batch
        self.last_result: Any = None
        self.run_dir: Path | None = None  # the current run's folder, known from its start event
        self._monitored: list[int] = []
        self._t0 = time.monotonic()
        self._memory_shown = -SAMPLE_EVERY_S  # after _t0: the trainer's last memory point

        top = QHBoxLayout()
        top.addWidget(self._options_box(), 2)
        top.addWidget(self._devices_box(), 2)
        self.body.addLayout(top)

        row = QHBoxLayout()
        self.start_button = button("&Start training", "startTrainingButton", self.start)
        self.stop_button = button("S&top", "stopTrainingButton", self.stop)
        self.stop_button.setEnabled(False)
        self.resume_button = button(
            "Res&ume",
            "resumeTrainingButton",
            self.resume_last,
            "Continue the stopped run from its last completed epoch (same settings).",
        )
        self.resume_button.setVisible(False)
        self.progress = named(QProgressBar(), "trainProgress", "Training progress")
        self.status = wrap_label("Scan a folder on the Data page first.", "trainStatus")
        row.addWidget(self.start_button)
        row.addWidget(self.stop_button)
        row.addWidget(self.resume_button)
        row.addWidget(self.progress, 1)
        self.results_button = button("See &results →", "trainNextButton", self.next_requested.emit)
        self.results_button.setEnabled(False)
        row.addWidget(self.results_button)
        self.body.addLayout(row)
        self.body.addWidget(self.status)

        grid = QGridLayout()
        self.loss_plot = LivePlot("lossPlot", "Loss", "loss")
        self.accuracy_plot = LivePlot(
            "accuracyPlot", "Accuracy", "accuracy", rising=True, y_limits=(0.0, 1.0)
        )
        self.memory_plot = LivePlot(
            "gpuMemoryPlot", "Memory", "MiB", x_label="seconds", rising=True
        )
        self.util_plot = LivePlot(
            "gpuUtilPlot", "GPU utilisation", "%", x_label="seconds", y_limits=(0.0, 100.0)
        )
        for plot, name in ((self.loss_plot, "loss"), (self.accuracy_plot, "accuracy")):
            plot.add_series(f"train {name}")
            plot.add_series(f"val {name}", dashed=True)
        for position, plot in enumerate(
            (self.loss_plot, self.accuracy_plot, self.memory_plot, self.util_plot)
        ):
            grid.addWidget(plot, position // 2, position % 2)
        for plot in (self.loss_plot, self.accuracy_plot, self.memory_plot):
            plot.show_note(WAITING_NOTE)  # empty axes before Start should not look broken
        self.body.addLayout(grid, 1)
        self.update_devices(None)
        state.system_changed.connect(self.update_devices)
        state.scan_changed.connect(self._on_scan)
        state.resume_requested.connect(self.resume)

    # -- options -------------------------------------------------------------------------------
    def _options_box(self) -> QWidget:
        box = QGroupBox("Model and schedule")
        form = QFormLayout(box)
        options = self.state.options
        self.model = named(QComboBox(), "modelCombo", "Model")
        entries = [(AUTO_LABEL, AUTO, AUTO_DESCRIPTION)]
        entries += [(c.label, c.name, c.description) for c in MODELS.values()]
        for label, name, description in entries:
            self.model.addItem(label, name)
            self.model.setItemData(self.model.count() - 1, description, 3)  # tooltip
        self.model.setCurrentIndex(max(0, self.model.findData(options.model)))
        # What Auto picks for the scanned folder and why; the run's own choice once it starts.
        self.model_reason = wrap_label("", "modelReason")
        self.model.currentIndexChanged.connect(self._show_auto_choice)
        self.epochs = named(QSpinBox(), "epochsSpin", "Epochs")
        self.epochs.setRange(0, 1000)
        self.epochs.setSpecialValueText("Auto (by model)")  # 0: the model's own count
        self.epochs.setValue(options.epochs)
        self.learning_rate = named(QDoubleSpinBox(), "learningRateSpin", "Learning rate")
        self.learning_rate.setDecimals(5)
        self.learning_rate.setRange(0.00001, 1.0)
        self.learning_rate.setSingleStep(0.0005)
        self.learning_rate.setValue(options.learning_rate)
        form.addRow("Model:", self.model)
        form.addRow("", self.model_reason)
        form.addRow("Epochs:", self.epochs)
        form.addRow("Learning rate:", self.learning_rate)
        return box

    def _devices_box(self) -> QWidget:
        box = QGroupBox("Devices")
        layout = QVBoxLayout(box)
        self.mixed_precision = named(
            QCheckBox("Mixed precision (float16 on the GPU: faster, less memory)"),
            "mixedPrecisionCheck",
            "Mixed precision",
        )
        self.mixed_reason = wrap_label("", "mixedPrecisionReason")
        self.multi_gpu = named(
            QCheckBox("Use several GPUs (MirroredStrategy)"), "multiGpuCheck", "Use several GPUs"
        )
        self.multi_gpu.toggled.connect(self._sync_gpu_checks)
        self.multi_reason = wrap_label("", "multiGpuReason")
        self.gpu_list = QVBoxLayout()
        self.gpu_checks: list[QCheckBox] = []
        for widget in (self.mixed_precision, self.mixed_reason, self.multi_gpu, self.multi_reason):
            layout.addWidget(widget)
        layout.addLayout(self.gpu_list)
        layout.addStretch(1)
        return box

    def update_devices(self, info: Any) -> None:
        """Enable the GPU choices only when they can work here, and say why when they cannot."""
        gpus = list(info.gpus) if info is not None else []
        for check in self.gpu_checks:
            check.deleteLater()
        self.gpu_checks = []
        for gpu in gpus:
            check = named(
                QCheckBox(f"GPU {gpu.index}: {gpu.name} ({gpu.memory_total_mib / 1024:.0f} GiB)"),
                f"gpuCheck{gpu.index}",
                f"Train on GPU {gpu.index}",
            )
            check.setChecked(True)
            self.gpu_list.addWidget(check)
            self.gpu_checks.append(check)
        if info is None:
            reason = "Detecting GPUs…"
        elif len(gpus) < 2:
            found = "no NVIDIA GPU is" if not gpus else "only one GPU is"
            reason = f"Needs at least two GPUs; {found} visible here."
        else:
            reason = (
                f"{len(gpus)} GPUs found: when ticked, each batch is split across the GPUs "
                "ticked below."
            )
        self.multi_gpu.setEnabled(len(gpus) >= 2)
        if len(gpus) < 2:
            self.multi_gpu.setChecked(False)
        self.multi_reason.setText(reason)
        self.multi_gpu.setToolTip(reason)
        self._sync_gpu_checks()

        old = [g.name for g in gpus if release_part(g.compute_capability) < MIN_MIXED_PRECISION_CC]
        minimum = ".".join(map(str, MIN_MIXED_PRECISION_CC))
        if not gpus:
            mixed = "Needs an NVIDIA GPU (on the CPU it only slows training down)."
        elif old:
            mixed = f"Needs compute capability {minimum} or newer; {', '.join(old)} is older."
        else:
            mixed = "Available on these GPUs."
        self.mixed_precision.setEnabled(bool(gpus) and not old)
        self.mixed_precision.setChecked(self.mixed_precision.isEnabled())  # where it helps
        self.mixed_reason.setText(mixed)
        self.mixed_precision.setToolTip(mixed)
        self.memory_plot.getPlotItem().setTitle(
            "GPU memory (NVML used, TF current/peak)" if gpus else "Process memory (no GPU: CPU)"
        )
        if not self.slot.busy:  # while training, the plot's own note stands
            self.util_plot.show_note(WAITING_NOTE if gpus else "No NVIDIA GPU: nothing to measure.")

    def _sync_gpu_checks(self) -> None:
        for check in self.gpu_checks:
            check.setEnabled(self.multi_gpu.isChecked())

    @property
    def job(self) -> Job | None:
        return self.slot.job

    def _show_auto_choice(self) -> None:
        scan = self.state.scan
        if self.model.currentData() != AUTO or scan is None or not scan.records:
            self.model_reason.setText("")
            return
        _name, reason = choose_model([(r.width, r.height) for r in scan.records])
        self.model_reason.setText(reason)

    def _on_scan(self, scan: Any) -> None:
        """A new folder: what this page showed about the previous one no longer applies."""
        if self.slot.busy:
            return  # the running job trains on its own copy of the old scan; its status stands
        self._show_auto_choice()
        self.results_button.setEnabled(False)
        self.resume_button.setVisible(False)
        if scan is None:
            self.status.setText("Scan a folder on the Data page first.")
            self.start_button.setEnabled(False)
            return
        blocker = training_blocker(scan)
        self.status.setText(
            f"{blocker} Fix the folder on the Data page and scan again."
            if blocker
            else f"Ready: {scan.total} images in {len(scan.class_names)} classes."
        )
        self.start_button.setEnabled(not blocker)

    # -- running -------------------------------------------------------------------------------
    def settings(self) -> Any:
        from gpu_assistant.training.settings import TrainSettings

        data = self.state.options
        chosen = [i for i, check in enumerate(self.gpu_checks) if check.isChecked()]
        multi = self.multi_gpu.isChecked()
        model = str(self.model.currentData())
        return TrainSettings(
            data_dir=Path(self.state.scan.root),
            model=model,
            epochs=self.epochs.value() or None,
            batch_size=data.batch_size,
            # 0 (the Data page's Auto): the model's own size (224 px for the backbone)
            image_size=data.image_size,
            val_split=data.val_split,
            learning_rate=self.learning_rate.value(),
            multi_gpu=multi,
            gpus=chosen if multi else [],
            mixed_precision=self._mixed_precision_choice(),
            augment=data.augment,
            flip=data.flip,
            cache=data.cache,
        )

    def _mixed_precision_choice(self) -> str:
        """What to ask for: "auto" while the box shows what the rule gives these GPUs (ticked
        where they all can, greyed where not), so the trainer applies that one rule
        (distribute.py) to the devices the run gets; "on"/"off" once the user ticked it."""
        box = self.mixed_precision
        if box.isChecked() == box.isEnabled():
            return "auto"
        return "on" if box.isChecked() else "off"

    def start(self) -> None:
        if self.state.scan is None:
            self.state.report_error(
                "No data yet", "Training needs a scanned folder.", "Go to the Data page first."
            )
            return
        if self.slot.busy:
            return
        settings = self.settings()
        options = self.state.options
        options.model, options.epochs = settings.model, settings.epochs or 0
        options.learning_rate = settings.learning_rate
        self.state.settings.save_options(options)
        self._run(settings, "Starting: loading TensorFlow and building the model…")

    def resume(self, run_dir: Path) -> None:
        """Continue a stopped run from its last completed epoch, as ``train --resume --out``."""
        from gpu_assistant.training.settings import TrainSettings

        if self.slot.busy:
            return
        settings = TrainSettings.load(Path(run_dir) / "settings.json")
        settings.out_dir = Path(run_dir)
        settings.resume = True
        if settings.epochs is not None:  # None only in a folder from before Auto resolved it
            self.epochs.setValue(settings.epochs)
        self._run(settings, f"Resuming {run_dir}: loading TensorFlow and the last checkpoint…")

    def resume_last(self) -> None:
        if self.run_dir is not None:
            self.resume(self.run_dir)

    def _run(self, settings: Any, message: str) -> None:
        for plot in (self.loss_plot, self.accuracy_plot):
            plot.clear_data()
        for plot in (self.loss_plot, self.accuracy_plot, self.memory_plot):
            plot.show_note("")
        self.best_epoch = None
        self.early_stopping = bool(settings.early_stopping)
        self.last_result = None
        self._reset_monitor_plots(settings.gpus or [g.index for g in self._gpus()][:1])
        self.progress.setRange(0, 0)
        self.progress.setFormat(PROGRESS_FORMAT)
        self.status.setText(message)
        self.start_button.setEnabled(False)
        self.stop_button.setEnabled(True)
        self.resume_button.setVisible(False)
        self.results_button.setEnabled(False)
        # The child re-checks the Data page's scan by size and mtime instead of decoding again
        # (a run resumed from the Runs page may come before any scan: the child scans).
        known = fingerprints(self.state.scan) if self.state.scan is not None else []
        self.slot.start(
            "train",
            _train_job(settings, known),
            on_progress=self.on_event,
            on_result=self._on_result,
            on_error=self._on_error,
            on_finished=self._on_finished,
        )
        if self._monitored:
            monitor = monitor_job(self._monitored, self.state.nvml)
            self.monitor.start("monitor", monitor, on_progress=self._on_usage)

    def stop(self) -> None:
        if self.slot.busy:
            self.status.setText("Stopping at the next step…")
            self.stop_button.setEnabled(False)
            self.slot.cancel()

    def _gpus(self) -> list[Any]:
        return list(self.state.system.gpus) if self.state.system is not None else []

    def _reset_monitor_plots(self, gpus: list[int]) -> None:
        self._monitored = gpus
        self._t0 = time.monotonic()
        self._memory_shown = -SAMPLE_EVERY_S
        for plot in (self.memory_plot, self.util_plot):
            plot.remove_series()
        if gpus:
            for index in gpus:
                self.memory_plot.add_series(f"GPU {index} used (NVML)")
                self.memory_plot.add_series(f"GPU {index} total", dashed=True)
                self.util_plot.add_series(f"GPU {index}")
            self.memory_plot.add_series("TF current", dashed=True)
            self.memory_plot.add_series("TF peak", dashed=True)
        else:
            self.memory_plot.add_series(PROCESS_SERIES)
        self.util_plot.show_note("" if gpus else "Training on the CPU: no GPU to measure.")

    def on_event(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind == "start":
            self._on_start(event)
        elif kind == "batch":
            steps = max(1, int(event.get("steps") or 1))
            epoch, step = int(event.get("epoch", 1)), int(event.get("step", 0))
            x = epoch - 1 + step / steps
            self.loss_plot.append("train loss", x, event.get("loss"))
            self.accuracy_plot.append("train accuracy", x, event.get("accuracy"))
            self._memory_from_trainer(event.get("memory") or {})
            now = time.monotonic()
            if now - self._status_shown < STATUS_INTERVAL_S and step < steps:
                return
            self._status_shown = now
            self.progress.setRange(0, steps * int(event.get("epochs") or self.epochs.value()))
            self.progress.setValue((epoch - 1) * steps + step)
            epochs = event.get("epochs", "?")  # the most: early stopping may end the run sooner
            of = f" of up to {epochs}" if self.early_stopping else f"/{epochs}"
            # In the bar, not the status label: a label's new text re-lays the page out, which
            # cost the training child more CPU than the plots do (bench_responsiveness).
            self.progress.setFormat(
                f"Epoch {epoch}{of} · step {step}/{steps} · "
                f"{event.get('images_per_s') or 0:.0f} images/s · ETA {_eta(event.get('eta_s'))}"
            )
        elif kind == "epoch":
            x = int(event.get("epoch", 1))
            for name in ("loss", "accuracy"):
                plot = self.loss_plot if name == "loss" else self.accuracy_plot
                plot.append(f"train {name}", x, event.get(name))
                plot.append(f"val {name}", x, event.get(f"val_{name}"))
        elif kind == "phase":
            label = str(event.get("label", ""))  # "tuning the backbone's top on cached maps"
            first, count = int(event.get("first_epoch") or 1), int(event.get("epochs") or 1)
            epochs = f"epoch {first}" if count == 1 else f"epochs {first}–{first + count - 1}"
            most = " at most" if self.early_stopping and count > 1 else ""
            self.status.setText(f"{label[:1].upper()}{label[1:]} ({epochs}{most}).")
            self.progress.setFormat(PROGRESS_FORMAT)  # the last step's ETA is over
        elif kind == "model_choice":
            from gpu_assistant.training.auto import choice_text

            text = choice_text(event["label"], event["image_size"], event.get("reason") or "")
            self.model_reason.setText(text)
        elif kind in {"warning", "progress", "fine_tune_estimate"}:
            self.status.setText(str(event.get("message", "")))
            if kind == "progress":  # maps or scoring between epochs: the batch line is over
                self.progress.setFormat(PROGRESS_FORMAT)
        elif kind in {"done", "cancelled"} and event.get("best_epoch"):
            self.best_epoch = int(event["best_epoch"])

    def _on_start(self, event: dict[str, Any]) -> None:
        self.run_dir = Path(event["run_dir"]) if event.get("run_dir") else None
        self.state.set_training(self.run_dir)
        devices = event.get("devices") or []
        self.status.setText(
            f"Training on {', '.join(map(str, devices)) or 'the CPU'}"
            f" ({event.get('strategy', 'one device')}, {event.get('replicas', 1)} replica(s))."
        )

    def _memory_from_trainer(self, memory: dict[str, Any]) -> None:
        """TF's own figures arrive with batch events: current/peak on a GPU, RSS on the CPU.
        One a second is kept, as NVML is sampled: each point redraws the plot."""
        t = time.monotonic() - self._t0
        if not memory or t - self._memory_shown < SAMPLE_EVERY_S:
            return
        self._memory_shown = t
        if memory.get("kind") == "tf_gpu":
            self.memory_plot.append("TF current", t, memory.get("current_mb"))
            self.memory_plot.append("TF peak", t, memory.get("peak_mb"))
        elif memory.get("kind") == "host_rss" and not self._monitored:
            self.memory_plot.append(PROCESS_SERIES, t, memory.get("current_mb"))

    def _on_usage(self, sample: dict[str, Any]) -> None:
        t = float(sample["t"]) - self._t0
        for usage in sample.get("gpus") or []:
            index = usage["index"]
            self.memory_plot.append(f"GPU {index} used (NVML)", t, usage["used_mib"])
            self.memory_plot.append(f"GPU {index} total", t, usage["total_mib"])
            self.util_plot.append(f"GPU {index}", t, usage["utilization_percent"])

    def _on_result(self, result: Any) -> None:
        self.last_result = result
        run_dir = Path(result.run_dir)
        self.run_dir = run_dir
        best = self.best_epoch or (result.metrics or {}).get("best_epoch")
        kept = ""
        if best:
            kept = f" Best epoch {best} restored (lowest validation loss)."
            for plot in (self.loss_plot, self.accuracy_plot):
                plot.mark(float(best), f"kept: epoch {best}")
        if result.status == "cancelled":
            self.status.setText(
                f"Stopped after {result.epochs_completed} completed epoch(s).{kept} The model "
                f"is in {run_dir}; Resume continues from there."
            )
            self.resume_button.setVisible(True)
        else:
            early = " (stopped early: validation loss stopped improving)"
            final = result.metrics or {}
            accuracy = final.get("model_val_accuracy", final.get("val_accuracy"))
            score = (
                f" Validation accuracy {accuracy:.1%} (Results says whether to trust it)."
                if isinstance(accuracy, int | float)
                else ""
            )
            self.status.setText(
                f"Done{early if result.status == 'stopped_early' else ''}.{score}{kept} "
                f"The model and its report are in {run_dir}."
            )
            self.progress.setValue(self.progress.maximum())
        if result.model_path is not None and Path(result.model_path).exists():
            self.results_button.setEnabled(True)
            self.state.set_run(run_dir)

    def _on_error(self, message: str, fix: str, details: str) -> None:
        self.status.setText(f"Training failed: {message}")
        self.state.report_error("Training failed", message, fix, details)

    def _on_finished(self) -> None:
        self.monitor.discard()
        self.state.set_training(None)
        self.start_button.setEnabled(self.state.scan is not None)
        self.stop_button.setEnabled(False)
        if self.progress.maximum() == 0:
            self.progress.setRange(0, 1)
        self.progress.setFormat(PROGRESS_FORMAT)  # the last step's ETA is no longer true


def _eta(seconds: Any) -> str:
    if not isinstance(seconds, int | float) or seconds < 0:
        return "—"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"
