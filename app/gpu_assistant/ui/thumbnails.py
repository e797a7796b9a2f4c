"""Thumbnails made off the GUI thread: decoded with Pillow into QImages inside a job.

QImage (unlike QPixmap) may be built on any thread; the page turns it into an icon when the
job's result arrives on the GUI thread.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageOps
from PySide6.QtGui import QImage

THUMB_PX = 96


def load_thumbnail(path: str | Path, size: int = THUMB_PX) -> QImage | None:
    """A small RGB QImage of the file, or None when it cannot be decoded (already reported)."""
    try:
        with Image.open(path) as image:
            image.draft("RGB", (size * 2, size * 2))  # JPEG: decode at reduced size, much faster
            small = ImageOps.exif_transpose(image).convert("RGB")
            small.thumbnail((size, size))
    except (OSError, ValueError, Image.DecompressionBombError):
        return None
    data = small.tobytes()
    qimage = QImage(data, small.width, small.height, small.width * 3, QImage.Format.Format_RGB888)
    return qimage.copy()  # own the pixels: `data` dies with this function
