"""Open a folder in the file manager, or, when none answers, show its path to copy."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices, QGuiApplication
from PySide6.QtWidgets import QMessageBox, QWidget

from gpu_assistant.ui.dialogs import log_error


def open_folder(parent: QWidget | None, folder: Path) -> QMessageBox | None:
    """Ask the desktop to open `folder`; without a file manager, a dialog with the path.

    Returns that dialog (non-blocking; its text is selectable), or None when the desktop
    opened the folder."""
    if QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder))):
        return None
    log_error("Open folder", f"no file manager opened {folder}")
    box = QMessageBox(parent)
    box.setObjectName("folderPathDialog")
    box.setIcon(QMessageBox.Icon.Information)
    box.setWindowTitle("The folder")
    box.setText(f"No file manager answered. The folder is:\n{folder}")
    box.setInformativeText("Select the path to copy it (Ctrl+C).")
    box.setTextInteractionFlags(
        box.textInteractionFlags() | Qt.TextInteractionFlag.TextSelectableByMouse
    )
    copy = box.addButton("&Copy path", QMessageBox.ButtonRole.ActionRole)
    copy.setObjectName("copyPathButton")
    copy.clicked.connect(lambda: QGuiApplication.clipboard().setText(str(folder)))
    box.addButton(QMessageBox.StandardButton.Ok)
    box.open()
    return box
