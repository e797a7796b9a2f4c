"""The data audit on folders of real images: near-duplicate recall and false positives, and
how high deliberately flipped labels rank.

    .venv/bin/python benchmarks/bench_audit.py [--folders objects,textures,photos] [--json]

Duplicates: in each folder a tenth of the images (at most 40; all of a folder of up to 40)
get three copies each, written
beside them as a user's folder would hold them: resized (half size, PNG), re-encoded (JPEG
quality 60) and slightly cropped (6 % off each side, JPEG 90). Every copy should be grouped
with its original (recall); an original grouped with another original is a false positive
(reported per image and per pair). The similarity of the pretrained backbone's features is
swept over thresholds so the table shows where the app's threshold sits.

Mislabels: 5 % of each folder's images are moved into another class folder; out-of-sample
probabilities (5-fold logistic regression on the features) are ranked by cleanlab's label
quality, and the share of moved images in the top 10 % of the ranking is printed.

Folders: `benchmarks/folders.py` (objects, textures) and "photos": scikit-image's bundled
photographs, one class per kind (few images, many distinct scenes).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from gpu_assistant.data.duplicates import NEAR_DUPLICATE_COSINE, find_duplicates, similar_pairs
from gpu_assistant.data.mislabels import label_quality, out_of_sample_probabilities
from gpu_assistant.data.scan import scan_folder

THRESHOLDS = (0.80, 0.85, 0.88, 0.90, 0.92, 0.94, 0.96)
COPIES = ("resized", "reencoded", "cropped")
PHOTOS = {  # scikit-image's photographs (its "cat" is "chelsea" again, so it is left out)
    "living": ("astronaut", "chelsea", "coffee", "immunohistochemistry", "cell", "retina"),
    "things": ("rocket", "coins", "clock", "page", "horse", "camera", "text", "logo"),
    "scenes": ("brick", "grass", "gravel", "hubble_deep_field", "moon", "colorwheel"),
}


def build_photos(dest: Path) -> None:
    import skimage.data

    for name, sources in PHOTOS.items():
        (dest / name).mkdir(parents=True)
        for source in sources:
            array = np.asarray(getattr(skimage.data, source)())
            if array.dtype == bool:
                array = array.astype(np.uint8) * 255
            image = Image.fromarray(array.astype(np.uint8)).convert("RGB")
            image.save(dest / name / f"{source}.png")


def build_folder(name: str, dest: Path) -> None:
    if name == "photos":
        build_photos(dest)
        return
    import folders  # benchmarks/folders.py, beside this file

    folders.build(name, dest)


def inject_copies(root: Path, rng: np.random.Generator) -> dict[Path, Path]:
    """Three altered copies of some images (see the module docstring); copy -> original."""
    originals = sorted(p for p in root.rglob("*") if p.is_file())
    count = len(originals) if len(originals) <= 40 else min(40, len(originals) // 10)
    chosen = rng.choice(len(originals), count, replace=False)
    copies: dict[Path, Path] = {}
    for index in sorted(chosen.tolist()):
        source = originals[index]
        with Image.open(source) as opened:
            image = opened.convert("RGB")
        width, height = image.size
        half = image.resize((max(8, width // 2), max(8, height // 2)), Image.BILINEAR)
        dx, dy = round(width * 0.06), round(height * 0.06)
        cropped = image.crop((dx, dy, width - dx, height - dy))
        for kind, picture, suffix, options in (
            ("resized", half, ".png", {}),
            ("reencoded", image, ".jpg", {"quality": 60}),
            ("cropped", cropped, ".jpg", {"quality": 90}),
        ):
            target = source.with_name(f"{source.stem}~{kind}{suffix}")
            picture.save(target, **options)
            copies[target] = source
    return copies


def features_of(scan) -> np.ndarray:
    """The audit's own features of every image (gpu_assistant.training.audit)."""
    from gpu_assistant.jobs import CancelToken, ignore
    from gpu_assistant.training.audit import audit_features

    return audit_features(scan, report=ignore, cancel=CancelToken())


