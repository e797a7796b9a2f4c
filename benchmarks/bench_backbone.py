"""Feature-extraction speed of the offline EfficientNet-Lite0 backbone per image size.

What the frozen-backbone path costs per image (the feature cache computes each image once):
images/s of `feature_extractor(S).predict` on uint8 batches, after a warm-up batch, for each
size. On a shared machine wall-clock rates follow the load, so the load average is printed with
them, and so is the process's CPU time per image: divided into the core count it bounds the
rate the same machine reaches when nothing else runs. The baseline is the largest size: each
row's CPU time per image as a fraction of its.

Run: .venv/bin/python benchmarks/bench_backbone.py [--sizes 128 160 192 224] [--images 128]
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np


def measure(size: int, images: int, batch_size: int) -> tuple[float, float]:
    """(images per second of wall time, CPU seconds per image)."""
    from gpu_assistant.training.efficientnet_lite import feature_extractor

    model = feature_extractor(size)
    pixels = np.random.default_rng(0).integers(0, 256, (images, size, size, 3), dtype=np.uint8)
    model.predict(pixels[:batch_size], batch_size=batch_size, verbose=0)  # trace, warm caches
    start, cpu = time.perf_counter(), time.process_time()
    model.predict(pixels, batch_size=batch_size, verbose=0)
    return images / (time.perf_counter() - start), (time.process_time() - cpu) / images


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 160, 192, 224])
    parser.add_argument("--images", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    sizes = sorted(args.sizes)
    results = {size: measure(size, args.images, args.batch_size) for size in sizes}
    baseline = results[sizes[-1]][1]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    for size, (rate, cpu_per_image) in results.items():
        row = {
            "image_size": size,
            "images_per_s": round(rate, 1),
            "cpu_ms_per_image": round(cpu_per_image * 1000, 1),
            f"cpu_vs_{sizes[-1]}px": round(cpu_per_image / baseline, 2),
            "cores": os.cpu_count(),
            "load_1min": load,
        }
        print(json.dumps(row))


if __name__ == "__main__":
    main()
