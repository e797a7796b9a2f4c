"""`gpu-assistant scan DIR [--json]`: check a folder of images before training on it."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from gpu_assistant.cli.arguments import path_argument
from gpu_assistant.cli.output import print_json

TRAINABLE_CLASSES = 2  # fewer: the folder was read, but nothing can be trained on it (exit 1)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "scan",
        help="check a folder of images (one sub-folder per class) and list what will be skipped",
        description="Decode every image under DIR (one sub-folder per class) and report the "
        "classes, counts, image sizes, skipped files with reasons, and layout problems. Exit "
        "code 0: ready to train on; 1: fewer than two classes; 2: no usable image at all.",
    )
    parser.add_argument(
        "folder", metavar="DIR", type=path_argument, help="folder with one sub-folder per class"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument(
        "--progress", action="store_true", help="print progress events on stderr (JSON Lines)"
    )
    parser.set_defaults(func=run)


def _print_text(result: dict[str, Any]) -> None:
    print(f"{result['total']} usable images in {len(result['classes'])} classes ({result['root']})")
    width = max((len(c["name"]) for c in result["classes"]), default=0)
    for item in result["classes"]:
        print(f"  {item['name']:<{width}}  {item['count']}")
    stats = result["size_stats"]
    if stats:
        print(
            f"Image sizes: {stats['min_width']}-{stats['max_width']} x "
            f"{stats['min_height']}-{stats['max_height']} pixels (median "
            f"{stats['median_width']:g} x {stats['median_height']:g})"
        )
    for problem in result["problems"]:
        print(f"Problem: {problem['message']} Fix: {problem['fix']}")
    for warning in result["warnings"]:
        print(f"Warning: {warning}")
    if result["skipped"]:
        print("Skipped files:")
        for item in result["skipped"]:
            print(f"  {item['path']}: {item['reason']}")


def run(args: argparse.Namespace) -> int:
    from gpu_assistant.data.scan import scan_folder
    from gpu_assistant.jobs import ignore

    def progress(event: dict[str, Any]) -> None:
        print_json(event, stream=sys.stderr, indent=None)

    result = scan_folder(args.folder, report=progress if args.progress else ignore).to_json()
    if args.json:
        print_json(result)
    else:
        _print_text(result)
    return 0 if len(result["classes"]) >= TRAINABLE_CLASSES else 1
