"""Test-wide setup: offscreen Qt, quiet TensorFlow, and nothing written to the user's home."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest

# Set before Qt or TensorFlow can be imported by any test module.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Keras caches downloads under KERAS_HOME; keep tests away from the real ~/.keras.
os.environ.setdefault("KERAS_HOME", tempfile.mkdtemp(prefix="keras-home-"))

TESTS_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(TESTS_DIR))  # tests import shared fakes as `fakes`


@pytest.fixture(autouse=True)
def _isolated_user_dirs(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Point HOME-like folders (settings, caches, logs) at a temp dir for every test."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("GPU_ASSISTANT_DATA_DIR", str(home / "data"))
    monkeypatch.setenv("GPU_ASSISTANT_CONFIG_DIR", str(home / "config"))
    monkeypatch.setenv("GPU_ASSISTANT_CACHE_DIR", str(home / "cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / "cache"))
    yield home


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip `gpu` tests where there is no NVIDIA driver (the CI machine has none)."""
    from gpu_assistant.system import nvml_available

    if nvml_available():
        return
    skip = pytest.mark.skip(reason="needs an NVIDIA GPU and driver (NVML); none here")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
