"""Exports' cost on this CPU: size, p50/p95 latency per image and top-1 agreement with the
Keras model, per format (Keras, TFLite, int8 TFLite, ONNX).

    .venv/bin/python benchmarks/bench_export.py [--run RUN] [--epochs 3] [--json]

Without --run it first trains the app's default small CNN on the bundled sample digits
(`gpu-assistant train` with its defaults, a few epochs) and reports on that run.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from gpu_assistant.data.sample import sample_data_dir
from gpu_assistant.jobs import CancelToken
from gpu_assistant.training.export_cost import cost_report
from gpu_assistant.training.settings import TrainSettings
from gpu_assistant.training.trainer import train


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, help="an existing run folder")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
        run = args.run
        if run is None:
            run = Path(tmp) / "run"
            settings = TrainSettings(
                data_dir=sample_data_dir(), out_dir=run, epochs=args.epochs, flip=False
            )
            train(settings, lambda _event: None, CancelToken())
        table = cost_report(run, Path(tmp) / "export")
    if args.json:
        print(json.dumps(table, indent=2))
        return 0
    print(f"{table['validation_images']} validation images, one image per call")
    print("format        size MB   p50 ms   p95 ms  agreement  accuracy  runtime")
    for row in table["formats"]:
        if "agreement" in row:
            print(
                f"{row['format']:<12} {row['size_bytes'] / 1e6:8.2f} {row['p50_ms']:8.2f} "
                f"{row['p95_ms']:8.2f}  {row['agreement']:9.3f}  {row['accuracy']:8.3f}  "
                f"{row['runtime']}"
            )
        if row.get("why"):
            print(f"  {row['format']}: {row['why']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
