"""Entry point of the frozen (PyInstaller) app: the same `gpu-assistant` command.

A frozen app has no Python interpreter to start child processes with, so `sys.executable` is
this program; the app runs its isolated checks as `sys.executable -m <module>` (the TensorFlow
verification child), which this entry point honours by running that module.
"""

import multiprocessing
import runpy
import sys

if __name__ == "__main__":
    multiprocessing.freeze_support()
    if len(sys.argv) >= 3 and sys.argv[1] == "-m":
        module = sys.argv[2]
        sys.argv = [sys.argv[0], *sys.argv[3:]]
        runpy.run_module(module, run_name="__main__", alter_sys=True)
        sys.exit(0)
    from gpu_assistant.cli import main

    sys.exit(main())
