"""`gpu-assistant doctor` end to end with the real TensorFlow verification on this machine."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


@pytest.mark.tf
def test_doctor_json_verifies_for_real():
    done = subprocess.run(
        [sys.executable, "-m", "gpu_assistant", "doctor", "--json", "--timeout", "300"],
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
    )
    data = json.loads(done.stdout)
    tf = data["tensorflow"]
    assert tf["verified"] and tf["installed"] and tf["version"]
    assert tf["build"]["is_cuda_build"] is True
    assert data["ready_basis"] == "verified"
    checks = {c["id"]: c for c in data["checks"]}
    assert checks["tensorflow_import"]["status"] == "pass"
    if not data["gpus"]:  # the CI machine: a CUDA build, no driver, and the report says why
        assert not data["ready"] and done.returncode == 1
        assert tf["gpus_visible"] == []
        assert checks["gpus_visible"]["status"] == "fail"
        assert "driver" in checks["gpus_visible"]["message"]
    else:
        assert done.returncode == (0 if data["ready"] else 1)
