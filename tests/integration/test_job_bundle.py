"""The exported script in both styles and the job bundle, run for real: the custom loop with
MirroredStrategy on 2 logical CPU devices, the bundle as 2 workers on 127.0.0.1 (two
processes), a worker whose peer never comes, and Ray Train with a local Ray instance."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from data_factory import make_class_folder
from gpu_assistant.cli import main
from gpu_assistant.jobs import CancelToken, ignore
from gpu_assistant.training.settings import TrainSettings
from gpu_assistant.training.trainer import train
from net import free_ports

pytestmark = [pytest.mark.tf, pytest.mark.slow]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("job")
    data = make_class_folder(root / "data", {"red": 10, "green": 10, "blue": 10})
    settings = TrainSettings(
        data_dir=data,
        out_dir=root / "run",
        model="small_cnn",
        image_size=32,
        batch_size=4,
        epochs=1,
        augment=False,
        val_split=0.2,
    )
    return train(settings, ignore, CancelToken()).run_dir


def _bundle(run_dir: Path, out: Path, ports: list[int]) -> Path:
    hosts = ",".join(f"127.0.0.1:{port}" for port in ports)
    code = main(["export", str(run_dir), "--format", "job", "--hosts", hosts, "--out", str(out)])
    assert code == 0
    return out


def _data_dir(run_dir: Path) -> str:
    return str(TrainSettings.load(run_dir / "settings.json").data_dir)


def _worker(bundle: Path, index: int | None, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop("TF_CONFIG", None)
    if index is not None:
        env["TF_CONFIG"] = (bundle / "tf_config" / f"worker-{index}.json").read_text()
    script = next(bundle.glob("train_*.py"))
    return subprocess.Popen(
        [sys.executable, str(script), *args],
        cwd=bundle,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_bundle_holds_the_apps_split_and_one_config_per_worker(
    run_dir: Path, tmp_path: Path
) -> None:
    bundle = _bundle(run_dir, tmp_path / "job", [2222, 2223])
    split = json.loads((bundle / "split.json").read_text())
    app_split = json.loads((run_dir / "split.json").read_text())
    assert [path for path, _ in split["val"]] == app_split["val"]
    assert all(split["classes"][label] == path.split("/")[0] for path, label in split["train"])
    worker = json.loads((bundle / "tf_config" / "worker-1.json").read_text())
    assert worker["task"] == {"type": "worker", "index": 1}
    readme = (bundle / "README.md").read_text()
    assert 'TF_CONFIG="$(cat tf_config/worker-1.json)"' in readme
    assert "gpu_assistant" not in next(bundle.glob("train_*.py")).read_text()


def test_custom_loop_trains_on_two_logical_devices(run_dir: Path, tmp_path: Path) -> None:
    bundle = _bundle(run_dir, tmp_path / "job", [2222, 2223])
    args = [_data_dir(run_dir), "--loop", "custom", "--virtual-devices", "2", "--epochs", "2"]
    worker = _worker(bundle, None, *args, "--split", "split.json", "--out", "trained")
    output, _ = worker.communicate(timeout=300)
    assert worker.returncode == 0, output[-3000:]
    assert "2 replica(s)" in output
    assert "Epoch 2/2: loss" in output
    assert (bundle / "trained" / "model.keras").is_file()
    assert list((bundle / "trained" / "checkpoints" / "model").glob("ckpt-2*"))  # CheckpointManager


def test_bundle_trains_as_two_workers_on_localhost(run_dir: Path, tmp_path: Path) -> None:
    bundle = _bundle(run_dir, tmp_path / "job", free_ports(2))
    args = [_data_dir(run_dir), "--split", "split.json", "--out", "trained", "--epochs", "1"]
    workers = [_worker(bundle, index, *args) for index in (0, 1)]  # auto: custom
    outputs = [worker.communicate(timeout=300)[0] for worker in workers]
    for worker, output in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, output[-3000:]
    assert "2 replica(s)" in outputs[0]
    assert "Training loop: custom" in outputs[0]
    assert (bundle / "trained" / "model.keras").is_file()  # the chief's
    assert (bundle / "trained" / "worker-1" / "model.keras").is_file()


def test_a_worker_whose_peer_never_comes_says_so_and_stops(run_dir: Path, tmp_path: Path) -> None:
    ports = free_ports(2)
    bundle = _bundle(run_dir, tmp_path / "job", ports)
    worker = _worker(bundle, 0, _data_dir(run_dir), "--peer-timeout", "8", "--out", "trained")
    output, _ = worker.communicate(timeout=120)
    assert worker.returncode == 3, output[-3000:]
    assert f"waiting for worker 1 at 127.0.0.1:{ports[1]}" in output
    assert f"Gave up after 8 s: cannot reach worker 1 at 127.0.0.1:{ports[1]}" in output


@pytest.mark.skipif(
    importlib.util.find_spec("ray") is None,
    reason="ray is not installed (pip install 'tf-gpu-assistant[ray]'); it has no wheel for "
    "every Python",
)
def test_ray_entry_point_trains_with_two_local_workers(run_dir: Path, tmp_path: Path) -> None:
    bundle = _bundle(run_dir, tmp_path / "job", [2222, 2223])
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "RAY_USAGE_STATS_ENABLED": "0"}
    env.pop("TF_CONFIG", None)
    done = subprocess.run(
        [sys.executable, "ray_train.py", _data_dir(run_dir), "--workers", "2", "--epochs", "1"],
        cwd=bundle,
        env=env,
        capture_output=True,
        text=True,
        timeout=480,
        check=False,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    assert (bundle / "trained" / "model.keras").is_file()
    assert (bundle / "trained" / "worker-1" / "model.keras").is_file()
