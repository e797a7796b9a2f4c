"""What a run's progress events are made of: the run's shape (`RunClock`), the memory figure
and rounded metrics. Plain Python (TensorFlow only inside `memory_info`, on a GPU).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

MIN_BATCH_INTERVAL_S = 0.1  # at most 10 batch events a second


@dataclass
class RunClock:
    """What the progress callback needs to know about the run to compute rates and ETA (the
    steps per epoch come from Keras' `params`, i.e. what fit() was really given)."""

    global_batch: int
    epochs: int
    device_type: str  # "GPU" or "CPU": which memory figure the batch events carry


def memory_info(device_type: str) -> dict[str, Any]:
    """TF's current/peak GPU memory, or this process's resident memory on the CPU."""
    if device_type == "GPU":
        import tensorflow as tf

        info = tf.config.experimental.get_memory_info("GPU:0")
        return {
            "kind": "tf_gpu",
            "current_mb": round(info["current"] / 2**20, 1),
            "peak_mb": round(info["peak"] / 2**20, 1),
        }
    return {"kind": "host_rss", "current_mb": round(_rss_bytes() / 2**20, 1)}


def _rss_bytes() -> int:
    """Resident set size now (Linux /proc), else the peak from getrusage."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            import os

            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024


def metric(logs: dict[str, Any] | None, name: str) -> float | None:
    """A Keras log value as a plain float rounded for events, None when it is absent."""
    value = (logs or {}).get(name)
    return None if value is None else round(float(value), 5)
