"""`gpu-assistant train` in its own process: MirroredStrategy over logical CPU devices,
two multi-worker processes on 127.0.0.1, and Ctrl-C (SIGINT) or SIGTERM that keeps the checkpoint.

Logical devices must be configured before TensorFlow starts, hence one process per run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from data_factory import make_class_folder
from gpu_assistant.training.checkpoints import latest_checkpoint
from net import free_ports

pytestmark = [pytest.mark.tf, pytest.mark.slow]
TIMEOUT_S = 240


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    return make_class_folder(tmp_path / "data", {"red": 16, "green": 16, "blue": 16})


def _command(data: Path, out: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "gpu_assistant",
        "train",
        str(data),
        "--out",
        str(out),
        "--image-size",
        "32",
        "--batch-size",
        "4",
        "--json",
        *extra,
    ]


def _events(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


def _one(events: list[dict[str, Any]], name: str) -> dict[str, Any]:
    (event,) = [e for e in events if e["event"] == name]
    return event


def test_mirrored_strategy_on_two_logical_cpu_devices(tiny: Path, tmp_path: Path) -> None:
    command = _command(tiny, tmp_path / "run", "--epochs", "1", "--multi-gpu")
    done = subprocess.run(
        [*command, "--virtual-devices", "2"],
        check=False,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    events = _events(done.stdout)
    start = _one(events, "start")
    assert start["strategy"] == "MirroredStrategy"
    assert start["replicas"] == 2
    assert start["devices"] == ["/device:CPU:0", "/device:CPU:1"]
    assert start["global_batch"] == 8  # per-replica batch x replicas
    assert _one(events, "done")["epochs_completed"] == 1


@pytest.mark.parametrize(
    ("flag", "augment", "flip"), [("--no-flip", True, False), ("--no-augment", False, True)]
)
def test_augmentation_flags_reach_the_saved_settings(
    tiny: Path, tmp_path: Path, flag: str, augment: bool, flip: bool
) -> None:
    out = tmp_path / "run"
    # A model named, not Auto: Auto switches the mirror off by itself for tiny images.
    command = _command(tiny, out, "--epochs", "1", "--model", "small_cnn", flag)
    done = subprocess.run(command, check=False, capture_output=True, text=True, timeout=TIMEOUT_S)
    assert done.returncode == 0, done.stderr[-3000:]
    assert _one(_events(done.stdout), "done")["epochs_completed"] == 1
    saved = json.loads((out / "settings.json").read_text())
    assert (saved["augment"], saved["flip"]) == (augment, flip)


def test_two_multi_worker_processes_complete_an_epoch(tiny: Path, tmp_path: Path) -> None:
    workers = [f"127.0.0.1:{port}" for port in free_ports(2)]
    processes = []
    for index in range(2):
        spec = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        command = _command(tiny, tmp_path / f"run{index}", "--epochs", "1")
        processes.append(
            subprocess.Popen(
                [*command, "--cluster-spec", json.dumps(spec)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    outputs = []
    try:
        for process in processes:
            outputs.append(process.communicate(timeout=TIMEOUT_S))
    finally:
        for process in processes:
            process.kill()
    for process, (stdout, stderr) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, stderr[-3000:]
        events = _events(stdout)
        start = _one(events, "start")
        assert start["strategy"] == "MultiWorkerMirroredStrategy"
        assert start["replicas"] == 2
        assert _one(events, "done")["epochs_completed"] == 1
    assert (tmp_path / "run0" / "model.keras").is_file()  # the chief's run folder
    assert (tmp_path / "run1" / "worker-1" / "model.keras").is_file()  # kept apart


@pytest.mark.parametrize(
    ("stop", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["sigint", "sigterm"]
)
def test_ctrl_c_cancels_cleanly_keeping_the_checkpoint(
    tiny: Path, tmp_path: Path, stop: signal.Signals, code: int
) -> None:
    """Ctrl-C, and SIGTERM the same way (a service manager or `kill` stopping the run)."""
    out = tmp_path / "run"
    command = _command(tiny, out, "--epochs", "200", "--no-early-stopping")
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy()
    )
    lines = []
    try:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if '"event": "epoch"' in line:
                process.send_signal(stop)
                break
        rest, stderr = process.communicate(timeout=TIMEOUT_S)
    finally:
        process.kill()
    assert process.returncode == code, stderr[-3000:]
    events = _events("".join(lines) + rest)
    cancelled = _one(events, "cancelled")
    assert Path(cancelled["model_path"]).is_file()
    assert not [e for e in events if e["event"] == "done"]
    checkpoint = latest_checkpoint(out / "checkpoints")
    assert checkpoint is not None
    assert 1 <= checkpoint.epoch < 200
