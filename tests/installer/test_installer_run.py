"""install.sh run for real into a temporary HOME (with a space in its path): venv, app,
TensorFlow, .desktop entry and icons, self-test; then repair; then --uninstall.

Packages come from a wheelhouse the installer itself collects once per machine
(--make-wheelhouse: `pip wheel`, from pip's cache or PyPI; GPU_ASSISTANT_TEST_WHEELHOUSE moves
it), so the installer runs its offline path (--wheelhouse) and TensorFlow is not downloaded on
every run. The test venv's TensorFlow cannot be reused (there is no wheel to rebuild it from),
and --system-site-packages would not test the install, so the real wheels are installed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from installer_helpers import (
    CHECKOUT,
    check_desktop_entry,
    exec_argv,
    installer_env,
    read_desktop_entry,
    run_install,
    tree,
)

pytestmark = [pytest.mark.slow, pytest.mark.skipif(sys.platform != "linux", reason="Linux path")]

WHEELHOUSE_ENV = "GPU_ASSISTANT_TEST_WHEELHOUSE"


@pytest.fixture(scope="module")
def wheelhouse() -> Path:
    """The installer's own --make-wheelhouse (CPU): offline reuse of the folder first, online
    top-up (from pip's cache or PyPI) only when pyproject.toml asks for something new."""
    python = f"py{sys.version_info[0]}{sys.version_info[1]}"
    default = Path.home() / ".cache" / "tf-gpu-assistant-tests" / f"wheelhouse-{python}"
    folder = Path(os.environ.get(WHEELHOUSE_ENV) or default)
    command = [sys.executable, str(CHECKOUT / "installer" / "bootstrap.py")]
    done = subprocess.run([*command, "--make-wheelhouse", str(folder), "--cpu"],
                          capture_output=True, text=True, timeout=1800, check=False)  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "install.sh --wheelhouse" in done.stdout
    return folder


@pytest.fixture(scope="module")
def machine(tmp_path_factory: pytest.TempPathFactory, wheelhouse: Path):
    """A fresh user's HOME, its state before the install, and the installer's first run."""
    base = tmp_path_factory.mktemp("installer")
    home = base / "home of user"
    (home / "Documents").mkdir(parents=True)
    (home / "Documents" / "notes.txt").write_text("mine", encoding="utf-8")
    before = tree(home)
    env = installer_env(home, base / "outside")
    first = run_install(["--wheelhouse", str(wheelhouse)], env)
    return home, before, env, first


def data_root(home: Path) -> Path:
    return home / ".local" / "share" / "tf-gpu-assistant"


def test_install_sets_everything_up(machine):
    home, _, _, first = machine
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-4000:]
    assert "CPU build" in first.stdout  # no NVIDIA driver here: the reason is shown
    assert "No display here" in first.stdout  # and it says what to do instead of launching
    report = json.loads((data_root(home) / "install-self-test.json").read_text("utf-8"))
    assert report["ok"] is True
    for size in (16, 48, 256):
        icon = home / f".local/share/icons/hicolor/{size}x{size}/apps/tf-gpu-assistant.png"
        assert icon.is_file()
    # The self-test the installer ran left no data, settings or Keras config in the HOME.
    assert not (home / ".keras").exists()
    assert not (data_root(home) / "runs").exists()


def test_desktop_entry_is_valid_and_its_exec_line_passes_the_self_test(machine, tmp_path):
    home, _, _, _ = machine
    desktop = home / ".local/share/applications/tf-gpu-assistant.desktop"
    entries = read_desktop_entry(desktop)
    assert check_desktop_entry(entries) == []
    assert Path(entries["TryExec"]).is_file() and os.access(entries["TryExec"], os.X_OK)
    assert (home / ".local/share/icons/hicolor/scalable/apps" / f"{entries['Icon']}.svg").is_file()

    argv = exec_argv(entries["Exec"])
    assert Path(argv[0]).is_file()  # the quoting survived the space in the HOME path
    report = tmp_path / "report.json"
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    done = subprocess.run([*argv, "--self-test", "--report", str(report)], env=env,
                          capture_output=True, text=True, timeout=600, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr[-4000:]
    assert json.loads(report.read_text("utf-8"))["ok"] is True


def test_desktop_file_validate_accepts_the_entry(machine):
    tool = shutil.which("desktop-file-validate")
    if tool is None:
        pytest.skip("desktop-file-validate is not installed (apt install desktop-file-utils)")
    desktop = machine[0] / ".local/share/applications/tf-gpu-assistant.desktop"
    done = subprocess.run([tool, str(desktop)], capture_output=True, text=True, check=False)
    assert done.returncode == 0 and not done.stdout.strip(), done.stdout + done.stderr


def test_rerun_repairs_in_place(machine, wheelhouse):
    home, _, env, _ = machine
    desktop = home / ".local/share/applications/tf-gpu-assistant.desktop"
    desktop.unlink()
    (home / ".local/share/icons/hicolor/48x48/apps/tf-gpu-assistant.png").unlink()
    site = next((data_root(home) / "venv" / "lib").glob("python3*/site-packages"))
    (site / "gpu_assistant" / "jobs.py").unlink()  # a damaged app
    again = run_install(["--wheelhouse", str(wheelhouse), "--no-launch"], env)
    assert again.returncode == 0, again.stdout[-4000:] + again.stderr[-4000:]
    assert "kept the environment" in again.stdout
    assert desktop.is_file()
    assert (home / ".local/share/icons/hicolor/48x48/apps/tf-gpu-assistant.png").is_file()
    assert (site / "gpu_assistant" / "jobs.py").is_file()


def test_uninstall_leaves_the_home_as_it_was(machine):
    home, before, env, _ = machine
    done = run_install(["--uninstall"], env)
    assert done.returncode == 0, done.stderr
    # pip runs `rustc --version` for its user agent; where rustup's proxy is on PATH, that
    # creates ~/.rustup. It is not the installer's, so it is not compared.
    assert tree(home) - {p for p in tree(home) if p.startswith(".rustup")} == before
    again = run_install(["--uninstall"], env)
    assert again.returncode == 0 and "Nothing to remove" in again.stdout
