"""Look: the Fusion style (same on every OS), the system's light or dark palette, the style sheet.

The style sheet refers to palette roles, plus status colours chosen here for a light or dark
window (each readable at WCAG AA contrast on it); `dark_palette` lets tests and screenshots
force the dark case.
"""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

from gpu_assistant.resources import resource_path

STATUS_COLOURS = {
    "light": {"ok": "#116329", "warn": "#7a5000", "fail": "#a40e26"},
    "dark": {"ok": "#3fb950", "warn": "#d29922", "fail": "#f85149"},
}


def apply_theme(app: QApplication, palette: QPalette | None = None) -> None:
    app.setStyle("Fusion")
    if palette is not None:
        app.setPalette(palette)
    sheet = resource_path("styles", "app.qss").read_text(encoding="utf-8")
    colours = STATUS_COLOURS["dark" if is_dark(app.palette()) else "light"]
    for name, colour in colours.items():
        sheet = sheet.replace(f"@{name}@", colour)
    app.setStyleSheet(sheet)


def is_dark(palette: QPalette) -> bool:
    return palette.color(QPalette.ColorRole.Window).lightness() < 128


def dark_palette() -> QPalette:
    """A dark palette like the ones desktop environments hand to Qt apps."""
    palette = QPalette()
    roles = {
        QPalette.ColorRole.Window: "#202124",
        QPalette.ColorRole.WindowText: "#e8eaed",
        QPalette.ColorRole.Base: "#17181a",
        QPalette.ColorRole.AlternateBase: "#2a2b2e",
        QPalette.ColorRole.Text: "#e8eaed",
        QPalette.ColorRole.Button: "#2d2e31",
        QPalette.ColorRole.ButtonText: "#e8eaed",
        QPalette.ColorRole.Highlight: "#3b82f6",
        QPalette.ColorRole.HighlightedText: "#ffffff",
        QPalette.ColorRole.ToolTipBase: "#2a2b2e",
        QPalette.ColorRole.ToolTipText: "#e8eaed",
        QPalette.ColorRole.PlaceholderText: "#9aa0a6",
        QPalette.ColorRole.Link: "#8ab4f8",
    }
    for role, colour in roles.items():
        palette.setColor(role, QColor(colour))
    palette.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text, QColor("#6b6e72"))
    palette.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.ButtonText, QColor("#6b6e72"))
    palette.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.WindowText, QColor("#6b6e72"))
    return palette
