"""Checking and decoding single image files: the one place that knows about formats.

The scan calls `inspect_image` on every candidate file (really decoding it, so a file that
would crash training is caught up front with a plain reason). Files TensorFlow's own decoders
take as they are (8-bit JPEG in RGB or grayscale without an EXIF rotation, PNG up to 8 bits
per channel) are decoded by TF in the pipeline; everything else valid (CMYK JPEG, 16-bit PNG,
GIF, BMP, WebP, TIFF, rotated phone photos) is marked `needs_conversion` and goes through
`load_rgb` (Pillow) once, before the cache.

Resize policy: *squash* -- the whole picture is resized to a square, ignoring its aspect
ratio (nothing is cropped away, no padding bars). `load_for_model` applies exactly the same
steps to one file, so predictions see what training saw.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

if TYPE_CHECKING:
    import tensorflow as tf

# File names that are images by extension (case-insensitive); other files are still decoded
# (a photo without an extension is fine), this only decides what counts at the top level.
IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".gif", ".bmp", ".webp", ".tif", ".tiff"}
)
# Formats Pillow opens that the app accepts (all converted to RGB on the way in).
ACCEPTED_FORMATS = frozenset({"JPEG", "PNG", "GIF", "BMP", "WEBP", "TIFF", "MPO"})
# Signatures of common image formats Pillow cannot read here, so the reason can name them.
_KNOWN_UNSUPPORTED = (
    (4, b"ftypheic", "HEIC"),
    (4, b"ftypheix", "HEIC"),
    (4, b"ftypmif1", "HEIF"),
    (4, b"ftypavif", "AVIF"),
    (0, b"%PDF", "PDF"),
    (0, b"<svg", "SVG"),
    (0, b"8BPS", "PSD"),
)
_EXIF_ORIENTATION = 0x0112
_QUARTER_TURNS = frozenset({5, 6, 7, 8})  # EXIF orientations that swap width and height

# The exact reasons a file is skipped (tests and users rely on these words).
EMPTY = "empty file (0 bytes)"
NOT_IMAGE = "not an image"
TRUNCATED = "truncated image (the file ends before the picture does)"
CORRUPT = "corrupt image data"
UNREADABLE = "unreadable"
UNSUPPORTED = "unsupported image format"
ABSURD = "absurd dimensions"


class BadImage(Exception):
    """A file the pipeline cannot use; `reason` is the plain sentence shown to the user."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class ImageInfo:
    width: int
    height: int
    format: str
    needs_conversion: bool


def max_pixels() -> int:
    """Largest image (width x height) the app decodes: Pillow's decompression-bomb limit."""
    return int(Image.MAX_IMAGE_PIXELS or 89_478_485)


def _sniff_unsupported(path: Path) -> str | None:
    with open(path, "rb") as handle:
        head = handle.read(64)
    for offset, magic, name in _KNOWN_UNSUPPORTED:
        if head[offset : offset + len(magic)] == magic:
            return name
    if head.lstrip().startswith(b"<?xml") and b"<svg" in head:
        return "SVG"
    return None


def _png_bit_depth(path: Path) -> int:
    with open(path, "rb") as handle:
        header = handle.read(25)
    return header[24] if len(header) == 25 else 8


def _header_size(path: Path) -> tuple[int, int] | None:
    """Width and height from the header alone, for the files Pillow refuses to open as bombs
    (its format plug-ins read only the header when constructed)."""
    Image.init()
    with open(path, "rb") as handle:
        prefix = handle.read(16)
        for name in Image.ID:
            factory, accept = Image.OPEN[name]
            if accept and not accept(prefix):
                continue
            handle.seek(0)
            try:
                return factory(handle, str(path)).size
            except (OSError, SyntaxError, ValueError, EOFError, TypeError):
                continue
    return None


