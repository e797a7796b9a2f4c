"""What this machine has (NVML, OS, packages), what TensorFlow build fits it, and whether it works.

Never imports TensorFlow or Qt at import time.
"""

from __future__ import annotations


def nvml_available() -> bool:
    """True when the NVIDIA driver's NVML library loads and initialises (a GPU driver exists)."""
    try:
        import pynvml
    except ImportError:
        return False
    try:
        pynvml.nvmlInit()
    except Exception:  # NVMLError_LibraryNotFound, driver/library mismatch, no permission...
        return False
    pynvml.nvmlShutdown()
    return True
