"""Which TensorFlow will use this GPU here, and if none, exactly what to change.

Every release in resources/compat/tensorflow.json is run through the gates of the team reference
(rules.gates_in_order): platform, Python, compute capability, glibc, driver floor, PTX-JIT
driver floor. Each GPU is judged on its own; with several GPUs the release that serves the most
of them (newest first) wins and the others are named as left out. No version number lives here:
every number in an answer comes from the data.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any

from gpu_assistant.system.compat import (
    Knowledge,
    Release,
    load_knowledge,
    parse_version,
    release_part,
    version_at_least,
)
from gpu_assistant.system.hardware import Note
from gpu_assistant.system.query import (
    OSES,
    GpuSpec,
    Query,
    lookup_compute_capability,
    query_from_system,
)


@dataclass
class Blocker:
    id: str
    message: str
    fix: str


@dataclass
class Recommendation:
    ok: bool
    tensorflow: str | None
    package: str | None
    install_command: str | None  # for display and copy-paste
    install_argv: list[str] | None  # run with the target Python in front
    cuda: str | None
    cudnn: str | None
    blockers: list[Blocker]
    warnings: list[Note]
    cpu_fallback: dict[str, Any]
    acceptable_versions: list[str]
    gpus_used: list[int]
    gpus_left_out: list[dict[str, Any]]
    system: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def recommend(query: Query, knowledge: Knowledge | None = None) -> Recommendation:
    """The answer for `query`; see the module docstring for how it is reached."""
    k = knowledge or load_knowledge()
    system = {
        "os": query.os,
        "python": query.python,
        "driver": query.driver,
        "gpus": [dataclasses.asdict(g) for g in query.gpus],
        "other_gpu": query.other_gpu,  # a GPU named that is not NVIDIA's ("" for none)
    }
    cpu = _cpu_fallback(query, k)
    warnings = _installed_warnings(query, k) + _arch_warnings(query, k)
    blocker = _system_blocker(query, k)
    if blocker is not None:
        return _refusal([blocker], warnings, [], cpu, system)
    verdicts = [_judge(gpu, query, k) for gpu in query.gpus]
    chosen = _choose(verdicts, k)
    if chosen is None:
        blockers = _dedupe([b for v in verdicts for b in v.blockers])
        left = [_left_out(v, None) for v in verdicts]
        return _refusal(blockers, warnings, left, cpu, system)

    used = [v for v in verdicts if chosen in v.acceptable]
    left_out = [_left_out(v, chosen) for v in verdicts if chosen not in v.acceptable]
    package, setup_warning = _package(chosen, query, k)
    if setup_warning:
        warnings.append(setup_warning)
    warnings += _release_warnings(chosen, used, verdicts, query, k)
    for gone in left_out:
        warnings.append(
            Note(
                "gpu_left_out",
                f"GPU {gone['index']} ({gone['name']}) will not be used: {gone['reason']}",
            )
        )
    newer = _newer_for_fewer(chosen, verdicts)
    if newer:
        warnings.append(newer)
    common = [r for r in k.releases if all(r in v.acceptable for v in used)]
    argv = ["-m", "pip", "install", package]
    return Recommendation(
        ok=True,
        tensorflow=chosen.latest_patch,
        package=package,
        install_command=_display(["python", *argv]),
        install_argv=argv,
        cuda=chosen.cuda,
        cudnn=chosen.cudnn,
        blockers=[],
        warnings=warnings,
        cpu_fallback=cpu,
        acceptable_versions=[r.latest_patch for r in common],
        gpus_used=[v.gpu.index for v in used],
        gpus_left_out=left_out,
        system=system,
    )


def _refusal(
    blockers: list[Blocker],
    warnings: list[Note],
    left_out: list[dict[str, Any]],
    cpu: dict[str, Any],
    system: dict[str, Any],
) -> Recommendation:
    return Recommendation(
        ok=False, tensorflow=None, package=None, install_command=None, install_argv=None,
        cuda=None, cudnn=None, blockers=blockers, warnings=warnings, cpu_fallback=cpu,
        acceptable_versions=[], gpus_used=[], gpus_left_out=left_out, system=system,
    )  # fmt: skip


def _system_blocker(query: Query, k: Knowledge) -> Blocker | None:
    """What rules out every GPU before looking at any: the OS, or no GPU at all."""
    if query.os == "macos":
        platform = k.platforms["macos"]
        return Blocker("macos_no_cuda", platform["message"], k.apple_route.advice(query.python))
    if query.os not in OSES:
        return Blocker(
            "unsupported_os",
            f"TensorFlow has no NVIDIA GPU builds for {query.os}.",
            "Use Linux or Windows with WSL2.",
        )
    other = k.other_gpu(query.other_gpu) if query.other_gpu else None
    if other is not None:
        fix = k.not_nvidia["fix"]
        if other.mac_only:
            fix += " " + k.apple_route.advice(query.python)
        message = k.not_nvidia["message"].format(name=query.other_gpu, vendor=other.vendor)
        return Blocker("not_nvidia_gpu", message, fix)
    if not query.gpus:
        return Blocker(
            "no_nvidia_gpu",
            query.gpu_problem or "No NVIDIA GPU was detected.",
            "Install or repair the NVIDIA driver (`nvidia-smi` should list the GPU). To ask "
            "about another machine: `gpu-assistant recommend --gpu-name NAME --driver VERSION`.",
        )
    return None


def _arch_warnings(query: Query, k: Knowledge) -> list[Note]:
    arches = k.gpu_wheel_arches
    if query.os in ("linux", "wsl2") and query.arch not in arches["values"]:
        message = arches["message"].format(arch=query.arch)
        return [Note("arch_cpu_wheels", message, arches["fix"])]
    return []


# -- judging one GPU --------------------------------------------------------------------------


@dataclass
class _Verdict:
    gpu: GpuSpec
    acceptable: list[Release]
    blockers: list[Blocker]


def _gate_failures(release: Release, gpu: GpuSpec, query: Query, k: Knowledge) -> list[str]:
    """The gates `release` fails for this GPU, in the reference's order."""
    failed = []
    if query.os == "windows" and not release.windows_native_gpu:
        failed.append("platform")
    if not release.supports_python(query.python):
        failed.append("python")
    cc = parse_version(gpu.compute_capability)
    if cc < parse_version(release.min_cc) or cc >= parse_version(k.unsupported_from_cc):
        failed.append("cc")
    if not _glibc_fits(release, query):
        failed.append("glibc")
    if query.driver and not version_at_least(
        query.driver, _required_driver(release, gpu, query, k)
    ):
        failed.append("driver")
    return failed


