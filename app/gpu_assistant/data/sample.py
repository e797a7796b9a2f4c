"""The small real image set shipped with the app, so a new user can train in a minute."""

from __future__ import annotations

from pathlib import Path

from gpu_assistant.resources import resource_path


def sample_data_dir() -> Path:
    """Folder of the bundled sample set (one sub-folder per class; see its LICENSE.md)."""
    return resource_path("sample_data")
