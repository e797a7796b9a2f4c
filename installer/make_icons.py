"""Render the app icon (resources/desktop/tf-gpu-assistant.svg) to the PNG, ICO and ICNS files
that desktop shortcuts need; run it after editing the SVG and commit the results.

    .venv/bin/python installer/make_icons.py

Uses Qt's SVG renderer (PySide6 is a dependency of the app anyway); ICO and ICNS are simple
containers of PNG images, written here with the standard library.
"""

from __future__ import annotations

import os
import struct
import sys
from pathlib import Path

DESKTOP = Path(__file__).resolve().parents[1] / "resources" / "desktop"
SVG = DESKTOP / "tf-gpu-assistant.svg"
PNG_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)
ICNS_TYPES = {16: b"icp4", 32: b"icp5", 64: b"icp6", 128: b"ic07", 256: b"ic08", 512: b"ic09"}


def render_png(size: int) -> bytes:
    """The SVG drawn at size x size pixels, anti-aliased, as PNG bytes."""
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice, Qt
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    renderer = QSvgRenderer(str(SVG))
    if not renderer.isValid():
        raise SystemExit(f"make_icons: cannot read {SVG}")
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    renderer.render(painter)
    painter.end()
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")
    return bytes(data.data())


def ico_bytes(pngs: dict[int, bytes]) -> bytes:
    """A Windows .ico holding PNG-compressed images (supported since Windows Vista)."""
    header = struct.pack("<HHH", 0, 1, len(pngs))
    offset = len(header) + 16 * len(pngs)
    entries, blobs = b"", b""
    for size, png in pngs.items():
        edge = 0 if size >= 256 else size  # 0 means 256 in the ICO directory
        entries += struct.pack("<BBBBHHII", edge, edge, 0, 0, 1, 32, len(png), offset)
        blobs += png
        offset += len(png)
    return header + entries + blobs


def icns_bytes(pngs: dict[int, bytes]) -> bytes:
    """A macOS .icns: 'icns' + total length, then (type, length, PNG) chunks."""
    chunks = b"".join(
        ICNS_TYPES[size] + struct.pack(">I", len(png) + 8) + png for size, png in pngs.items()
    )
    return b"icns" + struct.pack(">I", len(chunks) + 8) + chunks


def main() -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtGui import QGuiApplication

    _app = QGuiApplication(sys.argv[:1])
    pngs = {size: render_png(size) for size in PNG_SIZES}
    png_dir = DESKTOP / "png"
    png_dir.mkdir(exist_ok=True)
    for size, png in pngs.items():
        (png_dir / f"{size}.png").write_bytes(png)
    (DESKTOP / "tf-gpu-assistant.ico").write_bytes(ico_bytes({s: pngs[s] for s in ICO_SIZES}))
    (DESKTOP / "tf-gpu-assistant.icns").write_bytes(icns_bytes({s: pngs[s] for s in ICNS_TYPES}))
    print(f"make_icons: wrote {len(pngs)} PNGs, .ico and .icns into {DESKTOP}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
