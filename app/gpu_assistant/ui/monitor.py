"""NVML memory and utilisation samples during training, taken by a job (NVML calls can be slow).

Without a GPU nothing is sampled here: the trainer's batch events carry this process's memory.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from gpu_assistant.jobs import CancelToken, Report

SAMPLE_EVERY_S = 1.0


def monitor_job(gpus: list[int], nvml: Any) -> Any:
    """A job that reports a `usage` event (monotonic time `t`) every second until cancelled."""

    def job(report: Report, cancel: CancelToken) -> None:
        from gpu_assistant.system.hardware import gpu_usage

        while not cancel.cancelled:
            usage = [dataclasses.asdict(u) for u in gpu_usage(gpus, nvml=nvml)]
            report({"event": "usage", "t": time.monotonic(), "gpus": usage})
            cancel.wait(SAMPLE_EVERY_S)

    return job
