"""The question the recommender answers: a system, detected or described by the user.

`query_from_system` starts from the probe and lets flags replace single values (so users can ask
about a machine they plan to buy); a GPU given by name alone gets its compute capability from
resources/compat/gpus.json. Bad values raise UserError with the fix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from gpu_assistant.jobs import UserError
from gpu_assistant.system.compat import Knowledge, load_knowledge, parse_version
from gpu_assistant.system.hardware import SystemInfo

OSES = ("linux", "wsl2", "windows", "macos")


@dataclass
class GpuSpec:
    name: str
    compute_capability: str
    index: int = 0


@dataclass
class Query:
    """The system to answer for: detected, or described by the user (flags replace detection)."""

    os: str
    python: str
    driver: str | None = None
    gpus: list[GpuSpec] = field(default_factory=list)
    glibc: str | None = None
    arch: str = "x86_64"
    installed: dict[str, str] = field(default_factory=dict)
    gpu_problem: str = ""  # why there are no GPUs (the probe's message), shown as the blocker
    other_gpu: str = ""  # a described GPU that is not NVIDIA's ("Apple M2"): no CUDA at all


def query_from_system(
    info: SystemInfo,
    *,
    os: str | None = None,
    python: str | None = None,
    gpu_name: str | None = None,
    compute_capability: str | None = None,
    driver: str | None = None,
    glibc: str | None = None,
) -> Query:
    """The detected system with the user's overrides applied; bad values raise UserError."""
    query = Query(
        os=info.os,
        python=info.python_minor,
        driver=info.driver.version,
        gpus=[GpuSpec(g.name, g.compute_capability, g.index) for g in info.gpus],
        glibc=info.glibc,
        arch=info.arch,
        installed=dict(info.packages),
        gpu_problem="" if info.gpus else info.nvml_message,
    )
    if os is not None:
        if os not in OSES:
            raise UserError(f"unknown --os {os!r}", f"Use one of: {', '.join(OSES)}.")
        if os != info.os:  # the detected glibc and CPU say nothing about another machine
            query.glibc = None
            query.arch = Query.arch
        query.os = os
    if python is not None:
        if not re.fullmatch(r"\d+\.\d+(\.\d+)?", python.strip()):
            raise UserError(
                f"--python {python!r} is not like 3.11", "Give it as e.g. --python 3.11."
            )
        query.python = ".".join(python.strip().split(".")[:2])
    if driver is not None:
        query.driver = _checked(driver, "--driver", "e.g. --driver 535.104.05")
    if glibc is not None:
        query.glibc = _checked(glibc, "--glibc", "e.g. --glibc 2.17 (`ldd --version` says it)")
    if gpu_name is not None or compute_capability is not None:
        query.gpu_problem = ""
        if compute_capability is None and gpu_name is not None and _not_nvidia(gpu_name):
            query.gpus, query.other_gpu = [], gpu_name
        else:
            query.gpus = [_gpu_from_flags(gpu_name, compute_capability)]
    return query


def _not_nvidia(name: str) -> bool:
    """A name that is no NVIDIA GPU we know and matches another maker's (an "Apple M2")."""
    knowledge = load_knowledge()
    return lookup_compute_capability(name, knowledge) is None and bool(knowledge.other_gpu(name))


def lookup_compute_capability(name: str, knowledge: Knowledge | None = None) -> str | None:
    """CC of a GPU name ("NVIDIA GeForce RTX 3090" -> "8.6"): the longest known name inside it."""
    knowledge = knowledge or load_knowledge()
    words = _words(name)
    best: tuple[int, str] | None = None
    for model in knowledge.gpus:
        model_words = _words(model.name)
        n = len(model_words)
        inside = any(words[i : i + n] == model_words for i in range(len(words) - n + 1))
        if n and inside and (best is None or n > best[0]):
            best = (n, model.compute_capability)
    return best[1] if best else None


def _words(name: str) -> list[str]:
    drop = {"nvidia", "geforce"}
    return [w for w in re.split(r"[^a-z0-9]+", name.lower()) if w and w not in drop]


def _checked(value: str, flag: str, example: str) -> str:
    try:
        parse_version(value)
    except ValueError:
        raise UserError(
            f"{flag} {value!r} is not a version number", f"Give it as {example}."
        ) from None
    return value


def _gpu_from_flags(name: str | None, cc: str | None) -> GpuSpec:
    if cc is not None:
        if not re.fullmatch(r"\d{1,2}\.\d", cc):
            raise UserError(
                f"--compute-capability {cc!r} is not like 8.6",
                "Give major.minor, e.g. --compute-capability 8.6 "
                "(see developer.nvidia.com/cuda-gpus).",
            )
        return GpuSpec(name or f"GPU with compute capability {cc}", cc)
    assert name is not None
    found = lookup_compute_capability(name)
    if found is None:
        raise UserError(
            f"unknown GPU name {name!r}",
            "Add --compute-capability (find it at developer.nvidia.com/cuda-gpus).",
        )
    return GpuSpec(name, found)
