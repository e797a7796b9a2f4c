"""The installer's logic, shared by install.sh (Linux, WSL2, macOS) and install.ps1 (Windows).

It runs with the user's system Python before anything else is installed, so it uses the
standard library only and never imports the app: it talks to the installed app through its
command line (`gpu-assistant recommend --json`, `gpu-assistant --self-test`).
"""

from __future__ import annotations

APP_ID = "tf-gpu-assistant"
APP_NAME = "TensorFlow GPU Assistant"

# Exit codes, the same meanings as the app's (see gpu_assistant.cli).
EXIT_OK, EXIT_NO, EXIT_USAGE, EXIT_BUG, EXIT_CANCELLED = 0, 1, 2, 3, 130


class SetupError(Exception):
    """A problem the user can fix: what went wrong, and what to do about it."""

    def __init__(self, message: str, fix: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix
