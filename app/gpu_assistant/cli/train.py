"""`gpu-assistant train DIR`: train an image classifier on a folder of class sub-folders.

Ctrl-C stops at the next step, keeps the last completed epoch (checkpoint and model) and exits
130; SIGTERM does the same and exits 143 (128 + 15, as a shell reports a terminated process).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from gpu_assistant.cli.arguments import path_argument
from gpu_assistant.jobs import CancelToken, Event, UserError
from gpu_assistant.training.models import MENU
from gpu_assistant.training.settings import MIXED_PRECISION_CHOICES, default

# Options that map 1:1 onto TrainSettings fields (None: keep the default or the resumed value).
_FIELDS = (
    "epochs",
    "batch_size",
    "image_size",
    "val_split",
    "learning_rate",
    "model",
    "mixed_precision",
    "virtual_devices",
    "fine_tune_epochs",
    "top_epochs",
    "seed",
    "weights_path",
)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train an image classifier on a folder of images (one sub-folder per class)",
        description="Train on DIR (one sub-folder per class). The run folder gets model.keras, "
        "labels.txt, metrics.json, evaluation.json, settings.json, checkpoints/ and logs/ "
        "(open with `tensorboard --logdir RUN/logs`). Ctrl-C stops cleanly (exit 130), "
        "keeping the last completed epoch; SIGTERM too (exit 143).",
    )
    parser.add_argument(
        "data_dir", metavar="DIR", type=path_argument, help="folder of class sub-folders"
    )
    parser.add_argument(
        "--epochs",
        type=int,
        help="training epochs (default: 10 for the small CNN, 60 for a pretrained model's head "
        "on cached features; early stopping usually ends it sooner)",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        help=f"images per device per step (default {default('batch_size')})",
    )
    parser.add_argument(
        "--image-size",
        type=int,
        help="square side in pixels (default: the model's: 224 pretrained, 32 for tiny images "
        "or 96 with the small CNN)",
    )
    parser.add_argument(
        "--val-split", type=float, help=f"validation fraction (default {default('val_split')})"
    )
    parser.add_argument(
        "--learning-rate",
        type=float,
        help=f"Adam learning rate (default {default('learning_rate')})",
    )
    parser.add_argument(
        "--model",
        choices=list(MENU),
        help="model (default auto: efficientnet_lite0, pretrained and offline, for photos and "
        "drawings; small_cnn for tiny images; the choice and why are reported and saved)",
    )
    parser.add_argument(
        "--weights",
        dest="weights_path",
        type=path_argument,
        help="ImageNet weights file for a transfer model (when Keras cannot download it)",
    )
    parser.add_argument(
        "--fine-tune-epochs",
        type=int,
        help="pretrained models: epochs with the top of the backbone unfrozen after the head "
        "(default 5 on a GPU, 0 on the CPU, where the run reports what they would cost)",
    )
    parser.add_argument(
        "--top-epochs",
        type=int,
        help="the offline pretrained model: epochs tuning the top of its backbone on maps "
        "cached once per image, after the head (default 10, early stopping usually ends them "
        "sooner; 0: the head only)",
    )
    parser.add_argument("--multi-gpu", action="store_true", help="MirroredStrategy over GPUs")
    parser.add_argument("--gpus", help="comma-separated GPU indices, e.g. 0,1 (default: all)")
    parser.add_argument(
        "--mixed-precision",
        choices=MIXED_PRECISION_CHOICES,
        help=f"default {default('mixed_precision')}",
    )
    parser.add_argument(
        "--virtual-devices",
        type=int,
        help="split the one device (CPU or one GPU) into N logical devices; with --multi-gpu "
        "MirroredStrategy then runs N replicas (tests, demos)",
    )
    parser.add_argument(
        "--cluster-spec",
        help="multi-worker training: a TF_CONFIG JSON text or file (default: $TF_CONFIG)",
    )
    parser.add_argument(
        "--no-augment",
        action="store_true",
        help="no augmentation at all (no mirror, rotation, zoom or contrast): for images that "
        "are always framed the same way (scans, screenshots, a fixed camera), or to see what "
        "augmentation brings",
    )
    parser.add_argument(
        "--no-flip",
        action="store_true",
        help="augment without mirroring left-right (rotation, zoom and contrast stay): for "
        "digits, text, anything whose mirror image is a different thing",
    )
    parser.add_argument("--no-early-stopping", action="store_true", help="train every epoch")
    parser.add_argument(
        "--seed", type=int, help=f"split and shuffle seed (default {default('seed')})"
    )
    parser.add_argument(
        "--out", type=path_argument, help="run folder (default: a new one under runs/)"
    )
    parser.add_argument("--resume", action="store_true", help="continue the run in --out")
    parser.add_argument("--json", action="store_true", help="JSON Lines: one object per event")
    parser.set_defaults(func=run)


def settings_from_args(args: argparse.Namespace) -> Any:
    """TrainSettings from the command line; on --resume, the saved ones plus what was given."""
    from gpu_assistant.training.distribute import cluster_spec
    from gpu_assistant.training.settings import TrainSettings

    if args.resume:
        if args.out is None:
            raise UserError("--resume needs the run's folder.", "Add --out RUN_FOLDER.")
        saved = Path(args.out) / "settings.json"
        if not saved.is_file():
            raise UserError(f"There is no run to resume in {args.out}.", "Start a new run.")
        settings = TrainSettings.load(saved)
        settings.data_dir = args.data_dir
    else:
        settings = TrainSettings(data_dir=args.data_dir, out_dir=args.out)
    for name in _FIELDS:
        value = getattr(args, name)
        if value is not None:
            setattr(settings, name, value)
    settings.resume = args.resume
    if args.multi_gpu:
        settings.multi_gpu = True
    if args.no_early_stopping:
        settings.early_stopping = False
    if args.no_augment:
        settings.augment = False
    if args.no_flip:
        settings.flip = False
    if args.gpus:
        settings.gpus = _gpu_list(args.gpus)
    if args.cluster_spec:
        settings.cluster = _cluster(args.cluster_spec)
    settings.validate()
    cluster_spec(settings)  # a TF_CONFIG in the environment is checked now, not after TF starts
    return settings


def _gpu_list(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise UserError(
            f"--gpus {text!r} is not a list of GPU numbers.", "Use e.g. --gpus 0,1."
        ) from None


def _cluster(text: str) -> dict[str, Any]:
    """--cluster-spec: JSON text, or the name of a file holding it."""
    from gpu_assistant.training.cluster import CLUSTER_EXAMPLE, validate_cluster

    where = "--cluster-spec"
    raw = text
    if not text.lstrip().startswith(("{", "[")):
        source = Path(text)
        if not source.is_file():
            raise UserError(
                f"The cluster spec file {source} does not exist.",
                f"Give the path of a TF_CONFIG file, or the JSON itself. {CLUSTER_EXAMPLE}",
            )
        where = str(source)
        try:
            raw = source.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise UserError(f"Cannot read the cluster spec {source}: {error}.") from error
    try:
        spec: dict[str, Any] = json.loads(raw)
    except ValueError as error:
        raise UserError(
            f"{where} is not valid TF_CONFIG JSON ({error}).", CLUSTER_EXAMPLE
        ) from error
    validate_cluster(spec)
    return spec


# Signals that stop training the way Ctrl-C does; the exit code says which one it was.
STOP_SIGNALS: dict[int, int] = {
    signal.SIGINT: 130,
    **({signal.SIGTERM: 143} if hasattr(signal, "SIGTERM") else {}),
}


@contextmanager
def cancel_on_signals(cancel: CancelToken) -> Iterator[list[int]]:
    """Ctrl-C or SIGTERM (a service manager, `kill`, a logout) sets the cancel token: training
    stops at the next step and keeps the last completed epoch, instead of dying with nothing
    saved. Yields the list the received signals are added to. A second one aborts at once."""
    received: list[int] = []

    def handler(signum: int, _frame: Any) -> None:
        if cancel.cancelled:  # a second signal: the user really wants out
            raise KeyboardInterrupt
        received.append(signum)
        print("\nStopping after this step (Ctrl-C again to abort)...", file=sys.stderr)
        cancel.cancel()

    previous = {signum: signal.signal(signum, handler) for signum in STOP_SIGNALS}
    try:
        yield received
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


def _text_report(event: Event) -> None:
    """Human-readable progress: one line per epoch, a live line for batches on a terminal."""
    name = event["event"]
    if name == "batch":
        if sys.stdout.isatty():
            print(
                f"\r  epoch {event['epoch']}/{event['epochs']} step {event['step']}/"
                f"{event['steps']} loss {event['loss']} acc {event['accuracy']} "
                f"{event['images_per_s']} img/s ETA {event['eta_s']:.0f}s   ",
                end="",
                flush=True,
            )
    elif name == "start":
        print(
            f"Training {event['train_images']} images ({event['val_images']} for validation), "
            f"{len(event['classes'])} classes, {event['strategy']} on {event['replicas']} "
            f"replica(s) {event['devices']}, global batch {event['global_batch']}, "
            f"{event['steps_per_epoch']} steps/epoch. Run folder: {event['run_dir']}"
        )
    elif name == "epoch":
        print(
            f"\rEpoch {event['epoch']}/{event['epochs']}: loss {event['loss']} "
            f"accuracy {event['accuracy']} val_loss {event['val_loss']} "
            f"val_accuracy {event['val_accuracy']} ({event['seconds']:.1f}s, "
            f"{event['images_per_s']} img/s)"
        )
    elif name == "phase":
        last = event["first_epoch"] + event["epochs"] - 1
        print(f"Epochs {event['first_epoch']}-{last} at most: {event['label']}.")
    elif name == "model_choice":
        from gpu_assistant.training.auto import choice_text

        print(f"Model: {choice_text(event['label'], event['image_size'], event['reason'] or '')}")
    elif name == "fine_tune_estimate":
        print(event["message"])
    elif name == "waiting":
        print(f"{event['message']} ({event['waited_s']:.0f} s)...", file=sys.stderr)
    elif name == "warning":
        print(f"Warning: {event['message']}", file=sys.stderr)
    elif name == "done":
        best = f", best epoch {event['best_epoch']} restored" if event.get("best_epoch") else ""
        print(f"Done ({event['status']}{best}). Model: {event['model_path']}")
        score = (event.get("metrics") or {}).get("model_val_accuracy")
        if score is not None:
            print(f"Validation accuracy of the saved model: {score:.1%}")
    elif name == "cancelled":
        if event.get("model_path"):
            print(f"Cancelled. Kept: {event['model_path']} (the last completed epoch)")
        else:
            print("Cancelled before the first epoch finished: no model was saved.")


def _json_report(event: Event) -> None:
    from gpu_assistant.cli.output import print_json

    print_json(event, indent=None)


def run(args: argparse.Namespace) -> int:
    from gpu_assistant.cli import EXIT_CANCELLED, EXIT_OK
    from gpu_assistant.training.trainer import train

    settings = settings_from_args(args)
    cancel = CancelToken()
    with cancel_on_signals(cancel) as received:
        result = train(settings, _json_report if args.json else _text_report, cancel)
    if result.status != "cancelled":
        return EXIT_OK
    return STOP_SIGNALS[received[0]] if received else EXIT_CANCELLED
