"""The app's training speed vs the plain Keras recipe, same model and data, in one run.

Baseline (the TensorFlow tutorials' recipe): `keras.utils.image_dataset_from_directory`
(80/20 split) `.cache().prefetch(AUTOTUNE)` and `model.fit`, on the same small CNN the app
builds (`training.models.build_model`), same optimiser, batch size and image size.
App: `training.trainer.train` with everything on that a user gets (scan, live batch events
through a report callback, epoch checkpoints, TensorBoard logs, early stopping off so both run
the same epochs); augmentation off on both sides (the recipe has none).

Printed, for each of --repeats recipe/app pairs (run one after the other) and as medians:
  steady-state images/s: training images / epoch wall time (validation and, for the app,
    checkpointing included), median over epochs 3..N;
  images per CPU-second: the same, per second of this process's CPU time (all threads) --
    the stable measure on a machine shared with other work, where wall time swings 2x;
  time to the target validation accuracy, from the call that starts training.
and the app/recipe ratios, the median of the pairs' ratios (images/s: higher is better,
target >= 1.0; time: lower is better). Single pairs swing +-15% on a shared 2-core machine:
compare with --repeats 6.

    .venv/bin/python benchmarks/bench_training.py [--epochs 10] [--target 0.9] [--repeats 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

BATCH = 32
SEED = 1337


def timing_callback(start: float, target: float) -> Any:
    """Epoch wall times and the moment validation accuracy first reaches `target`."""
    import keras

    class Timing(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.seconds: list[float] = []
            self.cpu_seconds: list[float] = []
            self.reached_s: float | None = None
            self._begin = self._begin_cpu = 0.0

        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            self._begin, self._begin_cpu = time.perf_counter(), time.process_time()

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            now = time.perf_counter()
            self.seconds.append(now - self._begin)
            self.cpu_seconds.append(time.process_time() - self._begin_cpu)
            if self.reached_s is None and (logs or {}).get("val_accuracy", 0.0) >= target:
                self.reached_s = now - start

    return Timing()


def run_recipe(data: Path, size: int, epochs: int, target: float) -> tuple[Any, int]:
    import keras
    import tensorflow as tf

    from gpu_assistant.training.models import build_model

    start = time.perf_counter()
    train, val = keras.utils.image_dataset_from_directory(
        data,
        validation_split=0.2,
        subset="both",
        seed=SEED,
        image_size=(size, size),
        batch_size=BATCH,
    )
    images = sum(int(y.shape[0]) for _, y in train)
    # The model takes uint8 pixels (as the app feeds it); the recipe yields float32.
    to_uint8 = lambda x, y: (tf.cast(x, tf.uint8), y)  # noqa: E731
    autotune = tf.data.AUTOTUNE
    train = train.map(to_uint8).cache().prefetch(autotune)
    val = val.map(to_uint8).cache().prefetch(autotune)
    model = build_model("small_cnn", len(list(data.iterdir())) - 1, size)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    timing = timing_callback(start, target)
    model.fit(
        train, validation_data=val, epochs=epochs, callbacks=[timing], verbose=0, shuffle=False
    )
    return timing, images


def run_app(data: Path, size: int, epochs: int, target: float, out: Path) -> tuple[Any, int]:
    from gpu_assistant.jobs import CancelToken
    from gpu_assistant.training.settings import TrainSettings
    from gpu_assistant.training.trainer import train

    events: list[dict[str, Any]] = []
    settings = TrainSettings(
        data_dir=data,
        out_dir=out,
        epochs=epochs,
        batch_size=BATCH,
        image_size=size,
        augment=False,
        early_stopping=False,
        seed=SEED,
    )
    start = time.perf_counter()
    timing = timing_callback(start, target)
    train(settings, events.append, CancelToken(), callbacks=[timing])
    (begin,) = [e for e in events if e["event"] == "start"]
    assert any(e["event"] == "batch" for e in events), "live reporting was not on"
    return timing, begin["train_images"]


def main() -> None:
    from gpu_assistant.data.sample import sample_data_dir

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None, help="default: the sample set")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--target", type=float, default=0.9)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    data = args.data or sample_data_dir()
    pairs: list[dict[str, tuple[float, float, float | None]]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):
            pair = {}
            for side in ("recipe", "app"):
                if side == "app":
                    out = Path(tmp) / f"run{repeat}"
                    timing, images = run_app(data, args.size, args.epochs, args.target, out)
                else:
                    timing, images = run_recipe(data, args.size, args.epochs, args.target)
                wall = images / statistics.median(timing.seconds[2:] or timing.seconds)
                cpu = images / statistics.median(timing.cpu_seconds[2:] or timing.cpu_seconds)
                pair[side] = (wall, cpu, timing.reached_s)
                print(
                    f"{side:>6} run {repeat + 1}: {wall:7.1f} images/s, {cpu:7.1f} images per "
                    f"CPU-s; epochs {[round(s, 2) for s in timing.seconds]} s; target reached "
                    f"at {timing.reached_s and round(timing.reached_s, 1)} s"
                )
            pairs.append(pair)
    print(f"\ndata: {data} (image size {args.size}, batch {BATCH}, {args.epochs} epochs)")
    for index, label in ((0, "images/s (wall)"), (1, "images per CPU-second")):
        ratios = [p["app"][index] / p["recipe"][index] for p in pairs]
        app = statistics.median(p["app"][index] for p in pairs)
        recipe = statistics.median(p["recipe"][index] for p in pairs)
        print(
            f"steady-state {label}: app {app:.1f}  recipe {recipe:.1f}  ratio app/recipe "
            f"{statistics.median(ratios):.3f} (pairs: {', '.join(f'{r:.2f}' for r in ratios)}; "
            "target >= 1.0)"
        )
    reached = [(p["app"][2], p["recipe"][2]) for p in pairs if p["app"][2] and p["recipe"][2]]
    if reached:
        ratios = [a / r for a, r in reached]
        app_s = statistics.median(a for a, _ in reached)
        print(
            f"time to val accuracy {args.target}: app {app_s:.1f}"
            f" s  recipe {statistics.median(r for _, r in reached):.1f} s  ratio app/recipe "
            f"{statistics.median(ratios):.3f} (pairs: {', '.join(f'{r:.2f}' for r in ratios)})"
        )
    else:
        print(f"time to val accuracy {args.target}: not reached by both in {args.epochs} epochs")


if __name__ == "__main__":
    main()