def _glibc_fits(release: Release, query: Query) -> bool:
    """The release's Linux wheels (manylinux) load with this glibc; unknown glibc passes."""
    linux = query.os in ("linux", "wsl2")
    return not (linux and query.glibc and not version_at_least(query.glibc, release.glibc_min))


def _required_driver(release: Release, gpu: GpuSpec, query: Query, k: Knowledge) -> str:
    """The driver floor for this release on this OS, raised where the GPU must JIT PTX."""
    key = k.platforms[query.os]["driver_floor"]
    floor = release.driver_floor[key]
    jit = _jit_class_floor(release, gpu.compute_capability)
    if jit and key in jit and version_at_least(jit[key], floor):
        floor = jit[key]
    return floor


def _jit_class_floor(release: Release, cc: str) -> dict[str, str] | None:
    major = cc.split(".", maxsplit=1)[0]
    return release.ptx_jit_driver_floor.get(cc) or release.ptx_jit_driver_floor.get(f"{major}.x")


def _needs_jit(release: Release, cc: str) -> bool:
    """No SASS of the GPU's major architecture at or below its CC: kernels come from PTX."""
    major, minor = parse_version(cc)[:2]
    return not any(
        int(arch[:-1]) == major and int(arch[-1]) <= minor for arch in release.sass_archs
    )


