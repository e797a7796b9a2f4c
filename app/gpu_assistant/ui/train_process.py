"""Training for the window runs in a child process; this module is both ends of the pipe.

Why not in the app's own process: TensorFlow holds Python's GIL for long stretches (building
and tracing the model, validation, saving checkpoints), which froze the window for up to 0.4 s
and cost ~40 % of the training speed (benchmarks/bench_responsiveness.py); and a broken CUDA
install can crash the process it runs in. The child runs the same `train()` the CLI runs.

Parent: `train_in_child(settings, report, cancel)` -- a plain job, run by the UI's worker.
Child: ``python -m gpu_assistant.ui.train_process`` reads the settings (and the fingerprints of
the Data page's scan, so unchanged files are not decoded again) as JSON on stdin, writes
one JSON event per line on stdout, and stops cleanly when stdin says ``cancel`` or closes (the
parent went away). Qt is never imported in the child.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from gpu_assistant.child import (
    ChildSide,
    OutputLog,
    child_env,
    python_module,
    read_request,
    run_child,
)
from gpu_assistant.jobs import Cancelled, CancelToken, Event, Report, UserError

CHILD_MODULE = "gpu_assistant.ui.train_process"
STDERR_LINES_KEPT = 60
RESULT_EVENT = "train_result"
# On POSIX the child yields the CPU to the window (and the rest of the desktop) when both want
# it: on 2 cores TensorFlow's threads otherwise delay repaints by up to ~90 ms.
CHILD_NICENESS = 5


def train_in_child(
    settings: Any, report: Report, cancel: CancelToken, known_files: list[Any] | None = None
) -> Any:
    """Run `training.trainer.train(settings)` in a child Python; return its `TrainResult`.
    `known_files`: `data.scan.fingerprints` of the window's scan of the same folder."""
    from gpu_assistant.training.trainer import TrainResult

    def forward(event: Event) -> None:
        if event["event"] != RESULT_EVENT:
            report(event)

    outcome = run_child(
        python_module(sys.executable, CHILD_MODULE),
        report=forward,
        cancel=cancel,
        env=child_env(),
        stdin_text=json.dumps({"settings": settings.to_json(), "known_files": known_files or []})
        + "\n",
        cancel_line="cancel\n",  # the child finishes the step and keeps its checkpoint
        stderr_log=OutputLog(head=0, tail=STDERR_LINES_KEPT),
    )
    result = outcome.last(RESULT_EVENT)
    if result is not None:
        return TrainResult(
            status=result["status"],
            run_dir=Path(result["run_dir"]),
            model_path=Path(result["model_path"]) if result.get("model_path") else None,
            epochs_completed=int(result["epochs_completed"]),
            metrics=result.get("metrics") or {},
            evaluation_path=Path(result["evaluation_path"])
            if result.get("evaluation_path")
            else None,
        )
    if outcome.cancelled:
        raise Cancelled
    error = outcome.last("error")
    if error is not None:
        raise UserError(str(error.get("message", "Training failed.")), str(error.get("fix", "")))
    raise RuntimeError(
        f"the training process ended with exit code {outcome.returncode}:\n{outcome.stderr.text()}"
    )


def _child() -> int:
    """The child's side: settings from stdin, events to stdout, `cancel` (or EOF) stops it."""
    from gpu_assistant.training.settings import TrainSettings
    from gpu_assistant.training.trainer import train

    side = ChildSide()
    if hasattr(os, "nice"):
        os.nice(CHILD_NICENESS)
    request = read_request(sys.stdin)
    try:
        settings = TrainSettings.from_json(request["settings"])
    except UserError as error:  # e.g. settings.json of a run that a newer version wrote
        side.report({"event": "error", **error.to_dict()})
        return 2
    side.listen(sys.stdin)
    try:
        result = train(settings, side.report, side.cancel, known_files=request["known_files"])
    except UserError:
        return 2  # train() already reported the error event
    side.report(
        {
            "event": RESULT_EVENT,
            "status": result.status,
            "run_dir": str(result.run_dir),
            "model_path": str(result.model_path) if result.model_path else None,
            "epochs_completed": result.epochs_completed,
            "metrics": result.metrics,
            "evaluation_path": str(result.evaluation_path) if result.evaluation_path else None,
        }
    )
    return 0


if __name__ == "__main__":
    sys.exit(_child())
