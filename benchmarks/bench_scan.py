"""The folder scan on 5,000 generated images: parallel vs serial, and how steady its progress is.

    .venv/bin/python benchmarks/bench_scan.py [--files 5000] [--json]

Runs, on the same folder, interleaved `--repeats` times (best of each kept: the machine may
be shared): the app's scan (`scan_folder`: a thread pool, one thread per core), the same
checks in a process pool (the alternative), and a serial loop over `inspect_image` (the
baseline). CPU time includes the child processes. Prints each
one's files/s, the ratios to serial, and the longest gap between two progress events of the
app's scan (it must stay under a second). Mostly JPEG photos plus PNGs and a few bad files,
like a folder off a phone. Wall time is shown with the CPU time the process used.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from gpu_assistant.data.images import BadImage, inspect_image
from gpu_assistant.data.scan import scan_folder


def make_folder(root: Path, count: int) -> None:
    """`count` files in 5 classes: 1024x768 photo-like JPEGs (50 distinct ones, repeated),
    every 10th a PNG, every 100th a JPEG cut in half (truncated)."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:768, 0:1024]
    base = np.stack([xx / 4, yy / 3, (xx + yy) / 7], -1)
    encoded: dict[str, list[bytes]] = {"jpg": [], "png": []}
    for _ in range(50):
        pixels = np.clip(base + rng.normal(0, 10, base.shape), 0, 255).astype(np.uint8)
        for ext, image, options in (
            ("jpg", Image.fromarray(pixels), {"quality": 90}),
            ("png", Image.fromarray(pixels[::3, ::3]), {"compress_level": 1}),
        ):
            buffer = io.BytesIO()
            image.save(buffer, format="JPEG" if ext == "jpg" else "PNG", **options)
            encoded[ext].append(buffer.getvalue())
    for i in range(count):
        folder = root / f"class_{i % 5}"
        folder.mkdir(parents=True, exist_ok=True)
        ext = "png" if i % 10 == 9 else "jpg"
        data = encoded[ext][i % 50]
        if i % 100 == 99:
            data = data[: len(data) // 2]
        (folder / f"{i:05d}.{ext}").write_bytes(data)


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime + children.ru_utime + children.ru_stime


def _check(path: Path) -> bool:
    try:
        inspect_image(path)
    except BadImage:
        return False
    return True


def _timed(function) -> tuple[object, float, float]:
    wall, cpu = time.perf_counter(), _cpu_seconds()
    result = function()
    return result, time.perf_counter() - wall, _cpu_seconds() - cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=2, help="interleaved runs; best is shown")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_folder(root, args.files)
        paths = sorted(p for p in root.rglob("*") if p.is_file())
        gaps: list[float] = []

        def app() -> int:
            stamps = [time.monotonic()]
            scan = scan_folder(root, report=lambda _event: stamps.append(time.monotonic()))
            stamps.append(time.monotonic())
            gaps.append(float(np.diff(stamps).max()))
            return scan.total

        def processes() -> int:
            with ProcessPoolExecutor(os.cpu_count()) as pool:
                return sum(pool.map(_check, paths, chunksize=16))

        def serial() -> int:
            return sum(_check(path) for path in paths)

        methods = {"app": app, "processes": processes, "serial": serial}
        runs: dict[str, list[tuple[object, float, float]]] = {name: [] for name in methods}
        for _ in range(args.repeats):  # interleaved, so all see the same machine load
            for name, method in methods.items():
                runs[name].append(_timed(method))
    usable = {name: results[0][0] for name, results in runs.items()}
    assert len(set(usable.values())) == 1, usable
    wall = {name: min(r[1] for r in results) for name, results in runs.items()}
    cpu = {name: min(r[2] for r in results) for name, results in runs.items()}
    report = {
        "machine": f"{os.cpu_count()} CPU cores, load average {load_before:.1f} before / "
        f"{os.getloadavg()[0]:.1f} after",
        "files": len(paths),
        "usable": usable["serial"],
        "files_per_s": {name: len(paths) / seconds for name, seconds in wall.items()},
        "cpu_s": cpu,
        "speedup_over_serial": {name: wall["serial"] / seconds for name, seconds in wall.items()},
        "max_progress_gap_s": max(gaps),
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(
        f"{report['files']} files ({report['usable']} usable), best of {args.repeats}; "
        f"{report['machine']}"
    )
    for name in methods:
        rate, ratio = report["files_per_s"][name], report["speedup_over_serial"][name]
        print(f"  {name:12} {rate:8.0f} files/s  cpu {cpu[name]:6.1f} s  x{ratio:.2f} serial")
    print(f"  longest gap between progress events: {max(gaps):.2f} s (must be < 1 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
