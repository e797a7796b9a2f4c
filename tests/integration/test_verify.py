"""verify() for real: this machine's CPU TensorFlow in a child process, and children that are
missing TensorFlow, crash, hang, or are cancelled -- the parent survives them all."""

from __future__ import annotations

import sys
import threading
import venv

import pytest

from gpu_assistant.jobs import Cancelled, CancelToken
from gpu_assistant.system import nvml_available
from gpu_assistant.system.diagnose import FAIL, PASS
from gpu_assistant.system.verify import verify

posix_only = pytest.mark.skipif(sys.platform.startswith("win"), reason="uses /bin/sh scripts")


@pytest.mark.tf
def test_real_tensorflow_reports_a_cuda_build_with_no_usable_gpu_and_why():
    events = []
    result = verify(timeout=300, report=events.append)
    checks = {c.id: c for c in result.checks}
    assert result.installed and result.version
    assert checks["tensorflow_import"].status == PASS
    assert result.build["is_cuda_build"] is True
    assert checks["cuda_build"].status == PASS
    if nvml_available():  # a real GPU machine: the GPU must work end to end
        assert result.gpu_works, [c for c in result.checks if c.status != PASS]
        return
    # the CI machine has no NVIDIA driver: TF says so, and the checks explain it
    assert result.gpus_visible == [] and not result.gpu_works
    assert checks["cuda_driver"].status == FAIL
    assert checks["gpus_visible"].status == FAIL and "driver" in checks["gpus_visible"].message
    assert checks["cpu_compute"].status == PASS
    (cpu,) = result.devices
    assert cpu["matmul_ms"] > 0 and cpu["conv2d_ms"] > 0
    assert "Could not find cuda drivers" in result.log
    assert any(e.get("message") == "Importing TensorFlow" for e in events)
    assert result.to_json()["gpu_works"] is False


@pytest.mark.tf
def test_cuda_visible_devices_minus_one_is_reported():
    import os

    env = dict(os.environ, CUDA_VISIBLE_DEVICES="-1")
    result = verify(timeout=300, env=env)
    checks = {c.id: c for c in result.checks}
    assert checks["cuda_visible_devices"].status == FAIL


def test_python_without_tensorflow(tmp_path):
    venv.create(tmp_path / "env", with_pip=False)
    python = tmp_path / "env" / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")
    result = verify(timeout=60, python=str(python))
    (check,) = result.checks
    assert not result.installed
    assert check.id == "tensorflow_import" and "not installed" in check.message


def _fake_python(tmp_path, body):
    script = tmp_path / "python"
    script.write_text(f"#!/bin/sh\n{body}\n", encoding="utf-8")
    script.chmod(0o755)
    return str(script)


@posix_only
def test_a_child_that_crashes(tmp_path):
    python = _fake_python(
        tmp_path, 'echo "F tensorflow/core/...] Check failed: bad" >&2\nkill -SEGV $$'
    )
    result = verify(timeout=30, python=python)
    (check,) = result.checks
    assert check.status == FAIL and "SIGSEGV" in check.message and "Check failed" in check.message


@posix_only
def test_a_child_that_hangs_is_stopped_at_the_timeout(tmp_path):
    result = verify(timeout=1, python=_fake_python(tmp_path, "exec sleep 120"))
    assert result.timed_out and result.checks[0].status == FAIL
    assert result.seconds < 30


@posix_only
def test_cancel_stops_the_child(tmp_path):
    cancel = CancelToken()
    threading.Timer(0.3, cancel.cancel).start()
    with pytest.raises(Cancelled):
        verify(timeout=120, cancel=cancel, python=_fake_python(tmp_path, "exec sleep 120"))


def test_a_python_that_does_not_exist(tmp_path):
    result = verify(timeout=10, python=str(tmp_path / "no-python"))
    (check,) = result.checks
    assert check.status == FAIL and "Could not start Python" in check.message
