"""The app's input pipeline vs the usual recipe, on the same folder of photos, in one run.

Baseline: `keras.utils.image_dataset_from_directory(...).cache().prefetch(AUTOTUNE)`, the
recipe from the TensorFlow tutorials. Both read the same generated JPEG photos at the same
image size and batch size; each runs in its own child process so that its peak memory (RSS)
is its own, the two interleaved `--repeats` times and the best of each number kept (the
machine may be shared). Printed: images/s of the first epoch (decode + resize + cache) and
of the later epochs (from the cache; the median epoch); the CPU time per image of each (the
fairer number on a machine shared with other work, where wall time swings); the bytes of
the cached tensors and the RSS growth; peak RSS; the app/baseline ratios. Also the app's
augmentation vs the Keras preprocessing layers doing the same four operations.

    .venv/bin/python benchmarks/bench_pipeline.py [--images 600] [--photo 1024x768] [--json]

The app's scan (every file decoded once to check it) is timed separately and shown.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

CLASSES = ("apples", "bikes", "cats", "doors")


def make_photos(root: Path, count: int, width: int, height: int) -> None:
    """Photo-like JPEGs (smooth gradients, shapes and sensor noise; quality 90)."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    for i in range(count):
        label = i % len(CLASSES)
        a, b, c = rng.uniform(0.2, 1.0, 3)
        base = np.stack([xx / width * 255 * a, yy / height * 255 * b, (xx + yy) / 4 * c], -1)
        cx, cy, r = rng.uniform(0.2, 0.8) * width, rng.uniform(0.2, 0.8) * height, 40 + 30 * label
        base[(xx - cx) ** 2 + (yy - cy) ** 2 < r * r] = (60 * label, 200 - 40 * label, 90)
        noise = rng.normal(0, 8, base.shape)
        pixels = np.clip(base + noise, 0, 255).astype(np.uint8)
        folder = root / CLASSES[label]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(folder / f"photo_{i:05d}.jpg", quality=90)


def _rss_bytes() -> int:
    with open("/proc/self/statm", encoding="ascii") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _peak_rss_bytes() -> int:
    """This process's own peak RSS (VmHWM). Not getrusage's ru_maxrss: Linux carries that
    over from the parent, which held the generated photos in memory."""
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _epochs(
    make_dataset, epochs: int, steps: int | None
) -> tuple[object, int, list[float], list[float]]:
    """Build the dataset and run `epochs` epochs: wall and CPU seconds of each. The first
    epoch includes the build (the app decodes into its memory cache while building, the
    baseline while iterating).

    Each side is read the way its trainer reads it: with `steps`, one iterator over the
    repeated dataset, `steps` batches an epoch (the app's trainer); without, a new iterator
    every epoch (`model.fit` on a finite dataset).
    """
    wall, cpu = [], []
    count = 0
    start, start_cpu = time.perf_counter(), _cpu_seconds()
    dataset = make_dataset()
    endless = iter(dataset.repeat()) if steps else None
    for _ in range(epochs):
        count = 0
        batches = (next(endless) for _ in range(steps)) if endless else dataset
        for images, _labels in batches:
            count += int(images.shape[0])
        wall.append(time.perf_counter() - start)
        cpu.append(_cpu_seconds() - start_cpu)
        start, start_cpu = time.perf_counter(), _cpu_seconds()
    return dataset, count, wall, cpu


def _cached_bytes(dataset) -> int:
    """Bytes of the tensors one epoch yields: what an in-memory cache of them holds."""
    return sum(int(images.numpy().nbytes) for images, _labels in dataset)


