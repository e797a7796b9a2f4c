"""`gpu-assistant export MODEL --format ...`: write the model as .keras, SavedModel, TFLite,
labels.txt or the standalone training script, each re-scored on the run's validation set; or
`--format job --hosts a:port,b:port`, a folder to train the run on several machines."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from gpu_assistant.cli.arguments import path_argument
from gpu_assistant.jobs import UserError
from gpu_assistant.training.export import FORMATS

JOB = "job"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "export",
        help="export a trained model (keras, savedmodel, tflite, labels, script, job)",
        description="MODEL is a run folder or its model.keras. Exit code 1 when an exported "
        "model's validation accuracy differs from the app's.",
    )
    parser.add_argument("model", metavar="MODEL", type=path_argument)
    parser.add_argument(
        "--format",
        dest="formats",
        action="append",
        choices=(*FORMATS, JOB),
        help="repeat for several (default: all but job)",
    )
    parser.add_argument(
        "--hosts",
        help="with --format job: the workers, host:port separated by commas "
        "(e.g. 10.0.0.1:2222,10.0.0.2:2222)",
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
    if JOB in formats:
        return _job(args, run_dir, out, [f for f in formats if f != JOB])
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


def _job(args: argparse.Namespace, run_dir: Path, out: Path, others: list[str]) -> int:
    """The job bundle (alone: it is a folder of its own, not one more model file)."""
    from gpu_assistant.cli.output import print_json
    from gpu_assistant.training.job_bundle import parse_hosts, write_job

    fix = "Export the job on its own, e.g. --format job --hosts a:2222,b:2222."
    if others:
        raise UserError("--format job cannot be combined with other formats.", fix)
    if not args.hosts:
        raise UserError("--format job needs --hosts: the machines that will train.", fix)
    bundle = write_job(run_dir, out / JOB if args.out is None else out, parse_hosts(args.hosts))
    if args.json:
        print_json(
            {
                "job": str(bundle.root),
                "script": str(bundle.script),
                "tf_configs": [str(p) for p in bundle.tf_configs],
            }
        )
    else:
        print(f"job        {bundle.root}  ({len(bundle.tf_configs)} workers; see README.md)")
    return 0
