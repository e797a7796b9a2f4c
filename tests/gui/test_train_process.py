"""The training child process: its errors come back as UserError, cancel stops it cleanly."""

from __future__ import annotations

import pytest

from gpu_assistant.jobs import CancelToken, UserError
from gpu_assistant.training.settings import TrainSettings
from gpu_assistant.ui.train_process import train_in_child


def test_a_user_error_in_the_child_comes_back_with_its_fix(tmp_path):
    events = []
    settings = TrainSettings(data_dir=tmp_path / "missing", out_dir=tmp_path / "run")
    with pytest.raises(UserError) as caught:
        train_in_child(settings, events.append, CancelToken())
    assert "missing" in caught.value.message and caught.value.fix
    assert events[-1]["event"] == "error"


def test_bad_settings_are_refused_before_any_work(tmp_path):
    settings = TrainSettings(data_dir=tmp_path, out_dir=tmp_path / "run", epochs=0)
    with pytest.raises(UserError, match="epochs"):
        train_in_child(settings, lambda _event: None, CancelToken())
