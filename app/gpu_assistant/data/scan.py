"""Scan a folder of images (one sub-folder per class) and check every file before training.

Why so thorough: `image_dataset_from_directory` crashes mid-epoch on the first bad file and
does not say which. Here every candidate is decoded up front, in a thread pool (one thread per
core: Pillow releases the GIL while decoding; as fast as a process pool on 2 cores without
spawning anything, see benchmarks/bench_scan.py), and each file the pipeline will not use is
listed with a plain reason. Layout problems come back with the fix.
"""

from __future__ import annotations

import os
import statistics
import time
import unicodedata
import warnings
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from PIL import Image

from gpu_assistant.data.images import IMAGE_EXTENSIONS, BadImage, ImageInfo, inspect_image
from gpu_assistant.jobs import CancelToken, Report, UserError, ignore

# Hidden and system entries skipped silently (plus every name starting with a dot).
IGNORED_NAMES = frozenset(
    {"thumbs.db", "ehthumbs.db", "desktop.ini", "__macosx", "$recycle.bin", "icon\r"}
    | {"system volume information", "__pycache__"}  # pip byte-compiles make_sample.py
)
NO_CLASS = "not in a class folder (images must sit in a sub-folder named after their class)"
IMBALANCE_RATIO = 2.0  # warn when the largest class has this many times the smallest
SMALL_IMAGE = 32  # pixels; smaller images carry little for a CNN
PROGRESS_INTERVAL = 0.25  # seconds between progress events (at most ~4/s, at least 1/s)
CHUNK = 16  # files per task: fewer hand-offs between threads


@dataclass(frozen=True)
class ImageRecord:
    path: Path
    label: int
    width: int
    height: int
    needs_conversion: bool
    size_bytes: int = 0  # size and modification time at the scan (0: not from a scan)
    mtime_ns: int = 0
    format: str = ""  # Pillow's name for the file format, e.g. "JPEG"

    def relative_key(self, root: Path) -> str:
        """Path below the scanned folder, '/'-separated and NFC-normalised: the same string
        on Windows, macOS (which stores names decomposed) and Linux."""
        relative = self.path.relative_to(root).as_posix()
        return unicodedata.normalize("NFC", relative)


@dataclass(frozen=True)
class SkippedFile:
    path: Path
    reason: str


@dataclass(frozen=True)
class Problem:
    message: str
    fix: str


@dataclass(frozen=True)
class ClassCount:
    name: str
    count: int


@dataclass
class ScanResult:
    root: Path
    class_names: list[str]
    records: list[ImageRecord]
    skipped: list[SkippedFile] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def classes(self) -> list[ClassCount]:
        counts = [0] * len(self.class_names)
        for record in self.records:
            counts[record.label] += 1
        return [ClassCount(n, c) for n, c in zip(self.class_names, counts, strict=True)]

    @property
    def total(self) -> int:
        return len(self.records)

    def size_stats(self) -> dict[str, Any]:
        """Width/height range and median of the usable images, and how many are tiny."""
        if not self.records:
            return {}
        widths = [r.width for r in self.records]
        heights = [r.height for r in self.records]
        small = sum(1 for r in self.records if min(r.width, r.height) < SMALL_IMAGE)
        return {
            "min_width": min(widths),
            "max_width": max(widths),
            "median_width": statistics.median(widths),
            "min_height": min(heights),
            "max_height": max(heights),
            "median_height": statistics.median(heights),
            "smaller_than_32px": small,
            "needs_conversion": sum(1 for r in self.records if r.needs_conversion),
        }

    def _relative(self, path: Path) -> str:
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return str(path)

    def to_json(self) -> dict[str, Any]:
        return {
            "root": str(self.root),
            "classes": [{"name": c.name, "count": c.count} for c in self.classes],
            "total": self.total,
            "skipped": [{"path": self._relative(s.path), "reason": s.reason} for s in self.skipped],
            "warnings": list(self.warnings),
            "problems": [{"message": p.message, "fix": p.fix} for p in self.problems],
            "size_stats": self.size_stats(),
        }


def has_control_characters(name: str) -> bool:
    """Line breaks, tabs and other control characters: in a class name they would split or
    shift the lines of labels.txt and garble every listing."""
    return any(unicodedata.category(c) in ("Cc", "Zl", "Zp") for c in name)


def _ignored(name: str) -> bool:
    return name.startswith(".") or name.lower() in IGNORED_NAMES


