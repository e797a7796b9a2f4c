"""Every training run on disk, summarised from its run folder's files (no TensorFlow).

A run's state comes from what it left: ``metrics.json`` says how it ended (completed,
stopped_early -> finished; cancelled -> stopped); a run with a checkpoint but no metrics was
interrupted (the app or the machine went away) and can be resumed like a stopped one; a run
with neither a model nor a checkpoint failed before its first epoch.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gpu_assistant.jobs import UserError
from gpu_assistant.paths import runs_dir
from gpu_assistant.training.run_folder import RunFolder

FINISHED, STOPPED, FAILED = "finished", "stopped", "failed"


@dataclass(frozen=True)
class RunSummary:
    path: Path
    started: float  # seconds since the epoch (settings.json is written when a run starts)
    dataset: str
    model: str
    state: str  # finished | stopped | failed
    accuracy: float | None  # validation accuracy of the kept model, when known
    epochs: int  # completed epochs
    has_model: bool

    @property
    def resumable(self) -> bool:
        return self.state == STOPPED and (RunFolder(self.path).checkpoints / "state.json").exists()

    def date_text(self) -> str:
        return time.strftime("%Y-%m-%d %H:%M", time.localtime(self.started))


def _json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def summarise(path: Path) -> RunSummary | None:
    """The run in `path`, or None when the folder holds no run (no settings.json)."""
    folder = RunFolder(Path(path))
    if not folder.settings.is_file():
        return None
    settings = _json(folder.settings)
    metrics = _json(folder.metrics)
    evaluation = _json(folder.evaluation)
    history = metrics.get("history") or _json(folder.checkpoints / "state.json").get("history")
    history = history if isinstance(history, list) else []
    status = metrics.get("status")
    has_model = folder.model.is_file()
    if status in {"completed", "stopped_early"}:
        state = FINISHED
    elif status == "cancelled" or (folder.checkpoints / "state.json").exists():
        state = STOPPED
    else:
        state = STOPPED if has_model else FAILED
    accuracy = evaluation.get("accuracy")
    if accuracy is None:
        final = metrics.get("final") or (history[-1] if history else {})
        accuracy = final.get("model_val_accuracy", final.get("val_accuracy"))
    data_dir = str(settings.get("data_dir") or "")
    return RunSummary(
        path=folder.root,
        started=folder.settings.stat().st_mtime,
        dataset=Path(data_dir).name or data_dir,
        model=str(settings.get("model") or ""),
        state=state,
        accuracy=float(accuracy) if isinstance(accuracy, int | float) else None,
        epochs=len(history),
        has_model=has_model,
    )


def list_runs(root: Path | None = None) -> list[RunSummary]:
    """Every run under `root` (default: the app's runs folder), newest first."""
    base = Path(root) if root is not None else runs_dir()
    if not base.is_dir():
        return []
    found = (summarise(child) for child in base.iterdir() if child.is_dir())
    return sorted(
        (run for run in found if run is not None),
        key=lambda r: (r.started, r.path.name),
        reverse=True,
    )


def delete_run(path: Path) -> None:
    """Remove a run folder; refuses anything that is not one (no settings.json)."""
    folder = RunFolder(Path(path))
    if not folder.settings.is_file():
        raise UserError(f"{path} is not a training run folder.", "Nothing was deleted.")
    shutil.rmtree(folder.root)
