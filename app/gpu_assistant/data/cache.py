"""Where the resized images are cached: memory when they fit a share of the free RAM, otherwise
a disk file that is reused while the folder is unchanged.

The disk cache lives under `paths.cache_dir()/datasets/<fingerprint>/`, the fingerprint
covering every file's relative path, size and modification time, its label, and the image
size. TensorFlow writes a cache split `<name>` as temporary files and publishes `<name>.index`
only once the whole epoch was written (an iterator stopped early deletes its partial files).
A crash can still leave temporary files and a lock file behind: without an index they are
removed before the cache is written again, so a half cache is never read.
"""

from __future__ import annotations

import hashlib
import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from gpu_assistant import paths

if TYPE_CHECKING:
    from gpu_assistant.data.scan import ScanResult
    from gpu_assistant.data.split import PipelineOptions, Split

MEMORY_SHARE = 0.25  # the in-memory cache may take this share of the RAM free now
CACHE_FORMAT = "uint8-squash-v1"  # change when the cached pixels would differ


@dataclass(frozen=True)
class CachePlan:
    mode: str  # "memory", "disk" or "none"
    bytes: int  # estimated size of the cached images
    directory: Path | None = None

    def complete(self, name: str) -> bool:
        """Whether the disk cache of split `name` was written to the end."""
        return self.directory is not None and (self.directory / f"{name}.index").exists()

    def prefix(self, name: str) -> str:
        """The file prefix TF's cache writes for split `name`, cleared of crash leftovers."""
        assert self.directory is not None
        prefix = self.directory / name
        if not self.complete(name):
            for leftover in self.directory.glob(f"{name}*"):
                leftover.unlink(missing_ok=True)
        return str(prefix)


def estimate_cache_bytes(count: int, image_size: int) -> int:
    """Bytes of `count` cached uint8 images of `image_size` squared (plus 1% bookkeeping)."""
    return math.ceil(count * image_size * image_size * 3 * 1.01)


def available_memory_bytes() -> int:
    """RAM free for new allocations now (Linux MemAvailable, Windows' available physical
    memory, else the free pages; on macOS half the RAM)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    if sys.platform == "win32":
        import ctypes

        class _Status(ctypes.Structure):
            _fields_ = (
                [("length", ctypes.c_ulong), ("load", ctypes.c_ulong)]
                + [
                    (name, ctypes.c_ulonglong)
                    for name in ("total", "avail", "total_page", "avail_page", "total_v", "avail_v")
                ]
                + [("ext", ctypes.c_ulonglong)]
            )

        status = _Status()
        status.length = ctypes.sizeof(_Status)
        ctypes.windll.kernel32.GlobalMemoryStatusEx(ctypes.byref(status))  # type: ignore[attr-defined]
        return int(status.avail)
    page = os.sysconf("SC_PAGE_SIZE")
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * page
    except (ValueError, OSError):  # macOS has no free-page count: assume half the RAM
        return os.sysconf("SC_PHYS_PAGES") * page // 2


def fingerprint(scan: ScanResult, split: Split, image_size: int) -> str:
    """Changes whenever a cached pixel could: a file added, removed, edited, relabelled or
    moved to another split, or another image size."""
    digest = hashlib.sha256(f"{CACHE_FORMAT}\0{image_size}\0".encode())
    digest.update(paths.path_bytes("\0".join(scan.class_names)))
    for name, records in (("train", split.train), ("val", split.val), ("test", split.test)):
        for record in sorted(records, key=lambda r: r.relative_key(scan.root)):
            line = f"\n{name}\0{record.relative_key(scan.root)}\0{record.size_bytes}"
            digest.update(paths.path_bytes(f"{line}\0{record.mtime_ns}\0{record.label}"))
    return digest.hexdigest()[:32]


def plan_cache(scan: ScanResult, split: Split, options: PipelineOptions) -> CachePlan:
    records = [*split.train, *split.val, *split.test]
    size = estimate_cache_bytes(len(records), options.image_size)
    mode = options.cache
    if mode == "auto":
        mode = "memory" if size <= MEMORY_SHARE * available_memory_bytes() else "disk"
    if mode != "disk":
        return CachePlan(mode, size if mode == "memory" else 0)
    base = Path(options.cache_dir) if options.cache_dir else paths.cache_dir() / "datasets"
    key = fingerprint(scan, split, options.image_size)
    directory = base / f"{key}-s{options.seed}"
    directory.mkdir(parents=True, exist_ok=True)
    return CachePlan("disk", size, directory)
