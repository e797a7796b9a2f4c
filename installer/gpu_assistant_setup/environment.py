"""The private virtual environment and the programs run inside it: pip, and the app's own
`recommend --json` and `--self-test`, which know the machine better than this script does.
"""

from __future__ import annotations

import json
import os
import re
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
APP_DIST = "tf[-_.]gpu[-_.]assistant"  # the app's distribution name, as pip may spell it
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


def pip_install(layout: Layout, source: PackageSource, args: Sequence[str], what: str) -> str:
    """pip install; its output goes to the install log, the terminal gets progress and a
    summary. Returns the output."""
    command = [str(layout.python), "-m", "pip", "install", *source.pip_options(), *args]
    return run(command, what, layout.install_log)


def install_app(layout: Layout, source: PackageSource, app: Path) -> None:
    """Install or upgrade the app with its dependencies, once. Only when pip kept the same
    version in place (a repair run) are the app's own files copied again."""
    output = pip_install(layout, source, ["--upgrade", str(app)], "install the app")
    if not re.search(rf"^Successfully installed .*\b{APP_DIST}-", output, re.MULTILINE | re.I):
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
    """Run the installed app's --self-test without touching the user's data or settings: on
    the real display when there is one (the window the menu entry opens), else offscreen.
    The last run's report is deleted first, so an old "ok" is never shown for a new failure."""
    manifest.add(layout.self_test_report, "file")
    layout.self_test_report.unlink(missing_ok=True)
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
            print(f"  The self-test did not finish within {SELF_TEST_TIMEOUT_S} s.")
            return False
    if not layout.self_test_report.is_file():
        print(
            f"  The self-test ended without writing its report (exit code {done.returncode}): "
            "it crashed before it could; the lines above say where."
        )
    return done.returncode == 0


def run(command: Sequence[str], what: str, log: Path | None = None) -> str:
    """Run a step; a failure says which step and how to retry. With `log`, the output goes
    there in full and the terminal shows one progress line and a summary (pip writes some
    250 lines); without, it is shown live. Returns the output (empty when shown live)."""
    print(f"  $ {' '.join(command)}", flush=True)
    if log is None:
        try:
            done = subprocess.run(list(command), check=False)
        except OSError as error:
            raise SetupError(f"Could not {what}: {error}") from error
        _check(done.returncode, what, None, "")
        return ""
    log.parent.mkdir(parents=True, exist_ok=True)
    lines: list[str] = []
    with log.open("a", encoding="utf-8") as out:
        out.write(f"\n$ {' '.join(command)}\n")
        try:
            process = subprocess.Popen(
                list(command), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
            )
        except OSError as error:
            raise SetupError(f"Could not {what}: {error}") from error
        with process:
            assert process.stdout is not None
            for line in process.stdout:
                out.write(line)
                lines.append(line)
                _progress(line)
        code = process.returncode
    if sys.stdout.isatty():
        print("\r\033[K", end="")
    output = "".join(lines)
    _check(code, what, log, output)
    installed = re.search(r"^Successfully installed (.*)$", output, re.MULTILINE)
    count = len(installed[1].split()) if installed else 0
    print(f"  {what}: done ({count} package(s) installed or updated; full output in {log})")
    return output


def _progress(line: str) -> None:
    """One line, rewritten in place on a terminal: what pip is fetching or installing now."""
    if sys.stdout.isatty() and line.startswith(("Collecting", "Downloading", "Installing")):
        width = shutil.get_terminal_size().columns - 4
        print(f"\r\033[K  {line.strip()[:width]}", end="", flush=True)


def _check(code: int, what: str, log: Path | None, output: str) -> None:
    if code == 0:
        return
    if output:
        print("\n".join(f"  | {line}" for line in output.splitlines()[-25:]))
    where = f"the full output is in {log}" if log else "the output above says why"
    raise SetupError(
        f"Could not {what} (exit code {code}; {where}).",
        "Fix what pip reported (network, disk space, proxy) and run the installer again: "
        "it continues where it stopped.",
    )
