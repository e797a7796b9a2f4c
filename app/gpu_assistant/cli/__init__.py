"""The `gpu-assistant` command: the GUI without a sub-command, the same jobs as sub-commands.

Each sub-command lives in its own module under `gpu_assistant.cli` and exposes
``register(subparsers)``, which adds its parser and sets ``func(args) -> int`` as default.
Modules import the heavy parts (TensorFlow, Qt) inside ``func`` so `--help` stays instant.

Exit codes (documented in the README and relied on by scripts):
  0  success
  1  the command ran and the answer is "no" (doctor: TensorFlow will not use a GPU now;
     recommend: no GPU build fits without changes; self-test failed)
  2  bad arguments or input the user must fix (one line on stderr says what and how)
  3  internal error (a bug: the traceback is printed)
  130  cancelled with Ctrl-C (what was learned is kept)
  143  train only: stopped by SIGTERM, as cleanly as by Ctrl-C
"""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback
from collections.abc import Sequence

from gpu_assistant import APP_NAME, __version__
from gpu_assistant.cli.arguments import path_argument
from gpu_assistant.jobs import UserError

EXIT_OK, EXIT_NO, EXIT_USAGE, EXIT_BUG, EXIT_CANCELLED = 0, 1, 2, 3, 130

# Sub-command modules, in the order they appear in --help (the order of the user's path).
COMMANDS: tuple[str, ...] = ("doctor", "recommend", "scan", "audit", "train", "predict", "export")


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (no usage dump) and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="gpu-assistant",
        description=f"{APP_NAME}: without a sub-command, opens the app window.",
        epilog="Exit codes: 0 ok, 1 the answer is no, 2 bad input, 3 internal error, "
        "130 cancelled.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--self-test",
        action="store_true",
        help="start Qt (offscreen without a display), import TensorFlow, train one step on the "
        "sample data, write a JSON report; exit 0 when everything works",
    )
    parser.add_argument(
        "--report", metavar="FILE", type=path_argument, help="with --self-test: where to write it"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMANDS:
        importlib.import_module(f"gpu_assistant.cli.{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command is None:
            from gpu_assistant.ui import app

            if args.self_test:
                if args.report:  # before the test, not after minutes of it
                    from gpu_assistant.paths import check_writable_file

                    check_writable_file(args.report, "the self-test report")
                return app.self_test(args.report)
            if args.report:
                parser.error("--report only goes with --self-test")
            return app.run_gui()
        return int(args.func(args))
    except UserError as error:
        message = error.message if error.message.endswith((".", "!", "?")) else error.message + "."
        fix = f" {error.fix}" if error.fix else ""
        print(f"gpu-assistant: {message}{fix}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("gpu-assistant: cancelled.", file=sys.stderr)
        return EXIT_CANCELLED
    except Exception:  # a bug: show everything support needs
        traceback.print_exc()
        print(
            "gpu-assistant: internal error (a bug). Please report it with the text above and "
            "the output of `gpu-assistant doctor --markdown`.",
            file=sys.stderr,
        )
        return EXIT_BUG


def gui_main() -> int:
    """Entry point of the windowed launcher (no console on Windows)."""
    return main([])
