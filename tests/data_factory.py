"""Build image folders for tests: clean class folders and a messy one with every nasty case.

Reusable by any area's tests (training, UI, CLI): `make_class_folder` gives a small dataset
a CNN can learn (each class has its own colour pattern), `make_messy_folder` returns the folder
plus what a correct scan must report about it.
"""

from __future__ import annotations

import os
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from gpu_assistant.data import images as reasons
from gpu_assistant.data.scan import LINK_LOOP, NO_CLASS

# One distinct colour per class index, so classes are learnable from tiny images.
PALETTE = [(220, 40, 40), (40, 200, 60), (50, 70, 220), (230, 200, 40), (160, 60, 200)]


def pattern(label: int, size: tuple[int, int], variant: int = 0) -> np.ndarray:
    """An RGB uint8 image for class `label`: its colour plus per-image noise and stripes."""
    rng = np.random.default_rng(label * 1000 + variant)
    width, height = size
    base = np.array(PALETTE[label % len(PALETTE)], dtype=np.int16)
    noise = rng.integers(-30, 30, size=(height, width, 3), dtype=np.int16)
    image = base + noise
    image[:, :: 2 + label % 3] //= 2  # class-specific stripes
    return np.clip(image, 0, 255).astype(np.uint8)


def write_image(
    path: Path,
    label: int = 0,
    *,
    size: tuple[int, int] = (16, 12),
    mode: str = "RGB",
    fmt: str | None = None,
    variant: int = 0,
    **save_args: object,
) -> Path:
    """Save one image of class `label` in `mode` and `fmt` (default: from the extension)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(pattern(label, size, variant), "RGB")
    if mode == "I;16":
        wide = (np.asarray(image.convert("L"), dtype=np.uint16) * 257).astype(np.uint16)
        image = Image.fromarray(wide)
    elif mode == "P":
        image = image.quantize(16)
    elif mode != "RGB":
        image = image.convert(mode)
    image.save(path, format=fmt, **save_args)
    return path


def make_class_folder(
    root: Path,
    counts: dict[str, int],
    *,
    size: tuple[int, int] = (16, 12),
    ext: str = ".png",
) -> Path:
    """`root/<class>/<i>.<ext>` with `counts[class]` images each; returns `root`."""
    for label, (name, count) in enumerate(counts.items()):
        for i in range(count):
            write_image(root / name / f"img_{i:04d}{ext}", label, size=size, variant=i)
    return root


def animated_gif(path: Path, label: int) -> Path:
    frames = [Image.fromarray(pattern(label, (16, 12), v)) for v in range(3)]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=50, loop=0)
    return path


def bomb_png(path: Path, width: int = 100_000, height: int = 100_000) -> Path:
    """A valid-looking PNG header declaring `width` x `height` pixels, with almost no data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    data = zlib.compress(b"\0" * 64)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
    )
    return path


@dataclass
class MessyFolder:
    """A folder with every case the scan must handle, and the answers a scan must give."""

    root: Path
    counts: dict[str, int] = field(default_factory=dict)  # usable images per class
    skipped: dict[str, str] = field(default_factory=dict)  # relative path -> exact reason
    converted: set[str] = field(default_factory=set)  # relative paths needing conversion
    empty_classes: list[str] = field(default_factory=list)
    top_level: list[str] = field(default_factory=list)


