"""Verify TensorFlow for real, in a child process.

`verify()` runs `verify_child` with a timeout (a broken CUDA install can hang or crash on
`import tensorflow`), streams its stages as progress events, can be cancelled, and survives
anything the child does; `diagnose.analyse()` turns what the child reported into checks.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from gpu_assistant.child import child_env, python_module, run_child
from gpu_assistant.jobs import Cancelled, CancelToken, Report, ignore
from gpu_assistant.system.diagnose import FAIL, Check, analyse, ran_on_gpu

CHILD_MODULE = "gpu_assistant.system.verify_child"


@dataclass
class VerifyResult:
    installed: bool
    version: str | None
    build: dict[str, Any]
    gpus_visible: list[dict[str, Any]]
    devices: list[dict[str, Any]]
    checks: list[Check]
    log: str  # TF's stderr (tail)
    returncode: int | None
    timed_out: bool
    seconds: float

    @property
    def gpu_works(self) -> bool:
        """A GPU ran both test ops: TensorFlow will use it."""
        return any("GPU" in d["device"] and ran_on_gpu(d) for d in self.devices)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["gpu_works"] = self.gpu_works
        return data


def verify(
    timeout: float = 180.0,
    report: Report = ignore,
    cancel: CancelToken | None = None,
    *,
    python: str = sys.executable,
    env: Mapping[str, str] | None = None,
) -> VerifyResult:
    """Run the checks in `python` (default: this interpreter); never raises for child failures."""
    environ = child_env(env)
    environ["TF_CPP_MIN_LOG_LEVEL"] = "0"  # the INFO/WARNING lines are what we parse

    def stages(event: dict[str, Any]) -> None:
        if event.get("event") == "stage":
            report({"event": "progress", "done": 0, "total": 1, "message": event.get("message")})

    try:
        outcome = run_child(
            python_module(python, CHILD_MODULE),
            report=stages,
            cancel=cancel,
            env=environ,
            timeout=timeout,
        )
    except OSError as error:
        check = Check(
            "tensorflow_import",
            FAIL,
            f"Could not start Python at {python}: {error}.",
            "Choose the Python (virtual environment) that has TensorFlow installed.",
        )
        return VerifyResult(False, None, {}, [], [], [check], "", None, False, 0.0)
    if outcome.cancelled:
        raise Cancelled
    result = outcome.last("result")
    text = outcome.stderr.text()
    checks = analyse(
        result,
        text,
        returncode=outcome.returncode,
        timed_out=outcome.timed_out,
        timeout=timeout,
        environ=environ,
    )
    report({"event": "progress", "done": 1, "total": 1, "message": "Verification finished"})
    return VerifyResult(
        installed=bool(result and result.get("imported")),
        version=(result or {}).get("version"),
        build=(result or {}).get("build") or {},
        gpus_visible=(result or {}).get("gpus_visible") or [],
        devices=(result or {}).get("devices") or [],
        checks=checks,
        log=text,
        returncode=outcome.returncode,
        timed_out=outcome.timed_out,
        seconds=outcome.seconds,
    )
