"""Setup page: the recommendation per fake GPU, pip for real (harmless arguments), then verify."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication

from fakes.nvml import FakeGPU, FakeNVML
from gpu_assistant.system import install


def _recommended(window, qtbot):
    setup = window.page("setup")
    qtbot.waitUntil(lambda: setup.recommendation is not None, timeout=10_000)
    return setup


def test_a_supported_gpu_gets_the_gpu_build(make_window, qtbot):
    setup = _recommended(make_window(FakeNVML.single()), qtbot)
    assert "will use your GPU" in setup.verdict.text()
    assert "[and-cuda]" in setup.fields["package"].text()
    assert "pip install" in setup.fields["command"].text()
    assert setup.install_button.isEnabled()


def test_an_old_driver_gets_an_older_build_and_the_upgrade_advice(make_window, qtbot):
    setup = _recommended(make_window(FakeNVML.old_driver()), qtbot)
    assert "Upgrading the NVIDIA driver" in setup.blockers.text()
    assert setup.recommendation.tensorflow in setup.verdict.text()


def test_a_gpu_too_old_for_any_build_is_a_blocker_with_its_fix(make_window, qtbot):
    nvml = FakeNVML.with_gpus([FakeGPU("NVIDIA GeForce GTX 680", (3, 0), 2048)])
    setup = _recommended(make_window(nvml), qtbot)
    assert "cannot use a GPU" in setup.verdict.text()
    assert "✖" in setup.blockers.text() and "Fix:" in setup.blockers.text()


def test_no_gpu_offers_the_cpu_build_and_says_so(make_window, qtbot):
    setup = _recommended(make_window(FakeNVML.no_gpus()), qtbot)
    assert "CPU build below works here" in setup.verdict.text()
    assert "(CPU only)" in setup.fields["package"].text()
    assert setup.install_button.isEnabled()


def test_pip_failure_is_logged_and_explained(make_window, qtbot, monkeypatch):
    window = make_window()
    setup = _recommended(window, qtbot)
    monkeypatch.setattr(install, "install_args", lambda rec, cpu=False: ["no-such-pip-command"])
    setup.install()
    qtbot.waitUntil(lambda: window.last_error_dialog is not None, timeout=60_000)
    assert "pip could not install TensorFlow" in window.last_error_dialog.text()
    assert "no-such-pip-command" in setup.log.toPlainText()  # pip's own message, live
    assert setup.checks.rowCount() == 0  # no verification after a failed install
    assert setup.install_button.isEnabled() and setup.job is None


@pytest.mark.slow
def test_install_runs_pip_then_verifies_automatically(make_window, qtbot, monkeypatch):
    window = make_window()
    setup = _recommended(window, qtbot)
    monkeypatch.setattr(install, "install_args", lambda rec, cpu=False: ["--version"])
    qtbot.mouseClick(setup.install_button, Qt.MouseButton.LeftButton)
    assert not setup.install_button.isEnabled() and setup.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: setup.checks.rowCount() > 0 and setup.job is None, timeout=240_000)
    log = setup.log.toPlainText()
    assert "-m pip --version" in log and "pip " in log
    assert "Install finished; verifying" in log
    rows = range(setup.checks.rowCount())
    titles = [setup.checks.item(row, 0).text() for row in rows]
    assert "TensorFlow loads" in titles  # words on screen, the id in the tooltip
    assert "tensorflow_import" in [setup.checks.item(row, 0).toolTip() for row in rows]
    cells = {setup.checks.item(r, 0).toolTip(): setup.checks.item(r, 2).text() for r in rows}
    # no GPU here: the GPU checks say they are not needed, and nobody is told to install CUDA
    assert "Not needed without an NVIDIA GPU" in cells["gpus_visible"]
    assert not any("and-cuda" in text or "`" in text for text in cells.values())
    assert window.last_error_dialog is None


@pytest.mark.slow
def test_copy_report_puts_markdown_on_the_clipboard(make_window, qtbot):
    setup = _recommended(make_window(), qtbot)
    setup.copy_report()
    qtbot.waitUntil(lambda: setup.job is None, timeout=240_000)
    text = QGuiApplication.clipboard().text()
    assert text.startswith("#") and "TensorFlow" in text


def test_installing_into_a_python_that_does_not_exist_says_so(make_window, qtbot, tmp_path):
    window = make_window()
    setup = _recommended(window, qtbot)
    missing = str(tmp_path / "venv" / "bin" / "python")
    setup.set_python(missing)
    assert missing in setup.python_label.text()
    setup.install()
    qtbot.waitUntil(lambda: window.last_error_dialog is not None, timeout=30_000)
    assert "Could not start Python" in window.last_error_dialog.text()
    assert "Choose an existing Python" in window.last_error_dialog.informativeText()
