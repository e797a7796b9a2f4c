"""The installer's item-22 faults, without a real install: Qt's xcb libraries checked the way
the loader sees them, with the package line for the distribution; no stale self-test report;
pip's output in a log with a summary on screen; the app installed once; uninstall names the
folder of training runs."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from gpu_assistant_setup import environment, main, qt_libs
from gpu_assistant_setup.layout import layout_for
from gpu_assistant_setup.manifest import Manifest

LDD = """\
\tlinux-vdso.so.1 (0x00007ffd)
\tlibQt6XcbQpa.so.6 => /venv/PySide6/Qt/lib/libQt6XcbQpa.so.6 (0x00007f)
\tlibxcb-icccm.so.4 => not found
\tlibxcb-keysyms.so.1 => not found
\tlibxcb.so.1 => /lib/x86_64-linux-gnu/libxcb.so.1 (0x00007f)
"""
DEBIAN = {"ID": "debian", "VERSION_ID": "12"}
FEDORA = {"ID": "fedora"}
UBUNTU_LIKE = {"ID": "linuxmint", "ID_LIKE": "ubuntu debian"}


def test_ldd_output_names_what_is_missing() -> None:
    assert qt_libs.not_found(LDD) == ["libxcb-icccm.so.4", "libxcb-keysyms.so.1"]


@pytest.mark.parametrize(
    ("release", "command"),
    [
        (DEBIAN, "sudo apt install libxcb-icccm4 libxcb-keysyms1"),
        (UBUNTU_LIKE, "sudo apt install libxcb-icccm4 libxcb-keysyms1"),
        (FEDORA, "sudo dnf install xcb-util-wm xcb-util-keysyms"),
        ({"ID": "gentoo"}, None),
    ],
)
def test_the_install_line_fits_the_distribution(release: dict, command: str | None) -> None:
    assert qt_libs.install_command(qt_libs.not_found(LDD), release) == command


def test_the_real_plugin_is_checked_with_the_loader(tmp_path: Path) -> None:
    ldd = tmp_path / "ldd"
    ldd.write_text(f"#!/bin/sh\ncat <<'EOF'\n{LDD}EOF\n")
    ldd.chmod(0o755)
    plugin = qt_libs.plugin_path(Path(sys.executable))
    if plugin is None:
        pytest.skip("this PySide6 has no xcb plugin")
    missing = qt_libs.missing_libraries(Path(sys.executable), ldd=str(ldd))
    assert missing[:2] == ["libxcb-icccm.so.4", "libxcb-keysyms.so.1"]


def test_missing_libraries_fail_the_install_only_with_a_display(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    layout = layout_for("linux", {"HOME": str(tmp_path)})
    monkeypatch.setattr(qt_libs, "missing_libraries", lambda _python: ["libxcb-icccm.so.4"])
    monkeypatch.setattr(qt_libs, "os_release", lambda: DEBIAN)
    monkeypatch.setenv("DISPLAY", ":0")
    assert main.check_window_libraries(layout) is False
    assert "sudo apt install libxcb-icccm4" in capsys.readouterr().out
    monkeypatch.delenv("DISPLAY")
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert main.check_window_libraries(layout) is True


def _fake_app(tmp_path: Path, script: str) -> object:
    layout = layout_for("linux", {"HOME": str(tmp_path)})
    program = layout.venv_exe("gpu-assistant")
    program.parent.mkdir(parents=True)
    program.write_text(f"#!/bin/sh\n{script}\n")
    program.chmod(0o755)
    layout.root.mkdir(parents=True, exist_ok=True)
    return layout


def test_an_old_report_is_never_shown_for_a_new_failure(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    layout = _fake_app(tmp_path, "exit 134")  # Qt aborted before writing anything
    layout.self_test_report.write_text('{"ok": true}')  # from last week's install
    assert environment.self_test(layout, Manifest(layout.manifest)) is False
    assert not layout.self_test_report.exists()
    assert "without writing its report (exit code 134)" in capsys.readouterr().out


def test_pip_output_goes_to_the_log_and_the_screen_gets_a_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    log = tmp_path / "install.log"
    chatty = "; ".join(f"print('Collecting package{i}')" for i in range(250))
    command = [sys.executable, "-c", f"{chatty}; print('Successfully installed a-1 b-2 c-3')"]
    environment.run(command, "install things", log)
    out = capsys.readouterr().out
    assert len(out.splitlines()) <= 3
    assert "3 package(s)" in out and str(log) in out
    assert log.read_text().count("\nCollecting") == 250
    failing = [sys.executable, "-c", "print('ERROR: no space left'); raise SystemExit(1)"]
    with pytest.raises(environment.SetupError, match="full output is in"):
        environment.run(failing, "install more", log)
    assert "no space left" in capsys.readouterr().out  # the end of it is shown


def test_the_app_is_installed_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    layout = layout_for("linux", {"HOME": str(tmp_path)})
    calls: list[list[str]] = []

    def pip(_layout: object, _source: object, args: list[str], _what: str) -> str:
        calls.append(args)
        return "Successfully installed numpy-2.0 tf-gpu-assistant-0.3.0\n" if len(calls) else ""

    monkeypatch.setattr(environment, "pip_install", pip)
    environment.install_app(layout, environment.PackageSource(), tmp_path)
    assert calls == [["--upgrade", str(tmp_path)]]
    calls.clear()
    monkeypatch.setattr(environment, "pip_install", lambda *a: calls.append(a[2]) or "")
    environment.install_app(layout, environment.PackageSource(), tmp_path)  # a repair run
    assert calls[1][:2] == ["--force-reinstall", "--no-deps"]


def test_uninstall_says_where_the_training_runs_are(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    layout = layout_for("linux", {"HOME": str(tmp_path)})
    manifest = Manifest(layout.manifest)
    manifest.make_dirs(layout.root)
    manifest.add(layout.manifest, "file")
    manifest.save()
    (layout.runs / "20260101-small_cnn").mkdir(parents=True)
    assert main.uninstall(layout) == 0
    assert f"training runs are kept in {layout.runs}" in capsys.readouterr().out
    assert (layout.runs / "20260101-small_cnn").is_dir()