def _is_native(image: Image.Image, path: Path, orientation: int) -> bool:
    """Whether TF's decoders give the same picture as Pillow, so Pillow can be skipped
    (TF ignores EXIF rotation, CMYK and 16 bits per channel)."""
    if orientation != 1:
        return False
    if image.format == "JPEG":
        return image.mode in ("RGB", "L")
    if image.format == "PNG":
        return _png_bit_depth(path) <= 8 and image.mode in ("RGB", "RGBA", "L", "LA", "P", "1")
    return False


def inspect_image(path: Path) -> ImageInfo:
    """Decode `path` completely (at reduced scale for JPEG) and say how the pipeline reads it.

    Raises `BadImage` with one of the module's reasons. The pixel count is checked from the
    header before any pixel is decoded, so a decompression bomb costs nothing.
    """
    try:
        if os.stat(path).st_size == 0:
            raise BadImage(EMPTY)
        unsupported = _sniff_unsupported(path)
        if unsupported:
            raise BadImage(f"{UNSUPPORTED} ({unsupported})")
        with Image.open(path) as image:
            width, height = image.size
            if image.format not in ACCEPTED_FORMATS:
                raise BadImage(f"{UNSUPPORTED} ({image.format})")
            if width < 1 or height < 1 or width * height > max_pixels():
                raise BadImage(f"{ABSURD} ({width} x {height} pixels)")
            orientation = image.getexif().get(_EXIF_ORIENTATION, 1)
            native = _is_native(image, path, orientation)
            if orientation in _QUARTER_TURNS:
                width, height = height, width  # the picture as shown, turned upright
            if image.format == "JPEG":
                image.draft(image.mode, (max(1, width // 8), max(1, height // 8)))
            image.load()
    except BadImage:
        raise
    except PermissionError as error:
        raise BadImage(f"{UNREADABLE} ({error.strerror or 'permission denied'})") from error
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        size = _header_size(path)
        pixels = f"{size[0]} x {size[1]}" if size else f"more than {max_pixels()}"
        raise BadImage(f"{ABSURD} ({pixels} pixels)") from error
    except UnidentifiedImageError as error:
        raise BadImage(NOT_IMAGE) from error
    except (OSError, SyntaxError, ValueError, EOFError, IndexError) as error:
        text = str(error).lower()
        if isinstance(error, EOFError) or "truncated" in text or "ended prematurely" in text:
            raise BadImage(TRUNCATED) from error
        if isinstance(error, OSError) and error.errno is not None:
            raise BadImage(f"{UNREADABLE} ({error.strerror})") from error
        raise BadImage(CORRUPT) from error
    return ImageInfo(width, height, str(image.format), not native)


def load_rgb(path: str | Path, min_side: int = 0) -> np.ndarray:
    """Pillow's view of any accepted file as 8-bit RGB [H, W, 3]: first frame, EXIF-rotated.

    A JPEG is decoded at the smallest DCT scale that keeps both sides >= `min_side` (much
    faster for big photos). 16-bit images are scaled down (Pillow's own conversion would clip
    them to white).
    """
    with Image.open(path) as opened:
        opened.seek(0)
        if opened.format == "JPEG" and min_side:
            opened.draft(opened.mode, (min_side, min_side))
        image = ImageOps.exif_transpose(opened)
        if image.mode in ("I;16", "I;16B", "I;16L", "I"):
            wide = np.asarray(image, dtype=np.float64)
            scale = 255.0 / 65535.0 if wide.max() > 255 else 1.0
            gray = np.clip(np.rint(wide * scale), 0, 255).astype(np.uint8)
            return np.repeat(gray[:, :, None], 3, axis=2)
        return np.asarray(image.convert("RGB"), dtype=np.uint8)


# How the pipeline decodes a file (an index into `_decoders`): TF's decoder at full size, TF's
# JPEG decoder at 1/2, 1/4 or 1/8 scale (the DCT does the shrinking, far cheaper than decoding
# every pixel of a 12-megapixel photo), or Pillow.
NATIVE, JPEG_HALF, JPEG_QUARTER, JPEG_EIGHTH, PILLOW = range(5)
_JPEG_RATIOS = {JPEG_HALF: 2, JPEG_QUARTER: 4, JPEG_EIGHTH: 8}


def decode_group(
    format: str, width: int, height: int, needs_conversion: bool, image_size: int
) -> int:
    """The cheapest exact way to decode one file for `image_size`: both sides stay >= it."""
    if needs_conversion:
        return PILLOW
    if format in ("JPEG", "MPO"):
        for group in (JPEG_EIGHTH, JPEG_QUARTER, JPEG_HALF):
            if min(width, height) // _JPEG_RATIOS[group] >= image_size:
                return group
    return NATIVE


def resize_square(image: tf.Tensor, image_size: int, shrinking: bool | None = None) -> tf.Tensor:
    """The resize policy: squash to a square (no crop, no padding), back to uint8.

    Shrinking averages the covered pixels ("area", no aliasing); enlarging (small images)
    interpolates bilinearly. `shrinking` (both sides >= `image_size`) is decided per image in
    the graph unless the caller already knows it.
    """
    import tensorflow as tf

    size = (image_size, image_size)

    def resize(shrink: bool) -> tf.Tensor:
        return tf.image.resize(image, size, method="area" if shrink else "bilinear")

    if shrinking is None:
        shrinks = tf.reduce_min(tf.shape(image)[:2]) >= image_size
        resized = tf.cond(shrinks, lambda: resize(True), lambda: resize(False))
    else:
        resized = resize(shrinking)
    return tf.cast(tf.clip_by_value(tf.round(resized), 0.0, 255.0), tf.uint8)


def shrinks(width: int, height: int, image_size: int) -> bool | None:
    """Whether a `width` x `height` picture is shrunk to `image_size` (None: size unknown).
    Every decoder keeps both sides >= `image_size` when the file's are, so this holds for the
    decoded image too."""
    if width < 1 or height < 1:
        return None
    return min(width, height) >= image_size


def _pillow_decoder(image_size: int):
    def load(path: bytes | np.ndarray) -> np.ndarray:
        return load_rgb(np.asarray(path).item().decode("utf-8"), image_size)

    return load


def decode_resized(
    path: tf.Tensor, group: tf.Tensor | int, image_size: int, shrinking: bool | None = None
) -> tf.Tensor:
    """One file, decoded the way `decode_group` chose, as uint8 [image_size, image_size, 3].

    Where the caller knows `group` (a plain int) and `shrinking` for every file it decodes,
    the graph holds just that decoder and that resize: no per-image branch to run.
    """
    import tensorflow as tf

    def native() -> tf.Tensor:
        contents = tf.io.read_file(path)
        return tf.io.decode_image(contents, channels=3, dtype=tf.uint8, expand_animations=False)

    def jpeg(ratio: int):
        return lambda: tf.io.decode_jpeg(tf.io.read_file(path), channels=3, ratio=ratio)

    def pillow() -> tf.Tensor:
        return tf.numpy_function(_pillow_decoder(image_size), [path], tf.uint8, stateful=False)

    branches = [native, *(jpeg(_JPEG_RATIOS[g]) for g in sorted(_JPEG_RATIOS)), pillow]
    if isinstance(group, int):
        image = branches[group]()
    else:
        image = tf.switch_case(tf.cast(group, tf.int32), branches)
    image = tf.ensure_shape(image, (None, None, 3))
    return resize_square(image, image_size, shrinking)


def load_for_model(path: str | Path, image_size: int) -> np.ndarray:
    """One file as the model sees it in training: [image_size, image_size, 3] uint8."""
    import tensorflow as tf

    info = inspect_image(Path(path))
    group = decode_group(info.format, info.width, info.height, info.needs_conversion, image_size)
    shrinking = shrinks(info.width, info.height, image_size)
    return decode_resized(tf.constant(str(path)), group, image_size, shrinking).numpy()
