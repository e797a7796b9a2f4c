"""Running install.sh for tests, and reading the .desktop file it writes the way a desktop does."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[2]
INSTALL_SH = CHECKOUT / "installer" / "install.sh"

# Keys the Desktop Entry Specification (1.0 to 1.5) defines for Type=Application (plus Version).
KNOWN_KEYS = {
    "Type", "Version", "Name", "GenericName", "NoDisplay", "Comment", "Icon", "Hidden",
    "OnlyShowIn", "NotShowIn", "DBusActivatable", "TryExec", "Exec", "Path", "Terminal",
    "Actions", "MimeType", "Categories", "Implements", "Keywords", "StartupNotify",
    "StartupWMClass", "PrefersNonDefaultGPU", "SingleMainWindow",
}  # fmt: skip
BOOLEAN_KEYS = {"NoDisplay", "Hidden", "DBusActivatable", "Terminal", "StartupNotify"}
LIST_KEYS = {"OnlyShowIn", "NotShowIn", "Actions", "MimeType", "Categories", "Keywords"}


def installer_env(home: Path, outside: Path, **extra: str) -> dict[str, str]:
    """The environment of a user whose HOME is `home`; pip's and Qt's caches go to `outside`."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.pop("XDG_DATA_HOME", None)
    env.update(
        HOME=str(home),
        PYTHON=sys.executable,  # the wheelhouse holds wheels for this interpreter
        XDG_CACHE_HOME=str(outside / "cache"),
        PIP_CACHE_DIR=str(outside / "pip-cache"),
    )
    env.update(extra)
    return env


def run_install(args: list[str], env: dict[str, str], timeout: float = 900):
    return subprocess.run(
        ["bash", str(INSTALL_SH), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def tree(root: Path) -> set[str]:
    """Every path under root (relative), for before/after comparisons."""
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def read_desktop_entry(path: Path) -> dict[str, str]:
    """Parse the [Desktop Entry] group, failing on anything a strict parser would reject."""
    lines = path.read_text(encoding="utf-8").splitlines()
    groups = [line for line in lines if line.startswith("[")]
    assert groups == ["[Desktop Entry]"], groups
    entries: dict[str, str] = {}
    for line in lines[1:]:
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep and key == key.strip() and key not in entries, line
        entries[key] = value
    return entries


def check_desktop_entry(entries: dict[str, str]) -> list[str]:
    """What the Desktop Entry Specification says is wrong with these keys (empty: valid)."""
    problems = [f"unknown key {k}" for k in entries if k not in KNOWN_KEYS]
    problems += [f"{k} is required" for k in ("Type", "Name", "Exec") if not entries.get(k)]
    if entries.get("Type") != "Application":
        problems.append("Type must be Application")
    problems += [
        f"{k} must be true or false" for k in BOOLEAN_KEYS & entries.keys()
        if entries[k] not in ("true", "false")
    ]  # fmt: skip
    problems += [f"{k} must end with ';'" for k in LIST_KEYS & entries.keys()
                 if not entries[k].endswith(";")]  # fmt: skip
    return problems


def exec_argv(exec_value: str) -> list[str]:
    """The Exec key as an argument list, per the spec: string escapes first (\\s, \\\\ ...),
    then arguments split on spaces, double quotes group, and inside them a backslash escapes
    `"`, `` ` ``, `$` and itself; `%%` is a literal %, other field codes are dropped."""
    text, i = [], 0
    escapes = {"s": " ", "n": "\n", "t": "\t", "r": "\r", "\\": "\\", ";": ";"}
    while i < len(exec_value):
        if exec_value[i] == "\\" and i + 1 < len(exec_value):
            text.append(escapes[exec_value[i + 1]])
            i += 2
        else:
            text.append(exec_value[i])
            i += 1
    args: list[str] = []
    word: list[str] | None = None
    quoted, i = False, 0
    while i < len(text):
        ch = text[i]
        if quoted and ch == "\\" and i + 1 < len(text) and text[i + 1] in '"`$\\':
            word = (word or []) + [text[i + 1]]
            i += 1
        elif ch == '"':
            quoted, word = not quoted, word or []
        elif ch == " " and not quoted:
            if word is not None:
                args.append("".join(word))
            word = None
        else:
            word = (word or []) + [ch]
        i += 1
    if word is not None:
        args.append("".join(word))
    return [a.replace("%%", "%") for a in args if not (len(a) == 2 and a[0] == "%")]
