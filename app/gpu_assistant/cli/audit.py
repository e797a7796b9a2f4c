"""`gpu-assistant audit DIR [--exact] [--json]`: duplicates and likely mislabels in a folder."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from gpu_assistant.cli.output import print_json


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "audit",
        help="find duplicate images and images that may be in the wrong class folder",
        description="Scan DIR, then group identical files and near copies (resized, "
        "re-encoded, cropped: by the offline pretrained backbone's features, cached) and list "
        "the images whose folder an out-of-sample model disagrees with (cleanlab). Training "
        "keeps every group on one side of its split.",
    )
    parser.add_argument("folder", metavar="DIR", help="folder with one sub-folder per class")
    parser.add_argument(
        "--exact", action="store_true", help="identical files only (no TensorFlow, no features)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument(
        "--progress", action="store_true", help="print progress events on stderr (JSON Lines)"
    )
    parser.set_defaults(func=run)


def _print_text(result: dict[str, Any]) -> None:
    print(result["duplicates_summary"])
    for number, group in enumerate(result["duplicates"]["groups"], start=1):
        kind = "identical" if group["exact"] else f"similarity {group['similarity']:.3f}"
        print(f"  group {number} ({kind}): {', '.join(group['files'])}")
    if result["mislabels"]:
        print(f"{len(result['mislabels'])} image(s) may be in the wrong folder:")
        for item in result["mislabels"]:
            print(
                f"  {item['file']}: in '{item['folder']}', looks like '{item['predicted']}' "
                f"({item['confidence']:.0%})"
            )
    elif result["mislabels_note"]:
        print(result["mislabels_note"])
    else:
        print("No image looks like it is in the wrong folder.")


def run(args: argparse.Namespace) -> int:
    from gpu_assistant.jobs import ignore
    from gpu_assistant.training.audit import audit_folder

    def progress(event: dict[str, Any]) -> None:
        print_json(event, stream=sys.stderr, indent=None)

    result = audit_folder(
        args.folder, near=not args.exact, report=progress if args.progress else ignore
    ).to_json()
    if args.json:
        print_json(result)
    else:
        _print_text(result)
    return 0
