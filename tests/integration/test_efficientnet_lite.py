"""The offline EfficientNet-Lite0 port is right, and a plausibly wrong one fails here:

- it computes what the weights' own architecture computes: a NumPy re-statement of
  efficientnet-lite-pytorch 0.1.0's forward pass (NCHW, torch's weight layout, its padding
  formula, its batch-norm epsilon), written from that package's code, agrees with the Keras
  model to ~1e-5; symmetric padding or epsilon 1e-5 miss by whole units;
- real photos land in their ImageNet classes with confident top-1;
- the batch-norm statistics on photos match the stored running statistics, which settles the
  input scaling (a wrong scaling still gets the photos' top-1 right).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view
from PIL import Image

from gpu_assistant.jobs import UserError
from gpu_assistant.training import backbone_weights, efficientnet_lite
from gpu_assistant.training.models import BACKBONE_LAYER, unfreeze_top

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
# efficientnet-lite-pytorch 0.1.0, utils.efficientnet_lite(), verbatim: repeats, kernel,
# strides, expansion, filters in/out. (A second transcription, independent of STAGES.)
BLOCK_STRINGS = (
    "r1_k3_s11_e1_i32_o16",
    "r2_k3_s22_e6_i16_o24",
    "r2_k5_s22_e6_i24_o40",
    "r3_k3_s22_e6_i40_o80",
    "r3_k5_s11_e6_i80_o112",
    "r4_k5_s22_e6_i112_o192",
    "r1_k3_s11_e6_i192_o320",
)
REFERENCE_SIZE = 64  # every feature map even: TF "same" and symmetric padding differ everywhere


def _centre_crop(image: np.ndarray, size: int = 224) -> np.ndarray:
    """The ImageNet evaluation crop: the central 87.5 %, resized (bicubic) to `size`."""
    height, width = image.shape[:2]
    side = int(min(height, width) * 0.875)
    top, left = (height - side) // 2, (width - side) // 2
    crop = Image.fromarray(image[top : top + side, left : left + side])
    return np.asarray(crop.resize((size, size), Image.BICUBIC))


@pytest.fixture(scope="module")
def raw_photos() -> dict[str, np.ndarray]:
    return {
        "chelsea": skimage_data.chelsea(),
        "coffee": skimage_data.coffee(),
        "rocket": skimage_data.rocket(),
        "motorcycle": skimage_data.stereo_motorcycle()[0],
        "astronaut": skimage_data.astronaut(),
    }


@pytest.fixture(scope="module")
def photos(raw_photos: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {name: _centre_crop(image) for name, image in raw_photos.items()}


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache folder for the module, so the weights are converted once."""
    return tmp_path_factory.mktemp("cache")


