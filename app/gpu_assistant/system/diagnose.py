"""What TensorFlow's verification says, in checks: pure functions, no process handling.

`analyse()` turns the verification child's result, its stderr (TF's own log) and the environment
it ran in into checks with an id, a status (pass / warn / fail), a message and a fix. The log
signatures are data (resources/compat/tf_logs.json, each with its sources), matched here.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gpu_assistant.system.compat import load_knowledge

PASS, WARN, FAIL = "pass", "warn", "fail"


@dataclass
class Check:
    id: str
    status: str  # pass | warn | fail
    message: str
    fix: str = ""


def analyse(
    result: dict[str, Any] | None,
    log: str,
    *,
    returncode: int | None,
    timed_out: bool = False,
    timeout: float = 0.0,
    environ: Mapping[str, str] | None = None,
) -> list[Check]:
    """Checks from what the child reported, what TF logged and the environment it ran in."""
    environ = environ or {}
    checks = [_import_check(result, log, returncode, timed_out, timeout)]
    if not (result and result.get("imported")):
        return checks + _environment_checks(environ, log)
    build = result.get("build") or {}
    checks.append(_build_check(build, result.get("version", "")))
    if build.get("is_cuda_build") and sys.platform.startswith("linux"):
        checks.append(_wheels_check(build, result.get("cuda_wheels") or {}, result["version"]))
    checks += _log_checks(log)
    checks += _environment_checks(environ, log)
    checks.append(_visible_check(result, checks, build))
    checks += _device_checks(result.get("devices") or [])
    return checks


def _import_check(
    result: dict[str, Any] | None, log: str, returncode: int | None, timed_out: bool, timeout: float
) -> Check:
    if timed_out:
        return Check(
            "tensorflow_import",
            FAIL,
            f"The TensorFlow check did not finish within {timeout:.0f} s (a hang, often while "
            "loading CUDA libraries or JIT-compiling kernels for a new GPU).",
            "Run it again with a longer timeout; if it still hangs, reinstall TensorFlow in a "
            "fresh virtual environment.",
        )
    if result is None:
        return Check(
            "tensorflow_import",
            FAIL,
            f"Importing TensorFlow crashed the process ({_describe_exit(returncode)}). "
            f"Last log line: {_last_line(log) or 'none'}",
            "Reinstall TensorFlow in a fresh virtual environment (pip install --force-reinstall "
            "the recommended package); unset LD_LIBRARY_PATH if it points at another CUDA.",
        )
    if not result.get("imported"):
        if result.get("error_type") in ("ModuleNotFoundError",) and "tensorflow" in str(
            result.get("error")
        ):
            return Check(
                "tensorflow_import",
                FAIL,
                "TensorFlow is not installed in this Python.",
                "Install the recommended package (Setup page, or `gpu-assistant recommend`).",
            )
        return Check(
            "tensorflow_import",
            FAIL,
            f"Importing TensorFlow failed: {result.get('error_type')}: {result.get('error')}",
            "Reinstall TensorFlow in a fresh virtual environment with the recommended package.",
        )
    return Check(
        "tensorflow_import",
        PASS,
        f"TensorFlow {result.get('version')} imports ({result.get('import_seconds', 0):.1f} s).",
    )


def _build_check(build: dict[str, Any], version: str) -> Check:
    if not build.get("is_cuda_build"):
        knowledge = load_knowledge()
        if sys.platform == "darwin":
            fix = knowledge.platforms["macos"]["fix"]
        elif sys.platform.startswith("win"):
            fix = knowledge.trap("windows_cpu_only").fix
        else:
            fix = 'Uninstall tensorflow-cpu and install "tensorflow[and-cuda]".'
        return Check(
            "cuda_build",
            FAIL,
            f"TensorFlow {version} is a CPU-only build: it can never use a GPU.",
            fix,
        )
    archs = ", ".join(build.get("cuda_compute_capabilities") or []) or "unknown"
    return Check(
        "cuda_build",
        PASS,
        f"CUDA build: CUDA {build.get('cuda_version')}, cuDNN {build.get('cudnn_version')}, "
        f"GPU code for {archs}.",
    )


def _wheels_check(build: dict[str, Any], wheels: dict[str, str], version: str) -> Check:
    """The pip CUDA/cuDNN wheels against the build: majors must match (minors may differ)."""
    reinstall = f'pip install "tensorflow[and-cuda]=={version}"'
    if not wheels:
        return Check(
            "cuda_libraries",
            WARN,
            "No pip-installed CUDA libraries (nvidia-*-cu1x): TensorFlow must find a system "
            "CUDA and cuDNN of the right versions.",
            f"Let pip provide them: {reinstall}",
        )
    cuda_major = str(build.get("cuda_version") or "").split(".")[0]
    cudnn_major = str(build.get("cudnn_version") or "").split(".")[0]
    wrong = [
        f"{name} {ver}"
        for name, ver in wheels.items()
        if not name.endswith(f"-cu{cuda_major}")
        or (name.startswith("nvidia-cudnn") and cudnn_major and ver.split(".")[0] != cudnn_major)
    ]
    if wrong:
        return Check(
            "cuda_libraries",
            FAIL,
            f"This TensorFlow was built for CUDA {cuda_major} / cuDNN {cudnn_major}, but pip "
            f"installed {', '.join(wrong)}.",
            f"Reinstall the matching libraries: {reinstall}",
        )
    return Check(
        "cuda_libraries",
        PASS,
        f"pip CUDA libraries match the build (CUDA {cuda_major}, cuDNN {cudnn_major}).",
    )


def _log_checks(log: str) -> list[Check]:
    checks: list[Check] = []
    k = load_knowledge()
    missing = sorted(set(k.log_signature("missing_library").findall(log)))
    if k.log_signature("dlopen_failed").search(log) or missing:
        names = f" Missing: {', '.join(missing)}." if missing else ""
        checks.append(
            Check(
                "gpu_libraries",
                FAIL,
                "TensorFlow could not load its CUDA/cuDNN libraries, so it skipped the GPUs."
                + names,
                'Install them with pip: pip install "tensorflow[and-cuda]==<your TF version>" '
                "(Linux/WSL2), and unset LD_LIBRARY_PATH if it points at another CUDA.",
            )
        )
    if k.log_signature("no_cuda_driver").search(log):
        checks.append(
            Check(
                "cuda_driver",
                FAIL,
                "TensorFlow found no usable NVIDIA driver or device (no driver installed, or no "
                "GPU visible to this process).",
                "Install the NVIDIA driver (`nvidia-smi` must list the GPU); in a container "
                "run with --gpus all; check CUDA_VISIBLE_DEVICES.",
            )
        )
    if k.log_signature("driver_too_old").search(log):
        checks.append(
            Check(
                "driver_version",
                FAIL,
                "The NVIDIA driver is too old for the CUDA version this TensorFlow uses.",
                "Upgrade the NVIDIA driver to the minimum shown in the recommendation.",
            )
        )
    else:
        failures = k.log_signature("cuinit_failed").findall(log)
        other = [e for e in failures if "303" not in e and "NO_DEVICE" not in e]
        if other:
            checks.append(
                Check(
                    "cuda_init",
                    FAIL,
                    f"CUDA failed to start: {other[0].strip()}",
                    "Reboot after a driver update; check `nvidia-smi` works for this user.",
                )
            )
    if k.log_signature("no_kernels").search(log):
        checks.append(
            Check(
                "gpu_kernels",
                FAIL,
                "TensorFlow's GPU code cannot run on this GPU: its kernels were not built for "
                "this architecture and the embedded PTX does not load (typical of Blackwell "
                "GPUs with the official wheels).",
                "Use the CPU build for now, or NVIDIA's TensorFlow container built for this GPU.",
            )
        )
    for match in k.log_signature("ignored_min_cc").finditer(log):
        checks.append(
            Check(
                "compute_capability",
                FAIL,
                f"TensorFlow ignores the GPU ({match['desc']}): compute capability "
                f"{match['cc']} is below this build's minimum {match['min']}.",
                "Install the newest TensorFlow that still supports this GPU "
                "(see the recommendation), or use a newer GPU.",
            )
        )
    for cc in sorted(set(k.log_signature("ptx_jit").findall(log))):
        checks.append(
            Check(
                "ptx_jit",
                WARN,
                f"This TensorFlow has no native kernels for compute capability {cc}; they are "
                "compiled from PTX on first use, which can take many minutes.",
                "Let the first run finish (the result is cached); raise CUDA_CACHE_MAXSIZE "
                "(e.g. 4294967296) so the cache keeps it.",
            )
        )
    return checks


def _environment_checks(environ: Mapping[str, str], log: str) -> list[Check]:
    checks: list[Check] = []
    visible = environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        if visible.strip() in ("", "-1"):
            checks.append(
                Check(
                    "cuda_visible_devices",
                    FAIL,
                    f"CUDA_VISIBLE_DEVICES={visible!r} hides every GPU from TensorFlow.",
                    "Unset CUDA_VISIBLE_DEVICES (or list the GPUs to use, e.g. 0,1).",
                )
            )
        else:
            checks.append(
                Check(
                    "cuda_visible_devices",
                    WARN,
                    f"CUDA_VISIBLE_DEVICES={visible} limits which GPUs TensorFlow sees.",
                    "Unset it to let TensorFlow use every GPU.",
                )
            )
    shadowing = _cuda_dirs(environ.get("LD_LIBRARY_PATH", ""))
    if shadowing:
        k = load_knowledge()
        failing = any(
            k.log_signature(name).search(log) for name in ("dlopen_failed", "missing_library")
        )
        checks.append(
            Check(
                "ld_library_path",
                FAIL if failing else WARN,
                "LD_LIBRARY_PATH points at CUDA/cuDNN libraries ("
                + ", ".join(shadowing)
                + ") that are loaded instead of the ones pip installed with TensorFlow.",
                "Unset LD_LIBRARY_PATH (or remove the CUDA folders from it) in the shell that "
                "runs TensorFlow.",
            )
        )
    return checks


def _cuda_dirs(ld_library_path: str) -> list[str]:
    """Folders on LD_LIBRARY_PATH that hold a CUDA runtime or cuDNN library."""
    found = []
    for folder in filter(None, ld_library_path.split(os.pathsep)):
        path = Path(folder)
        try:
            names = [p.name for p in path.iterdir()] if path.is_dir() else []
        except OSError:
            continue
        if any(n.startswith(("libcudart.so", "libcudnn.so")) for n in names):
            found.append(folder)
    return found


def _visible_check(result: dict[str, Any], checks: list[Check], build: dict[str, Any]) -> Check:
    gpus = result.get("gpus_visible") or []
    if gpus:
        names = ", ".join(f"{g['name']} ({g['compute_capability']})" for g in gpus)
        return Check("gpus_visible", PASS, f"TensorFlow sees {len(gpus)} GPU(s): {names}.")
    causes = [c for c in checks if c.status == FAIL and c.id != "gpus_visible"]
    if causes:
        reason = "; ".join(c.message for c in causes)
        fix = causes[0].fix
    elif not build.get("is_cuda_build"):
        reason, fix = "the build is CPU-only", 'Install "tensorflow[and-cuda]".'
    else:
        reason = "no cause found in TensorFlow's log"
        fix = "Run `gpu-assistant doctor --markdown` and read the log section."
    return Check("gpus_visible", FAIL, f"TensorFlow sees no GPU: {reason}", fix)


def _device_checks(devices: list[dict[str, Any]]) -> list[Check]:
    checks = []
    for entry in devices:
        device = entry["device"]
        kind = "gpu" if "GPU" in device else "cpu"
        errors = [entry[k] for k in ("matmul_error", "conv2d_error") if k in entry]
        if errors:
            checks.append(
                Check(
                    f"{kind}_compute",
                    FAIL,
                    f"{device}: a test operation failed: {errors[0][:300]}",
                    "Check the driver against the recommendation; for a new GPU, the build "
                    "may have no kernels for it.",
                )
            )
            continue
        if kind == "gpu" and not ran_on_gpu(entry):
            checks.append(
                Check(
                    "gpu_compute",
                    FAIL,
                    f"{device}: the test operations ran on the CPU instead of the GPU "
                    f"({entry.get('matmul_device')}).",
                    "TensorFlow has no usable kernels for this GPU: see the compute capability "
                    "and driver checks.",
                )
            )
            continue
        checks.append(
            Check(
                f"{kind}_compute",
                PASS,
                f"{device}: matmul {entry['matmul_ms']:.1f} ms, conv2d "
                f"{entry['conv2d_ms']:.1f} ms" + (" (cuDNN)" if kind == "gpu" else "") + ".",
            )
        )
    return checks


def ran_on_gpu(entry: dict[str, Any]) -> bool:
    """Both ops finished, placed on a GPU (soft placement would silently fall back to CPU)."""
    return all("GPU:" in str(entry.get(f"{op}_device", "")) for op in ("matmul", "conv2d"))


def _describe_exit(returncode: int | None) -> str:
    if returncode is None:
        return "no exit code"
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit code {returncode}"


def _last_line(log: str) -> str:
    lines = [line for line in log.splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


def gpu_order_check(nvml_names: list[str], tf_gpus: list[dict[str, Any]]) -> Check | None:
    """Whether TensorFlow's GPU i is NVML's GPU i (the app passes NVML indices to training).

    Children run with CUDA_DEVICE_ORDER=PCI_BUS_ID, NVML's order; a mismatch means something
    (an environment override, a partial CUDA_VISIBLE_DEVICES) reordered them. None when there
    is nothing to compare."""
    if not nvml_names or not tf_gpus:
        return None
    pairs = list(zip(nvml_names, (str(g.get("name", "")) for g in tf_gpus), strict=False))
    wrong = [i for i, (nvml, tf) in enumerate(pairs) if nvml.strip() != tf.strip()]
    if not wrong:
        return Check("gpu_order", PASS, "TensorFlow numbers the GPUs as NVML does (PCI order).")
    i = wrong[0]
    return Check(
        "gpu_order",
        FAIL,
        f"TensorFlow's GPU {i} is {pairs[i][1]}, but NVML's GPU {i} is {pairs[i][0]}: the GPU "
        "ticked on the Train page would not be the one that trains.",
        "Unset CUDA_DEVICE_ORDER and CUDA_VISIBLE_DEVICES before starting the app (it sets "
        "CUDA_DEVICE_ORDER=PCI_BUS_ID for TensorFlow itself).",
    )