def child(kind: str, folder: Path, size: int, batch: int, epochs: int) -> dict:
    """Runs in its own process: build one pipeline, time its epochs, measure its memory."""
    import tensorflow as tf

    tf.constant(0)  # load the runtime before the memory baseline
    result: dict = {"kind": kind}
    rss_before = _rss_bytes()
    if kind == "app":
        from gpu_assistant.data.pipeline import build_datasets
        from gpu_assistant.data.scan import scan_folder
        from gpu_assistant.data.split import PipelineOptions

        start = time.perf_counter()
        scan = scan_folder(folder)
        result["scan_s"] = time.perf_counter() - start
        options = PipelineOptions(
            image_size=size, batch_size=batch, val_split=0.0, augment=False, cache="memory"
        )

        steps: int | None = -(-len(scan.records) // batch)

        def make_dataset():
            return build_datasets(scan, options).train
    else:
        steps = None
        import keras

        def make_dataset():
            dataset = keras.utils.image_dataset_from_directory(
                folder, image_size=(size, size), batch_size=batch, seed=1337, verbose=False
            )
            return dataset.cache().prefetch(tf.data.AUTOTUNE)

    dataset, count, seconds, cpu = _epochs(make_dataset, epochs, steps)
    result.update(
        images=count,
        first_epoch_ips=count / seconds[0],
        # The median epoch: a cached epoch takes ~10 ms, and TF's autotuner thread sometimes
        # takes 0.1-0.4 s to stop when an epoch's iterator is dropped (either side, at random),
        # so a sum would measure those stalls rather than the pipeline.
        later_epochs_ips=count / float(np.median(seconds[1:])),
        first_epoch_cpu_ms_per_image=1000 * cpu[0] / count,
        later_epochs_cpu_us_per_image=1e6 * sum(cpu[1:]) / (count * (epochs - 1)),
        cache_rss_bytes=_rss_bytes() - rss_before,
        peak_rss_bytes=_peak_rss_bytes(),
        element_dtype=dataset.element_spec[0].dtype.name,
    )
    result["cached_tensor_bytes"] = _cached_bytes(dataset)
    return result


def augmentation_child(size: int, batch: int, batches: int = 30) -> dict:
    """Images/s of the app's fused augmentation vs the Keras preprocessing-layer stack with
    the same four operations, on the same uint8 batches in a tf.data map."""
    import keras
    import numpy as np
    import tensorflow as tf

    from gpu_assistant.data.augment import Augmentation, augmenter

    settings = Augmentation()
    stack = keras.Sequential(
        [
            keras.layers.RandomFlip("horizontal", seed=1),
            keras.layers.RandomRotation(settings.max_rotation, fill_mode="reflect", seed=2),
            keras.layers.RandomZoom(settings.max_zoom, fill_mode="reflect", seed=3),
            keras.layers.RandomContrast(settings.max_contrast, value_range=(0, 255), seed=4),
        ]
    )

    def keras_layers(images, labels):
        out = stack(tf.cast(images, tf.float32), training=True)
        return tf.cast(tf.clip_by_value(tf.round(out), 0, 255), tf.uint8), labels

    pixels = np.random.default_rng(0).integers(0, 256, (batch, size, size, 3), dtype=np.uint8)
    source = tf.data.Dataset.from_tensors((pixels, np.zeros(batch, np.int32))).repeat(batches)
    result = {"kind": "augment"}
    for name, function in (("app_ips", augmenter(1)), ("keras_layers_ips", keras_layers)):
        dataset = source.map(function, num_parallel_calls=tf.data.AUTOTUNE)
        for _ in dataset.take(2):  # trace before timing
            pass
        start = time.perf_counter()
        count = sum(int(images.shape[0]) for images, _ in dataset)
        result[name] = count / (time.perf_counter() - start)
    return result


def _run_child(args: argparse.Namespace, kind: str, folder: Path) -> dict:
    command = [sys.executable, __file__, "--child", kind, "--folder", str(folder)]
    command += ["--size", str(args.size), "--batch", str(args.batch), "--epochs", str(args.epochs)]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    out = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if out.returncode:
        sys.exit(f"{kind} child failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _best(runs: list[dict]) -> dict:
    """Best of the repeats for each number: the one least disturbed by other work."""
    best = dict(runs[0])
    for key, value in runs[0].items():
        if isinstance(value, float | int) and not isinstance(value, bool):
            values = [run[key] for run in runs]
            best[key] = max(values) if key.endswith("ips") else min(values)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=600)
    parser.add_argument("--photo", default="1024x768", help="generated photo size, WxH")
    parser.add_argument("--size", type=int, default=160, help="training image size")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=21, help="1 first + N-1 later epochs")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each; best is shown")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", choices=("app", "keras", "augment"), help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "augment":
        print(json.dumps(augmentation_child(args.size, args.batch)))
        return 0
    if args.child:
        result = child(args.child, args.folder, args.size, args.batch, args.epochs)
        print(json.dumps(result))
        return 0

    width, height = (int(v) for v in args.photo.split("x"))
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "photos"
        make_photos(folder, args.images, width, height)
        runs: dict[str, list[dict]] = {"app": [], "keras": [], "augment": []}
        for _ in range(args.repeats):  # interleaved, so both see the same machine load
            for kind, results in runs.items():
                results.append(_run_child(args, kind, folder))
        app, keras, augmentation = (_best(results) for results in runs.values())
    ratios = {
        "first_epoch_speed": app["first_epoch_ips"] / keras["first_epoch_ips"],
        "first_epoch_cpu": app["first_epoch_cpu_ms_per_image"]
        / keras["first_epoch_cpu_ms_per_image"],
        "later_epochs_cpu": app["later_epochs_cpu_us_per_image"]
        / keras["later_epochs_cpu_us_per_image"],
        "later_epochs_speed": app["later_epochs_ips"] / keras["later_epochs_ips"],
        "cached_tensor_bytes": app["cached_tensor_bytes"] / keras["cached_tensor_bytes"],
        "cache_rss": app["cache_rss_bytes"] / keras["cache_rss_bytes"],
        "peak_rss": app["peak_rss_bytes"] / keras["peak_rss_bytes"],
        "augmentation_speed": augmentation["app_ips"] / augmentation["keras_layers_ips"],
    }
    report = {
        "machine": f"{os.cpu_count()} CPU cores, no GPU used, load average "
        f"{load_before:.1f} before / {os.getloadavg()[0]:.1f} after",
        "setup": f"{args.images} JPEG photos {args.photo}, image size {args.size}, "
        f"batch {args.batch}, {args.epochs} epochs, best of {args.repeats} runs",
        "app": app,
        "baseline": keras,
        "augmentation": augmentation,
        "ratios_app_over_baseline": ratios,
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    mib = 1024 * 1024
    print(f"{report['setup']}; {report['machine']}")
    print(f"{'':28}{'app':>12}{'baseline':>12}{'ratio':>9}")
    rows = [
        ("first epoch (images/s)", "first_epoch_ips", 1, "first_epoch_speed"),
        ("later epochs (images/s)", "later_epochs_ips", 1, "later_epochs_speed"),
        ("first epoch CPU (ms/image)", "first_epoch_cpu_ms_per_image", 1, "first_epoch_cpu"),
        ("later epochs CPU (us/image)", "later_epochs_cpu_us_per_image", 1, "later_epochs_cpu"),
        ("cached tensors (MiB)", "cached_tensor_bytes", mib, "cached_tensor_bytes"),
        ("RSS growth, cache (MiB)", "cache_rss_bytes", mib, "cache_rss"),
        ("peak RSS (MiB)", "peak_rss_bytes", mib, "peak_rss"),
    ]
    for title, key, unit, ratio in rows:
        print(f"{title:28}{app[key] / unit:12.1f}{keras[key] / unit:12.1f}{ratios[ratio]:9.2f}")
    print(f"app scan of the folder (decodes every file once): {app['scan_s']:.2f} s")
    print(
        f"augmentation (images/s): app {augmentation['app_ips']:.0f}, Keras preprocessing "
        f"layers {augmentation['keras_layers_ips']:.0f}, ratio {ratios['augmentation_speed']:.2f}"
    )
    print(f"element dtype: app {app['element_dtype']}, baseline {keras['element_dtype']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
