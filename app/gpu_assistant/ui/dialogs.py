"""The one error path of the UI: every failure is written to the log file and shown in a dialog.

A `UserError` from a job arrives with a fix and is shown as a warning; anything else is a bug,
shown with its traceback under "Show Details" so the user can paste it into a report.
"""

from __future__ import annotations

import contextlib
import sys
import traceback
from collections.abc import Callable
from types import TracebackType

from PySide6.QtWidgets import QMessageBox, QWidget

from gpu_assistant import applog, paths


def log_error(title: str, message: str, fix: str = "", details: str = "") -> None:
    """Append one record to the app's log file (never raises: logging must not hide the error)."""
    lines = [f"{title}: {message}"]
    if fix:
        lines.append(f"  fix: {fix}")
    if details:
        lines.extend(f"  {line}" for line in details.rstrip().splitlines())
    with contextlib.suppress(OSError):
        applog.logger().error("\n".join(lines))


def install_excepthook(show: Callable[[str, str, str, str], None]) -> Callable[..., None]:
    """Send an uncaught exception of a slot to `show(title, message, fix, details)` (the bug
    dialog with the log path) instead of a stderr nobody reads; the app keeps running.

    Returns the previous hook, for the caller to put back."""
    previous = sys.excepthook

    def hook(kind: type[BaseException], error: BaseException, trace: TracebackType | None) -> None:
        if issubclass(kind, KeyboardInterrupt):
            previous(kind, error, trace)
            return
        details = "".join(traceback.format_exception(kind, error, trace))
        show("Unexpected error", f"{kind.__name__}: {error}", "", details)

    sys.excepthook = hook
    return previous


def show_error(
    parent: QWidget | None, title: str, message: str, fix: str = "", details: str = ""
) -> QMessageBox:
    """Log the error and open a non-blocking dialog that says what happened and what to do."""
    log_error(title, message, fix, details)
    box = QMessageBox(parent)
    box.setObjectName("errorDialog")
    box.setAccessibleName("Error")
    box.setIcon(QMessageBox.Icon.Critical if details else QMessageBox.Icon.Warning)
    box.setWindowTitle(title)
    box.setText(message)
    informative = f"What to do: {fix}" if fix else ""
    if details:
        informative += f"\n\nThis looks like a bug. Details are in the log: {paths.log_file()}"
    box.setInformativeText(informative.strip())
    if details:
        box.setDetailedText(details)
    box.setStandardButtons(QMessageBox.StandardButton.Ok)
    box.open()  # window-modal but not a nested event loop: running jobs keep reporting
    return box
