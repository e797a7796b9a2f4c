"""Argument types shared by the sub-commands."""

from __future__ import annotations

import argparse
from pathlib import Path


def path_argument(text: str) -> Path:
    """A path that is not empty: Path("") is the current folder, never what the user meant
    (an unset shell variable, a blank field in a script)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty path; give a file or folder name")
    return Path(text)
