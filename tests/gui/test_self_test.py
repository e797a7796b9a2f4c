"""`gpu-assistant --self-test`: what the installer runs on a fresh machine (no display needed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from gpu_assistant.ui import app as ui_app


@pytest.mark.slow
@pytest.mark.tf
def test_self_test_without_a_display_trains_a_step_and_writes_the_report(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {"DISPLAY", "WAYLAND_DISPLAY"}}
    env.pop("QT_QPA_PLATFORM", None)
    report = tmp_path / "report.json"
    done = subprocess.run(
        [sys.executable, "-m", "gpu_assistant", "--self-test", "--report", str(report)],
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(report.read_text(encoding="utf-8"))
    assert result["ok"] is True
    assert [c["name"] for c in result["checks"]] == ["qt", "detect", "tensorflow", "train"]
    assert "offscreen" in result["checks"][0]["message"]
    assert "loss" in result["checks"][-1]["message"]


@pytest.mark.tf
def test_a_failing_step_gives_exit_1_and_says_which(qtbot, tmp_path, monkeypatch):
    from gpu_assistant.training import trainer

    def broken(*_args, **_kwargs):
        raise RuntimeError("no kernel image is available for execution on the device")

    monkeypatch.setattr(trainer, "train", broken)
    report = tmp_path / "report.json"
    assert ui_app.self_test(str(report)) == 1
    result = json.loads(report.read_text(encoding="utf-8"))
    assert result["ok"] is False
    failed = [c for c in result["checks"] if not c["ok"]]
    assert [c["name"] for c in failed] == ["train"]
    assert "no kernel image" in failed[0]["message"]
