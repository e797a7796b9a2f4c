"""Whether the app's window can open here: Qt's xcb platform plugin (X11, and Wayland through
XWayland) needs system libraries that PySide6's wheel does not bring. The offscreen self-test
cannot notice them missing, and Qt's own message then names only xcb-cursor0.

The check asks the dynamic loader what Qt would ask it: `ldd` on the plugin lists every
library it links (recursively), and libxcb-cursor, which Qt 6.5+ opens itself at start-up, is
opened with ctypes.
"""

from __future__ import annotations

import ctypes
import subprocess
from pathlib import Path

PLUGIN = Path("Qt") / "plugins" / "platforms" / "libqxcb.so"
OPENED_AT_START = ("libxcb-cursor.so.0",)

# soname -> (Debian/Ubuntu package, Fedora/RHEL package)
PACKAGES: dict[str, tuple[str, str]] = {
    "libxcb-cursor.so.0": ("libxcb-cursor0", "xcb-util-cursor"),
    "libxcb-icccm.so.4": ("libxcb-icccm4", "xcb-util-wm"),
    "libxcb-keysyms.so.1": ("libxcb-keysyms1", "xcb-util-keysyms"),
    "libxcb-image.so.0": ("libxcb-image0", "xcb-util-image"),
    "libxcb-render-util.so.0": ("libxcb-render-util0", "xcb-util-renderutil"),
    "libxcb-util.so.1": ("libxcb-util1", "xcb-util"),
    "libxkbcommon-x11.so.0": ("libxkbcommon-x11-0", "libxkbcommon-x11"),
    "libxkbcommon.so.0": ("libxkbcommon0", "libxkbcommon"),
    "libxcb-xkb.so.1": ("libxcb-xkb1", "libxcb"),
    "libxcb-randr.so.0": ("libxcb-randr0", "libxcb"),
    "libxcb-shape.so.0": ("libxcb-shape0", "libxcb"),
    "libxcb-shm.so.0": ("libxcb-shm0", "libxcb"),
    "libxcb-sync.so.1": ("libxcb-sync1", "libxcb"),
    "libxcb-xfixes.so.0": ("libxcb-xfixes0", "libxcb"),
    "libxcb-render.so.0": ("libxcb-render0", "libxcb"),
    "libxcb-xinerama.so.0": ("libxcb-xinerama0", "libxcb"),
    "libxcb-xinput.so.0": ("libxcb-xinput0", "libxcb"),
    "libxcb.so.1": ("libxcb1", "libxcb"),
    "libX11-xcb.so.1": ("libx11-xcb1", "libX11-xcb"),
    "libX11.so.6": ("libx11-6", "libX11"),
    "libSM.so.6": ("libsm6", "libSM"),
    "libICE.so.6": ("libice6", "libICE"),
    "libEGL.so.1": ("libegl1", "mesa-libEGL"),
    "libGL.so.1": ("libgl1", "mesa-libGL"),
    "libOpenGL.so.0": ("libopengl0", "libglvnd-opengl"),
    "libfontconfig.so.1": ("libfontconfig1", "fontconfig"),
    "libfreetype.so.6": ("libfreetype6", "freetype"),
    "libdbus-1.so.3": ("libdbus-1-3", "dbus-libs"),
    "libglib-2.0.so.0": ("libglib2.0-0", "glib2"),
}


def plugin_path(python: Path) -> Path | None:
    """The xcb plugin of the PySide6 that `python` imports (None: no PySide6 or no plugin)."""
    code = "import pathlib, PySide6; print(pathlib.Path(PySide6.__file__).parent)"
    done = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return None
    plugin = Path(done.stdout.strip()) / PLUGIN
    return plugin if plugin.is_file() else None


def not_found(ldd_output: str) -> list[str]:
    """The sonames `ldd` could not resolve ("libxcb-icccm.so.4 => not found")."""
    names = []
    for line in ldd_output.splitlines():
        name, arrow, where = line.strip().partition("=>")
        if arrow and where.strip() == "not found" and name.strip() not in names:
            names.append(name.strip())
    return names


def missing_libraries(python: Path, ldd: str = "ldd") -> list[str]:
    """The libraries the window needs and this machine lacks (empty: it can open)."""
    plugin = plugin_path(python)
    if plugin is None:
        return []
    try:
        done = subprocess.run([ldd, str(plugin)], capture_output=True, text=True, check=False)
    except OSError:
        return []  # no ldd (a minimal container): the self-test on the display still tells
    missing = not_found(done.stdout)
    for name in OPENED_AT_START:
        try:
            ctypes.CDLL(name)
        except OSError:
            missing.append(name)
    return missing


def os_release(path: Path = Path("/etc/os-release")) -> dict[str, str]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return {}
    pairs = (line.partition("=") for line in text.splitlines() if "=" in line)
    return {key: value.strip().strip('"') for key, _, value in pairs}


def install_command(missing: list[str], release: dict[str, str]) -> str | None:
    """The exact command that installs `missing` on this distribution, when it is known."""
    family = {release.get("ID", ""), *release.get("ID_LIKE", "").split()}
    column = 0 if family & {"debian", "ubuntu"} else 1 if family & {"fedora", "rhel"} else None
    if column is None or not missing:
        return None
    packages = dict.fromkeys(PACKAGES[name][column] for name in missing if name in PACKAGES)
    if not packages:
        return None
    tool = "apt install" if column == 0 else "dnf install"
    return f"sudo {tool} {' '.join(packages)}"
