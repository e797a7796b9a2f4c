"""Runs on disk: state (finished / stopped / failed), accuracy, dataset, delete."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gpu_assistant.jobs import UserError
from gpu_assistant.training.runs import FAILED, FINISHED, STOPPED, delete_run, list_runs


def _run(root: Path, name: str, **files: dict) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    settings = {"data_dir": "/data/flowers", "model": "small_cnn"}
    (folder / "settings.json").write_text(json.dumps(settings), encoding="utf-8")
    for file_name, value in files.items():
        path = folder / file_name.replace("__", "/").replace("_json", ".json")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value), encoding="utf-8")
    return folder


def test_each_state_is_read_from_the_files_a_run_left(tmp_path):
    history = [{"val_accuracy": 0.5}, {"val_accuracy": 0.75}]
    done = _run(
        tmp_path,
        "done",
        metrics_json={"status": "completed", "final": history[-1], "history": history},
        evaluation_json={"accuracy": 0.8},
    )
    (done / "model.keras").write_bytes(b"x")
    stopped = _run(
        tmp_path,
        "stopped",
        metrics_json={"status": "cancelled", "final": history[0], "history": history[:1]},
        checkpoints__state_json={"epoch": 1},
    )
    (stopped / "model.keras").write_bytes(b"x")
    _run(tmp_path, "failed")
    (tmp_path / "not-a-run").mkdir()
    runs = {run.path.name: run for run in list_runs(tmp_path)}
    assert set(runs) == {"done", "stopped", "failed"}
    assert runs["done"].state == FINISHED and runs["done"].accuracy == 0.8
    assert runs["done"].dataset == "flowers" and runs["done"].model == "small_cnn"
    assert runs["stopped"].state == STOPPED and runs["stopped"].resumable
    assert runs["stopped"].accuracy == 0.5 and runs["stopped"].epochs == 1
    assert runs["failed"].state == FAILED and not runs["failed"].has_model


def test_delete_removes_a_run_and_refuses_other_folders(tmp_path):
    run = _run(tmp_path, "r")
    delete_run(run)
    assert not run.exists()
    other = tmp_path / "photos"
    other.mkdir()
    with pytest.raises(UserError):
        delete_run(other)
    assert other.exists()
