"""Checks a run passes before it changes anything: a resume that can really continue, data
that can be split for validation, room on the disk; and the message for a write that failed.

Each refusal is a `UserError` raised before the run folder is touched (a refused `--resume`
leaves settings.json, labels.txt and the model exactly as they were).
"""

from __future__ import annotations

import errno
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gpu_assistant.jobs import UserError
from gpu_assistant.training.checkpoints import resumable_checkpoint
from gpu_assistant.training.run_folder import RunFolder, read_labels

MIN_IMAGES_PER_CLASS = 2  # one to learn from, one to validate on
# Copies of the model's variables (weights + Adam's two moments) a run keeps on disk at once:
# base.keras, the last and the best checkpoint, the next one's temp file, model.keras and its
# temp file.
COPIES_ON_DISK = 6
OPTIMIZER_FACTOR = 3
SPACE_MARGIN_BYTES = 4 * 2**20  # settings, metrics, evaluation, TensorBoard logs
# Settings that shape the saved model: a resume cannot change them.
ARCHITECTURE_FIELDS = (("model", "--model"), ("image_size", "--image-size"))
_FULL = (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))
_NOT_WRITABLE = (errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOTDIR, errno.EEXIST, errno.EISDIR)


def check_resumable(folder: RunFolder, settings: Any) -> None:
    """Refuse a resume that would start over (checkpoint gone) or change the model's shape."""
    resumable_checkpoint(folder.checkpoints, has_model=folder.model.exists())
    if not folder.settings.is_file():
        return
    from gpu_assistant.training.settings import TrainSettings

    saved = TrainSettings.load(folder.settings)
    for name, option in ARCHITECTURE_FIELDS:
        before, now = getattr(saved, name), getattr(settings, name)
        if before != now:
            raise UserError(
                f"A resumed run keeps its {option} ({before}); {now} does not fit its checkpoint.",
                f"Resume without {option}, or start a new run (another --out) with {option} {now}.",
            )


def check_same_classes(folder: RunFolder, class_names: Sequence[str]) -> None:
    """Refuse a resume on a folder whose classes differ from the run's: the model's outputs
    are the run's classes, and labels.txt must keep naming them."""
    if not folder.labels.is_file():
        return  # the run stopped before it wrote them: nothing to keep consistent
    before = read_labels(folder.labels)
    if before == list(class_names):
        return
    added = [name for name in class_names if name not in before]
    removed = [name for name in before if name not in class_names]
    changes = [
        f"{what} {', '.join(repr(n) for n in names)}"
        for what, names in (("added", added), ("missing", removed))
        if names
    ] or ["in another order"]
    raise UserError(
        f"The data folder's classes differ from this run's ({'; '.join(changes)}): the "
        f"run's model predicts exactly {len(before)} classes ({', '.join(before)}).",
        "Resume with the class folders as they were, or start a new run (without --resume) "
        "to train on the new classes.",
    )


def check_class_names(class_names: Sequence[str]) -> None:
    """Refuse a class folder whose name is not UTF-8 text (Linux allows any bytes): labels.txt,
    the events and every export name classes in UTF-8, where such a name cannot be written."""
    for name in class_names:
        try:
            name.encode("utf-8")
        except UnicodeEncodeError:
            shown = name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
            raise UserError(
                f"The class folder '{shown}' has a name that is not UTF-8 text, which "
                "labels.txt and the exported model cannot hold.",
                "Rename the folder (e.g. in a file manager, which shows the odd character).",
            ) from None


def check_enough_images(scan: Any) -> None:
    """Every class needs an image to learn from and one to validate on: with fewer, training
    would run without validation (or never check that class), and say nothing."""
    short = [c for c in scan.classes if c.count < MIN_IMAGES_PER_CLASS]
    if not short:
        return
    listed = ", ".join(f"'{c.name}' has {c.count}" for c in short)
    missing = sum(MIN_IMAGES_PER_CLASS - c.count for c in short)
    raise UserError(
        f"Each class needs at least {MIN_IMAGES_PER_CLASS} images (one to train on, one for "
        f"validation); {listed}.",
        f"Add {missing} more image(s) to {'that class' if len(short) == 1 else 'those classes'} "
        "(more is better: a few dozen per class is a good start).",
    )


def space_needed(model: Any) -> int:
    """Bytes the run folder will need at most: the model's variables a few times over."""
    weights = sum(int(v.numpy().nbytes) for v in model.weights)
    return weights * OPTIMIZER_FACTOR * COPIES_ON_DISK + SPACE_MARGIN_BYTES


def check_free_space(root: Path, model: Any) -> None:
    """Refuse to start when the run folder's disk cannot hold the checkpoints and the model."""
    needed = space_needed(model)
    free = shutil.disk_usage(root).free
    if free < needed:
        raise UserError(
            f"The disk holding {root} has {_mb(free)} free; this run needs about "
            f"{_mb(needed)} for its checkpoints and model.",
            "Free some space on that disk, or choose an --out folder on another disk.",
        )


def write_error(error: OSError, root: Path) -> UserError | None:
    """The message for a failed write into the run folder (a full disk, a read-only or
    foreign folder); None when `error` is something else (e.g. reading an image)."""
    where = Path(error.filename) if error.filename else root
    if error.errno in _FULL:
        return UserError(
            f"The disk is full: cannot write {where}.",
            "Free some space on that disk (or use an --out folder on another one), then "
            "run the command again (with --resume if an epoch completed).",
        )
    inside = where == root or root in where.parents or where in root.parents
    if error.errno in _NOT_WRITABLE and inside:
        return UserError(
            f"Cannot write the run folder {root}: {error.strerror} ({where}).",
            "Choose an --out folder you can write to (not a file, not on a read-only disk).",
        )
    return None


def _mb(size: int) -> str:
    return f"{size / 2**20:.1f} MB"
