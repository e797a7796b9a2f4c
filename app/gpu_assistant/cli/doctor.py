"""`gpu-assistant doctor`: the whole environment report (what support threads ask for).

Exit 0 when TensorFlow will use a GPU now (tested in a child process, or predicted with
--no-verify), 1 when it will not, 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from gpu_assistant.cli import EXIT_NO, EXIT_OK
from gpu_assistant.cli.output import print_json


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "doctor",
        help="detect the GPU, recommend TensorFlow, and test it for real",
        description="Report the OS, Python, NVIDIA driver and GPUs, the TensorFlow that fits, "
        "and (unless --no-verify) a real test of the installed TensorFlow in a child process. "
        "Exit 0: TensorFlow will use a GPU now; 1: it will not; 2: bad arguments.",
    )
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print one JSON object")
    output.add_argument(
        "--markdown", action="store_true", help="print a report to paste into a forum post"
    )
    parser.add_argument(
        "--no-verify",
        action="store_true",
        help="skip importing TensorFlow (answers in well under a second)",
    )
    parser.add_argument(
        "--timeout",
        type=_positive,
        default=180.0,
        metavar="SECONDS",
        help="give up on the TensorFlow test after this long (default 180)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from gpu_assistant.system.doctor import doctor

    def show_progress(event: dict[str, Any]) -> None:
        if event.get("message") and not args.json:
            print(f"... {event['message']}", file=sys.stderr, flush=True)

    report = doctor(verify=not args.no_verify, timeout=args.timeout, report=show_progress)
    if args.json:
        print_json(report.to_json())
    elif args.markdown:
        sys.stdout.write(report.to_markdown())
    else:
        print(report.to_text())
    return EXIT_OK if report.ready else EXIT_NO


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return value
