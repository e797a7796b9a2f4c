"""Run by install.sh / install.ps1 with the system Python (standard library only).

Kept importable by old Pythons so that they get a clear message instead of a syntax error
(hence the %-formatting and the version check that ruff would otherwise modernise away).
"""
# ruff: noqa: UP031, UP036

import os
import sys

if sys.version_info < (3, 10):
    sys.stderr.write(
        "install: Python 3.10 or newer is needed (this is %d.%d at %s). Install a newer Python "
        "from python.org (or your package manager) and run the installer again.\n"
        % (sys.version_info[0], sys.version_info[1], sys.executable)
    )
    sys.exit(2)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from gpu_assistant_setup.main import main

if __name__ == "__main__":
    sys.exit(main())
