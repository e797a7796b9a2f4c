"""Output helpers shared by the sub-commands: JSON that handles paths and dataclasses."""

from __future__ import annotations

import dataclasses
import enum
import json
import math
import sys
from pathlib import PurePath
from typing import Any, TextIO


def to_jsonable(value: Any) -> Any:
    """Turn dataclasses, enums and paths into plain JSON types (recursively); NaN and
    infinities (a diverged loss) become null, since strict JSON parsers reject them."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(v) for v in value]
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    return value


def print_json(value: Any, *, stream: TextIO | None = None, indent: int | None = 2) -> None:
    """Print one JSON document (indent=None: one line, for JSON Lines)."""
    stream = stream or sys.stdout
    stream.write(
        json.dumps(to_jsonable(value), indent=indent, ensure_ascii=False, allow_nan=False) + "\n"
    )
    stream.flush()
