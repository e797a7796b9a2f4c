"""Where an installation lives on each platform: one place, so install and uninstall agree.

Linux/WSL2: ${XDG_DATA_HOME:-~/.local/share}/tf-gpu-assistant (the app keeps the user's runs
there too), shortcut in .../applications, icons in .../icons/hicolor. macOS: ~/Library/Application
Support/tf-gpu-assistant and an .app wrapper in ~/Applications. Windows: %LOCALAPPDATA%\\
tf-gpu-assistant, shortcuts in the Start menu (%APPDATA%) and on the desktop.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from gpu_assistant_setup import APP_ID, APP_NAME


@dataclass(frozen=True)
class Layout:
    platform: str  # "linux", "darwin" or "win32" (sys.platform values)
    home: Path
    root: Path  # the app's data folder; the venv, manifest and logs go inside
    xdg_data: Path  # Linux only: the base of applications/ and icons/
    appdata: Path  # Windows only: %APPDATA% (Start menu lives below it)

    @property
    def venv(self) -> Path:
        return self.root / "venv"

    @property
    def bin_dir(self) -> Path:
        return self.venv / ("Scripts" if self.platform == "win32" else "bin")

    def venv_exe(self, name: str) -> Path:
        """A program inside the venv: python, gpu-assistant, gpu-assistant-gui."""
        suffix = ".exe" if self.platform == "win32" else ""
        return self.bin_dir / f"{name}{suffix}"

    @property
    def python(self) -> Path:
        return self.venv_exe("python")

    @property
    def manifest(self) -> Path:
        return self.root / "install-manifest.json"

    @property
    def self_test_report(self) -> Path:
        return self.root / "install-self-test.json"

    @property
    def install_log(self) -> Path:
        """pip's full output (the terminal shows progress and a summary)."""
        return self.root / "install.log"

    @property
    def runs(self) -> Path:
        """Where the app keeps training runs (the app's paths.runs_dir()); never uninstalled."""
        return self.root / "data" / "runs" if self.platform == "win32" else self.root / "runs"

    @property
    def desktop_file(self) -> Path:
        return self.xdg_data / "applications" / f"{APP_ID}.desktop"

    @property
    def hicolor(self) -> Path:
        return self.xdg_data / "icons" / "hicolor"

    @property
    def mac_app(self) -> Path:
        return self.home / "Applications" / f"{APP_NAME}.app"

    @property
    def start_menu_link(self) -> Path:
        programs = self.appdata / "Microsoft" / "Windows" / "Start Menu" / "Programs"
        return programs / f"{APP_NAME}.lnk"

    @property
    def windows_icon(self) -> Path:
        return self.root / f"{APP_ID}.ico"


def layout_for(platform: str, env: Mapping[str, str] | None = None) -> Layout:
    """The layout for `platform`, honouring HOME, XDG_DATA_HOME, LOCALAPPDATA and APPDATA."""
    env = os.environ if env is None else env
    home_var = "USERPROFILE" if platform == "win32" else "HOME"
    home = Path(env.get(home_var) or Path.home())
    xdg_data = Path(env.get("XDG_DATA_HOME") or home / ".local" / "share")
    appdata = Path(env.get("APPDATA") or home / "AppData" / "Roaming")
    if platform == "win32":
        root = Path(env.get("LOCALAPPDATA") or home / "AppData" / "Local") / APP_ID
    elif platform == "darwin":
        root = home / "Library" / "Application Support" / APP_ID
    else:
        root = xdg_data / APP_ID
    return Layout(platform=platform, home=home, root=root, xdg_data=xdg_data, appdata=appdata)