@contextmanager
def using(cache: Path) -> Iterator[None]:
    """The module's cache folder (conftest gives every test a fresh one)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GPU_ASSISTANT_CACHE_DIR", str(cache))
        yield


@pytest.fixture(scope="module")
def arrays() -> dict[str, np.ndarray]:
    return backbone_weights.read_package_weights()


@pytest.fixture(scope="module")
def classifier(cache: Path) -> Any:
    with using(cache):
        return efficientnet_lite.imagenet_classifier(224)


@pytest.fixture(scope="module")
def small_pixels(raw_photos: dict[str, np.ndarray]) -> np.ndarray:
    return np.stack([_centre_crop(raw_photos[n], REFERENCE_SIZE) for n in ("chelsea", "rocket")])


def reference_features(weights: dict[str, np.ndarray], pixels: np.ndarray) -> np.ndarray:
    """efficientnet-lite-pytorch 0.1.0's `extract_features` + pooling, in NumPy (float64)."""

    def pad(x: np.ndarray, kernel: int, stride: int) -> np.ndarray:
        # Conv2dStaticSamePadding: pad = max((ceil(i / s) - 1) * s + k - i, 0), split
        # [pad // 2, pad - pad // 2] (top/left, bottom/right), as F.pad / nn.ZeroPad2d get it.
        size = x.shape[-1]
        total = max((-(-size // stride) - 1) * stride + kernel - size, 0)
        side = (total // 2, total - total // 2)
        return np.pad(x, ((0, 0), (0, 0), side, side))  # square images only

    def conv(x: np.ndarray, key: str, stride: int = 1, *, depthwise: bool = False) -> np.ndarray:
        weight = weights[f"{key}.weight"].astype(np.float64)  # (out, in / groups, k, k)
        kernel = weight.shape[-1]
        if kernel == 1:
            return np.einsum("nchw,oc->nohw", x, weight[:, :, 0, 0])
        windows = sliding_window_view(pad(x, kernel, stride), (kernel, kernel), axis=(2, 3))
        windows = windows[:, :, ::stride, ::stride]
        if depthwise:
            return np.einsum("nchwij,cij->nchw", windows, weight[:, 0])
        return np.einsum("nchwij,ocij->nohw", windows, weight)

    def batch_norm(x: np.ndarray, key: str) -> np.ndarray:
        gamma, beta, mean, var = (
            weights[f"{key}.{part}"].astype(np.float64)[:, None, None]
            for part in ("weight", "bias", "running_mean", "running_var")
        )
        return (x - mean) / np.sqrt(var + 1e-3) * gamma + beta  # GlobalParams batch_norm_epsilon

    def relu6(x: np.ndarray) -> np.ndarray:
        return np.clip(x, 0.0, 6.0)

    x = ((pixels.astype(np.float64) - 127.0) / 128.0).transpose(0, 3, 1, 2)
    x = relu6(batch_norm(conv(x, "_conv_stem", 2), "_bn0"))
    index = 0
    for text in BLOCK_STRINGS:
        args = {part[0]: part[1:] for part in text.split("_")}
        for repeat in range(int(args["r"])):
            stride = int(args["s"][0]) if repeat == 0 else 1
            filters_in = int(args["i"]) if repeat == 0 else int(args["o"])
            key = f"_blocks.{index}."
            y = x
            if args["e"] != "1":
                y = relu6(batch_norm(conv(y, key + "_expand_conv"), key + "_bn0"))
            y = conv(y, key + "_depthwise_conv", stride, depthwise=True)
            y = relu6(batch_norm(y, key + "_bn1"))
            y = batch_norm(conv(y, key + "_project_conv"), key + "_bn2")
            x = y + x if stride == 1 and filters_in == int(args["o"]) else y
            index += 1
    x = relu6(batch_norm(conv(x, "_conv_head"), "_bn1"))
    return x.mean(axis=(2, 3))


@pytest.fixture(scope="module")
def reference(arrays: dict[str, np.ndarray], small_pixels: np.ndarray) -> np.ndarray:
    return reference_features(arrays, small_pixels)


def test_the_backbone_computes_what_the_package_architecture_computes(
    classifier: Any,
    cache: Path,
    small_pixels: np.ndarray,
    reference: np.ndarray,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Loaded from the file converted for `classifier`: the package is not read again."""

    def no_package(_path: Path | None = None) -> dict:
        raise UserError("the package must not be read again")

    monkeypatch.setattr(backbone_weights, "read_package_weights", no_package)
    with using(cache):
        backbone = efficientnet_lite.feature_extractor(REFERENCE_SIZE)
    assert sorted(p.name for p in (cache / "backbones").iterdir()) == [
        "efficientnet_lite0-579344248a93.weights.h5",
        "efficientnet_lite0-579344248a93.weights.h5.json",
    ]
    features = backbone.predict(small_pixels, verbose=0)  # uint8 in
    assert features.shape == (2, efficientnet_lite.FEATURES) and features.dtype == np.float32
    assert backbone.name == BACKBONE_LAYER
    np.testing.assert_allclose(features, reference, atol=2e-4)
    np.testing.assert_array_equal(
        features, backbone.predict(small_pixels.astype("float32"), verbose=0)
    )


@pytest.mark.parametrize(
    "wrong", [{"padding": "symmetric"}, {"epsilon": 1e-5}], ids=["symmetric-padding", "eps-1e-5"]
)
def test_a_wrong_port_misses_the_reference_by_far(
    wrong: dict[str, Any], arrays: dict, small_pixels: np.ndarray, reference: np.ndarray
) -> None:
    """The check above is sharp: the ports a PyTorch-minded reading gives are off by units."""
    import keras

    model = efficientnet_lite.build(REFERENCE_SIZE, **wrong)
    efficientnet_lite.keras_weights_from_torch(model, arrays)
    pooled = model.get_layer(efficientnet_lite.POOL_LAYER).output
    features = keras.Model(model.inputs, pooled).predict(small_pixels, verbose=0)
    assert np.abs(features - reference).max() > 1.0


def test_photos_land_in_their_imagenet_classes(classifier: Any, photos: dict) -> None:
    batch = np.stack([photos[name] for name in EXPECTED])
    probabilities = classifier.predict(batch, verbose=0)
    assert probabilities.shape == (len(EXPECTED), 1000)
    for (name, classes), row in zip(EXPECTED.items(), probabilities, strict=True):
        assert int(np.argmax(row)) in classes, (name, np.argsort(row)[-5:])
        assert row[sorted(classes)].sum() > 0.5, (name, row[sorted(classes)])


def _log_variance_ratios(model: Any, pixels: np.ndarray, layers: int = 12) -> np.ndarray:
    """For the first `layers` batch norms: median over channels of
    |log(variance of the layer's input on the photos / stored running variance)|."""
    import keras

    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    probe = keras.Model(model.inputs, [layer.input for layer in norms[:layers]])
    ratios = []
    for layer, values in zip(norms, probe.predict(pixels, verbose=0), strict=False):
        stored = np.asarray(layer.moving_variance)
        seen = values.var(axis=(0, 1, 2))
        ratios.append(np.median(np.abs(np.log((seen + 1e-3) / (stored + 1e-3)))))
    return np.asarray(ratios)


def test_batch_norm_statistics_on_photos_match_the_stored_ones(
    classifier: Any, photos: dict
) -> None:
    """The check that settles the input scaling (docs/training.md): with (x - 127) / 128 the
    variances the first batch norms see on photos are close to the stored running variances
    (stem ~0.3, first five ~0.15); ImageNet mean/std or x / 255 scaling push the stem's to
    1.3-1.6 and the first five's to ~0.7, while the photos' top-1 stays right with both."""
    pixels = np.stack(list(photos.values())).astype("float32")
    right = _log_variance_ratios(classifier, pixels)
    assert right[0] < 0.6 and right[:5].mean() < 0.35 and np.median(right) < 0.3, right
    # The model scales x to (x - 127) / 128 itself; feed it pixels that come out as the
    # wrong scalings would, and the same check must fail.
    mean_std = 128 * (pixels - IMAGENET_MEAN) / IMAGENET_STD + 127
    unit = 128 * pixels / 255 + 127
    for wrong in (mean_std, unit):
        ratios = _log_variance_ratios(classifier, wrong.astype("float32"))
        assert ratios[0] > 1.0 and ratios[:5].mean() > 0.5, ratios


def test_the_folded_twin_computes_the_backbones_features_and_maps(
    cache: Path, photos: dict[str, np.ndarray]
) -> None:
    """Batch norm folded into the convolutions (the fast frozen passes) changes no number
    beyond float rounding: pooled features and the maps where the top is tuned."""
    import keras

    with using(cache):
        backbone = efficientnet_lite.feature_extractor(224)
    folded = efficientnet_lite.fold_batch_norm(backbone)
    assert not [layer for layer in folded.layers if "BatchNorm" in type(layer).__name__]
    pixels = np.stack(list(photos.values())).astype(np.float32)
    for name in (efficientnet_lite.TUNE_FROM, efficientnet_lite.POOL_LAYER):
        expected, got = (
            keras.Model(model.inputs[0], model.get_layer(name).output)(pixels, training=False)
            for model in (backbone, folded)
        )
        scale = float(np.abs(expected).max())
        np.testing.assert_allclose(np.asarray(got), np.asarray(expected), atol=1e-5 * scale)


def test_fine_tuning_unfreezes_the_top_blocks_and_keeps_batch_norm_frozen(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import keras

    monkeypatch.setattr(backbone_weights, "PACKAGE", "no_such_weights_package")
    backbone = efficientnet_lite.feature_extractor(64, pretrained=False)  # needs no weights
    backbone.trainable = False
    inputs = keras.Input((64, 64, 3), dtype="uint8")
    outputs = keras.layers.Dense(3)(backbone(inputs, training=False))
    assert unfreeze_top(keras.Model(inputs, outputs), 0.3) > 0
    trainable = {layer.name for layer in backbone.layers if layer.trainable and layer.weights}
    assert {"conv_head", "block15_project_conv", "block13_expand_conv"} <= trainable
    assert not trainable & {"conv_stem", "block0_depthwise_conv", "block8_expand_conv"}
    assert not any(
        layer.trainable
        for layer in backbone.layers
        if isinstance(layer, keras.layers.BatchNormalization)
    )


def test_features_stay_float32_under_mixed_precision(monkeypatch: pytest.MonkeyPatch) -> None:
    import keras

    monkeypatch.setattr(backbone_weights, "PACKAGE", "no_such_weights_package")
    policy = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        backbone = efficientnet_lite.feature_extractor(32, pretrained=False)
    finally:
        keras.mixed_precision.set_global_policy(policy)
    assert backbone.get_layer("conv_head").compute_dtype == "float16"
    features = backbone.predict(np.zeros((1, 32, 32, 3), np.uint8), verbose=0)
    assert features.dtype == np.float32 and np.isfinite(features).all()


def test_weights_that_do_not_fit_the_model_are_refused(arrays: dict[str, np.ndarray]) -> None:
    model = efficientnet_lite.build(32)
    missing = {k: v for k, v in arrays.items() if k != "_blocks.3._bn1.running_var"}
    extra = {**arrays, "_blocks.16._bn0.weight": np.ones(8, np.float32)}
    wrong_shape = {**arrays, "_conv_head.weight": arrays["_conv_head.weight"][:640]}
    for broken, message in ((missing, "has no"), (extra, "lacks"), (wrong_shape, "shapes")):
        with pytest.raises(ValueError, match=message):
            efficientnet_lite.keras_weights_from_torch(model, broken)
