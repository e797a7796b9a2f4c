"""The app's own dependencies, installed version against the range it asks for (like `yolo
checks`): a package pip left at an excluded version (PySide6-Essentials 6.12.0 aborts the window
on Python < 3.12) is named before it shows up as a crash.

The ranges come from the installed distribution's metadata (`Requires-Dist`, i.e. the
`dependencies` of pyproject.toml), so they are never written twice. Extras (`test`, `and-cuda`)
and requirements whose environment marker does not hold here are left out.
"""

from __future__ import annotations

import importlib.metadata
import sys
from collections.abc import Iterable
from dataclasses import dataclass

from packaging.markers import default_environment
from packaging.requirements import InvalidRequirement, Requirement

DISTRIBUTION = "tf-gpu-assistant"
OK, MISSING, WRONG = "ok", "missing", "wrong version"


@dataclass(frozen=True)
class RequirementRow:
    name: str
    wanted: str  # the specifier, e.g. ">=6.6,!=6.12.0" ("any" when none)
    installed: str | None
    state: str  # OK, MISSING or WRONG


def app_requirements(path: Iterable[str] | None = None) -> list[RequirementRow] | None:
    """One row per dependency of the installed app; None when the app is not installed as a
    distribution (a frozen build bundles its packages, a bare checkout has no metadata).

    `path` searches other folders for the distributions (tests; default: sys.path).
    """
    search = list(path) if path is not None else sys.path
    found = list(importlib.metadata.distributions(name=DISTRIBUTION, path=search))
    if not found:
        return None
    environment = {key: str(value) for key, value in default_environment().items()}
    environment["extra"] = ""
    rows = []
    for line in found[0].requires or []:
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            continue  # metadata we did not write cannot be judged
        if requirement.marker is not None and not requirement.marker.evaluate(environment):
            continue
        installed = _installed_version(requirement.name, search)
        if installed is None:
            state = MISSING
        elif requirement.specifier.contains(installed, prereleases=True):
            state = OK
        else:
            state = WRONG
        wanted = str(requirement.specifier) or "any"
        rows.append(RequirementRow(requirement.name, wanted, installed, state))
    return sorted(rows, key=lambda row: row.name.lower())


def _installed_version(name: str, path: list[str]) -> str | None:
    found = next(iter(importlib.metadata.distributions(name=name, path=path)), None)
    return found.version if found is not None else None
