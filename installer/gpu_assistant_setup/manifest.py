"""The record of everything the installer created, so that --uninstall removes exactly that.

Each entry is a path and how to remove it: "file", "tree" (a folder the installer owns whole:
the venv, the macOS .app) or "dir" (a folder it had to create, removed only when empty, so
anything the user put there survives). The manifest is rewritten after every step, so an
interrupted install can still be uninstalled.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from gpu_assistant_setup import SetupError

KINDS = ("file", "tree", "dir")
FORMAT_VERSION = 1


@dataclass
class Manifest:
    path: Path
    entries: dict[str, str] = field(default_factory=dict)  # path -> kind, in creation order
    details: dict[str, object] = field(default_factory=dict)  # what was installed, for support

    @classmethod
    def load(cls, path: Path) -> Manifest:
        """The manifest at `path`, or an empty one when there is none yet."""
        if not path.exists():
            return cls(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            entries = {str(e["path"]): str(e["kind"]) for e in data["created"]}
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise SetupError(
                f"The install record {path} is unreadable ({error}).",
                "Delete the folders it names by hand, or run the installer again to rewrite it.",
            ) from error
        if any(kind not in KINDS for kind in entries.values()):
            raise SetupError(f"The install record {path} has an unknown entry kind.")
        return cls(path, entries, dict(data.get("details", {})))

    def add(self, path: Path, kind: str) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown manifest kind {kind!r}")
        self.entries.setdefault(str(path), kind)
        self.save()

    def make_dirs(self, folder: Path) -> None:
        """mkdir -p that records each folder it creates (and only those)."""
        missing = []
        for candidate in (folder, *folder.parents):
            if candidate.exists():
                break
            missing.append(candidate)
        folder.mkdir(parents=True, exist_ok=True)
        for candidate in reversed(missing):
            self.add(candidate, "dir")

    def write_file(self, path: Path, data: bytes, mode: int = 0o644) -> None:
        """Create or replace a file atomically, recording it."""
        self.make_dirs(path.parent)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        tmp.write_bytes(data)
        tmp.chmod(mode)
        os.replace(tmp, path)
        self.add(path, "file")

    def save(self) -> None:
        """Write the record (atomically) once its folder exists; install creates that first."""
        if not self.path.parent.is_dir():
            return
        data = {
            "format": FORMAT_VERSION,
            "created": [{"path": p, "kind": k} for p, k in self.entries.items()],
            "details": self.details,
        }
        tmp = self.path.with_name(f".{self.path.name}.tmp-{os.getpid()}")
        tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, self.path)

    def remove_all(self, allowed_roots: list[Path], allowed_trees: list[Path]) -> list[str]:
        """Delete what was recorded (files, then trees, then empty folders deepest first).

        Paths outside `allowed_roots`, and trees other than `allowed_trees`, are refused, so a
        damaged record cannot delete anything else. Returns what was kept and why.
        """
        kept = []
        order = {"file": 0, "tree": 1, "dir": 2}
        entries = sorted(
            self.entries.items(), key=lambda item: (order[item[1]], -len(Path(item[0]).parts))
        )
        for text, kind in entries:
            path = Path(text)
            if not any(_inside(path, root) for root in allowed_roots) or (
                kind == "tree" and path not in allowed_trees
            ):
                kept.append(f"{path} (not a place the installer writes to; not touched)")
                continue
            if kind == "file" and (path.is_file() or path.is_symlink()):
                path.unlink()
            elif kind == "tree" and path.is_dir():
                shutil.rmtree(path)
            elif kind == "dir" and path.is_dir():
                if any(p != self.path for p in path.iterdir()):
                    kept.append(f"{path} (holds files the installer did not create)")
                    continue
                self.path.unlink(missing_ok=True)
                path.rmdir()
        self.path.unlink(missing_ok=True)
        return kept


def _inside(path: Path, root: Path) -> bool:
    """True when path is strictly below root (never root itself)."""
    return path != root and root in path.parents
