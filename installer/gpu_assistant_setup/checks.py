"""Checks made before anything is downloaded, so a doomed install fails in seconds, not hours:
Python version (read from the app's own package data), the venv module, disk space, network.
"""

from __future__ import annotations

import os
import re
import shutil
import ssl
import sys
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from gpu_assistant_setup import SetupError

GIB = 1024**3
# Measured with TF 2.21: the venv with the CPU build, PySide6 and the app is 2.4 GB; pip needs
# room to unpack the 600 MB TensorFlow wheel on top. The CUDA/cuDNN wheels of
# tensorflow[and-cuda] add about 2.5 GB of downloads that unpack to about 5 GB.
BASE_NEED_GIB = 4.0
CUDA_EXTRA_GIB = 6.0
MIN_FREE_OVERRIDE = "GPU_ASSISTANT_SETUP_MIN_FREE_GB"  # tests and unusual setups


@dataclass(frozen=True)
class PythonRange:
    """The Python versions the app installs on with TensorFlow (`below` is exclusive)."""

    minimum: tuple[int, int]
    below: tuple[int, int] | None  # first version without a TensorFlow release, when known

    def contains(self, version: tuple[int, int]) -> bool:
        return version >= self.minimum and (self.below is None or version < self.below)

    def describe(self) -> str:
        low = f"{self.minimum[0]}.{self.minimum[1]}"
        if self.below is None:
            return f"{low} or newer"
        return f"{low} to {self.below[0]}.{self.below[1] - 1}"

    def versions_newest_first(self) -> list[tuple[int, int]]:
        """The versions to look for on this machine, when `below` is known."""
        if self.below is None or self.below[0] != self.minimum[0]:
            return []
        return [(self.minimum[0], m) for m in range(self.below[1] - 1, self.minimum[1] - 1, -1)]


def python_range(source: Path) -> PythonRange:
    """Read the range from the app being installed: pyproject.toml of a checkout, or a wheel's
    METADATA. `requires-python` gives the minimum; the TensorFlow dependency's
    `python_version < 'X.Y'` marker gives the first Python without a TensorFlow release."""
    if source.is_dir():
        text = (source / "pyproject.toml").read_text(encoding="utf-8")
        minimum = re.search(r'requires-python\s*=\s*"\s*>=\s*(\d+)\.(\d+)', text)
    else:
        with zipfile.ZipFile(source) as wheel:
            name = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
            text = wheel.read(name).decode("utf-8")
        minimum = re.search(r"^Requires-Python:\s*>=\s*(\d+)\.(\d+)", text, re.MULTILINE)
    below = re.search(r"""tensorflow\b[^\n"]*python_version\s*<\s*['"](\d+)\.(\d+)""", text)
    if minimum is None:
        raise SetupError(f"Cannot read the supported Python versions from {source}.")
    return PythonRange(
        (int(minimum[1]), int(minimum[2])), (int(below[1]), int(below[2])) if below else None
    )


def find_python(supported: PythonRange) -> list[str] | None:
    """The command of another Python in the supported range (newest first), if there is one."""
    launcher = shutil.which("py") if sys.platform == "win32" else None
    for major, minor in supported.versions_newest_first():
        found = shutil.which(f"python{major}.{minor}")
        for command in ([launcher, f"-{major}.{minor}"] if launcher else None, [found]):
            if command and command[0] and _runs([*command, "-c", "import venv, ensurepip"]):
                return command
    return None


def _runs(command: list[str]) -> bool:
    import subprocess

    try:
        return subprocess.run(command, capture_output=True, timeout=30, check=False).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def check_venv_module() -> None:
    """Debian and Ubuntu ship Python without venv/ensurepip unless python3-venv is installed."""
    try:
        import ensurepip  # noqa: F401
        import venv  # noqa: F401
    except ImportError as error:
        version = f"{sys.version_info[0]}.{sys.version_info[1]}"
        raise SetupError(
            f"This Python ({sys.executable}) cannot create virtual environments ({error}).",
            f"On Debian/Ubuntu: sudo apt install python{version}-venv ; then run the installer "
            "again.",
        ) from error


def nvidia_driver_present() -> bool:
    """A cheap hint that the CUDA wheels will be wanted (the app's recommend decides)."""
    if sys.platform == "darwin":
        return False
    if Path("/proc/driver/nvidia/version").exists() or Path("/usr/lib/wsl/lib/nvidia-smi").exists():
        return True
    return shutil.which("nvidia-smi") is not None


def disk_needed(gpu_hint: bool) -> float:
    """GiB of free space the install needs (the override wins)."""
    override = os.environ.get(MIN_FREE_OVERRIDE)
    if override:
        try:
            return float(override)
        except ValueError as error:
            raise SetupError(f"{MIN_FREE_OVERRIDE}={override!r} is not a number of GB.") from error
    return BASE_NEED_GIB + (CUDA_EXTRA_GIB if gpu_hint else 0.0)


def check_disk(folder: Path, need_gib: float) -> None:
    existing = next(p for p in (folder, *folder.parents) if p.exists())
    free = shutil.disk_usage(existing).free / GIB
    if free < need_gib:
        raise SetupError(
            f"Not enough disk space: {free:.1f} GB free on the drive of {existing}, the install "
            f"needs about {need_gib:.1f} GB (TensorFlow and, with an NVIDIA GPU, the CUDA "
            "libraries are large).",
            "Free some space (e.g. `pip cache purge`, empty the trash) and run the installer "
            "again.",
        )


def check_network(index_url: str, timeout: float = 15.0) -> None:
    """Fail early when the package index cannot be reached (any HTTP answer will do)."""
    probe = index_url.rstrip("/") + "/pip/"
    if probe.startswith("file:"):
        if Path(urllib.request.url2pathname(probe[len("file:") :])).parent.is_dir():
            return
        reason: object = "no such folder"
    else:
        try:
            urllib.request.urlopen(urllib.request.Request(probe, method="HEAD"), timeout=timeout)
            return
        except urllib.error.HTTPError:
            return  # the server answered
        except urllib.error.URLError as error:
            if isinstance(error.reason, ssl.SSLError):
                return  # reachable; pip has its own certificate settings
            reason = error.reason
        except (OSError, TimeoutError) as error:
            reason = error
    raise SetupError(
        f"Cannot reach the package index {index_url} ({reason}).",
        "Check the internet connection (and HTTPS_PROXY if you use a proxy), or install "
        "offline from a folder of wheels with --wheelhouse DIR (see docs/install.md).",
    )