# Why an entry that is not an image file is not used (listed with the skipped files).
LINK_OUTSIDE = "a link to outside the data folder (not followed)"
LINK_LOOP = "a link back to a folder above it (a loop; not followed)"
LINK_SEEN = "a link to a folder that is scanned anyway ({target}); not counted twice"
SAME_FILE = "the same file as {target} (a link); counted once"
BROKEN_LINK = "a broken link (its target does not exist)"
BAD_LINK = "a link that cannot be followed ({reason})"
NOT_A_FILE = "not a regular file (a pipe, socket or device)"
UNREADABLE_FOLDER = "a folder that cannot be read ({reason}); its images are not listed"


@dataclass
class _Listing:
    root: Path
    class_dirs: list[tuple[str, Path]] = field(default_factory=list)
    files: list[tuple[int, Path, os.stat_result]] = field(default_factory=list)
    top_level_images: list[Path] = field(default_factory=list)
    notes: list[SkippedFile] = field(default_factory=list)  # entries that are not files
    bad_names: list[str] = field(default_factory=list)  # class folders with line breaks
    unreadable: dict[int, str] = field(default_factory=dict)  # class label -> why
    seen_dirs: dict[tuple[int, int], Path] = field(default_factory=dict)
    seen_files: dict[tuple[int, int], Path] = field(default_factory=dict)

    def relative(self, path: Path) -> str:
        return (
            path.relative_to(self.root).as_posix() if path.is_relative_to(self.root) else str(path)
        )

    def note(self, path: Path, reason: str) -> None:
        self.notes.append(SkippedFile(path, reason))

    def link_target(self, path: Path) -> Path | None:
        """Where a link inside the data folder leads, or None (noted) when it is not followed:
        outside the folder, broken, or a loop."""
        try:
            target = path.resolve(strict=True)
        except FileNotFoundError:
            self.note(path, BROKEN_LINK)
            return None
        except (OSError, RuntimeError) as error:  # ELOOP: a link to itself
            self.note(path, BAD_LINK.format(reason=getattr(error, "strerror", None) or error))
            return None
        if not target.is_relative_to(self.root):
            self.note(path, LINK_OUTSIDE)
            return None
        return target

    def add_dir(self, path: Path, stat: os.stat_result) -> bool:
        """Whether `path` is a folder not listed yet (else noted: a loop or a second way in)."""
        key = (stat.st_dev, stat.st_ino)
        first = self.seen_dirs.get(key)
        if first is None:
            self.seen_dirs[key] = path
            return True
        loop = path.parent.resolve().is_relative_to(first.resolve())
        self.note(path, LINK_LOOP if loop else LINK_SEEN.format(target=self.relative(first)))
        return False

    def add_file(self, label: int, path: Path, stat: os.stat_result) -> None:
        key = (stat.st_dev, stat.st_ino)
        first = self.seen_files.setdefault(key, path)
        if first is path:
            self.files.append((label, path, stat))
        else:
            self.note(path, SAME_FILE.format(target=self.relative(first)))


def _walk_class(folder: Path, label: int, listing: _Listing, cancel: CancelToken) -> None:
    """Every non-hidden file below `folder`, following links that stay inside the data folder
    but never into a folder or onto a file twice; what is not used is noted with why."""
    stack = [folder]
    while stack:
        cancel.raise_if_cancelled()
        current = stack.pop()
        try:
            entries = sorted(os.scandir(current), key=lambda e: e.name)
        except OSError as error:
            reason = error.strerror or type(error).__name__
            if current == folder:
                listing.unreadable[label] = reason
            else:
                listing.note(current, UNREADABLE_FOLDER.format(reason=reason))
            continue
        for entry in entries:
            if _ignored(entry.name):
                continue
            path = Path(entry.path)
            try:
                if entry.is_symlink() and listing.link_target(path) is None:
                    continue
                stat = os.stat(entry.path)  # DirEntry.stat() has no inode on Windows
            except OSError:
                continue  # removed while listing
            if entry.is_dir():
                if listing.add_dir(path, stat):
                    stack.append(path)
            elif entry.is_file():
                listing.add_file(label, path, stat)
            else:
                listing.note(path, NOT_A_FILE)


