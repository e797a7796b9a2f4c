"""Every export format from a real (tiny) run, re-scored on the validation set; the standalone
script runs for an epoch and splits the data exactly like the app."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from data_factory import make_class_folder, write_image
from gpu_assistant.cli import main
from gpu_assistant.jobs import CancelToken, UserError, ignore
from gpu_assistant.training.export import FORMATS, export
from gpu_assistant.training.script_template import write_script
from gpu_assistant.training.settings import TrainSettings
from gpu_assistant.training.trainer import train

pytestmark = pytest.mark.tf


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("export")
    data = make_class_folder(root / "data", {"red": 12, "green": 12, "blue": 12})
    settings = TrainSettings(
        data_dir=data,
        out_dir=root / "run",
        image_size=32,
        batch_size=8,
        epochs=2,
        augment=False,
        val_split=0.25,
    )
    return train(settings, ignore, CancelToken()).run_dir


def test_every_format_scores_like_the_app(run_dir: Path, tmp_path: Path) -> None:
    result = export(run_dir, FORMATS, tmp_path / "out")
    assert set(result.paths) == set(FORMATS)
    assert result.samples == 9  # 3 of each class's 12
    assert result.reference_accuracy is not None
    assert set(result.accuracy) == {"keras", "savedmodel", "tflite"}
    assert result.mismatches() == []
    for path in result.paths.values():
        assert path.exists()
    assert (tmp_path / "out" / "savedmodel" / "saved_model.pb").is_file()
    saved = json.loads((tmp_path / "out" / "export.json").read_text())
    assert saved["mismatches"] == []
    assert (tmp_path / "out" / "labels.txt").read_text().split() == ["blue", "green", "red"]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert result.reference_accuracy == metrics["final"]["model_val_accuracy"]


def test_export_command_line(run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "cli"
    code = main(["export", str(run_dir / "model.keras"), "--format", "tflite", "--out", str(out)])
    assert code == 0
    assert "validation accuracy" in capsys.readouterr().out
    assert (out / "model.tflite").is_file()
    assert main(["export", str(tmp_path / "nothing"), "--format", "keras"]) == 2
    assert "not a trained model" in capsys.readouterr().err


def test_unknown_format_is_a_user_error(run_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(UserError, match="Unknown export format onnx"):
        export(run_dir, ["onnx"], tmp_path)


@pytest.mark.parametrize("flip", [True, False])
def test_standalone_script_mirrors_only_when_the_run_did(tmp_path: Path, flip: bool) -> None:
    settings = TrainSettings(
        data_dir=tmp_path, model="small_cnn", image_size=96, epochs=10, flip=flip
    )
    settings.save(tmp_path / "settings.json")
    script = write_script(TrainSettings.load(tmp_path / "settings.json"), ["a", "b"], tmp_path)
    text = script.read_text()
    assert f"FLIP = {flip}" in text
    module: dict[str, Any] = {"__name__": "train_script"}  # defines, does not run main()
    exec(compile(text, str(script), "exec"), module)
    names = [type(layer).__name__ for layer in module["augmentation_layers"]()]
    assert names == ["RandomFlip"] * flip + ["RandomRotation", "RandomZoom", "RandomContrast"]


def test_standalone_script_reads_every_format_as_the_app_does(tmp_path: Path) -> None:
    """TIFF, WebP, 16-bit PNG, CMYK and EXIF-rotated JPEG: the script lists them and decodes
    them to the app's pixels (through Pillow); what the scan skips (no image, a truncated one,
    a format the app does not take) the script skips too."""
    import numpy as np
    import tensorflow as tf
    from PIL import Image

    from gpu_assistant.data.images import load_for_model
    from gpu_assistant.data.scan import scan_folder

    turned = Image.Exif()
    turned[0x0112] = 6  # shown turned a quarter: width and height swap
    files: dict[str, dict[str, Any]] = {
        "a/plain.jpg": {},
        "a/turned.jpg": {"exif": turned.tobytes()},
        "a/deep.png": {"mode": "I;16"},
        "a/cmyk.jpg": {"mode": "CMYK"},
        "b/scan.tiff": {},
        "b/photo.webp": {"lossless": True},
    }
    data = tmp_path / "data"
    for relative, options in files.items():
        write_image(data / relative, size=(40, 24), **options)
    (data / "b" / "broken.jpg").write_bytes(b"not an image")
    cut = (data / "a" / "plain.jpg").read_bytes()
    (data / "b" / "truncated.jpg").write_bytes(cut[: len(cut) // 2])
    write_image(data / "b" / "icon.png", size=(16, 16), fmt="ICO")  # a format the app refuses
    settings = TrainSettings(data_dir=data, model="small_cnn", image_size=32, epochs=1)
    script = write_script(settings, ["a", "b"], tmp_path)
    module: dict[str, Any] = {"__name__": "train_script"}  # defines, does not run main()
    exec(compile(script.read_text(), str(script), "exec"), module)
    listed = sorted(relative for relative, _ in module["list_files"](data))
    scanned = scan_folder(data).records
    assert listed == sorted(files) == sorted(r.path.relative_to(data).as_posix() for r in scanned)
    for relative in files:
        path = data / relative
        pillow = module["needs_pillow"](path)
        assert pillow is (relative != "a/plain.jpg"), relative
        image, _ = module["load"](tf.constant(str(path)), 0, tf.constant(pillow))
        difference = np.abs(image.numpy().astype(int) - load_for_model(path, 32).astype(int))
        assert difference.max() <= 1, relative


@pytest.mark.slow
def test_standalone_script_trains_an_epoch_with_the_apps_split(
    run_dir: Path, tmp_path: Path
) -> None:
    script = export(run_dir, ["script"], tmp_path, rescore=False).paths["script"]
    assert "gpu_assistant" not in script.read_text()
    settings = TrainSettings.load(run_dir / "settings.json")
    out = tmp_path / "trained"
    done = subprocess.run(
        [sys.executable, str(script), str(settings.data_dir), "--epochs", "1", "--out", str(out)],
        check=False,
        capture_output=True,
        text=True,
        timeout=240,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert (out / "model.keras").is_file()
    app_val = json.loads((run_dir / "split.json").read_text())["val"]
    assert sorted((out / "val_files.txt").read_text().split()) == sorted(app_val)

    import keras

    app_model = keras.models.load_model(run_dir / "model.keras")
    script_model = keras.models.load_model(out / "model.keras")
    assert script_model.count_params() == app_model.count_params()
    assert [type(layer).__name__ for layer in script_model.layers] == [
        type(layer).__name__ for layer in app_model.layers
    ]
