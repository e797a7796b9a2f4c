"""Detect the machine: OS, Python, packages and every NVIDIA GPU through NVML -- never through TF.

NVML (the driver's management library, via nvidia-ml-py's `pynvml`) answers in milliseconds and
cannot hang or crash the way `import tensorflow` can on a broken CUDA install, so the System page
and `doctor --no-verify` use only this. The `nvml` argument is the seam tests use to inject
`tests/fakes/nvml.FakeNVML`; every NVML failure becomes a `state` with a plain message.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.metadata
import os
import platform
import re
import sys
import threading
from dataclasses import asdict, dataclass, field
from types import ModuleType
from typing import Any

# NVML states, in words a user can act on.
NVML_OK = "ok"
NVML_NOT_INSTALLED = "nvml_not_installed"
NVML_NO_DRIVER = "no_driver"
NVML_DRIVER_NOT_LOADED = "driver_not_loaded"
NVML_MISMATCH = "driver_library_mismatch"
NVML_NO_PERMISSION = "no_permission"
NVML_NO_GPUS = "no_gpus"
NVML_ERROR = "nvml_error"

# Packages whose presence (not import) tells what TensorFlow build the user has.
_TF_PACKAGES = (
    "tensorflow",
    "tensorflow-cpu",
    "tensorflow-gpu",
    "tensorflow-intel",
    "tf-nightly",
    "tensorflow-macos",
    "tensorflow-metal",
    "keras",
    "tf-keras",
)
_CUDA_WHEEL = re.compile(r"^nvidia-[a-z0-9-]+-cu1\d$")


@dataclass
class Note:
    """Something the user should know about the hardware, with what to do about it."""

    id: str
    message: str
    fix: str = ""


@dataclass
class GPUInfo:
    index: int
    name: str
    uuid: str
    compute_capability: str  # "8.6"
    memory_total_mib: int
    mig_enabled: bool = False


@dataclass
class DriverInfo:
    version: str | None = None  # "550.54.14"
    cuda_driver_version: str | None = None  # "12.4": the newest CUDA the driver supports


@dataclass
class SystemInfo:
    os: str  # linux | wsl2 | windows | macos | other
    os_detail: str
    arch: str  # x86_64 | aarch64 | arm64 ...
    glibc: str | None
    python: str  # "3.11.7"
    driver: DriverInfo
    gpus: list[GPUInfo]
    nvml_state: str
    nvml_message: str
    packages: dict[str, str] = field(default_factory=dict)
    notes: list[Note] = field(default_factory=list)

    @property
    def python_minor(self) -> str:
        return ".".join(self.python.split(".")[:2])

    @property
    def tensorflow_package(self) -> tuple[str, str] | None:
        """(distribution, version) of the installed TensorFlow, preferring the GPU-capable one."""
        for name in ("tensorflow", "tf-nightly", "tensorflow-cpu", "tensorflow-macos"):
            if name in self.packages:
                return name, self.packages[name]
        return None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class GpuUsage:
    index: int
    used_mib: int
    total_mib: int
    utilization_percent: int | None


def probe(nvml: Any = None) -> SystemInfo:
    """Everything the System page shows, in well under a second, without importing TensorFlow."""
    os_name, os_detail = detect_os()
    driver, gpus, state, message, notes = _probe_nvml(nvml)
    return SystemInfo(
        os=os_name,
        os_detail=os_detail,
        arch=_normal_arch(platform.machine()),
        glibc=_glibc_version(),
        python=platform.python_version(),
        driver=driver,
        gpus=gpus,
        nvml_state=state,
        nvml_message=message,
        packages=installed_packages(),
        notes=notes,
    )


def detect_os(
    proc_version: str | None = None, environ: dict[str, str] | None = None
) -> tuple[str, str]:
    """("linux" | "wsl2" | "windows" | "macos" | "other", detail); WSL2 counts as its own OS."""
    environ = dict(os.environ) if environ is None else environ
    if sys.platform.startswith("win"):
        return "windows", platform.platform()
    if sys.platform == "darwin":
        return "macos", f"macOS {platform.mac_ver()[0]}"
    if sys.platform.startswith("linux"):
        if proc_version is None:
            try:
                with open("/proc/version", encoding="utf-8", errors="replace") as handle:
                    proc_version = handle.read()
            except OSError:
                proc_version = ""
        if "microsoft" in proc_version.lower() or "WSL_DISTRO_NAME" in environ:
            return "wsl2", f"WSL2 ({environ.get('WSL_DISTRO_NAME', 'Linux')})"
        return "linux", platform.platform()
    return "other", platform.platform()


def installed_packages(path: list[str] | None = None) -> dict[str, str]:
    """TensorFlow-related distributions and NVIDIA CUDA wheels, from metadata (no import).

    `path` searches other site-packages folders (default: this interpreter's sys.path).
    """
    found: dict[str, str] = {}
    for dist in importlib.metadata.distributions(path=path or sys.path):
        name = (dist.metadata["Name"] or "").lower().replace("_", "-")
        if name in _TF_PACKAGES or _CUDA_WHEEL.match(name):
            found[name] = dist.version
    return dict(sorted(found.items()))


def gpu_usage(indices: list[int] | None = None, nvml: Any = None) -> list[GpuUsage]:
    """Memory used/total and utilisation per GPU, for live plots; [] when NVML is unavailable.

    NVML stays initialised between calls (nvmlInit can take a second per GPU without
    persistence mode), so polling every second is cheap; never raises.
    """
    nvml = nvml if nvml is not None else _load_pynvml()
    if nvml is None or not _session_open(nvml):
        return []
    usage: list[GpuUsage] = []
    try:
        wanted = range(nvml.nvmlDeviceGetCount()) if indices is None else indices
    except Exception:  # the driver went away mid-session
        return usage
    for index in wanted:
        try:
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            memory = nvml.nvmlDeviceGetMemoryInfo(handle)
        except Exception:  # a GPU that vanished or an index out of range: skip it
            continue
        try:
            util: int | None = int(nvml.nvmlDeviceGetUtilizationRates(handle).gpu)
        except Exception:  # not supported on MIG instances and some boards
            util = None
        usage.append(GpuUsage(index, memory.used // 2**20, memory.total // 2**20, util))
    return usage


_sessions: dict[int, Any] = {}  # id(nvml) -> nvml, initialised until the process exits
_sessions_lock = threading.Lock()


def _session_open(nvml: Any) -> bool:
    with _sessions_lock:
        if id(nvml) in _sessions:
            return True
        try:
            nvml.nvmlInit()
        except Exception:  # no driver: the plot shows host memory instead
            return False
        if not _sessions:
            atexit.register(release_nvml)
        _sessions[id(nvml)] = nvml
        return True


def release_nvml() -> None:
    """Shut down the NVML sessions `gpu_usage` keeps open (runs at exit; callable earlier)."""
    with _sessions_lock:
        for nvml in _sessions.values():
            _shutdown(nvml)
        _sessions.clear()


def _load_pynvml() -> ModuleType | None:
    try:
        import pynvml
    except ImportError:
        return None
    module: ModuleType = pynvml
    return module


def _probe_nvml(
    nvml: Any,
) -> tuple[DriverInfo, list[GPUInfo], str, str, list[Note]]:
    nvml = nvml if nvml is not None else _load_pynvml()
    if nvml is None:
        return (
            DriverInfo(),
            [],
            NVML_NOT_INSTALLED,
            "The nvidia-ml-py package is missing, so GPUs cannot be detected. "
            "Reinstall the app (pip install nvidia-ml-py).",
            [],
        )
    try:
        nvml.nvmlInit()
    except Exception as error:
        state, message = _init_failure(error)
        return DriverInfo(), [], state, message, []
    try:
        driver = DriverInfo(
            version=_text(nvml.nvmlSystemGetDriverVersion()),
            cuda_driver_version=_cuda_version(nvml),
        )
        gpus, notes = _read_gpus(nvml)
    except Exception as error:
        state, message = _init_failure(error)
        return DriverInfo(), [], state, message, []
    finally:
        _shutdown(nvml)
    if not gpus:
        return (
            driver,
            [],
            NVML_NO_GPUS,
            f"The NVIDIA driver {driver.version} is installed but reports no GPU. Check that the "
            "card is seated and powered, and (in a VM or container) passed through.",
            notes,
        )
    names = sorted({gpu.name for gpu in gpus})
    if len(names) > 1:
        notes.append(
            Note(
                "mixed_gpus",
                "This machine has different GPU models: " + ", ".join(names) + ".",
                "Multi-GPU training runs at the pace of the slowest card; choose the GPUs to use "
                "on the Train page (or set CUDA_VISIBLE_DEVICES).",
            )
        )
    return driver, gpus, NVML_OK, f"{len(gpus)} NVIDIA GPU(s), driver {driver.version}", notes


def _read_gpus(nvml: Any) -> tuple[list[GPUInfo], list[Note]]:
    gpus: list[GPUInfo] = []
    notes: list[Note] = []
    for index in range(nvml.nvmlDeviceGetCount()):
        try:
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            major, minor = nvml.nvmlDeviceGetCudaComputeCapability(handle)
            gpu = GPUInfo(
                index=index,
                name=_text(nvml.nvmlDeviceGetName(handle)),
                uuid=_text(nvml.nvmlDeviceGetUUID(handle)),
                compute_capability=f"{major}.{minor}",
                memory_total_mib=int(nvml.nvmlDeviceGetMemoryInfo(handle).total // 2**20),
                mig_enabled=_mig_enabled(nvml, handle),
            )
        except Exception as error:  # one unreadable GPU must not hide the others
            notes.append(
                Note(
                    f"gpu_{index}_unreadable",
                    f"GPU {index} could not be read: {error}.",
                    "Run `nvidia-smi` to see its state; a reboot usually clears a lost GPU.",
                )
            )
            continue
        gpus.append(gpu)
        if gpu.mig_enabled:
            notes.append(
                Note(
                    "mig",
                    f"GPU {index} ({gpu.name}) is in MIG mode: TensorFlow sees at most one MIG "
                    "instance per process, chosen with CUDA_VISIBLE_DEVICES=MIG-<uuid>.",
                    f"Disable MIG (`sudo nvidia-smi -i {index} -mig 0`) to train on the whole "
                    "GPU, or set CUDA_VISIBLE_DEVICES to one MIG instance's UUID.",
                )
            )
    return gpus, notes


def _mig_enabled(nvml: Any, handle: Any) -> bool:
    try:
        current, _pending = nvml.nvmlDeviceGetMigMode(handle)
    except Exception:  # NotSupported on GPUs without MIG
        return False
    return bool(current)


def _cuda_version(nvml: Any) -> str | None:
    """The driver's CUDA version as "12.4" (NVML encodes it as 12040)."""
    try:
        code = int(nvml.nvmlSystemGetCudaDriverVersion_v2())
    except Exception:
        return None
    return f"{code // 1000}.{code % 1000 // 10}"


def _init_failure(error: Exception) -> tuple[str, str]:
    """Map an NVML error (real pynvml classes, matched by name) to a state and a plain message."""
    kind = type(error).__name__
    if kind == "NVMLError_LibraryNotFound":
        return (
            NVML_NO_DRIVER,
            "No NVIDIA driver found (the NVML library is missing). Install the NVIDIA driver "
            "for your GPU; on WSL2 install it on Windows, not inside Linux.",
        )
    if kind == "NVMLError_DriverNotLoaded":
        return (
            NVML_DRIVER_NOT_LOADED,
            "The NVIDIA driver is installed but not loaded. Reboot; if that does not help, "
            "reinstall the driver (Secure Boot can block its kernel module).",
        )
    if kind == "NVMLError_LibRmVersionMismatch":
        return (
            NVML_MISMATCH,
            "The NVIDIA driver was updated but the old kernel module is still loaded "
            "(driver/library version mismatch). Reboot the machine.",
        )
    if kind == "NVMLError_NoPermission":
        return (
            NVML_NO_PERMISSION,
            "No permission to talk to the NVIDIA driver. Add your user to the group that owns "
            "/dev/nvidia* (often `video`), or in a container run with --gpus all.",
        )
    return NVML_ERROR, f"NVML failed: {error}. Run `nvidia-smi` to see the driver's state."


def _shutdown(nvml: Any) -> None:
    with contextlib.suppress(Exception):  # already shut down: nothing to release
        nvml.nvmlShutdown()


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _normal_arch(machine: str) -> str:
    machine = machine.lower()
    return {"amd64": "x86_64", "arm64": "arm64", "aarch64": "aarch64"}.get(machine, machine)


def _glibc_version() -> str | None:
    if not sys.platform.startswith("linux"):
        return None
    name, version = platform.libc_ver()
    return version if name == "glibc" and version else None
