"""A folder of wheels for installing on machines without internet (install --wheelhouse DIR).

`pip wheel` resolves for the Python running it, so the folder fits machines with the same OS,
CPU type and Python version. It holds the app, its dependencies, its build backend (installing
from a checkout builds the app) and, for Linux GPUs, the CUDA wheels of tensorflow[and-cuda].
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from gpu_assistant_setup import SetupError, checks, environment


def collect(folder: Path, source: Path, with_cuda: bool, index_url: str | None) -> str:
    """Fill `folder`; reuses what is there (offline) and downloads only what is missing."""
    folder.mkdir(parents=True, exist_ok=True)
    app = f"{source}[and-cuda]" if with_cuda and sys.platform == "linux" else str(source)
    base = [sys.executable, "-m", "pip", "wheel", "--wheel-dir", str(folder)]
    wanted = ["--find-links", str(folder), app, "hatchling"]
    offline = subprocess.run(
        [*base, "--quiet", "--no-index", *wanted], capture_output=True, check=False
    )
    if offline.returncode == 0:
        return f"{folder} already had every wheel needed"
    checks.check_network(environment.index_url(index_url))
    index = ["--index-url", index_url] if index_url else []
    environment.run([*base, *index, *wanted], "collect the wheels")
    if not any(folder.glob("tensorflow-*.whl")):
        raise SetupError(f"No TensorFlow wheel landed in {folder} for this Python.")
    return f"collected the wheels into {folder}"