def _judge(gpu: GpuSpec, query: Query, k: Knowledge) -> _Verdict:
    failures = {r.version: _gate_failures(r, gpu, query, k) for r in k.releases}
    acceptable = [r for r in k.releases if not failures[r.version]]
    if acceptable:
        return _Verdict(gpu, acceptable, [])
    if query.os == "windows":
        return _Verdict(gpu, [], _windows_blockers(gpu, query, k, failures))
    return _Verdict(gpu, [], _blockers(gpu, query, k, failures))


def _blockers(
    gpu: GpuSpec, query: Query, k: Knowledge, failures: dict[str, list[str]]
) -> list[Blocker]:
    label = f"{gpu.name} (compute capability {gpu.compute_capability})"
    candidates = [r for r in k.releases if not {"platform", "cc"} & set(failures[r.version])]
    if not candidates:
        cc = parse_version(gpu.compute_capability)
        if cc >= parse_version(k.unsupported_from_cc):
            return [
                Blocker(
                    "gpu_too_new",
                    f"{label} is newer than any TensorFlow release supports: {k.unsupported_why}",
                    "Use the CPU build for now, or a GPU of an older generation; watch the "
                    "TensorFlow release notes for Blackwell support.",
                )
            ]
        oldest_cc = min((r.min_cc for r in k.releases), key=parse_version)
        return [
            Blocker(
                "gpu_too_old",
                f"{label} is older than any TensorFlow release supports "
                f"(the oldest builds need compute capability {oldest_cc}).",
                "Use the CPU build, or a newer NVIDIA GPU.",
            )
        ]
    best = min(candidates, key=lambda r: len(failures[r.version]))
    blockers = [_blocker_for(gate, best, gpu, query, k) for gate in failures[best.version]]
    alternatives = [
        _fix_for(failures[r.version][0], r, gpu, query, k)
        for r in candidates
        if len(failures[r.version]) == 1 and failures[r.version] != failures[best.version]
    ]
    if alternatives and blockers:
        blockers[-1].fix += " Or: " + alternatives[0]
    glibc_only = [r for r in candidates if failures[r.version] == ["glibc"]]
    if glibc_only and "glibc" in failures[best.version]:
        lowest = min(glibc_only, key=lambda r: parse_version(r.glibc_min))
        if lowest.glibc_min != best.glibc_min:
            blocker = next(b for b in blockers if b.id == "glibc_too_old")
            blocker.fix += (
                f" (glibc {lowest.glibc_min} is enough for TensorFlow {lowest.latest_patch}.)"
            )
    driver_only = [r for r in candidates if failures[r.version] == ["driver"]]
    if driver_only and "driver" in failures[best.version]:
        lowest = min(driver_only, key=lambda r: parse_version(_required_driver(r, gpu, query, k)))
        floor = _required_driver(lowest, gpu, query, k)
        if floor != _required_driver(best, gpu, query, k):
            blocker = next(b for b in blockers if b.id == "driver_too_old")
            blocker.fix += (
                f" (The oldest driver that works is {floor}, for TensorFlow {lowest.latest_patch}.)"
            )
    return blockers


def _blocker_for(gate: str, r: Release, gpu: GpuSpec, query: Query, k: Knowledge) -> Blocker:
    fix = _fix_for(gate, r, gpu, query, k)
    if gate == "python":
        newer = parse_version(query.python)[:2] > parse_version(r.python_max)
        return Blocker(
            "python_too_new" if newer else "python_too_old",
            f"Python {query.python} is {'newer' if newer else 'older'} than TensorFlow "
            f"{r.latest_patch} supports ({r.python_min}–{r.python_max}).",
            fix,
        )
    if gate == "glibc":
        return Blocker(
            "glibc_too_old",
            f"This Linux has glibc {query.glibc}; TensorFlow {r.latest_patch} needs "
            f"{r.glibc_min} or newer.",
            fix,
        )
    return Blocker(
        "driver_too_old",
        f"NVIDIA driver {query.driver} is too old for TensorFlow {r.latest_patch} on "
        f"{gpu.name} (it needs {_required_driver(r, gpu, query, k)} or newer).",
        fix,
    )


