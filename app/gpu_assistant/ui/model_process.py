"""Predict and export for the window run in a child Python, like training: both ends of the pipe.

The window's process never imports TensorFlow: loading a model and running it held the GIL
long enough to freeze the window, and a broken CUDA install would take the window down with
it. The child runs the same `predict()` / `export()` as the CLI.

Parent: `predict_in_child(...)` and `export_in_child(...)` are plain jobs for the UI's worker.
Child: ``python -m gpu_assistant.ui.model_process`` reads one JSON request on stdin
(``{"task": "predict" | "export" | "cost" | "audit" | "explain", ...}``) and writes its
events and one ``model_result`` event as JSON lines; Cancel terminates it (no task has
anything to keep half-way). With ``--serve`` it answers request after request (one a line)
until its stdin closes or it has been idle for IDLE_EXIT_S: `model_server()` keeps one such
child for *Try an image* and *Why?*, so the second picture costs a prediction (about a tenth
of a second), not a Python with TensorFlow and the model loaded again (seconds). It runs on
the CPU (one image needs no GPU, and a kept TensorFlow must not hold GPU memory a training
run needs).
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from gpu_assistant.child import (
    ChildSide,
    KeptChild,
    child_env,
    python_module,
    read_request,
    run_child,
)
from gpu_assistant.jobs import Cancelled, CancelToken, Event, Report, UserError

CHILD_MODULE = "gpu_assistant.ui.model_process"
RESULT_EVENT = "model_result"
BUG_EVENT = "bug"
SERVE_FLAG = "--serve"
IDLE_EXIT_S = 600.0  # a kept child that has had no request for this long exits (memory back)


def model_server() -> KeptChild:
    """A kept child for predictions (AppState holds one; the window closes it)."""
    argv = [*python_module(sys.executable, CHILD_MODULE), SERVE_FLAG]
    last = {RESULT_EVENT, BUG_EVENT, "error"}
    return KeptChild(argv, child_env(CUDA_VISIBLE_DEVICES="-1"), last)


def predict_in_child(
    model: Path,
    images: list[Path],
    report: Report,
    cancel: CancelToken,
    *,
    server: KeptChild | None = None,
) -> Any:
    """`training.predict.predict(model, images)`, run in a child (`server`'s when given);
    returns its predictions."""
    from gpu_assistant.training.predict import Prediction

    value = _run(
        {"task": "predict", "model": str(model), "images": [str(i) for i in images]},
        report,
        cancel,
        server,
    )
    return [
        Prediction(
            path=Path(p["path"]),
            label=p.get("label"),
            confidence=p.get("confidence"),
            top=[(str(name), float(prob)) for name, prob in p.get("top") or []],
            error=p.get("error"),
        )
        for p in value
    ]


def export_in_child(
    model: Path, formats: list[str], out_dir: Path, report: Report, cancel: CancelToken
) -> Any:
    """`training.export.export(...)`, run in a child; returns its `ExportResult`."""
    from gpu_assistant.training.export import ExportResult

    value = _run(
        {"task": "export", "model": str(model), "formats": formats, "out_dir": str(out_dir)},
        report,
        cancel,
    )
    return ExportResult(
        out_dir=Path(value["out_dir"]),
        paths={name: Path(path) for name, path in value["paths"].items()},
        reference_accuracy=value.get("reference_accuracy"),
        accuracy=value.get("accuracy") or {},
        samples=int(value.get("samples") or 0),
    )


def cost_in_child(
    run_dir: Path, out_dir: Path, report: Report, cancel: CancelToken
) -> dict[str, Any]:
    """`training.export_cost.cost_report(run_dir, out_dir)` (every format's size, latency and
    agreement, also saved as report.json), run in a child; returns the table."""
    return _run({"task": "cost", "run_dir": str(run_dir), "out_dir": str(out_dir)}, report, cancel)


def audit_in_child(folder: Path, report: Report, cancel: CancelToken) -> dict[str, Any]:
    """`training.audit.audit_folder(folder)` (duplicates, likely mislabels), run in a child;
    returns its JSON document."""
    return _run({"task": "audit", "folder": str(folder)}, report, cancel)


def explain_in_child(
    model: Path,
    image: Path,
    out_dir: Path,
    report: Report,
    cancel: CancelToken,
    *,
    server: KeptChild | None = None,
) -> dict[str, Any]:
    """`training.explain.explain_files(model, [image], out_dir)[0]` (a Grad-CAM overlay),
    run in a child (`server`'s when given)."""
    request = {"task": "explain", "model": str(model), "image": str(image), "out": str(out_dir)}
    return _run(request, report, cancel, server)


def _run(
    request: dict[str, Any], report: Report, cancel: CancelToken, server: KeptChild | None = None
) -> Any:
    def forward(event: Event) -> None:
        if event["event"] not in {RESULT_EVENT, BUG_EVENT, "error"}:
            report(event)

    if server is not None:
        outcome = server.ask(request, report=forward, cancel=cancel)
    else:
        outcome = run_child(
            python_module(sys.executable, CHILD_MODULE),
            report=forward,
            cancel=cancel,
            env=child_env(),
            stdin_text=json.dumps(request) + "\n",  # cancel terminates: nothing to keep
        )
    result = outcome.last(RESULT_EVENT)
    if result is not None:
        return result["value"]
    if outcome.cancelled:
        raise Cancelled
    error = outcome.last("error")
    if error is not None:
        raise UserError(str(error.get("message", "")), str(error.get("fix", "")))
    bug = outcome.last(BUG_EVENT)
    details = bug["traceback"] if bug else outcome.stderr.last_lines(40)
    raise RuntimeError(
        f"the {request['task']} process ended with exit code {outcome.returncode}:\n{details}"
    )


def _predict(request: dict[str, Any], _side: ChildSide) -> Any:
    from gpu_assistant.training.predict import predict

    return [
        {
            "path": str(p.path),
            "label": p.label,
            "confidence": p.confidence,
            "top": p.top,
            "error": p.error,
        }
        for p in predict(Path(request["model"]), request["images"])
    ]


def _export(request: dict[str, Any], side: ChildSide) -> Any:
    from gpu_assistant.training.export import export

    result = export(
        Path(request["model"]), request["formats"], Path(request["out_dir"]), report=side.report
    )
    return {
        "out_dir": str(result.out_dir),
        "paths": {name: str(path) for name, path in result.paths.items()},
        "reference_accuracy": result.reference_accuracy,
        "accuracy": result.accuracy,
        "samples": result.samples,
    }


def _cost(request: dict[str, Any], side: ChildSide) -> Any:
    from gpu_assistant.training.export_cost import cost_report

    return cost_report(Path(request["run_dir"]), Path(request["out_dir"]), report=side.report)


def _audit(request: dict[str, Any], side: ChildSide) -> Any:
    from gpu_assistant.training.audit import audit_folder

    return audit_folder(request["folder"], report=side.report).to_json()


def _explain(request: dict[str, Any], _side: ChildSide) -> Any:
    from gpu_assistant.training.explain import explain_files

    return explain_files(Path(request["model"]), [request["image"]], Path(request["out"]))[0]


TASKS = {
    "predict": _predict,
    "export": _export,
    "cost": _cost,
    "audit": _audit,
    "explain": _explain,
}


def _answer(request: dict[str, Any], side: ChildSide) -> int:
    """Run one request; its last event is the result, an error or a bug. The exit code."""
    try:
        value = TASKS[request["task"]](request, side)
    except UserError as error:
        side.report({"event": "error", **error.to_dict()})
        return 2
    except Exception as error:  # a bug: the parent shows it with the traceback
        bug = {"event": BUG_EVENT, "message": str(error), "traceback": traceback.format_exc()}
        side.report(bug)
        return 3
    side.report({"event": RESULT_EVENT, "value": value})
    return 0


def _serve(side: ChildSide) -> int:
    """Requests one a line until stdin closes (the window went) or IDLE_EXIT_S without one."""
    idle_since: list[float | None] = [time.monotonic()]

    def exit_when_idle() -> None:
        while True:
            time.sleep(1.0)
            since = idle_since[0]
            if since is not None and time.monotonic() - since > IDLE_EXIT_S:
                os._exit(0)  # between requests: nothing half-written

    threading.Thread(target=exit_when_idle, daemon=True).start()
    for line in sys.stdin:
        idle_since[0] = None
        _answer(json.loads(line), side)
        idle_since[0] = time.monotonic()
    return 0


def _child() -> int:
    """The child's side: one request in, events and the result out (or, serving, many)."""
    side = ChildSide()
    if SERVE_FLAG in sys.argv[1:]:
        return _serve(side)
    return _answer(read_request(sys.stdin), side)


if __name__ == "__main__":
    sys.exit(_child())
