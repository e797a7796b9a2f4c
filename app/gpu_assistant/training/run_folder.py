"""The run folder: where a run's files live, how a new one is named, and the saved split.

Layout: model.keras, labels.txt, metrics.json, settings.json, split.json, duplicates.json
(the copies kept on one side of the split), evaluation.json, checkpoints/ (state.json + the
last epoch, and early stopping's best), logs/ (TensorBoard).
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gpu_assistant.jobs import UserError
from gpu_assistant.paths import TEMP_PREFIX, atomic_write_text, runs_dir, write_atomically


@dataclass(frozen=True)
class RunFolder:
    root: Path

    @property
    def model(self) -> Path:
        return self.root / "model.keras"

    @property
    def labels(self) -> Path:
        return self.root / "labels.txt"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.json"

    @property
    def settings(self) -> Path:
        return self.root / "settings.json"

    @property
    def split(self) -> Path:
        return self.root / "split.json"

    @property
    def duplicates(self) -> Path:
        return self.root / "duplicates.json"

    @property
    def evaluation(self) -> Path:
        return self.root / "evaluation.json"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def logs(self) -> Path:
        return self.root / "logs"


def fresh_run_dir(model_name: str) -> Path:
    """A new, unused path under runs/ named after the time and the model."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out_dir = runs_dir() / f"{stamp}-{model_name}"
    suffix = 1
    while out_dir.exists():
        suffix += 1
        out_dir = runs_dir() / f"{stamp}-{model_name}-{suffix}"
    return out_dir


def new_run_folder(out_dir: Path | None, model_name: str) -> RunFolder:
    """A fresh folder for a new run; refuses to mix two runs in one folder."""
    folder = RunFolder(Path(out_dir) if out_dir is not None else fresh_run_dir(model_name))
    # A folder whose run never finished an epoch (bad data folder, weights offline...) is
    # reused, so that retrying the same command works; one holding a model never is.
    if folder.model.exists() or (folder.checkpoints / "state.json").exists():
        raise UserError(
            f"{folder.root} already holds a training run.",
            "Continue it with --resume, or choose another --out folder.",
        )
    folder.root.mkdir(parents=True, exist_ok=True)
    return folder


def existing_run_folder(out_dir: Path | None) -> RunFolder:
    if out_dir is None or not (Path(out_dir) / "settings.json").is_file():
        raise UserError(
            f"There is no run to resume in {out_dir}.",
            "Pass the run's folder with --out (it holds settings.json), or start a new run.",
        )
    return RunFolder(Path(out_dir))


def save_model(model: Any, path: Path) -> None:
    """model.save through a temp file, so a crash never leaves a half-written model."""
    write_atomically(path, model.save)


# The temp files the app writes (`paths.temp_path`: `.tmp-<pid>-<name>`), and those of earlier
# versions (`tmp-<pid>-<model/base/epoch file>`, `.<name>.tmp-<pid>`) that crashes may have left
# in older run folders. Exact shapes only: --out may be a folder holding the user's own files.
_TEMP_NAMES = re.compile(
    rf"{re.escape(TEMP_PREFIX)}\d+-[\w.-]+\.(keras|json|txt|npz)"
    r"|tmp-\d+-(model\.keras|base\.keras|epoch-\d+\.npz)"
    r"|\.[\w.-]+\.(json|txt)\.tmp-\d+"
)


def remove_temp_files(folder: RunFolder) -> int:
    """Delete the temp files a crash (kill -9, power loss) left in the run folder: MBs each,
    and on a full disk what keeps the next run from starting. Call it holding the folder's
    lock (`training.lock`): no other writer can then be using them. Returns how many went."""
    removed = 0
    for directory in (folder.root, folder.checkpoints):
        if not directory.is_dir():
            continue
        for path in directory.iterdir():
            if _TEMP_NAMES.fullmatch(path.name) and path.is_file():
                path.unlink(missing_ok=True)
                removed += 1
    return removed


def write_json(path: Path, value: Any) -> None:
    """Readable UTF-8 JSON; where a file name is not UTF-8 (undecodable bytes, which Python
    holds as surrogates), ASCII escapes instead, which json reads back to the same name."""
    text = json.dumps(value, indent=2, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(value, indent=2)
    atomic_write_text(path, text)


def write_labels(path: Path, class_names: list[str]) -> None:
    """One name per line, in label order. A name with a line break would shift every label
    after it (scan leaves such folders out, so this is a bug guard)."""
    from gpu_assistant.data.scan import has_control_characters

    bad = [name for name in class_names if not name or has_control_characters(name)]
    if bad:
        raise ValueError(f"class names that labels.txt cannot hold: {bad!r}")
    atomic_write_text(path, "\n".join(class_names) + "\n")


def read_labels(path: Path) -> list[str]:
    """The class names of labels.txt; an empty file or an empty line (an edit, a damaged
    copy) is refused: dropping it would shift every label after it."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise UserError(
            f"Cannot read {path}: {error}.", "Copy the run's labels.txt again."
        ) from error
    names = [line.removesuffix("\r") for line in text.removesuffix("\n").split("\n")]
    if not text.strip() or not all(names):
        what = "is empty" if not text.strip() else f"has an empty line (line {names.index('') + 1})"
        raise UserError(
            f"{path} {what}; it must name one class per line, in the model's order.",
            "Copy the run's labels.txt again (or retrain).",
        )
    return names


def save_split(path: Path, split: Any, root: Path) -> None:
    """The train/val/test files as paths relative to the data folder (resume, export rescoring)."""
    parts = ("train", "val", "test")
    write_json(path, {name: [r.relative_key(root) for r in getattr(split, name)] for name in parts})


def load_split(path: Path, scan: Any) -> Any:
    """The split saved by the first run, matched to today's scan (vanished files drop out)."""
    from gpu_assistant.data.split import Split

    saved = json.loads(path.read_text(encoding="utf-8"))
    by_key = {r.relative_key(scan.root): r for r in scan.records}
    parts = {
        name: [by_key[k] for k in saved.get(name, []) if k in by_key]
        for name in ("train", "val", "test")
    }
    if not parts["train"]:
        raise UserError(
            "None of the training images of this run are in the data folder any more.",
            "Use the run's original data folder, or start a new run.",
        )
    return Split(parts["train"], parts["val"], parts["test"])