def _fix_for(gate: str, r: Release, gpu: GpuSpec, query: Query, k: Knowledge) -> str:
    if gate == "python":
        return (
            f"Use Python {r.python_max} (TensorFlow {r.latest_patch} supports "
            f"{r.python_min}–{r.python_max}), e.g. in a new virtual environment."
        )
    if gate == "glibc":
        return (
            f"Use a Linux distribution with glibc {r.glibc_min} or newer for TensorFlow "
            f"{r.latest_patch}."
        )
    where = " on Windows (WSL2 uses the Windows driver)" if query.os == "wsl2" else ""
    return (
        f"Upgrade the NVIDIA driver{where} to {_required_driver(r, gpu, query, k)} or newer "
        f"for TensorFlow {r.latest_patch}."
    )


def _windows_blockers(
    gpu: GpuSpec, query: Query, k: Knowledge, failures: dict[str, list[str]]
) -> list[Blocker]:
    """Native Windows: say whether WSL2, another Python or a newer driver is the way out."""
    wsl = _judge(gpu, dataclasses.replace(query, os="wsl2", glibc=None), k)
    if {b.id for b in wsl.blockers} & {"gpu_too_old", "gpu_too_new"}:
        return wsl.blockers  # no OS change helps this GPU
    native = [r for r in k.releases if r.windows_native_gpu]
    if any(r.supports_python(query.python) for r in native):
        return _blockers(gpu, query, k, failures)  # right Python: the driver is what is left
    last = native[0]
    route = (
        f"Use WSL2 (Ubuntu) where TensorFlow {wsl.acceptable[0].latest_patch} uses this GPU"
        if wsl.acceptable
        else "Use WSL2 (Ubuntu)"
    )
    blocker = Blocker(
        "windows_native",
        f"On native Windows only TensorFlow {last.version} and older use the GPU, and they need "
        f"Python {last.python_min}–{last.python_max} (this is Python {query.python}); newer "
        "releases are CPU-only on Windows.",
        f"{route}; or install Python {last.python_max} and TensorFlow {last.latest_patch} "
        f"with CUDA {last.cuda} and cuDNN {last.cudnn}.",
    )
    return [blocker, *wsl.blockers]


# -- choosing among GPUs and describing the answer --------------------------------------------


def _choose(verdicts: list[_Verdict], k: Knowledge) -> Release | None:
    """The release that serves the most GPUs; the newest among equals."""
    best, best_count = None, 0
    for release in k.releases:  # newest first, so ties keep the newest
        count = sum(release in v.acceptable for v in verdicts)
        if count > best_count:
            best, best_count = release, count
    return best


def _newer_for_fewer(chosen: Release, verdicts: list[_Verdict]) -> Note | None:
    """Serving every GPU can cost years of releases: say what dropping some would buy."""
    newest = max(
        (v.acceptable[0] for v in verdicts if v.acceptable), key=lambda r: parse_version(r.version)
    )
    if newest is chosen:
        return None
    gpus = [v.gpu for v in verdicts if newest in v.acceptable]
    names = ", ".join(f"{g.index}: {g.name}" for g in gpus)
    visible = ",".join(str(g.index) for g in gpus)
    return Note(
        "newer_for_fewer_gpus",
        f"TensorFlow {newest.latest_patch} would use only GPU {names}.",
        f"To prefer it, install {newest.latest_patch} and set CUDA_VISIBLE_DEVICES={visible}.",
    )


