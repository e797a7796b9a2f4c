"""The app's training speed vs the plain Keras recipe, same model and data, in one run.

Baseline (the TensorFlow tutorials' recipe): `keras.utils.image_dataset_from_directory`
(80/20 split) `.cache().prefetch(AUTOTUNE)` and `model.fit`, on the same small CNN the app
builds (`training.models.build_model`), same optimiser, batch size and image size.
App: `training.trainer.train` with everything on that a user gets (scan, live batch events
through a report callback, epoch checkpoints, TensorBoard logs, early stopping off so both run
the same epochs); augmentation off on both sides (the recipe has none).

Printed, for each side (best of --repeats runs, interleaved app/recipe):
  steady-state images/s: training images / epoch wall time (validation and, for the app,
    checkpointing included), over epochs 3..N: the median, and the fastest epoch (on a
    machine shared with other work the fastest epoch is the least disturbed one);
  time to the target validation accuracy, from the call that starts training.
and the app/recipe ratios (images/s: higher is better, target >= 1.0; time: lower is better).

    .venv/bin/python benchmarks/bench_training.py [--epochs 8] [--size 64] [--target 0.9]
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
            self.reached_s: float | None = None
            self._begin = 0.0

        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            self._begin = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            now = time.perf_counter()
            self.seconds.append(now - self._begin)
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
    results: dict[str, list[tuple[float, float, float | None]]] = {"app": [], "recipe": []}
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):
            for side in ("recipe", "app"):
                if side == "app":
                    out = Path(tmp) / f"run{repeat}"
                    timing, images = run_app(data, args.size, args.epochs, args.target, out)
                else:
                    timing, images = run_recipe(data, args.size, args.epochs, args.target)
                steady = timing.seconds[2:] or timing.seconds
                median, fastest = images / statistics.median(steady), images / min(steady)
                results[side].append((median, fastest, timing.reached_s))
                print(
                    f"{side:>6} run {repeat + 1}: {median:7.1f} images/s median, {fastest:7.1f} "
                    f"fastest epoch; epochs {[round(s, 2) for s in timing.seconds]} s; target "
                    f"reached at {timing.reached_s and round(timing.reached_s, 1)} s"
                )
    print(f"\ndata: {data} (image size {args.size}, batch {BATCH}, {args.epochs} epochs)")
    for index, label in ((0, "median epoch"), (1, "fastest epoch")):
        app = max(r[index] for r in results["app"])
        recipe = max(r[index] for r in results["recipe"])
        print(
            f"steady-state images/s ({label}, best run): app {app:.1f}  recipe {recipe:.1f}  "
            f"ratio app/recipe {app / recipe:.3f} (target >= 1.0)"
        )
    reached = {
        side: min((r[2] for r in runs if r[2] is not None), default=None)
        for side, runs in results.items()
    }
    if reached["app"] and reached["recipe"]:
        print(
            f"time to val accuracy {args.target} (best run): app {reached['app']:.1f} s  recipe "
            f"{reached['recipe']:.1f} s  ratio app/recipe {reached['app'] / reached['recipe']:.3f}"
        )
    else:
        print(
            f"time to val accuracy {args.target}: app {reached['app']} recipe "
            f"{reached['recipe']} (None: not reached in {args.epochs} epochs)"
        )


if __name__ == "__main__":
    main()
