"""The installer's Python half lives in installer/gpu_assistant_setup (not in the app package)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "installer"))
