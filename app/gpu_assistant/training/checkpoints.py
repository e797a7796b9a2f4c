"""Epoch checkpoints that a crash (or Ctrl-C) mid-save can never corrupt.

Each epoch is saved to its own file through a temp name and `os.replace`; `state.json`, written
atomically after that, is the commit point that names the complete checkpoint. The previous
checkpoint is deleted only once the new one is committed.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gpu_assistant.paths import atomic_write_text

STATE_FILE = "state.json"


@dataclass(frozen=True)
class Checkpoint:
    """The last completed epoch (1-based count) and the model file holding its weights."""

    epoch: int
    model_path: Path
    state: dict[str, Any]


def save_checkpoint(folder: Path, model: Any, epoch: int, state: dict[str, Any]) -> Path:
    """Save `model` (with optimizer state) as the checkpoint after `epoch` completed epochs."""
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"epoch-{epoch:04d}.keras"
    tmp = folder / f"tmp-{os.getpid()}-epoch-{epoch:04d}.keras"  # Keras wants the suffix
    model.save(tmp)
    os.replace(tmp, final)
    atomic_write_text(
        folder / STATE_FILE,
        json.dumps({**state, "epoch": epoch, "model": final.name}, indent=2),
    )
    for old in folder.glob("*.keras"):
        if old != final:
            old.unlink(missing_ok=True)
    return final


def latest_checkpoint(folder: Path) -> Checkpoint | None:
    """The last committed checkpoint in `folder`, or None when there is none (or it is gone)."""
    try:
        state = json.loads((folder / STATE_FILE).read_text(encoding="utf-8"))
        path = folder / str(state["model"])
        epoch = int(state["epoch"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return Checkpoint(epoch, path, state) if path.is_file() else None
