"""The icon the user double-clicks: a .desktop entry (Linux, WSL2: WSLg puts it in the Windows
Start menu), an .app wrapper (macOS) or Start-menu and desktop .lnk files (Windows). Every file
and folder goes through the manifest so that --uninstall removes exactly these.
"""

from __future__ import annotations

import base64
import plistlib
import shlex
import subprocess
from pathlib import Path

from gpu_assistant_setup import APP_ID, APP_NAME, SetupError
from gpu_assistant_setup.layout import Layout
from gpu_assistant_setup.manifest import Manifest

PNG_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
# Characters the Desktop Entry spec reserves in Exec arguments (they force quoting).
_EXEC_RESERVED = set(" \t\n\"'\\><~|&;$*?#()`")


def create_shortcut(layout: Layout, manifest: Manifest, desktop_resources: Path) -> list[Path]:
    """Create (or repair) the platform's shortcut; returns what the user will see."""
    if layout.platform == "win32":
        return _windows_links(layout, manifest, desktop_resources)
    if layout.platform == "darwin":
        return [_mac_app(layout, manifest, desktop_resources)]
    return [_desktop_entry(layout, manifest, desktop_resources)]


def desktop_exec_arg(arg: str) -> str:
    """Quote one Exec argument as the Desktop Entry spec asks (then escape for a string key)."""
    if any(ch in _EXEC_RESERVED for ch in arg):
        inner = "".join("\\" + ch if ch in '"`$\\' else ch for ch in arg)
        arg = f'"{inner}"'
    return arg.replace("%", "%%").replace("\\", "\\\\")


def desktop_entry_text(template: str, program: Path) -> str:
    return (
        template.replace("@EXEC@", desktop_exec_arg(str(program)))
        .replace("@TRYEXEC@", str(program).replace("\\", "\\\\"))
        .replace("@ICON@", APP_ID)
    )


def _desktop_entry(layout: Layout, manifest: Manifest, resources: Path) -> Path:
    for size in PNG_SIZES:
        icon = layout.hicolor / f"{size}x{size}" / "apps" / f"{APP_ID}.png"
        manifest.write_file(icon, (resources / "png" / f"{size}.png").read_bytes())
    svg = layout.hicolor / "scalable" / "apps" / f"{APP_ID}.svg"
    manifest.write_file(svg, (resources / f"{APP_ID}.svg").read_bytes())
    template = (resources / f"{APP_ID}.desktop.in").read_text(encoding="utf-8")
    text = desktop_entry_text(template, layout.venv_exe("gpu-assistant"))
    manifest.write_file(layout.desktop_file, text.encode("utf-8"))
    return layout.desktop_file


def _mac_app(layout: Layout, manifest: Manifest, resources: Path) -> Path:
    app = layout.mac_app
    manifest.make_dirs(app.parent)
    manifest.add(app, "tree")
    contents = app / "Contents"
    info = {
        "CFBundleName": APP_NAME,
        "CFBundleDisplayName": APP_NAME,
        "CFBundleIdentifier": f"org.{APP_ID}.app",
        "CFBundleExecutable": "gpu-assistant",
        "CFBundleIconFile": f"{APP_ID}.icns",
        "CFBundlePackageType": "APPL",
        "CFBundleShortVersionString": "1.0",
        "NSHighResolutionCapable": True,
    }
    manifest.write_file(contents / "Info.plist", plistlib.dumps(info))
    launcher = f'#!/bin/sh\nexec {shlex.quote(str(layout.venv_exe("gpu-assistant")))} "$@"\n'
    manifest.write_file(contents / "MacOS" / "gpu-assistant", launcher.encode(), mode=0o755)
    icns = (resources / f"{APP_ID}.icns").read_bytes()
    manifest.write_file(contents / "Resources" / f"{APP_ID}.icns", icns)
    return app


def _ps_quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _windows_links(layout: Layout, manifest: Manifest, resources: Path) -> list[Path]:
    manifest.write_file(layout.windows_icon, (resources / f"{APP_ID}.ico").read_bytes())
    script = f"""
$ErrorActionPreference = 'Stop'
[Console]::OutputEncoding = [Text.Encoding]::UTF8
$shell = New-Object -ComObject WScript.Shell
$desktop = [Environment]::GetFolderPath('Desktop')
$links = @({_ps_quote(str(layout.start_menu_link))}, (Join-Path $desktop {_ps_quote(APP_NAME + ".lnk")}))
foreach ($path in $links) {{
    $link = $shell.CreateShortcut($path)
    $link.TargetPath = {_ps_quote(str(layout.venv_exe("gpu-assistant-gui")))}
    $link.WorkingDirectory = {_ps_quote(str(layout.home))}
    $link.IconLocation = {_ps_quote(str(layout.windows_icon) + ",0")}
    $link.Description = {_ps_quote(APP_NAME)}
    $link.Save()
    Write-Output $path
}}
"""  # noqa: E501
    # -EncodedCommand (base64 of UTF-16LE) carries the script through any quoting intact.
    encoded = base64.b64encode(script.encode("utf-16-le")).decode("ascii")
    command = ["powershell", "-NoProfile", "-NonInteractive", "-EncodedCommand", encoded]
    done = subprocess.run(
        command, capture_output=True, encoding="utf-8", errors="replace", check=False
    )
    if done.returncode != 0:
        raise SetupError(
            f"Could not create the Start-menu shortcut: {done.stderr.strip()}",
            f"Start the app with {layout.venv_exe('gpu-assistant-gui')} instead.",
        )
    links = [Path(line.strip()) for line in done.stdout.splitlines() if line.strip()]
    for link in links:
        manifest.add(link, "file")
    return links