def duplicates_case(name: str, work: Path, rng: np.random.Generator) -> dict:
    root = work / f"{name}-dups"
    build_folder(name, root)
    copies = inject_copies(root, rng)
    scan = scan_folder(root)
    started = time.perf_counter()
    features = features_of(scan)
    feature_seconds = time.perf_counter() - started
    index = {r.path: i for i, r in enumerate(scan.records)}
    is_copy = np.array([r.path in copies for r in scan.records])
    pairs = similar_pairs(features, min(THRESHOLDS))
    rows = []
    for threshold in (*THRESHOLDS, NEAR_DUPLICATE_COSINE):
        found = find_duplicates(scan.records, features, threshold=threshold)
        group_of = {i: g for g, group in enumerate(found.groups) for i in group.members}
        recalled = {kind: [] for kind in COPIES}
        for copy, original in copies.items():
            kind = copy.stem.rsplit("~", 1)[1]
            a, b = index[copy], index[original]
            recalled[kind].append(a in group_of and group_of[a] == group_of.get(b))
        false_images = [
            i
            for i in np.flatnonzero(~is_copy).tolist()
            if _group_size(found, group_of, i, is_copy) > 1
        ]
        false_pairs = sum(
            1 for a, b, s in pairs if s >= threshold and not is_copy[a] and not is_copy[b]
        )
        originals = int((~is_copy).sum())
        rows.append(
            {
                "threshold": threshold,
                "recall": float(np.mean([v for values in recalled.values() for v in values])),
                **{f"recall_{k}": float(np.mean(v)) for k, v in recalled.items()},
                "false_positive_images": len(false_images),
                "false_positive_rate": len(false_images) / originals,
                "false_pairs": false_pairs,
                "false_pair_rate": false_pairs / (originals * (originals - 1) / 2),
            }
        )
    return {
        "folder": name,
        "images": scan.total,
        "originals": int((~is_copy).sum()),
        "copies": len(copies),
        "feature_seconds": round(feature_seconds, 1),
        "rows": rows,
    }


def _group_size(found, group_of: dict[int, int], original: int, is_copy: np.ndarray) -> int:
    """How many originals share `original`'s group (1: only its own copies joined it)."""
    if original not in group_of:
        return 1
    members = found.groups[group_of[original]].members
    return sum(1 for i in members if not is_copy[i])


def mislabels_case(name: str, work: Path, rng: np.random.Generator) -> dict:
    root = work / f"{name}-flips"
    build_folder(name, root)
    classes = sorted(p.name for p in root.iterdir() if p.is_dir())
    files = sorted(p for p in root.rglob("*") if p.is_file())
    flipped = set()
    for index in rng.choice(len(files), max(1, round(0.05 * len(files))), replace=False):
        source = files[int(index)]
        others = [c for c in classes if c != source.parent.name]
        target = root / others[int(rng.integers(len(others)))] / f"flipped-{source.name}"
        shutil.move(source, target)
        flipped.add(target)
    scan = scan_folder(root)
    features = features_of(scan)
    labels = np.array([r.label for r in scan.records])
    started = time.perf_counter()
    probabilities = out_of_sample_probabilities(features, labels)
    ranking = np.argsort(label_quality(labels, probabilities), kind="stable")
    seconds = time.perf_counter() - started
    top = {scan.records[i].path for i in ranking[: max(1, scan.total // 10)]}
    return {
        "folder": name,
        "images": scan.total,
        "flipped": len(flipped),
        "flipped_in_top_10pct": len(flipped & top) / len(flipped),
        "out_of_sample_seconds": round(seconds, 1),
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folders", default="objects,textures,photos")
    parser.add_argument("--skip-mislabels", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(7)
    results: dict[str, list] = {"duplicates": [], "mislabels": []}
    with tempfile.TemporaryDirectory(prefix="bench-audit-") as tmp:
        for name in args.folders.split(","):
            results["duplicates"].append(duplicates_case(name, Path(tmp), rng))
            if not args.skip_mislabels and name != "photos":  # photos: 19 images, no ranking
                results["mislabels"].append(mislabels_case(name, Path(tmp), rng))
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    for case in results["duplicates"]:
        print(
            f"\n{case['folder']}: {case['originals']} images + {case['copies']} injected "
            f"copies; features {case['feature_seconds']} s"
        )
        print("threshold  recall  resized  re-encoded  cropped  false-pos images  false pairs")
        for row in case["rows"]:
            print(
                f"{row['threshold']:9.2f}  {row['recall']:6.3f}  {row['recall_resized']:7.3f}"
                f"  {row['recall_reencoded']:10.3f}  {row['recall_cropped']:7.3f}"
                f"  {row['false_positive_images']:5d} ({row['false_positive_rate']:.2%})"
                f"  {row['false_pairs']:5d} ({row['false_pair_rate']:.3%})"
            )
    for case in results["mislabels"]:
        print(
            f"\n{case['folder']}: {case['flipped']} of {case['images']} labels flipped; "
            f"{case['flipped_in_top_10pct']:.0%} of them in the top 10 % of the ranking "
            f"(out-of-sample probabilities in {case['out_of_sample_seconds']} s)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
