#!/usr/bin/env bash
# TensorFlow GPU Assistant installer for Linux (also WSL2) and macOS.
#   bash installer/install.sh               install or repair, then start the app
#   bash installer/install.sh --uninstall   remove what it added
#   bash installer/install.sh --help        all options (--wheelhouse DIR for offline machines)
# Needs Python >= 3.10 (the first one found of $PYTHON, python3, python, python3.13 ... 3.10)
# and access to PyPI. The steps themselves live in installer/bootstrap.py (shared with Windows).
set -euo pipefail

here="${BASH_SOURCE[0]%/*}"
[ "$here" = "${BASH_SOURCE[0]}" ] && here=.

version_of() {  # prints "3.11" for a working interpreter, nothing otherwise
    "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || true
}

new_enough() {  # $1 = "3.11"
    local major="${1%%.*}" minor="${1#*.}"
    [ "$major" -gt 3 ] || { [ "$major" -eq 3 ] && [ "$minor" -ge 10 ]; }
}

if [ -n "${PYTHON:-}" ]; then
    candidates=("$PYTHON")
else
    candidates=(python3 python python3.13 python3.12 python3.11 python3.10)
fi

found=()
for candidate in "${candidates[@]}"; do
    command -v "$candidate" >/dev/null 2>&1 || continue
    version="$(version_of "$candidate")"
    [ -n "$version" ] || continue
    if new_enough "$version"; then
        exec "$candidate" "$here/bootstrap.py" "$@"
    fi
    found+=("$candidate is Python $version")
done

{
    echo "install: Python 3.10 or newer is needed to install TensorFlow GPU Assistant."
    if [ "${#found[@]}" -gt 0 ]; then
        printf 'install: found only: %s\n' "${found[@]}"
    else
        echo "install: no Python found (looked for: ${candidates[*]})."
    fi
    echo "install: what to do: install a Python that TensorFlow supports (docs/install.md lists them;"
    echo "install:   Debian/Ubuntu: sudo apt install python3 python3-venv; macOS: brew install python@3.12"
    echo "install:   or python.org), then run this again;"
    echo "install:   or point PYTHON at one: PYTHON=/path/to/python3.12 bash installer/install.sh"
} >&2
exit 2
