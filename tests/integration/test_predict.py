"""predict() and `gpu-assistant predict`: the data module's resize policy, bad files reported."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from data_factory import write_image
from gpu_assistant.cli import main
from gpu_assistant.data.images import load_for_model
from gpu_assistant.jobs import UserError
from gpu_assistant.training.models import build_model
from gpu_assistant.training.predict import predict

pytestmark = pytest.mark.tf
LABELS = ["cat", "dog", "fox"]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An (untrained) model as a run folder has it: model.keras with labels.txt beside it."""
    folder = tmp_path_factory.mktemp("model")
    build_model("small_cnn", len(LABELS), 32).save(folder / "model.keras")
    (folder / "labels.txt").write_text("\n".join(LABELS) + "\n")
    return folder


def test_predictions_match_the_model_on_pipeline_pixels(model_dir: Path, tmp_path: Path) -> None:
    import keras

    images = [
        write_image(tmp_path / "a.png", 0, size=(50, 20)),
        write_image(tmp_path / "b.jpg", 1, size=(20, 70)),
    ]
    predictions = predict(model_dir, images)
    model = keras.models.load_model(model_dir / "model.keras")
    expected = np.asarray(model(np.stack([load_for_model(p, 32) for p in images])))
    for prediction, probs in zip(predictions, expected, strict=True):
        assert prediction.error is None
        assert prediction.label == LABELS[int(np.argmax(probs))]
        assert prediction.confidence == pytest.approx(float(probs.max()), abs=1e-4)
        assert len(prediction.top) == 3
        assert prediction.top[0][0] == prediction.label


def test_unreadable_files_get_an_error_and_do_not_stop_the_rest(
    model_dir: Path, tmp_path: Path
) -> None:
    good = write_image(tmp_path / "good.png", 2)
    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    results = predict(model_dir / "model.keras", [bad, tmp_path / "missing.png", good])
    assert [r.error is None for r in results] == [False, False, True]
    assert results[2].label in LABELS


def test_a_folder_without_model_or_labels_is_a_user_error(model_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(UserError, match="not a trained model"):
        predict(tmp_path, [])
    (tmp_path / "model.keras").write_bytes((model_dir / "model.keras").read_bytes())
    with pytest.raises(UserError, match=r"labels\.txt"):
        predict(tmp_path, [])


def test_predict_command_line_json(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    image = write_image(tmp_path / "x.png", 0)
    assert main(["predict", str(model_dir), str(image), "--json"]) == 0
    (prediction,) = json.loads(capsys.readouterr().out)["predictions"]
    assert prediction["label"] in LABELS
    assert main(["predict", str(model_dir), str(tmp_path / "missing.png")]) == 2
    assert "cannot read it" in capsys.readouterr().out