def _list_folder(root: Path, cancel: CancelToken) -> _Listing:
    listing = _Listing(root)
    listing.add_dir(root, root.stat())
    for entry in sorted(os.scandir(root), key=lambda e: e.name):
        if _ignored(entry.name):
            continue
        path = Path(entry.path)
        if entry.is_dir():
            if has_control_characters(entry.name):
                listing.bad_names.append(entry.name)
            elif not entry.is_symlink() or listing.link_target(path) is not None:
                listing.class_dirs.append((entry.name, path))
        elif entry.is_file() and Path(entry.name).suffix.lower() in IMAGE_EXTENSIONS:
            listing.top_level_images.append(path)
    listing.class_dirs.sort()
    # Real folders first: a link to another class (or to the folder itself) is the second way in.
    kept = []
    for name, folder in sorted(listing.class_dirs, key=lambda item: item[1].is_symlink()):
        if listing.add_dir(folder, folder.stat()):
            kept.append((name, folder))
    listing.class_dirs = sorted(kept)
    for label, (_name, folder) in enumerate(listing.class_dirs):
        _walk_class(folder, label, listing, cancel)
    return listing


def _inspect_chunk(paths: list[Path]) -> list[ImageInfo | BadImage]:
    """`inspect_image` on a few files (one pool task)."""
    results: list[ImageInfo | BadImage] = []
    for path in paths:
        try:
            results.append(inspect_image(path))
        except BadImage as bad:
            results.append(bad)
    return results


def _check_all(
    files: list[tuple[int, Path, os.stat_result]],
    report: Report,
    cancel: CancelToken,
    max_workers: int | None,
) -> list[ImageInfo | BadImage]:
    """`inspect_image` on every file in a pool; progress every PROGRESS_INTERVAL."""
    paths = [path for _, path, _ in files]
    total = len(paths)
    results: list[ImageInfo | BadImage] = []
    last = 0.0

    def progress(*, heartbeat: bool = False) -> None:
        nonlocal last
        now = time.monotonic()
        if heartbeat or now - last >= PROGRESS_INTERVAL or len(results) == total:
            last = now
            message = f"Checked {len(results)} of {total} files"
            report({"event": "progress", "done": len(results), "total": total, "message": message})

    report({"event": "progress", "done": 0, "total": total, "message": "Checking images"})
    workers = max_workers or os.cpu_count() or 1
    with warnings.catch_warnings(), ThreadPoolExecutor(workers) as pool:
        # The pixel limit is checked explicitly; Pillow's own warning would only be noise.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        futures = [
            pool.submit(_inspect_chunk, paths[start : start + CHUNK])
            for start in range(0, total, CHUNK)
        ]
        try:
            for future in futures:  # in order; waiting wakes up for progress and cancel
                while not wait([future], PROGRESS_INTERVAL).done:
                    cancel.raise_if_cancelled()
                    progress(heartbeat=True)
                results += future.result()
                cancel.raise_if_cancelled()
                progress()
        finally:
            if len(results) < total:
                pool.shutdown(wait=True, cancel_futures=True)
    return results


def _problems(result: ScanResult, listing: _Listing, empty_classes: list[str]) -> None:
    if listing.top_level_images:
        result.problems.append(
            Problem(
                f"{len(listing.top_level_images)} image(s) sit directly in the folder, "
                "outside any class sub-folder, and are not used.",
                "Move each into the sub-folder named after its class.",
            )
        )
    for name in listing.bad_names:
        result.problems.append(
            Problem(
                f"The class folder {name!r} has a line break or another control character in "
                "its name, so it is left out (labels.txt holds one class name per line).",
                "Rename the folder to a plain name.",
            )
        )
    unreadable = {listing.class_dirs[label][0]: why for label, why in listing.unreadable.items()}
    for name in empty_classes:
        if name in unreadable:
            result.problems.append(
                Problem(
                    f"The class folder '{name}' cannot be read ({unreadable[name]}), so it is "
                    "left out.",
                    f"Give yourself permission to read '{name}' (e.g. chmod -R u+rX), or "
                    "remove it.",
                )
            )
            continue
        result.problems.append(
            Problem(
                f"The class folder '{name}' has no usable images, so it is left out.",
                f"Add images of '{name}' to it, or remove the folder.",
            )
        )
    if len(result.class_names) == 1:
        result.problems.append(
            Problem(
                f"Only one class ('{result.class_names[0]}') was found; a classifier needs at "
                "least two.",
                "Add a second sub-folder with images of another class.",
            )
        )


