"""Multi-worker training whose peers never answer: TensorFlow's own setup waits forever in C++
(11 minutes in the attack, deaf to Ctrl-C and SIGTERM). The app says which worker it waits for,
gives up at its deadline with a message, and Ctrl-C works while it waits."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from data_factory import make_class_folder
from net import free_ports

pytestmark = [pytest.mark.tf, pytest.mark.slow]


def _unused_addresses(count: int) -> list[str]:
    return [f"127.0.0.1:{port}" for port in free_ports(count)]


def _start(tmp_path: Path, timeout_s: str) -> subprocess.Popen[str]:
    data = make_class_folder(tmp_path / "data", {"a": 4, "b": 4})
    spec = {"cluster": {"worker": _unused_addresses(2)}, "task": {"type": "worker", "index": 0}}
    command = [sys.executable, "-m", "gpu_assistant", "train", str(data), "--epochs", "1",
               "--image-size", "32", "--out", str(tmp_path / "run"), "--json",
               "--cluster-spec", json.dumps(spec)]  # fmt: skip
    env = {**os.environ, "GPU_ASSISTANT_CLUSTER_TIMEOUT": timeout_s}
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)  # fmt: skip


def _wait_for_line(process: subprocess.Popen[str], words: str, limit_s: float = 180) -> str:
    assert process.stdout is not None
    deadline = time.monotonic() + limit_s
    for line in process.stdout:
        if words in line:
            return line
        assert time.monotonic() < deadline, f"no {words!r} within {limit_s} s"
    raise AssertionError(f"the process ended without {words!r}")


def test_unreachable_workers_are_named_and_the_wait_ends(tmp_path: Path) -> None:
    process = _start(tmp_path, "6")
    try:
        waiting = json.loads(_wait_for_line(process, '"waiting"'))
        assert waiting["worker"] == 1 and "waiting for worker 1 at 127.0.0.1:" in waiting["message"]
        stdout, stderr = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == 2, stderr[-2000:]
    assert "Traceback" not in stderr
    assert "did not answer" in stderr and "worker 1" in stderr
    errors = [json.loads(line) for line in stdout.splitlines() if '"error"' in line]
    assert errors and "did not answer" in errors[-1]["message"]


@pytest.mark.parametrize(("stop", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_ctrl_c_and_sigterm_work_while_waiting(
    tmp_path: Path, stop: signal.Signals, code: int
) -> None:
    process = _start(tmp_path, "600")
    try:
        _wait_for_line(process, '"waiting"')
        process.send_signal(stop)
        _, stderr = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == code, stderr[-2000:]
    assert "Traceback" not in stderr
