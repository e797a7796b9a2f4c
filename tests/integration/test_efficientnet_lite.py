"""The offline EfficientNet-Lite0 port is right: real photos land in their ImageNet classes,
and the batch-norm statistics on photos match those stored with the weights (which a wrong
input scaling breaks even where the top-1 still looks right)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from gpu_assistant.training import efficientnet_lite
from gpu_assistant.training.models import BACKBONE_LAYER

pytestmark = pytest.mark.tf

skimage_data = pytest.importorskip("skimage.data")

# ImageNet classes each photo may land in (tabby/tiger/Egyptian cat, espresso/cup,
# missile/projectile/space shuttle, moped/motor scooter).
EXPECTED = {
    "chelsea": {281, 282, 285},
    "coffee": {967, 968},
    "rocket": {657, 744, 812},
    "motorcycle": {665, 670},
}
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406]) * 255
IMAGENET_STD = np.array([0.229, 0.224, 0.225]) * 255


def _centre_crop(image: np.ndarray, size: int = 224) -> np.ndarray:
    """The ImageNet evaluation crop: the central 87.5 %, resized (bicubic) to `size`."""
    height, width = image.shape[:2]
    side = int(min(height, width) * 0.875)
    top, left = (height - side) // 2, (width - side) // 2
    crop = Image.fromarray(image[top : top + side, left : left + side])
    return np.asarray(crop.resize((size, size), Image.BICUBIC))


@pytest.fixture(scope="module")
def photos() -> dict[str, np.ndarray]:
    images = {
        "chelsea": skimage_data.chelsea(),
        "coffee": skimage_data.coffee(),
        "rocket": skimage_data.rocket(),
        "motorcycle": skimage_data.stereo_motorcycle()[0],
        "astronaut": skimage_data.astronaut(),
    }
    return {name: _centre_crop(image) for name, image in images.items()}


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One cache folder for the module, so the weights are converted once."""
    folder = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GPU_ASSISTANT_CACHE_DIR", str(folder))
        yield folder


@pytest.fixture(scope="module")
def classifier(cache: Path) -> Any:
    return efficientnet_lite.imagenet_classifier(224)


def test_photos_land_in_their_imagenet_classes(classifier: Any, photos: dict) -> None:
    batch = np.stack([photos[name] for name in EXPECTED])
    probabilities = classifier.predict(batch, verbose=0)
    assert probabilities.shape == (len(EXPECTED), 1000)
    for (name, classes), row in zip(EXPECTED.items(), probabilities, strict=True):
        assert int(np.argmax(row)) in classes, (name, np.argsort(row)[-5:])
        assert row[sorted(classes)].sum() > 0.5, (name, row[sorted(classes)])


def _log_variance_ratios(model: Any, pixels: np.ndarray) -> np.ndarray:
    """Per batch-norm layer: median over channels of |log(variance on photos / stored)|."""
    import keras

    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    probe = keras.Model(model.inputs, [layer.input for layer in norms])
    ratios = []
    for layer, values in zip(norms, probe.predict(pixels, verbose=0), strict=True):
        stored = np.asarray(layer.moving_variance)
        seen = values.var(axis=(0, 1, 2))
        ratios.append(np.median(np.abs(np.log((seen + 1e-3) / (stored + 1e-3)))))
    return np.asarray(ratios)


def test_batch_norm_statistics_on_photos_match_the_stored_ones(
    classifier: Any, photos: dict
) -> None:
    """The check that settles the input scaling (docs/training.md): with (x - 127) / 128 the
    variances every batch norm sees on photos are close to the stored running variances (stem
    ~0.3, median over layers ~0.2 here); ImageNet mean/std or x / 255 scaling push the stem's
    to 1.3-1.6 and the first layers' to ~0.7 while the photos' top-1 stays right."""
    pixels = np.stack(list(photos.values())).astype("float32")
    right = _log_variance_ratios(classifier, pixels)
    assert right[0] < 0.6 and np.median(right) < 0.3 and right[:5].mean() < 0.4, right[:5]
    # The model scales x to (x - 127) / 128 itself; feed it pixels that come out as the
    # wrong scalings would, and the same check must fail.
    mean_std = 128 * (pixels - IMAGENET_MEAN) / IMAGENET_STD + 127
    unit = 128 * pixels / 255 + 127
    for wrong in (mean_std, unit):
        ratios = _log_variance_ratios(classifier, wrong.astype("float32"))
        assert ratios[0] > 1.0 and ratios[:5].mean() > 0.6, ratios[:5]


def test_feature_extractor_takes_uint8_pixels_and_gives_1280_float32_features(
    classifier: Any, photos: dict
) -> None:
    backbone = efficientnet_lite.feature_extractor(224)
    assert backbone.name == BACKBONE_LAYER
    batch = np.stack([photos["chelsea"], photos["coffee"]])
    features = backbone.predict(batch, verbose=0)  # uint8
    assert features.shape == (2, efficientnet_lite.FEATURES) and features.dtype == np.float32
    np.testing.assert_allclose(features, backbone.predict(batch.astype("float32"), verbose=0))
    # The same weights as the classifier (one cached file, converted once).
    pooled = classifier.get_layer(efficientnet_lite.POOL_LAYER).output
    import keras

    np.testing.assert_allclose(
        features, keras.Model(classifier.inputs, pooled).predict(batch, verbose=0), atol=1e-5
    )


def test_random_weights_need_no_weights_package(monkeypatch: pytest.MonkeyPatch) -> None:
    from gpu_assistant.training import backbone_weights

    monkeypatch.setattr(backbone_weights, "PACKAGE", "no_such_weights_package")
    backbone = efficientnet_lite.feature_extractor(64, pretrained=False)
    assert backbone.output.shape == (None, efficientnet_lite.FEATURES)
