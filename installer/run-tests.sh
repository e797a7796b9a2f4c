#!/usr/bin/env bash
# Sets up the test environment (.venv in the checkout) and runs the whole test suite.
# Usage: bash installer/run-tests.sh [pytest arguments]
# Needs only Python >= 3.10 with pip and venv, and network access to PyPI (first run).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
    echo "run-tests: Python 3.10 or newer is needed (found: $("$PYTHON" --version 2>&1))." >&2
    exit 2
fi
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[test]"
.venv/bin/python -m ruff check app tests benchmarks installer
.venv/bin/python -m ruff format --check app tests benchmarks installer
.venv/bin/lint-imports  # the layers of docs/architecture.md ([tool.importlinter] in pyproject.toml)
.venv/bin/mypy  # [tool.mypy] in pyproject.toml: strict for the cleaned modules, lenient elsewhere
export QT_QPA_PLATFORM=offscreen
# Two workers (pytest-xdist), a test file each at a time (module fixtures stay shared): most
# tests wait on a child process, TensorFlow's start or Qt, so two cores are busier this way.
exec .venv/bin/python -m pytest -n "${TEST_WORKERS:-2}" --dist loadfile "$@"
