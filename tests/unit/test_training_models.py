"""Model builders with real Keras: raw uint8 in, probabilities out; transfer weights offline."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gpu_assistant.jobs import UserError
from gpu_assistant.training.models import build_model, unfreeze_top

pytestmark = pytest.mark.tf


def test_small_cnn_takes_raw_pixels_and_returns_probabilities() -> None:
    model = build_model("small_cnn", 3, 32)
    assert model.input.dtype == "uint8"
    images = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    probs = np.asarray(model(images, training=False))
    assert probs.shape == (2, 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    assert unfreeze_top(model) == 0  # nothing to fine-tune without a backbone


def test_unknown_model_and_single_class_are_user_errors() -> None:
    with pytest.raises(UserError, match="Unknown model"):
        build_model("resnet9000", 3, 32)
    with pytest.raises(UserError, match="two classes"):
        build_model("small_cnn", 1, 32)


def test_offline_imagenet_download_says_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A real download attempt through a proxy that refuses connections: offline, for sure.
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    for name in ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    with pytest.raises(UserError) as error:
        build_model("mobilenet_v3_small", 2, 96)
    assert "the download failed" in error.value.message
    # The offline model, by name and by its command-line value; no control that does not exist.
    assert "Pretrained (EfficientNet-Lite0, offline)" in error.value.fix
    assert "--model efficientnet_lite0" in error.value.fix
    assert "Weights file" not in error.value.fix


def test_transfer_model_loads_a_weights_file_and_fine_tunes_the_top(tmp_path: Path) -> None:
    import keras

    backbone = keras.applications.MobileNetV3Small(
        input_shape=(32, 32, 3), include_top=False, pooling="avg", weights=None
    )
    weights = tmp_path / "mobilenet_v3_small_notop.weights.h5"
    backbone.save_weights(weights)
    model = build_model("mobilenet_v3_small", 2, 32, weights_path=weights)
    inner = model.get_layer("backbone")
    assert not inner.trainable
    for mine, theirs in zip(inner.get_weights(), backbone.get_weights(), strict=True):
        np.testing.assert_array_equal(mine, theirs)
    unfrozen = unfreeze_top(model)
    assert 0 < unfrozen < len(inner.layers)
    assert not any(
        layer.trainable
        for layer in inner.layers
        if isinstance(layer, keras.layers.BatchNormalization)
    )


def test_missing_or_mismatched_weights_file_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="does not exist"):
        build_model("mobilenet_v3_small", 2, 32, weights_path=tmp_path / "nope.weights.h5")
    import keras

    other = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    wrong = tmp_path / "other.weights.h5"
    other.save_weights(wrong)
    with pytest.raises(UserError, match="does not fit"):
        build_model("mobilenet_v3_small", 2, 32, weights_path=wrong)
