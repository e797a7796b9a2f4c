"""`gpu-assistant export MODEL --format ...`: write the model as .keras, SavedModel, TFLite,
labels.txt or the standalone training script, each re-scored on the run's validation set."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from gpu_assistant.cli.arguments import path_argument
from gpu_assistant.training.export import FORMATS


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "export",
        help="export a trained model (keras, savedmodel, tflite, labels, script)",
        description="MODEL is a run folder or its model.keras. Exit code 1 when an exported "
        "model's validation accuracy differs from the app's.",
    )
    parser.add_argument("model", metavar="MODEL", type=path_argument)
    parser.add_argument(
        "--format",
        dest="formats",
        action="append",
        choices=FORMATS,
        help="repeat for several (default: all)",
    )
    parser.add_argument(
        "--out", type=path_argument, help="target folder (default: MODEL's run/export)"
    )
    parser.add_argument("--no-rescore", action="store_true", help="skip the validation check")
    parser.add_argument(
        "--cost",
        action="store_true",
        help="also write an int8 TFLite and an ONNX model, and report.json: each format's "
        "file size, p50/p95 latency per image on this CPU in its runtime, and its top-1 "
        "agreement with the Keras model",
    )
    parser.add_argument("--json", action="store_true", help="one JSON document")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from gpu_assistant.cli import EXIT_NO, EXIT_OK
    from gpu_assistant.cli.output import print_json
    from gpu_assistant.training.export import export

    formats = args.formats or list(FORMATS)
    run_dir = args.model if args.model.is_dir() else args.model.parent
    out = args.out or run_dir / "export"
    result = export(args.model, formats, out, rescore=not args.no_rescore)
    mismatches = result.mismatches()
    cost = None
    if args.cost:
        from gpu_assistant.training.export_cost import cost_report

        cost = cost_report(run_dir, out)
    if args.json:
        print_json({**vars(result), "mismatches": mismatches, "cost": cost})
    else:
        for name, path in result.paths.items():
            score = result.accuracy.get(name)
            note = f"  validation accuracy {score:.2%}" if score is not None else ""
            print(f"{name:<10} {path}{note}")
        if result.reference_accuracy is not None:
            print(
                f"app's validation accuracy {result.reference_accuracy:.2%} "
                f"on {result.samples} images"
            )
        for name in mismatches:
            print(f"Warning: the {name} export scores differently from the app.", file=sys.stderr)
        if cost is not None:
            _print_cost(cost)
    return EXIT_NO if mismatches else EXIT_OK


def _print_cost(cost: dict[str, Any]) -> None:
    print(f"Cost on this CPU (one image per call; {cost['validation_images']} validation images):")
    print("format        size       p50 ms   p95 ms   agreement  accuracy  runtime")
    for row in cost["formats"]:
        if "agreement" in row:
            print(
                f"{row['format']:<12} {row['size_bytes'] / 1e6:6.2f} MB  {row['p50_ms']:7.2f}  "
                f"{row['p95_ms']:7.2f}   {row['agreement']:8.1%}  {row['accuracy']:8.1%}  "
                f"{row['runtime']}"
            )
        if row.get("why"):
            print(f"  {row['format']}: {row['why']}")
