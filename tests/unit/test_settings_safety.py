"""settings.json is input from whoever shared the run folder: every value is type- and
range-checked on load, and the exported script only ever contains repr() of checked values."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from gpu_assistant.jobs import UserError
from gpu_assistant.training.script_template import render_script, write_script
from gpu_assistant.training.settings import SETTINGS_VERSION, TrainSettings, migrate

INJECTION = '"""; __import__("os").system("touch pwned"); """'


def _saved(tmp_path: Path, **changes: object) -> dict:
    data = TrainSettings(data_dir=tmp_path).to_json()
    data.update(changes)
    return data


def _calls(source: str) -> set[str]:
    """Names of every function called anywhere at module level or in the script."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            names.add(node.func.id)
    return names


def _resolved(data: Path) -> TrainSettings:
    """Settings as a run saves them (Auto's choices made)."""
    return TrainSettings(data_dir=data, model="small_cnn", image_size=96, epochs=10)


def test_export_folder_name_cannot_inject_code(tmp_path: Path) -> None:
    out = tmp_path / INJECTION
    out.mkdir()
    script = write_script(_resolved(tmp_path), ["a", "b"], out)
    text = script.read_text(encoding="utf-8")
    assert "__import__" not in _calls(text)
    docstring = ast.get_docstring(ast.parse(text)) or ""
    assert docstring.startswith("Train the image classifier")


@pytest.mark.parametrize(
    "changes",
    [
        {"image_size": '96\nimport os; os.system("x")'},
        {"model": 'small_cnn"\nimport os\n"'},
        {"learning_rate": "__import__('os')"},
        {"augment": "True or __import__('os')"},
        {"seed": 1.5},
        {"epochs": True},
        {"gpus": ["0"]},
        {"data_dir": 5},
        {"cluster": "worker"},
    ],
)
def test_settings_of_the_wrong_type_are_refused_on_load(tmp_path: Path, changes: dict) -> None:
    with pytest.raises(UserError, match="settings"):
        TrainSettings.from_json(_saved(tmp_path, **changes))


@pytest.mark.parametrize(
    "changes",
    [
        {"learning_rate": float("inf")},
        {"learning_rate": float("nan")},
        {"val_split": float("nan")},
        {"image_size": 100_000},
        {"batch_size": 10**9},
        {"gpus": [-1]},
        {"model": "resnet_9000"},
        {"cache": "tape"},
    ],
)
def test_settings_out_of_range_are_refused(tmp_path: Path, changes: dict) -> None:
    with pytest.raises(UserError):
        TrainSettings.from_json(_saved(tmp_path, **changes)).validate()
    with pytest.raises(UserError):
        TrainSettings(data_dir=tmp_path, **changes).validate()  # type: ignore[arg-type]


def test_unknown_keys_and_newer_versions_are_refused(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="unknown"):
        TrainSettings.from_json(_saved(tmp_path, shell="rm -rf /"))
    with pytest.raises(UserError, match="newer"):
        TrainSettings.from_json(_saved(tmp_path, version=SETTINGS_VERSION + 1))


def test_migrate_brings_old_settings_to_the_current_version(tmp_path: Path) -> None:
    old = _saved(tmp_path)
    del old["flip"]  # version 0 files predate the mirror switch, and mirrored
    old["version"] = 0
    migrated = migrate(old, 0)
    assert migrated["version"] == SETTINGS_VERSION and migrated["flip"] is True
    assert TrainSettings.from_json(old).flip is True


def test_a_saved_run_round_trips(tmp_path: Path) -> None:
    settings = TrainSettings(data_dir=tmp_path, out_dir=tmp_path / "run", gpus=[0, 1])
    settings.save(tmp_path / "settings.json")
    assert TrainSettings.load(tmp_path / "settings.json") == settings
    assert json.loads((tmp_path / "settings.json").read_text())["version"] == SETTINGS_VERSION


def test_rendered_values_are_literals(tmp_path: Path) -> None:
    text = render_script(_resolved(tmp_path), ["a'b", 'c"""d'], "run")
    tree = ast.parse(text)
    constants = {
        node.targets[0].id: ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign)
        and isinstance(node.targets[0], ast.Name)
        and node.targets[0].id.isupper()
        and node.targets[0].id != "EXTENSIONS"
    }
    assert constants["CLASS_NAMES"] == ["a'b", 'c"""d']
    assert constants["MODEL"] == "small_cnn"
    assert constants["IMAGE_SIZE"] == 96
