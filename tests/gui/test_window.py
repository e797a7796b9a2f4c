"""The window without TensorFlow: detection, GPU toggles per fake NVML, errors, keyboard, theme."""

from __future__ import annotations

import sys

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QLabel, QMessageBox, QWidget

from fakes.nvml import FakeGPU, FakeNVML
from gpu_assistant import paths
from gpu_assistant.ui import app as ui_app

ACTIONABLE = (
    "datasetPathEdit",
    "useSampleButton",
    "startTrainingButton",
    "stopTrainingButton",
    "multiGpuCheck",
    "lossPlot",
    "gpuMemoryPlot",
    "installButton",
    "verifyButton",
    "copyReportButton",
    "confusionMatrix",
    "tryImageButton",
    "openRunFolderButton",
)


def test_detection_without_a_gpu_says_so(make_window):
    # That the window opens without importing TensorFlow is checked in a fresh process by
    # tests/unit/test_layering.py (this process may have imported it for other tests).
    system = make_window().page("system")
    assert "No NVIDIA GPU" in system.verdict.text()
    assert system.gpu_table.rowCount() == 0
    # no empty table: a message in its place says what was found and what to do, once
    assert system.gpu_table.isHidden() and system.gpu_empty.isVisible()
    message = system.state.system.nvml_message
    shown = " ".join(
        label.text()
        for label in (system.verdict, system.empty_found, system.empty_fix, system.notes)
    )
    assert "reports no GPU" in system.empty_found.text()
    assert "What to do:</b> Check that the card is seated" in system.empty_fix.text()
    assert message not in shown  # the probe's sentence is not repeated in the verdict
    assert shown.count("reports no GPU") == 1
    assert system.fields["python"].text() == ".".join(map(str, sys.version_info[:3]))


def test_two_gpus_are_listed(make_window):
    system = make_window(FakeNVML.mixed_pair()).page("system")
    assert system.gpu_table.rowCount() == 2
    assert "Found 2 NVIDIA GPUs" in system.verdict.text()
    assert system.gpu_table.isVisible() and system.gpu_empty.isHidden()


def test_widgets_users_act_on_have_object_and_accessible_names(make_window):
    window = make_window()
    for name in ACTIONABLE:
        widget = window.findChild(QWidget, name)
        assert widget is not None, name
        assert widget.accessibleName(), name


def test_no_gpu_disables_multi_gpu_and_mixed_precision_with_the_reason(make_window):
    window = make_window(FakeNVML.no_gpus())
    train = window.page("train")
    assert not train.multi_gpu.isEnabled() and not train.multi_gpu.isChecked()
    assert "at least two GPUs" in train.multi_reason.text()
    assert "no NVIDIA GPU" in train.multi_reason.text()
    assert not train.mixed_precision.isEnabled()
    assert "Needs an NVIDIA GPU" in train.mixed_reason.text()
    assert "Process memory" in train.memory_plot.getPlotItem().titleLabel.text


def test_one_old_gpu_says_why_each_option_is_off(make_window):
    nvml = FakeNVML.with_gpus([FakeGPU("NVIDIA GeForce GTX 1080 Ti", (6, 1), 11264)])
    train = make_window(nvml).page("train")
    assert not train.multi_gpu.isEnabled()
    assert "only one GPU" in train.multi_reason.text()
    assert not train.mixed_precision.isEnabled()
    assert "GTX 1080 Ti is older" in train.mixed_reason.text()


def test_two_gpus_enable_the_toggle_and_list_each_gpu(make_window, qtbot):
    window = make_window(FakeNVML.dual())
    train = window.page("train")
    assert train.multi_gpu.isEnabled()
    checks = [window.findChild(QCheckBox, f"gpuCheck{i}") for i in (0, 1)]
    assert all(c is not None and c.isChecked() for c in checks)
    assert not any(c.isEnabled() for c in checks)  # only while multi-GPU is on
    train.multi_gpu.setChecked(True)
    assert all(c.isEnabled() for c in checks)
    checks[1].setChecked(False)
    window.state.scan = type("Scan", (), {"root": "/data"})()
    settings = train.settings()
    assert settings.multi_gpu and settings.gpus == [0]
    assert train.mixed_precision.isEnabled()
    assert settings.mixed_precision == "auto"  # the trainer's one rule, on the GPUs it gets
    qtbot.mouseClick(train.mixed_precision, Qt.MouseButton.LeftButton)  # the user says no
    assert not train.mixed_precision.isChecked()
    assert train.settings().mixed_precision == "off"
    assert "GPU memory" in train.memory_plot.getPlotItem().titleLabel.text