def make_messy_folder(root: Path, *, symlink_loop: bool = True) -> MessyFolder:
    """Three classes (spaces, accents, CJK), awkward-but-valid files, bad files, hidden files,
    an empty class, an image at the top level and (optionally) a symbolic-link loop."""
    messy = MessyFolder(root)
    cats, dogs, birds = "cats", "big dogs", "oiseaux été 鳥"

    def good(rel: str, label: int, *, convert: bool = False, **kwargs: object) -> None:
        write_image(root / rel, label, variant=len(rel), **kwargs)
        if convert:
            messy.converted.add(rel)

    def bad(rel: str, reason: str, data: bytes | None = None) -> Path:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if data is not None:
            path.write_bytes(data)
        messy.skipped[rel] = reason
        return path

    # cats: plain and awkward-but-valid files, one nested a level down.
    good(f"{cats}/plain.jpg", 0)
    good(f"{cats}/gray.jpg", 0, mode="L")
    good(f"{cats}/UPPER.JPG", 0)
    good(f"{cats}/rgba.png", 0, mode="RGBA")
    good(f"{cats}/palette.png", 0, mode="P")
    good(f"{cats}/cmyk.jpg", 0, mode="CMYK", convert=True)
    good(f"{cats}/deep16.png", 0, mode="I;16", convert=True)
    good(f"{cats}/nested/more/inside.png", 0)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to show", as phones write it
    good(f"{cats}/phone_rotated.jpg", 0, convert=True, exif=exif.tobytes())
    animated_gif(root / cats / "animated.gif", 0)
    messy.converted.add(f"{cats}/animated.gif")
    # dogs: more formats.
    good(f"{dogs}/bitmap.bmp", 1, convert=True)
    good(f"{dogs}/web.webp", 1, convert=True)
    good(f"{dogs}/scan.TIFF", 1, convert=True)
    good(f"{dogs}/photo.jpeg", 1)
    good(f"{dogs}/no_extension", 1, fmt="PNG")
    # birds: unicode names, plus every kind of bad file.
    good(f"{birds}/chant été.png", 2)
    good(f"{birds}/鳥.jpg", 2)
    good(f"{birds}/two.png", 2)
    bad(f"{birds}/empty.jpg", reasons.EMPTY, b"")
    bad(f"{birds}/notes.jpg", reasons.NOT_IMAGE, b"these are my notes, not a picture\n")
    bad(f"{birds}/readme.txt", reasons.NOT_IMAGE, b"hello\n")
    whole = write_image(root / birds / "whole.jpg", 2, size=(64, 48)).read_bytes()
    (root / birds / "whole.jpg").unlink()
    bad(f"{birds}/truncated.jpg", reasons.TRUNCATED, whole[: len(whole) // 2])
    png = write_image(root / birds / "whole.png", 2, size=(64, 48)).read_bytes()
    (root / birds / "whole.png").unlink()
    start = png.index(b"IDAT") + 8
    broken = png[:start] + bytes(b ^ 0x5A for b in png[start : start + 40]) + png[start + 40 :]
    bad(f"{birds}/corrupt.png", reasons.CORRUPT, broken)
    bad(f"{birds}/phone.heic", f"{reasons.UNSUPPORTED} (HEIC)", b"\0\0\0\x18ftypheic" + b"\0" * 64)
    bomb_png(bad(f"{birds}/bomb.png", f"{reasons.ABSURD} (100000 x 100000 pixels)"))
    # Hidden and system files: ignored silently (not even listed as skipped).
    for rel in (".DS_Store", f"{cats}/.DS_Store", f"{cats}/Thumbs.db", f"{dogs}/desktop.ini"):
        (root / rel).write_bytes(b"\0\1junk")
    write_image(root / cats / ".hidden.png", 0)
    write_image(root / "__MACOSX" / cats / "._plain.jpg", 0, fmt="JPEG")
    write_image(root / ".git" / "objects" / "x.png", 0)
    # Layout problems: an empty class folder and an image outside any class.
    (root / "empty class").mkdir()
    (root / "empty class" / "Thumbs.db").write_bytes(b"x")
    messy.empty_classes.append("empty class")
    write_image(root / "stray.jpg", 0)
    messy.top_level.append("stray.jpg")
    messy.skipped["stray.jpg"] = NO_CLASS
    if symlink_loop:
        os.symlink("..", root / cats / "nested" / "loop")  # cats/nested/loop -> cats
        messy.skipped[f"{cats}/nested/loop"] = LINK_LOOP
    messy.counts = {cats: 10, dogs: 5, birds: 3}
    return messy
