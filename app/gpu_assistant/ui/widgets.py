"""Small widgets the pages share: a titled page frame, labelled actions, drop targets."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QFrame, QLabel, QPushButton, QVBoxLayout, QWidget

W = TypeVar("W", bound=QWidget)


def named(widget: W, object_name: str, accessible: str, tip: str = "") -> W:
    """Give a widget the object name automation uses and the name screen readers read."""
    widget.setObjectName(object_name)
    widget.setAccessibleName(accessible)
    if tip:
        widget.setToolTip(tip)
        widget.setAccessibleDescription(tip)
    return widget


def button(
    text: str, object_name: str, on_click: Callable[[], object], tip: str = ""
) -> QPushButton:
    """A push button calling `on_click()` with no arguments.

    Qt's ``clicked(bool)`` would otherwise pass `checked` into the first parameter of the slot,
    silently replacing a lambda's default argument (the Export buttons once did nothing).
    """
    widget = named(QPushButton(text), object_name, text.replace("&", ""), tip)
    widget.clicked.connect(lambda _checked=False: on_click())
    return widget


def wrap_label(text: str = "", object_name: str = "") -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    if object_name:
        label.setObjectName(object_name)
    return label


class Page(QWidget):
    """A wizard page: a heading, a one-line explanation, then the page's own content."""

    next_requested = Signal()

    def __init__(self, title: str, intro: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = title
        self.body = QVBoxLayout(self)
        heading = QLabel(title)
        heading.setObjectName("pageTitle")
        heading.setAccessibleName(title)
        self.body.addWidget(heading)
        self.body.addWidget(wrap_label(intro, "pageIntro"))


class DropArea(QFrame):
    """Accepts files dropped from the file manager and emits their local paths."""

    dropped = Signal(list)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAcceptDrops(True)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        local = [Path(url.toLocalFile()) for url in event.mimeData().urls() if url.isLocalFile()]
        if local:
            self.dropped.emit(local)
            event.acceptProposedAction()
