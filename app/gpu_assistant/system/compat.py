"""Load and validate the compatibility knowledge in resources/compat/ (data, never code).

The tables say which TensorFlow release needs which Python, driver, compute capability and
platform; `recommend.py` only combines them. Loading checks every row (types, version syntax,
order, and that each row names a source listed in sources.json), so a bad edit fails loudly at
start-up and in the tests rather than giving users a wrong answer.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from gpu_assistant.resources import resource_path

Version = tuple[int, ...]
_VERSION = re.compile(r"^\d+(\.\d+)*$")

# Ids the code looks up: loading fails, naming the file, when the data lacks one.
TRAPS_NAMED_IN_CODE = ("tensorrt_cp311", "and_cuda_ranges", "windows_cpu_only")
LOG_SIGNATURES_NAMED_IN_CODE = (
    "ignored_min_cc",
    "missing_library",
    "dlopen_failed",
    "no_cuda_driver",
    "driver_too_old",
    "cuinit_failed",
    "no_kernels",
    "ptx_jit",
)


class CompatDataError(ValueError):
    """The shipped compatibility data is malformed (a packaging bug, not a user error)."""


def parse_version(text: str) -> Version:
    """ "535.104.05" -> (535, 104, 5); raises ValueError on anything that is not dotted digits."""
    text = text.strip()
    if not _VERSION.match(text):
        raise ValueError(f"not a version number: {text!r}")
    return tuple(int(part) for part in text.split("."))


def release_part(text: str) -> Version:
    """The leading dotted digits of a version someone else wrote, for comparisons: (2, 17, 0)
    from "2.17.0rc1", (2, 21, 0) from "2.21.0.dev2025", (8, 6) from "8.6"; (0,) when there are
    none (NVML's "N/A"). `parse_version` is the strict form, for the shipped data."""
    match = re.match(r"\d+(\.\d+)*", text.strip())
    return parse_version(match.group(0)) if match else (0,)


def version_at_least(version: str, floor: str) -> bool:
    return parse_version(version) >= parse_version(floor)


@dataclass(frozen=True)
class Release:
    version: str  # minor line, "2.21"
    latest_patch: str  # "2.21.0"
    python_min: str
    python_max: str
    macos_python: tuple[str, str] | None
    cuda: str
    cudnn: str
    cuda_major: int
    sass_archs: tuple[str, ...]  # "80" = sm_80
    ptx_arch: str
    min_cc: str
    driver_floor: dict[str, str]  # "linux" / "windows" -> minimum driver
    ptx_jit_driver_floor: dict[str, dict[str, str]]  # "9.0" or "8.x" -> {"linux":..., ...}
    windows_native_gpu: bool
    and_cuda: bool
    and_cuda_style: str | None
    glibc_min: str
    sources: tuple[str, ...]

    def supports_python(self, python: str, *, macos: bool = False) -> bool:
        if macos:
            if self.macos_python is None:
                return False
            low, high = self.macos_python
        else:
            low, high = self.python_min, self.python_max
        return parse_version(low) <= parse_version(python)[:2] <= parse_version(high)


@dataclass(frozen=True)
class Trap:
    id: str
    message: str
    fix: str
    when: dict[str, str]  # the fields that say when it applies (minor, python, installed, os...)
    sources: tuple[str, ...]


@dataclass(frozen=True)
class GpuModel:
    name: str
    compute_capability: str
    architecture: str
    sources: tuple[str, ...]


@dataclass(frozen=True)
class OtherGpu:
    """A GPU maker other than NVIDIA, recognised by name (there is no CUDA for it)."""

    vendor: str  # with its article, for the message: "an Apple"
    pattern: re.Pattern[str]
    mac_only: bool  # only in Macs: the answer names Apple's tensorflow-metal route
    sources: tuple[str, ...]


@dataclass(frozen=True)
class AppleRoute:
    """tensorflow-metal: how TensorFlow uses an Apple-silicon or AMD GPU on macOS."""

    package: str
    version: str
    python_min: str
    python_max: str
    texts: dict[str, str]  # text, python_text, nvidia_text (str.format templates)
    fields: dict[str, str]  # every plain value of the row, for the templates

    def advice(self, python: str) -> str:
        """The route for this Python, or which Python it needs."""
        low, high = parse_version(self.python_min), parse_version(self.python_max)
        parts = [self.texts["text"]]
        if not low <= release_part(python)[:2] <= high:
            parts.append(self.texts["python_text"])
        parts.append(self.texts["nvidia_text"])
        return " ".join(parts).format(**self.fields, python=python)


@dataclass(frozen=True)
class Knowledge:
    releases: tuple[Release, ...]  # newest first
    traps: tuple[Trap, ...]
    platforms: dict[str, dict[str, Any]]
    unsupported_from_cc: str
    unsupported_why: str
    texts: dict[str, str]  # templates: cuda_install_linux, jit_warning
    gpu_wheel_arches: dict[str, Any]  # values (CPU architectures), message, fix
    gpus: tuple[GpuModel, ...]
    architectures: tuple[tuple[str, str], ...]  # (min_cc, name), ascending
    sources: dict[str, dict[str, Any]]
    other_gpus: tuple[OtherGpu, ...]
    not_nvidia: dict[str, str]  # message, fix templates
    apple_route: AppleRoute
    log_signatures: dict[str, re.Pattern[str]]  # tf_logs.json: TF log lines that explain

    def trap(self, trap_id: str) -> Trap:
        """The trap `trap_id` (one of TRAPS_NAMED_IN_CODE, so loading made sure it exists)."""
        return next(t for t in self.traps if t.id == trap_id)

    def log_signature(self, signature_id: str) -> re.Pattern[str]:
        """The compiled TF log signature `signature_id` (one of LOG_SIGNATURES_NAMED_IN_CODE)."""
        return self.log_signatures[signature_id]

    def other_gpu(self, name: str) -> OtherGpu | None:
        """The non-NVIDIA maker a GPU name belongs to, if it is a known one."""
        return next((g for g in self.other_gpus if g.pattern.search(name.strip())), None)

    def architecture_of(self, cc: str) -> str:
        name = "unknown architecture"
        for min_cc, arch in self.architectures:
            if parse_version(cc) >= parse_version(min_cc):
                name = arch
        return name


@cache
def load_knowledge(folder: Path | None = None) -> Knowledge:
    """Read and validate resources/compat/*.json (cached: the files never change at run time)."""
    folder = folder or resource_path("compat")
    sources = _read(folder / "sources.json")["sources"]
    tf = _read(folder / "tensorflow.json")
    gpus = _read(folder / "gpus.json")
    logs = _read(folder / "tf_logs.json")
    checker = _Checker(set(sources))
    releases = tuple(_release(row, checker) for row in tf["releases"])
    ordered = sorted(releases, key=lambda r: parse_version(r.version), reverse=True)
    if list(releases) != ordered:
        raise CompatDataError("tensorflow.json: releases must be listed newest first")
    traps = tuple(
        Trap(
            id=row["id"],
            message=row["message"],
            fix=row["fix"],
            when={k: v for k, v in row.items() if k not in {"id", "message", "fix", "sources"}},
            sources=checker.sources(row, f"trap {row['id']}"),
        )
        for row in tf["traps"]
    )
    missing = sorted(set(TRAPS_NAMED_IN_CODE) - {t.id for t in traps})
    if missing:
        raise CompatDataError(f"tensorflow.json: trap(s) {missing} missing (the code needs them)")
    for name, platform in tf["platforms"].items():
        checker.sources(platform, f"platform {name}")
    checker.sources(tf["gpu_wheel_arches"], "gpu_wheel_arches")
    unsupported = tf["unsupported_from_cc"]
    checker.sources(unsupported, "unsupported_from_cc")
    texts = {}
    for key in ("cuda_install_linux", "jit_warning"):
        checker.sources(tf[key], key)
        texts[key] = tf[key]["text"]
    models = tuple(
        GpuModel(
            name=row["name"],
            compute_capability=checker.version(row["compute_capability"], row["name"]),
            architecture=row["architecture"],
            sources=checker.sources(row, row["name"]),
        )
        for row in gpus["gpus"]
    )
    checker.sources({"sources": gpus["architectures_sources"]}, "architectures")
    other = gpus["other_gpus"]
    return Knowledge(
        releases=releases,
        traps=traps,
        platforms=tf["platforms"],
        unsupported_from_cc=checker.version(unsupported["value"], "unsupported_from_cc"),
        unsupported_why=unsupported["why"],
        texts=texts,
        gpu_wheel_arches=tf["gpu_wheel_arches"],
        gpus=models,
        architectures=tuple((a["min_cc"], a["name"]) for a in gpus["architectures"]),
        sources=sources,
        other_gpus=tuple(_other_gpu(row, checker) for row in other["vendors"]),
        not_nvidia={"message": other["message"], "fix": other["fix"]},
        apple_route=_apple_route(tf["platforms"]["macos"]["gpu_route"], checker),
        log_signatures=_log_signatures(logs["signatures"], checker),
    )


def _read(path: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return data
    except (OSError, json.JSONDecodeError) as error:
        raise CompatDataError(
            f"{path.name}: cannot be read ({error}); reinstall the app"
        ) from error


class _Checker:
    """Small validators that name the offending row."""

    def __init__(self, source_ids: set[str]) -> None:
        self.source_ids = source_ids

    def version(self, text: Any, where: str) -> str:
        if not isinstance(text, str) or not _VERSION.match(text):
            raise CompatDataError(f"{where}: {text!r} is not a version number")
        return text

    def sources(self, row: dict[str, Any], where: str) -> tuple[str, ...]:
        ids = row.get("sources") or []
        if not ids:
            raise CompatDataError(f"{where}: names no source")
        unknown = [i for i in ids if i not in self.source_ids]
        if unknown:
            raise CompatDataError(f"{where}: unknown source id(s) {unknown}")
        return tuple(ids)


def _log_signatures(rows: list[dict[str, Any]], check: _Checker) -> dict[str, re.Pattern[str]]:
    found = {}
    for row in rows:
        where = f"tf_logs.json: signature {row.get('id')}"
        check.sources(row, where)
        try:
            flags = re.RegexFlag(0)
            for name in row.get("flags", []):
                flags |= re.RegexFlag[name]
            found[row["id"]] = re.compile(row["pattern"], flags)
        except (KeyError, re.error) as error:
            raise CompatDataError(f"{where}: bad or missing pattern or flag ({error})") from error
    missing = sorted(set(LOG_SIGNATURES_NAMED_IN_CODE) - set(found))
    if missing:
        raise CompatDataError(f"tf_logs.json: signature(s) {missing} missing (the code needs them)")
    return found


def _other_gpu(row: dict[str, Any], check: _Checker) -> OtherGpu:
    where = f"other GPU {row.get('vendor')}"
    try:
        pattern = re.compile(row["pattern"], re.IGNORECASE)
    except (KeyError, re.error) as error:
        raise CompatDataError(f"{where}: bad or missing pattern ({error})") from error
    return OtherGpu(row["vendor"], pattern, bool(row["mac_only"]), check.sources(row, where))


def _apple_route(row: dict[str, Any], check: _Checker) -> AppleRoute:
    where = "platforms.macos.gpu_route"
    check.sources(row, where)
    fields = {k: v for k, v in row.items() if isinstance(v, str) and not k.endswith("text")}
    route = AppleRoute(
        package=row["package"],
        version=check.version(row["version"], where),
        python_min=check.version(row["python_min"], where),
        python_max=check.version(row["python_max"], where),
        texts={k: row[k] for k in ("text", "python_text", "nvidia_text")},
        fields=fields,
    )
    try:  # every placeholder must be filled now, not when a user on a Mac asks
        route.advice(route.python_max)
        route.advice("3.99")
    except (KeyError, IndexError) as error:
        raise CompatDataError(f"{where}: unknown placeholder {error}") from error
    return route


def _release(row: dict[str, Any], check: _Checker) -> Release:
    where = f"release {row.get('version')}"
    try:
        floors = {k: check.version(v, where) for k, v in row["driver_floor"].items()}
        jit = {
            cls: {k: check.version(v, where) for k, v in per_os.items()}
            for cls, per_os in row["ptx_jit_driver_floor"].items()
        }
        macos = row["macos_python"]
        return Release(
            version=check.version(row["version"], where),
            latest_patch=check.version(row["latest_patch"], where),
            python_min=check.version(row["python"]["min"], where),
            python_max=check.version(row["python"]["max"], where),
            macos_python=(check.version(macos[0], where), check.version(macos[1], where))
            if macos
            else None,
            cuda=check.version(row["cuda"], where),
            cudnn=check.version(row["cudnn"], where),
            cuda_major=int(row["cuda_major"]),
            sass_archs=tuple(str(a) for a in row["sass_archs"]),
            ptx_arch=str(row["ptx_arch"]),
            min_cc=check.version(row["min_cc"], where),
            driver_floor=floors,
            ptx_jit_driver_floor=jit,
            windows_native_gpu=bool(row["windows_native_gpu"]),
            and_cuda=bool(row["and_cuda"]),
            and_cuda_style=row["and_cuda_style"],
            glibc_min=check.version(row["glibc_min"], where),
            sources=check.sources(row, where),
        )
    except (KeyError, TypeError) as error:
        raise CompatDataError(f"{where}: missing or wrong field {error}") from error
