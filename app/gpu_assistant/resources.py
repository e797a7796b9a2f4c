"""Find the files under `resources/`, wherever the app runs from.

In a source checkout (and an editable install) they sit next to `app/`; in a wheel they are
copied into the package as `gpu_assistant/resources`; in a PyInstaller build they sit under
`sys._MEIPASS`. Code asks for a path relative to that folder and never guesses.
"""

from __future__ import annotations

import sys
from functools import cache
from pathlib import Path


@cache
def resources_dir() -> Path:
    here = Path(__file__).resolve().parent
    candidates = [here / "resources", here.parents[1] / "resources"]
    frozen = getattr(sys, "_MEIPASS", None)
    if frozen:
        candidates.insert(0, Path(frozen) / "resources")
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(
        "The app's resources folder is missing; reinstall the app. Looked in: "
        + ", ".join(str(c) for c in candidates)
    )


def resource_path(*parts: str) -> Path:
    """Path of a file under resources/, e.g. ``resource_path("compat", "tensorflow.json")``."""
    return resources_dir().joinpath(*parts)
