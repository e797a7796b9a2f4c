"""pip_install() for real: a tiny wheel built here, installed offline into a temp folder; the
live log, progress, failure exit codes and cancel."""

from __future__ import annotations

import base64
import hashlib
import sys
import zipfile

import pytest

from gpu_assistant.jobs import Cancelled, CancelToken, UserError
from gpu_assistant.system.install import install_args, pip_install
from gpu_assistant.system.recommend import GpuSpec, Query, recommend


def build_wheel(folder, name="tinypkg", version="0.1"):
    """A minimal valid wheel (PEP 427), written by hand so no build backend or network is needed."""
    files = {
        f"{name}/__init__.py": f'VERSION = "{version}"\n',
        f"{name}-{version}.dist-info/METADATA": (
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
        ),
        f"{name}-{version}.dist-info/WHEEL": (
            "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record.append(f"{path},sha256={digest.decode()},{len(text.encode())}")
    record.append(f"{name}-{version}.dist-info/RECORD,,")
    files[f"{name}-{version}.dist-info/RECORD"] = "\n".join(record) + "\n"
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    return wheel


def test_installs_a_local_wheel_with_log_and_progress(tmp_path):
    build_wheel(tmp_path)
    target = tmp_path / "target"
    events = []
    args = ["install", "--no-index", "--find-links", str(tmp_path), "--target", str(target)]
    code = pip_install([*args, "tinypkg"], report=events.append)
    assert code == 0
    assert (target / "tinypkg" / "__init__.py").read_text() == 'VERSION = "0.1"\n'
    lines = [e["line"] for e in events if e["event"] == "log"]
    assert lines[0].startswith("$ ") and "tinypkg" in lines[0]
    assert any(line.startswith("Successfully installed tinypkg") for line in lines)
    percents = [e["done"] for e in events if e["event"] == "progress"]
    assert percents == sorted(percents) and percents[-1] == 100


def test_a_missing_package_returns_pips_error_code(tmp_path):
    events = []
    code = pip_install(
        ["install", "--no-index", "--find-links", str(tmp_path), "no-such-package-xyz"],
        report=events.append,
    )
    assert code != 0
    assert any("No matching distribution" in e.get("line", "") for e in events)


def test_a_shell_string_is_refused():
    with pytest.raises(TypeError):
        pip_install("install tensorflow; rm -rf ~")


@pytest.mark.skipif(sys.platform.startswith("win"), reason="uses a /bin/sh stand-in for pip")
def test_cancel_terminates_pip(tmp_path):
    """A stand-in pip that prints one line and then hangs; the user cancels on seeing it."""
    slow = tmp_path / "python"
    slow.write_text("#!/bin/sh\necho 'Collecting tensorflow'\nexec sleep 120\n", encoding="utf-8")
    slow.chmod(0o755)
    cancel, events = CancelToken(), []

    def report(event):
        events.append(event)
        if event.get("line") == "Collecting tensorflow":
            cancel.cancel()

    with pytest.raises(Cancelled):
        pip_install(["install", "tensorflow"], report=report, cancel=cancel, python=str(slow))
    assert {"event": "log", "line": "Cancelled: stopping pip."} in events


def test_install_args_follow_the_recommendation():
    good = recommend(Query("linux", "3.11", "550.54.14", [GpuSpec("RTX 3090", "8.6")]))
    assert install_args(good) == ["install", "tensorflow[and-cuda]==2.21.0"]
    assert install_args(good, cpu=True) == ["install", "tensorflow==2.21.0"]
    blocked = recommend(Query("macos", "3.12"))
    with pytest.raises(UserError) as caught:
        install_args(blocked)
    assert "macOS" in caught.value.message
    no_python = recommend(Query("linux", "3.14", "550.54.14", [GpuSpec("RTX 3090", "8.6")]))
    with pytest.raises(UserError):
        install_args(no_python, cpu=True)


def test_a_python_that_does_not_exist_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="Could not start Python"):
        pip_install(["--version"], python=str(tmp_path / "no-python"))
