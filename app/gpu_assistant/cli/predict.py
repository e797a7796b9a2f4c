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
    parser.add_argument(
        "--explain",
        metavar="OUT",
        type=path_argument,
        help="also write OUT/<image>-heatmap.png: where the model looked (Grad-CAM on its "
        "last convolutional features, for the predicted class)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from gpu_assistant.cli import EXIT_OK, EXIT_USAGE
    from gpu_assistant.cli.output import print_json
    from gpu_assistant.training.predict import predict

    predictions = predict(args.model, args.images)
    explanations = []
    if args.explain is not None:
        from gpu_assistant.training.explain import explain_files

        explanations = explain_files(args.model, args.images, args.explain)
    if args.json:
        print_json({"predictions": predictions, "explanations": explanations})
    else:
        for p in predictions:
            if p.error:
                print(f"{p.path}: cannot read it ({p.error})")
            else:
                others = ", ".join(f"{label} {prob:.1%}" for label, prob in p.top[1:])
                print(f"{p.path}: {p.label} ({p.confidence:.1%}){'; ' + others if others else ''}")
        for item in explanations:
            if "heatmap" in item:
                print(f"{item['path']}: heatmap: {item['heatmap']}")
    return EXIT_USAGE if any(p.error for p in predictions) else EXIT_OK
