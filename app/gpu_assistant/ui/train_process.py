"""Training for the window runs in a child process; this module is both ends of the pipe.

Why not in the app's own process: TensorFlow holds Python's GIL for long stretches (building
and tracing the model, validation, saving checkpoints), which froze the window for up to 0.4 s
and cost ~40 % of the training speed (benchmarks/bench_responsiveness.py); and a broken CUDA
install can crash the process it runs in. The child runs the same `train()` the CLI runs.

Parent: `train_in_child(settings, report, cancel)` -- a plain job, run by the UI's worker.
Child: ``python -m gpu_assistant.ui.train_process`` reads the settings as JSON on stdin, writes
one JSON event per line on stdout, and stops cleanly when stdin says ``cancel`` or closes (the
parent went away). Qt is never imported in the child.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections import deque
from pathlib import Path
from typing import IO, Any

from gpu_assistant.jobs import Cancelled, CancelToken, Event, Report, UserError

CHILD_MODULE = "gpu_assistant.ui.train_process"
STDERR_LINES_KEPT = 60
RESULT_EVENT = "train_result"
# On POSIX the child yields the CPU to the window (and the rest of the desktop) when both want
# it: on 2 cores TensorFlow's threads otherwise delay repaints by up to ~90 ms.
CHILD_NICENESS = 5


def train_in_child(settings: Any, report: Report, cancel: CancelToken) -> Any:
    """Run `training.trainer.train(settings)` in a child Python; return its `TrainResult`."""
    from gpu_assistant.training.trainer import TrainResult

    process = subprocess.Popen(
        [sys.executable, "-m", CHILD_MODULE],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        errors="replace",
    )
    assert process.stdin is not None and process.stdout is not None
    stderr: deque[str] = deque(maxlen=STDERR_LINES_KEPT)
    drain = threading.Thread(target=_keep_tail, args=(process.stderr, stderr), daemon=True)
    drain.start()
    process.stdin.write(json.dumps(settings.to_json()) + "\n")
    process.stdin.flush()
    watcher = threading.Thread(target=_forward_cancel, args=(cancel, process), daemon=True)
    watcher.start()
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    try:
        for line in process.stdout:
            event = _parse(line)
            if event is None:
                continue
            if event["event"] == RESULT_EVENT:
                result = event
            else:
                if event["event"] == "error":
                    error = event
                report(event)
        process.wait()
    finally:
        if process.poll() is None:  # the parent job itself failed: do not leave TF running
            process.kill()
            process.wait()
        drain.join(timeout=5)
        watcher.join(timeout=1)
        for stream in (process.stdin, process.stdout, process.stderr):
            if stream is not None:
                stream.close()
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
    if cancel.cancelled:
        raise Cancelled
    if error is not None:
        raise UserError(str(error.get("message", "Training failed.")), str(error.get("fix", "")))
    tail = "\n".join(stderr)
    raise RuntimeError(f"the training process ended with exit code {process.returncode}:\n{tail}")


def _parse(line: str) -> Event | None:
    try:
        event = json.loads(line)
    except ValueError:
        return None  # a stray print from a library: not an event
    return event if isinstance(event, dict) and "event" in event else None


def _keep_tail(stream: IO[str], tail: deque[str]) -> None:
    for line in stream:
        tail.append(line.rstrip("\n"))


def _forward_cancel(cancel: CancelToken, process: subprocess.Popen[str]) -> None:
    """Tell the child to stop (it finishes the step and keeps its checkpoint)."""
    while process.poll() is None:
        if cancel.wait(0.2):
            try:
                assert process.stdin is not None
                process.stdin.write("cancel\n")
                process.stdin.flush()
            except (OSError, ValueError):  # the child already ended, its pipe is closed
                pass
            return


def _child() -> int:
    """The child's side: settings from stdin, events to stdout, `cancel` (or EOF) stops it."""
    from gpu_assistant.training.settings import TrainSettings
    from gpu_assistant.training.trainer import train

    out = sys.stdout
    sys.stdout = sys.stderr  # stray prints from libraries must not corrupt the event stream
    lock = threading.Lock()

    def report(event: Event) -> None:
        with lock:
            out.write(json.dumps(event, default=str) + "\n")
            out.flush()

    if hasattr(os, "nice"):
        os.nice(CHILD_NICENESS)
    settings = TrainSettings.from_json(json.loads(sys.stdin.readline()))
    cancel = CancelToken()

    def listen() -> None:
        for line in sys.stdin:
            if line.strip() == "cancel":
                break
        cancel.cancel()  # "cancel", or the parent closed the pipe (it quit or crashed)

    threading.Thread(target=listen, daemon=True).start()
    try:
        result = train(settings, report, cancel)
    except UserError:
        return 2  # train() already reported the error event
    report(
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
