"""The private virtual environment and the programs run inside it: pip, and the app's own
`recommend --json` and `--self-test`, which know the machine better than this script does.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from gpu_assistant_setup import SetupError
from gpu_assistant_setup.layout import Layout
from gpu_assistant_setup.manifest import Manifest

DEFAULT_INDEX = "https://pypi.org/simple/"
SELF_TEST_TIMEOUT_S = 900


@dataclass(frozen=True)
class PackageSource:
    """Where pip gets packages: the index (online) or a folder of wheels (offline)."""

    wheelhouse: Path | None = None
    index_url: str | None = None

    def pip_options(self) -> list[str]:
        if self.wheelhouse is not None:
            return ["--no-index", "--find-links", str(self.wheelhouse)]
        return ["--index-url", self.index_url] if self.index_url else []


@dataclass(frozen=True)
class Choice:
    """The TensorFlow package to install, the pip arguments for it, and why (from recommend)."""

    package: str
    pip_args: list[str]
    gpu: bool
    reasons: list[str]


def index_url(explicit: str | None) -> str:
    """The index pip will use: --index-url, else pip's own setting (env or pip.conf), else PyPI."""
    if explicit:
        return explicit
    if os.environ.get("PIP_INDEX_URL"):
        return os.environ["PIP_INDEX_URL"]
    command = [sys.executable, "-m", "pip", "config", "get", "global.index-url"]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        return DEFAULT_INDEX
    configured = done.stdout.strip()
    return configured if done.returncode == 0 and configured else DEFAULT_INDEX


def ensure_venv(layout: Layout, manifest: Manifest) -> str:
    """Create the venv, or keep a working one made by the same Python; returns what happened."""
    if layout.python.exists() and _same_python(layout.python):
        manifest.add(layout.venv, "tree")
        return f"kept the environment in {layout.venv}"
    if layout.venv.exists():
        if str(layout.venv) not in manifest.entries:
            raise SetupError(
                f"{layout.venv} exists but was not made by this installer.",
                "Move it away (or delete it), then run the installer again.",
            )
        shutil.rmtree(layout.venv)  # broken, or made by another Python version: start over
    manifest.make_dirs(layout.venv.parent)
    manifest.add(layout.venv, "tree")
    run([sys.executable, "-m", "venv", str(layout.venv)], "create the virtual environment")
    return f"created the environment in {layout.venv}"


def _same_python(python: Path) -> bool:
    probe = "import sys; print(sys.version_info[:2])"
    done = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, check=False)
    return done.returncode == 0 and done.stdout.strip() == str(sys.version_info[:2])


def pip_install(layout: Layout, source: PackageSource, args: Sequence[str], what: str) -> None:
    command = [str(layout.python), "-m", "pip", "install", *source.pip_options(), *args]
    run(command, what)


def install_app(layout: Layout, source: PackageSource, app: Path) -> None:
    """Install or upgrade the app with its dependencies; re-copy its own files (repair)."""
    pip_install(layout, source, ["--upgrade", str(app)], "install the app")
    pip_install(
        layout, source, ["--force-reinstall", "--no-deps", str(app)], "refresh the app's files"
    )


def desktop_resources(layout: Layout) -> Path:
    """The installed app's resources/desktop folder (icons, desktop-entry template)."""
    code = "from gpu_assistant.resources import resource_path; print(resource_path('desktop'))"
    done = subprocess.run(
        [str(layout.python), "-c", code], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SetupError(f"The installed app is broken: {done.stderr.strip()}", "Run again.")
    return Path(done.stdout.strip())


def recommend(layout: Layout, force_cpu: bool) -> Choice:
    """Ask the installed app which TensorFlow package fits this machine (NVML only, no TF).

    `gpu-assistant recommend --json` exits 0 with a GPU build, 1 with blockers and a CPU
    fallback; its JSON carries `package` and `install_argv` (["-m", "pip", "install", ...]).
    """
    command = [str(layout.venv_exe("gpu-assistant")), "recommend", "--json"]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    try:
        answer = json.loads(done.stdout)
    except ValueError as error:
        raise SetupError(
            f"`gpu-assistant recommend` failed (exit {done.returncode}): "
            f"{(done.stderr or done.stdout).strip()[-2000:]}",
            "Run the installer again; if it keeps failing, report it with this text.",
        ) from error
    return choose(answer, force_cpu)


def choose(answer: dict, force_cpu: bool) -> Choice:
    """The package to install from recommend's JSON answer (GPU build, else CPU fallback)."""
    if answer.get("ok") and not force_cpu:
        notes = [
            f"TensorFlow {answer.get('tensorflow')} with CUDA {answer.get('cuda')} and "
            f"cuDNN {answer.get('cudnn')} will use the GPU"
        ]
        notes += [_describe(w) for w in answer.get("warnings") or []]
        return Choice(str(answer["package"]), _pip_args(answer), gpu=True, reasons=notes)
    fallback = answer.get("cpu_fallback") or {}
    if force_cpu:
        reasons = ["you asked for the CPU build (--cpu)"]
    else:
        reasons = [_describe(b) for b in answer.get("blockers") or []]
    if fallback.get("note"):
        reasons.append(str(fallback["note"]))
    if not fallback.get("package"):
        raise SetupError(
            "No TensorFlow build installs on this machine: " + " ".join(reasons),
            "Follow the fix above, then run the installer again.",
        )
    return Choice(str(fallback["package"]), _pip_args(fallback), gpu=False, reasons=reasons)


def _pip_args(entry: dict) -> list[str]:
    """The arguments after `pip install` in a recommend entry (or just its package)."""
    argv = entry.get("install_argv") or []
    if argv[:3] == ["-m", "pip", "install"] and len(argv) > 3:
        return [str(arg) for arg in argv[3:]]
    return [str(entry["package"])]


def _describe(note: object) -> str:
    if isinstance(note, dict):
        text = str(note.get("message", ""))
        return f"{text} Fix: {note['fix']}" if note.get("fix") else text
    return str(note)


def self_test(layout: Layout, manifest: Manifest) -> bool:
    """Run the installed app's --self-test without touching the user's data or settings."""
    manifest.add(layout.self_test_report, "file")
    with tempfile.TemporaryDirectory(prefix="gpu-assistant-selftest-") as scratch:
        env = dict(os.environ)
        for name in ("DATA", "CACHE", "CONFIG"):
            env[f"GPU_ASSISTANT_{name}_DIR"] = str(Path(scratch) / name.lower())
        env["KERAS_HOME"] = str(Path(scratch) / "keras")
        env["XDG_CACHE_HOME"] = str(Path(scratch) / "cache")
        command = [
            str(layout.venv_exe("gpu-assistant")),
            "--self-test",
            "--report",
            str(layout.self_test_report),
        ]
        try:
            done = subprocess.run(command, env=env, timeout=SELF_TEST_TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired:
            return False
    return done.returncode == 0


def run(command: Sequence[str], what: str) -> None:
    """Run a step with its output shown live; a failure says which step and how to retry."""
    print(f"  $ {' '.join(command)}", flush=True)
    try:
        done = subprocess.run(list(command), check=False)
    except OSError as error:
        raise SetupError(f"Could not {what}: {error}") from error
    if done.returncode != 0:
        raise SetupError(
            f"Could not {what} (exit code {done.returncode}; the output above says why).",
            "Fix what pip reported (network, disk space, proxy) and run the installer again: "
            "it continues where it stopped.",
        )
