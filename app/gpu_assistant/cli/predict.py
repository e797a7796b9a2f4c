"""`gpu-assistant predict MODEL IMAGE...`: classify image files with a trained model."""

from __future__ import annotations

import argparse
from typing import Any

from gpu_assistant.cli.arguments import path_argument


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "predict",
        help="classify images with a trained model",
        description="MODEL is a run folder or its model.keras (labels.txt beside it). "
        "Exit code 2 when any image could not be read.",
    )
    parser.add_argument("model", metavar="MODEL", type=path_argument)
    parser.add_argument("images", metavar="IMAGE", type=path_argument, nargs="+")
    parser.add_argument("--json", action="store_true", help="one JSON document")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from gpu_assistant.cli import EXIT_OK, EXIT_USAGE
    from gpu_assistant.cli.output import print_json
    from gpu_assistant.training.predict import predict

    predictions = predict(args.model, args.images)
    if args.json:
        print_json({"predictions": predictions})
    else:
        for p in predictions:
            if p.error:
                print(f"{p.path}: cannot read it ({p.error})")
            else:
                others = ", ".join(f"{label} {prob:.1%}" for label, prob in p.top[1:])
                print(f"{p.path}: {p.label} ({p.confidence:.1%}){'; ' + others if others else ''}")
    return EXIT_USAGE if any(p.error for p in predictions) else EXIT_OK
