"""Build the PyInstaller one-folder app (CPU TensorFlow) and prove it works: run the console
twin's --self-test on the built folder. Prints the folder's size and the build time.

    python installer/pyinstaller/build.py [--wheelhouse DIR]

Builds in its own virtual environment (build/pyinstaller-venv) so the result holds exactly the
app's dependencies; output in dist/gpu-assistant/. Standard library only.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENV = ROOT / "build" / "pyinstaller-venv"
DIST = ROOT / "dist"
PYINSTALLER = "pyinstaller>=6.10"


def run(*command: object, **kwargs) -> None:
    print("$", " ".join(str(c) for c in command), flush=True)
    subprocess.run([str(c) for c in command], check=True, **kwargs)


def folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheelhouse", type=Path, help="install offline from this folder")
    args = parser.parse_args()
    bin_dir = VENV / ("Scripts" if sys.platform == "win32" else "bin")
    python = bin_dir / ("python.exe" if sys.platform == "win32" else "python")
    if not python.exists():
        run(sys.executable, "-m", "venv", VENV)
    offline = ["--no-index", "--find-links", args.wheelhouse] if args.wheelhouse else []
    run(python, "-m", "pip", "install", "--quiet", *offline, "--upgrade", ROOT, PYINSTALLER)

    started = time.monotonic()
    run(
        python, "-m", "PyInstaller", "--noconfirm", "--clean",
        "--distpath", DIST, "--workpath", ROOT / "build" / "pyinstaller",
        ROOT / "installer" / "pyinstaller" / "gpu-assistant.spec",
    )  # fmt: skip
    built = time.monotonic() - started

    app = DIST / "gpu-assistant"
    twin = app / (
        "gpu-assistant-console.exe" if sys.platform == "win32" else "gpu-assistant-console"
    )
    env = {**os.environ, "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen")}
    started = time.monotonic()
    run(twin, "--self-test", "--report", DIST / "self-test.json", env=env)
    tested = time.monotonic() - started
    print(
        f"\nbuilt {app} in {built:.0f} s: {folder_size(app) / 1e9:.2f} GB; "
        f"self-test passed in {tested:.0f} s (report: {DIST / 'self-test.json'})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