def _left_out(verdict: _Verdict, chosen: Release | None) -> dict[str, Any]:
    if verdict.acceptable:
        reason = (
            f"it needs TensorFlow {verdict.acceptable[0].latest_patch} or older, while "
            f"{chosen.latest_patch if chosen else 'the recommendation'} serves more GPUs."
        )
    else:
        reason = " ".join(b.message for b in verdict.blockers)
    return {"index": verdict.gpu.index, "name": verdict.gpu.name, "reason": reason}


def _package(release: Release, query: Query, k: Knowledge) -> tuple[str, Note | None]:
    if query.os == "windows":
        text = k.platforms["windows"]["cuda_install"].format(cuda=release.cuda, cudnn=release.cudnn)
        return f"tensorflow=={release.latest_patch}", Note("cuda_manual_install", text)
    trap = k.trap("tensorrt_cp311")
    broken = trap.when.get("minor") == release.version and trap.when.get("python") == query.python
    if release.and_cuda and not broken:
        return f"tensorflow[and-cuda]=={release.latest_patch}", None
    text = k.texts["cuda_install_linux"].format(
        version=release.latest_patch, cuda=release.cuda, cudnn=release.cudnn
    )
    if broken:
        text = f"{trap.message} {text}"
    return f"tensorflow=={release.latest_patch}", Note("cuda_manual_install", text)


def _release_warnings(
    chosen: Release, used: list[_Verdict], verdicts: list[_Verdict], query: Query, k: Knowledge
) -> list[Note]:
    warnings = []
    for v in used:
        if _needs_jit(chosen, v.gpu.compute_capability):
            text = k.texts["jit_warning"].format(
                version=chosen.latest_patch, cc=v.gpu.compute_capability
            )
            warnings.append(Note("ptx_jit", text))
            break
    if query.driver is None:
        need = max((_required_driver(chosen, v.gpu, query, k) for v in used), key=parse_version)
        warnings.append(
            Note(
                "driver_unknown",
                f"The driver version is unknown; TensorFlow {chosen.latest_patch} needs NVIDIA "
                f"driver {need} or newer.",
            )
        )
    else:
        unlocked = _driver_upgrade(chosen, used, query, k)
        if unlocked:
            warnings.append(unlocked)
    newer = [r for r in k.releases if parse_version(r.version) > parse_version(chosen.version)]
    held_back = [r for r in newer if not _glibc_fits(r, query)]
    if held_back:
        warnings.append(
            Note(
                "glibc_holds_back",
                f"This Linux has glibc {query.glibc}; TensorFlow {held_back[0].latest_patch} "
                f"needs {held_back[0].glibc_min} or newer (its manylinux wheels), so "
                f"{chosen.latest_patch} is the newest that fits (pip picks it too, without "
                "saying why).",
                f"For TensorFlow {held_back[0].latest_patch}, use a Linux with glibc "
                f"{held_back[0].glibc_min} or newer (e.g. in a container).",
            )
        )
    ranges = k.trap("and_cuda_ranges")
    if chosen.and_cuda_style == "ranges" and query.os in ("linux", "wsl2"):
        warnings.append(Note(ranges.id, ranges.message))
    platform = k.platforms[query.os]
    for note in platform.get("notes", []):
        warnings.append(Note(f"{query.os}_note", note))
    min_cc = platform.get("min_cc")
    for v in used:
        if min_cc and parse_version(v.gpu.compute_capability) < parse_version(min_cc["value"]):
            warnings.append(Note(f"{query.os}_old_gpu", f"{v.gpu.name}: {min_cc['why']}"))
    if query.os == "windows":
        wsl = recommend(dataclasses.replace(query, os="wsl2", glibc=None), k)
        if wsl.tensorflow and parse_version(wsl.tensorflow) > parse_version(chosen.latest_patch):
            warnings.append(
                Note(
                    "windows_native_old",
                    f"Native Windows stops at TensorFlow {chosen.latest_patch}; under WSL2 this "
                    f"GPU gets TensorFlow {wsl.tensorflow}.",
                )
            )
    if len({v.gpu.name for v in verdicts}) > 1:
        names = ", ".join(f"{v.gpu.index}: {v.gpu.name}" for v in used)
        warnings.append(
            Note(
                "mixed_gpus",
                f"Different GPU models: TensorFlow will use {names}. Multi-GPU training runs at "
                "the pace of the slowest; pick GPUs with CUDA_VISIBLE_DEVICES or on the Train "
                "page.",
            )
        )
    return warnings