def _warnings(result: ScanResult) -> None:
    counts = sorted(result.classes, key=lambda c: c.count)
    if len(counts) >= 2 and counts[-1].count >= IMBALANCE_RATIO * counts[0].count:
        listed = ", ".join(f"{c.name} {c.count}" for c in reversed(counts))
        ratio = counts[-1].count / counts[0].count
        result.warnings.append(
            f"Classes are imbalanced ({ratio:.1f}x between the largest and the smallest: "
            f"{listed}); class weights are applied in training. More images of the small "
            "classes would help most."
        )
    small = result.size_stats().get("smaller_than_32px", 0)
    if small:
        result.warnings.append(
            f"{small} image(s) are smaller than {SMALL_IMAGE} pixels on a side; they are "
            "enlarged to the training size and carry little detail."
        )
    if result.skipped:
        result.warnings.append(f"{len(result.skipped)} file(s) are skipped; see the list.")


def fingerprints(scan: ScanResult) -> list[list[Any]]:
    """The scan's usable files as JSON rows (path, size, mtime, width, height, format, needs
    conversion): what a later scan of the same folder reuses instead of decoding each file
    again (the training child gets the Data page's scan this way)."""
    return [
        [str(r.path), r.size_bytes, r.mtime_ns, r.width, r.height, r.format, r.needs_conversion]
        for r in scan.records
    ]


def _known_outcomes(known: Sequence[Sequence[Any]]) -> dict[tuple[str, int, int], ImageInfo]:
    return {
        (str(path), int(size), int(mtime)): ImageInfo(int(w), int(h), str(fmt), bool(convert))
        for path, size, mtime, w, h, fmt, convert in known
    }


def scan_folder(
    root: str | Path,
    *,
    report: Report = ignore,
    cancel: CancelToken | None = None,
    max_workers: int | None = None,
    known: Sequence[Sequence[Any]] = (),
) -> ScanResult:
    """Find the classes and usable images under `root`; raise `UserError` when none are.

    `known` (from `fingerprints` of an earlier scan): files listed there with the same size
    and modification time are taken as checked then, without opening them; the folder is
    still listed, so added, removed and edited files are found as in a full scan."""
    cancel = cancel or CancelToken()
    root = Path(root).expanduser()
    if not root.is_dir():
        what = "is a file, not a folder" if root.exists() else "does not exist"
        raise UserError(
            f"The folder '{root}' {what}.",
            "Choose a folder that holds one sub-folder of images per class.",
        )
    root = root.resolve()
    report({"event": "progress", "done": 0, "total": 0, "message": "Listing files"})
    listing = _list_folder(root, cancel)
    reuse = _known_outcomes(known)

    def key(path: Path, stat: os.stat_result) -> tuple[str, int, int]:
        return (str(path), stat.st_size, stat.st_mtime_ns)

    todo = [f for f in listing.files if key(f[1], f[2]) not in reuse]
    fresh = iter(_check_all(todo, report, cancel, max_workers))
    checked = [reuse.get(key(path, stat)) or next(fresh) for _, path, stat in listing.files]

    names = [name for name, _ in listing.class_dirs]
    per_class: list[list[ImageRecord]] = [[] for _ in names]
    skipped = [SkippedFile(path, NO_CLASS) for path in listing.top_level_images]
    skipped += listing.notes
    for (label, path, stat), outcome in zip(listing.files, checked, strict=True):
        if isinstance(outcome, BadImage):
            skipped.append(SkippedFile(path, outcome.reason))
            continue
        per_class[label].append(
            ImageRecord(
                path,
                label,
                outcome.width,
                outcome.height,
                outcome.needs_conversion,
                stat.st_size,
                stat.st_mtime_ns,
                outcome.format,
            )
        )
    kept = [i for i, records in enumerate(per_class) if records]
    class_names = [names[i] for i in kept]
    records = [replace(r, label=new) for new, old in enumerate(kept) for r in per_class[old]]
    result = ScanResult(root, class_names, records, sorted(skipped, key=lambda s: s.path))
    _problems(result, listing, [names[i] for i, r in enumerate(per_class) if not r])
    _warnings(result)
    if not records:
        found = f"{len(listing.files)} file(s) in {len(names)} sub-folder(s)"
        reasons = Counter(s.reason for s in skipped).most_common(3)
        if reasons:
            found += ": " + ", ".join(f"{count} {reason}" for reason, count in reasons)
        raise UserError(
            f"No usable images in '{root}' ({found}).",
            "Put the images in one sub-folder per class, e.g. cats/ and dogs/, in JPEG, PNG, "
            "GIF, BMP, WebP or TIFF format.",
        )
    report({"event": "done", "total": result.total, "skipped": len(result.skipped)})
    return result
