"""Rebuild the bundled sample set from the handwritten-digit scans inside scikit-learn's wheel.

    python resources/sample_data/make_sample.py [scikit_learn-*.whl]

Without an argument it runs `pip download scikit-learn==1.6.1` into a temporary folder. The
scans (UCI "Optical Recognition of Handwritten Digits", CC BY 4.0; see LICENSE.md) are 8x8
grids of ink counts 0..16; each becomes a 32x32 8-bit grayscale PNG (every cell a 4x4 block,
dark ink on white, the values unchanged apart from the 0..16 -> 255..0 scaling), in one
sub-folder per class. The output is byte-for-byte reproducible.
"""

from __future__ import annotations

import gzip
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
WHEEL_VERSION = "1.6.1"
MEMBER = "sklearn/datasets/data/digits.csv.gz"
DIGITS = (0, 1, 2, 3)  # each in a folder named after it, so the classes sort 0, 1, 2, 3
SCALE = 4  # 8x8 -> 32x32


def _wheel(argv: list[str], tmp: Path) -> Path:
    if argv:
        return Path(argv[0])
    pip = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
    subprocess.run([*pip, "-d", str(tmp), f"scikit-learn=={WHEEL_VERSION}"], check=True)
    return next(tmp.glob("scikit_learn-*.whl"))


def main(argv: list[str]) -> int:
    with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(_wheel(argv, Path(tmp))) as wheel:
        rows = gzip.decompress(wheel.read(MEMBER)).decode("ascii").split()
    table = np.array([[int(v) for v in row.split(",")] for row in rows], dtype=np.int32)
    counts = dict.fromkeys(DIGITS, 0)
    for index, row in enumerate(table):
        digit = int(row[-1])
        if digit not in DIGITS:
            continue
        ink = row[:64].reshape(8, 8)
        pixels = (255 - np.rint(ink * 255 / 16)).astype(np.uint8)
        big = np.kron(pixels, np.ones((SCALE, SCALE), dtype=np.uint8))
        folder = HERE / str(digit)
        folder.mkdir(exist_ok=True)
        Image.fromarray(big, "L").save(folder / f"{digit}_{index:04d}.png", optimize=True)
        counts[digit] += 1
    print(", ".join(f"{name}: {count}" for name, count in counts.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