def _driver_upgrade(
    chosen: Release, used: list[_Verdict], query: Query, k: Knowledge
) -> Note | None:
    """A newer release that only a driver upgrade stands between the user and."""
    for release in k.releases:
        if parse_version(release.version) <= parse_version(chosen.version):
            return None
        fails = {g for v in used for g in _gate_failures(release, v.gpu, query, k)}
        if fails == {"driver"}:
            need = max(
                (_required_driver(release, v.gpu, query, k) for v in used), key=parse_version
            )
            return Note(
                "driver_upgrade_unlocks",
                f"Upgrading the NVIDIA driver to {need} or newer would allow TensorFlow "
                f"{release.latest_patch}.",
            )
    return None


def _installed_warnings(query: Query, k: Knowledge) -> list[Note]:
    warnings: list[Note] = []
    for trap in k.traps:
        if _trap_applies(trap.when, query):
            warnings.append(Note(trap.id, trap.message, trap.fix))
    return warnings


def _trap_applies(when: dict[str, str], query: Query) -> bool:
    """Does a trap about what is installed (a version, a package, an OS) hit this system?"""
    installed = query.installed.get("tensorflow")
    if "installed" in when:
        return installed == when["installed"]
    if "package" in when:
        return when["package"] in query.installed
    if "installed_from" in when:
        return (
            query.os == when.get("os")
            and installed is not None
            and release_part(installed) >= parse_version(when["installed_from"])
        )
    return False


def _cpu_fallback(query: Query, k: Knowledge) -> dict[str, Any]:
    macos = query.os == "macos"
    for release in k.releases:
        if release.supports_python(query.python, macos=macos) and _glibc_fits(release, query):
            package = f"tensorflow=={release.latest_patch}"
            argv = ["-m", "pip", "install", package]
            note = "Runs on the CPU only: slower, but it works everywhere."
            if macos:
                note = k.apple_route.advice(query.python)
            return {
                "package": package,
                "install_command": _display(["python", *argv]),
                "install_argv": argv,
                "note": note,
            }
    newest = k.releases[0]
    note = (
        f"No stable TensorFlow supports Python {query.python}; use Python "
        f"{newest.python_max} (TensorFlow {newest.latest_patch})."
    )
    if any(r.supports_python(query.python, macos=macos) for r in k.releases):
        oldest = min(k.releases, key=lambda r: parse_version(r.glibc_min))
        note = (
            f"No TensorFlow wheel loads with glibc {query.glibc}; TensorFlow "
            f"{oldest.latest_patch} needs glibc {oldest.glibc_min} or newer."
        )
    return {"package": None, "install_command": None, "install_argv": None, "note": note}


# -- small helpers ----------------------------------------------------------------------------


def _dedupe(blockers: list[Blocker]) -> list[Blocker]:
    seen, unique = set(), []
    for blocker in blockers:
        if (blocker.id, blocker.message) not in seen:
            seen.add((blocker.id, blocker.message))
            unique.append(blocker)
    return unique


def _display(argv: list[str]) -> str:
    """A command line that pastes into bash, zsh, cmd and PowerShell alike."""
    return " ".join(f'"{a}"' if re.search(r"[^\w.=/:+-]", a) else a for a in argv)


# Query and its builders live in query.py; re-exported because callers think of them together.
__all__ = [
    "OSES",
    "Blocker",
    "GpuSpec",
    "Note",
    "Query",
    "Recommendation",
    "lookup_compute_capability",
    "query_from_system",
    "recommend",
]
