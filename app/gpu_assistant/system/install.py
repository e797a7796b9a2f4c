"""Run pip for the user ("Install / repair"): an argument list, a live log, progress, cancel.

pip runs as ``python -m pip <args>`` in a child process -- never through a shell, so package
specs like ``tensorflow[and-cuda]==2.21.0`` need no quoting and nothing is injected. Each output
line becomes a ``{"event": "log", "line": ...}`` event; lines that mark pip's phases (Collecting,
Downloading, Installing, Successfully installed) move a rough percentage in ``progress`` events.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from gpu_assistant.child import child_env, run_child
from gpu_assistant.jobs import Cancelled, CancelToken, Report, UserError, ignore
from gpu_assistant.system.recommend import Recommendation

# How far (percent) each phase of pip's output gets the bar; resolving creeps toward the next.
_RESOLVING, _INSTALLING, _DONE = 60, 85, 100


def install_args(recommendation: Recommendation, *, cpu: bool = False) -> list[str]:
    """pip arguments (after ``python -m pip``) that install the recommended package."""
    if cpu:
        package = recommendation.cpu_fallback.get("package")
        if not package:
            raise UserError(recommendation.cpu_fallback["note"], "Use a supported Python.")
        return ["install", package]
    if not recommendation.package:
        first = recommendation.blockers[0] if recommendation.blockers else None
        raise UserError(
            "No TensorFlow build will use the GPU here: "
            + (first.message if first else "no recommendation."),
            first.fix if first else "",
        )
    return ["install", recommendation.package]


def pip_install(
    args: Sequence[str],
    report: Report = ignore,
    cancel: CancelToken | None = None,
    python: str = sys.executable,
) -> int:
    """Run ``python -m pip *args``; return pip's exit code. Raises Cancelled if cancelled."""
    if isinstance(args, str):
        raise TypeError("pip_install takes a list of arguments, never a shell string")
    env = child_env(PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_PROGRESS_BAR="off")
    argv = [python, "-m", "pip", *args]
    report({"event": "log", "line": "$ " + " ".join(argv)})
    progress = _Progress(report)
    try:
        outcome = run_child(argv, cancel=cancel, env=env, on_line=progress.line, merge_stderr=True)
    except OSError as error:
        raise UserError(
            f"Could not start Python at {python}: {error}.",
            "Choose an existing Python (virtual environment) to install into.",
        ) from error
    if outcome.cancelled:
        report({"event": "log", "line": "Cancelled: stopping pip."})
        raise Cancelled
    if outcome.returncode == 0:
        progress.set(_DONE, "Done")
    else:
        report({"event": "log", "line": f"pip exited with code {outcome.returncode}"})
    return outcome.returncode if outcome.returncode is not None else 1


class _Progress:
    """Turn pip's lines into log events and a monotonic percentage."""

    def __init__(self, report: Report) -> None:
        self.report = report
        self.percent = 0
        self.collected = 0

    def line(self, line: str) -> None:
        self.report({"event": "log", "line": line})
        text = line.strip()
        if text.startswith(("Collecting", "Downloading", "Processing", "Requirement already")):
            self.collected += 1
            # creep toward the resolving ceiling: 1/2, 2/3, 3/4... of the way
            self.set(_RESOLVING * self.collected // (self.collected + 1), text)
        elif text.startswith("Installing collected packages"):
            self.set(_INSTALLING, text)
        elif text.startswith("Successfully installed"):
            self.set(_DONE - 1, text)

    def set(self, percent: int, message: str) -> None:
        if percent > self.percent:
            self.percent = percent
            self.report({"event": "progress", "done": percent, "total": 100, "message": message})
