"""Grad-CAM: the heatmap of a known photo peaks on the object, for every kind of app model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gpu_assistant.training.explain import _split, explain, explain_files

pytestmark = pytest.mark.tf

BOX = (120, 150, 220, 217)  # left, top, right, bottom of the cat in the 224 px picture


def _cat_on_grey() -> np.ndarray:
    """scikit-image's Chelsea (a tabby cat) pasted in the lower right of a plain grey square."""
    skimage_data = pytest.importorskip("skimage.data")
    canvas = Image.new("RGB", (448, 448), (128, 128, 128))
    cat = Image.fromarray(skimage_data.chelsea()).resize((200, 134))
    canvas.paste(cat, (2 * BOX[0], 2 * BOX[1]))
    return np.asarray(canvas.resize((224, 224)))


@pytest.mark.slow
def test_the_heatmap_of_a_cat_peaks_on_the_cat() -> None:
    from gpu_assistant.training.efficientnet_lite import imagenet_classifier

    explanation = explain(imagenet_classifier(224), _cat_on_grey())

    assert explanation.label in {281, 282, 285}  # tabby, tiger cat, Egyptian cat
    heat = explanation.heatmap
    assert heat.shape == (224, 224) and 0.9 < heat.max() <= 1.0  # 0-1, bilinear upsampling
    left, top, right, bottom = BOX
    y, x = np.unravel_index(int(heat.argmax()), heat.shape)
    cell = 32  # one position of the 7 x 7 feature map
    assert left - cell <= x <= right + cell and top - cell <= y <= bottom + cell
    inside = heat[top:bottom, left:right]
    outside_mean = (heat.sum() - inside.sum()) / (heat.size - inside.size)
    assert inside.mean() >= 3 * outside_mean


@pytest.mark.parametrize("name", ["small_cnn", "efficientnet_lite0"])
def test_the_split_model_computes_what_the_model_computes(name: str) -> None:
    from gpu_assistant.training.models import build_model

    model = build_model(name, 3, 64) if name == "small_cnn" else _lite_model()
    images = np.random.default_rng(0).integers(0, 255, (2, 64, 64, 3)).astype(np.uint8)
    to_features, head = _split(model)
    together = np.asarray(model(images, training=False))
    assert np.allclose(np.asarray(head(to_features(images))), together, atol=1e-5)


def _lite_model():
    """The backbone model as the app builds it: nested backbone, dropout, dense head."""
    import keras

    from gpu_assistant.training.efficientnet_lite import feature_extractor

    inputs = keras.Input((64, 64, 3), dtype="uint8")
    features = feature_extractor(64, pretrained=False)(inputs)
    outputs = keras.layers.Dense(3, activation="softmax")(keras.layers.Dropout(0.2)(features))
    return keras.Model(inputs, outputs)


def test_predict_explain_writes_a_heatmap_per_image(tmp_path: Path, capsys) -> None:
    from gpu_assistant.cli import main
    from gpu_assistant.training.models import build_model

    model = build_model("small_cnn", 2, 32)
    model.save(tmp_path / "model.keras")
    (tmp_path / "labels.txt").write_text("a\nb\n")
    image = tmp_path / "photo.jpg"
    Image.fromarray(_cat_on_grey()).resize((300, 200)).save(image)
    (tmp_path / "broken.jpg").write_bytes(b"not a picture")

    code = main(
        [
            "predict",
            str(tmp_path / "model.keras"),
            str(image),
            str(tmp_path / "broken.jpg"),
            "--explain",
            str(tmp_path / "why"),
        ]
    )

    assert code == 2  # one image could not be read; the other still got its heatmap
    heatmap = tmp_path / "why" / "photo-heatmap.png"
    with Image.open(heatmap) as written:
        assert written.size == (300, 200)
    assert f"heatmap: {heatmap}" in capsys.readouterr().out
    assert explain_files(tmp_path / "model.keras", [tmp_path / "broken.jpg"], tmp_path)[0]["error"]
