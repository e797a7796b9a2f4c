"""Run in a child process by `verify.py`: import TensorFlow, read its build, test every device.

A broken CUDA install can hang or kill the process that imports TensorFlow, so this never runs
inside the app. It writes JSON Lines to stdout -- ``{"event": "stage", ...}`` as it goes and one
``{"event": "result", ...}`` at the end -- and leaves stderr to TensorFlow's own log, which the
parent reads to explain failures.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any

MATMUL_SIZE = {"CPU": 256, "GPU": 2048}
CONV_SHAPE = {"CPU": (4, 64, 64, 32), "GPU": (32, 128, 128, 64)}
REPEATS = 5


def emit(event: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


def main() -> int:
    emit({"event": "stage", "stage": "import", "message": "Importing TensorFlow"})
    started = time.perf_counter()
    try:
        import tensorflow as tf
    except Exception as error:  # ImportError, or a broken native library raising at import
        emit(
            {
                "event": "result",
                "imported": False,
                "error_type": type(error).__name__,
                "error": str(error),
            }
        )
        return 0
    result: dict[str, Any] = {
        "event": "result",
        "imported": True,
        "import_seconds": round(time.perf_counter() - started, 3),
        "version": tf.__version__,
        "build": _build_info(tf),
        "cuda_wheels": _cuda_wheels(),
    }
    emit({"event": "stage", "stage": "devices", "message": "Listing devices"})
    gpus = tf.config.list_physical_devices("GPU")
    result["gpus_visible"] = [_gpu_details(tf, gpu) for gpu in gpus]
    devices = ["/CPU:0"] + [f"/GPU:{i}" for i in range(len(gpus))]
    result["devices"] = []
    for device in devices:
        emit({"event": "stage", "stage": "compute", "message": f"Testing {device}"})
        result["devices"].append(_time_device(tf, device))
    emit(result)
    return 0


def _build_info(tf: Any) -> dict[str, Any]:
    info = dict(tf.sysconfig.get_build_info())
    keep = ("is_cuda_build", "is_rocm_build", "cuda_version", "cudnn_version")
    build = {key: info.get(key) for key in keep}
    build["cuda_compute_capabilities"] = list(info.get("cuda_compute_capabilities") or [])
    return build


def _cuda_wheels() -> dict[str, str]:
    """The pip-installed NVIDIA libraries (nvidia-*-cu11/cu12) in this interpreter."""
    import importlib.metadata
    import re

    wheels = {}
    for dist in importlib.metadata.distributions():
        name = (dist.metadata["Name"] or "").lower().replace("_", "-")
        if re.fullmatch(r"nvidia-[a-z0-9-]+-cu1\d", name):
            wheels[name] = dist.version
    return dict(sorted(wheels.items()))


def _gpu_details(tf: Any, gpu: Any) -> dict[str, Any]:
    details = tf.config.experimental.get_device_details(gpu)
    cc = details.get("compute_capability")
    return {
        "name": details.get("device_name", gpu.name),
        "device": gpu.name,
        "compute_capability": f"{cc[0]}.{cc[1]}" if cc else None,
    }


def _time_device(tf: Any, device: str) -> dict[str, Any]:
    """Matmul and a conv (cuDNN on a GPU) on `device`: milliseconds per run after a warm-up."""
    kind = "GPU" if "GPU" in device else "CPU"
    entry: dict[str, Any] = {"device": device}
    n = MATMUL_SIZE[kind]
    batch, height, width, channels = CONV_SHAPE[kind]
    tests: dict[str, Callable[[], Any]] = {
        "matmul": lambda: tf.linalg.matmul(tf.random.normal((n, n)), tf.random.normal((n, n))),
        "conv2d": lambda: tf.nn.conv2d(
            tf.random.normal((batch, height, width, channels)),
            tf.random.normal((3, 3, channels, channels)),
            strides=1,
            padding="SAME",
        ),
    }
    for name, op in tests.items():
        try:
            with tf.device(device):
                first = op()
                first.numpy()  # warm-up: kernel load (and PTX JIT) happens here
                start = time.perf_counter()
                for _ in range(REPEATS):
                    out = op()
                out.numpy()
            entry[f"{name}_ms"] = round((time.perf_counter() - start) * 1000 / REPEATS, 3)
            entry[f"{name}_device"] = out.device
        except Exception as error:  # a failing kernel is a finding, not a crash
            entry[f"{name}_error"] = f"{type(error).__name__}: {error}"[:2000]
    return entry


if __name__ == "__main__":
    sys.exit(main())