def test_a_failing_job_reaches_the_dialog_and_the_log(make_window, qtbot, monkeypatch):
    window = make_window()
    data = window.page("data")
    data.scan(str(paths.data_dir() / "no-such-folder"))
    qtbot.waitUntil(lambda: window.last_error_dialog is not None, timeout=10_000)
    box = window.last_error_dialog
    assert box.objectName() == "errorDialog" and box.isVisible()
    assert "no-such-folder" in box.text() or "no-such-folder" in box.informativeText()
    assert box.informativeText().startswith("What to do:")
    assert "Could not use this folder" in data.summary.text()
    log = paths.log_file().read_text(encoding="utf-8")
    assert "Scan failed" in log and "no-such-folder" in log
    box.close()

    import gpu_assistant.data.scan as scan_module

    def broken(*_args, **_kwargs):
        raise KeyError("bug in the scanner")

    monkeypatch.setattr(scan_module, "scan_folder", broken)
    window.last_error_dialog = None
    data.scan(str(paths.data_dir()))
    qtbot.waitUntil(lambda: window.last_error_dialog is not None, timeout=10_000)
    bug = window.last_error_dialog
    assert bug.icon() == QMessageBox.Icon.Critical
    assert "KeyError" in bug.text() and "Traceback" in bug.detailedText()
    assert "bug in the scanner" in paths.log_file().read_text(encoding="utf-8")
    bug.close()
    assert window.isVisible()  # the app keeps working
    assert data.findChild(QLabel, "scanSummary") is not None


def test_keyboard_moves_between_steps(make_window, qtbot):
    window = make_window()
    qtbot.keyClick(window, Qt.Key.Key_3, Qt.KeyboardModifier.ControlModifier)
    assert window.stack.currentWidget() is window.page("data")
    window.steps.setFocus()
    qtbot.keyClick(window.steps, Qt.Key.Key_Down)
    assert window.stack.currentWidget() is window.page("train")
    window.page("system").findChild(QWidget, "systemNextButton").click()
    assert window.stack.currentWidget() is window.page("setup")


def _contrast(a, b) -> float:
    """WCAG contrast ratio of two QColors."""

    def luminance(colour) -> float:
        def channel(c: float) -> float:
            return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

        return (
            0.2126 * channel(colour.redF())
            + 0.7152 * channel(colour.greenF())
            + 0.0722 * channel(colour.blueF())
        )

    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


@pytest.mark.parametrize("dark", [False, True], ids=["light", "dark"])
def test_status_text_is_readable_in_light_and_dark_themes(make_window, qtbot, dark):
    from PySide6.QtWidgets import QApplication

    from gpu_assistant.ui.theme import apply_theme, dark_palette, is_dark

    app = QApplication.instance()
    original = app.palette()
    try:
        apply_theme(app, dark_palette() if dark else app.style().standardPalette())
        window = make_window()  # no GPU: the verdict is a warning (the dimmest colour)
        assert is_dark(window.palette()) is dark
        image = window.grab().toImage()
        background = image.pixelColor(image.width() - 5, image.height() // 2)
        verdict = window.page("system").verdict
        text = verdict.palette().color(verdict.foregroundRole())
        assert _contrast(text, background) >= 4.5
        title = window.findChild(QLabel, "pageTitle")
        assert _contrast(title.palette().color(title.foregroundRole()), background) >= 4.5
    finally:
        apply_theme(app, original)


def test_geometry_is_remembered(make_window, qtbot):
    window = make_window()
    size = (window.minimumSizeHint().width(), 650)  # the offscreen screen is only 800 wide
    window.resize(*size)
    window.close()
    again = make_window()
    assert (again.width(), again.height()) == size


def test_without_a_display_the_app_says_what_to_do(capsys, monkeypatch):
    for name in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(sys, "platform", "linux")
    assert ui_app.run_gui() == 2
    err = capsys.readouterr().err
    assert "--self-test" in err and "xvfb-run" in err and "ssh -X" in err
    assert ui_app.has_display({"DISPLAY": ":0"}, "linux")
    assert ui_app.has_display({"WAYLAND_DISPLAY": "wayland-0"}, "linux")
    assert ui_app.has_display({"QT_QPA_PLATFORM": "offscreen"}, "linux")
    assert ui_app.has_display({}, "win32")


def test_gpu_memory_and_utilisation_are_sampled_from_nvml(make_window, qtbot):
    from gpu_assistant.ui.monitor import monitor_job

    nvml = FakeNVML.dual()
    nvml.gpus[0].used_mib, nvml.gpus[0].utilization = 5120, 87
    window = make_window(nvml)
    train = window.page("train")
    train._reset_monitor_plots([0, 1])
    job = window.state.runner.start("monitor", monitor_job([0, 1], nvml))
    job.progress.connect(train._on_usage)
    qtbot.waitUntil(lambda: bool(train.memory_plot.series("GPU 0 used (NVML)")[1]), timeout=5000)
    job.cancel()
    qtbot.waitUntil(lambda: not window.state.runner.running("monitor"), timeout=5000)
    assert train.memory_plot.series("GPU 0 used (NVML)")[1][0] == 5120
    assert train.memory_plot.series("GPU 0 total")[1][0] == 24576
    assert train.util_plot.series("GPU 0")[1][0] == 87
    assert train.util_plot.series("GPU 1")[1][0] == 0
