"""Model builders: a small CNN for training from scratch, and ImageNet backbones for transfer.

Every model takes raw uint8 pixels ([B, S, S, 3], 0-255) and does its own scaling, so the
exported files behave exactly like the app (no preprocessing to forget in user code).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gpu_assistant.jobs import UserError

SMALL_CNN = "small_cnn"
BACKBONE_LAYER = "backbone"


@dataclass(frozen=True)
class ModelChoice:
    """One entry of the model menu: what the user sees and what builds it."""

    name: str
    label: str
    application: str | None  # keras.applications class name; None for the small CNN
    description: str


MODELS: dict[str, ModelChoice] = {
    c.name: c
    for c in (
        ModelChoice(
            SMALL_CNN,
            "Small CNN (from scratch)",
            None,
            "Fast on a CPU, no download; good for a few classes and a few thousand images.",
        ),
        ModelChoice(
            "mobilenet_v3_small",
            "MobileNetV3 Small (transfer)",
            "MobileNetV3Small",
            "ImageNet features, tiny and fast; downloads ~4 MB of weights once.",
        ),
        ModelChoice(
            "mobilenet_v3_large",
            "MobileNetV3 Large (transfer)",
            "MobileNetV3Large",
            "More accurate than Small, still light; downloads ~12 MB of weights once.",
        ),
        ModelChoice(
            "efficientnet_b0",
            "EfficientNetB0 (transfer)",
            "EfficientNetB0",
            "Accurate; best with a GPU; downloads ~16 MB of weights once.",
        ),
    )
}


def model_choice(name: str) -> ModelChoice:
    try:
        return MODELS[name]
    except KeyError:
        raise UserError(
            f"Unknown model '{name}'.", f"Choose one of: {', '.join(MODELS)}."
        ) from None


def build_model(
    name: str,
    num_classes: int,
    image_size: int,
    *,
    weights_path: Path | None = None,
    dropout: float = 0.2,
) -> Any:
    """Build an uncompiled classifier (call inside the distribution strategy's scope)."""
    choice = model_choice(name)
    if num_classes < 2:
        raise UserError("Training needs at least two classes.", "Add a second class folder.")
    import keras

    inputs = keras.Input((image_size, image_size, 3), dtype="uint8", name="image")
    if choice.application is None:
        features = _small_cnn_features(keras, keras.layers.Rescaling(1.0 / 255)(inputs))
    else:
        # keras.applications' MobileNetV3/EfficientNet scale 0-255 input themselves;
        # Rescaling(1) only casts uint8 to float.
        backbone = _backbone(keras, choice, image_size, weights_path)
        features = backbone(keras.layers.Rescaling(1.0)(inputs), training=False)
    x = keras.layers.Dropout(dropout)(features)
    # float32 output even under mixed precision, so the softmax stays numerically stable.
    outputs = keras.layers.Dense(num_classes, activation="softmax", dtype="float32", name="probs")(
        x
    )
    return keras.Model(inputs, outputs, name=name)


def _small_cnn_features(keras: Any, x: Any) -> Any:
    """Four conv blocks (32-256 filters) with batch norm, then global average pooling."""
    layers = keras.layers
    for filters in (32, 64, 128, 256):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
        # Moving statistics that follow the last few batches: with tens of steps an epoch
        # (small data) 0.9 left them behind the fast-changing weights, and validation
        # accuracy sat at chance for the first epochs on the sample set (0.25-0.53 after
        # epoch 1 over four seeds; 0.80-0.95 with 0.7, and fewer dips later).
        x = layers.BatchNormalization(momentum=0.7)(x)
        x = layers.Activation("relu")(x)
        x = layers.MaxPooling2D()(x)
    return layers.GlobalAveragePooling2D()(x)


def _backbone(keras: Any, choice: ModelChoice, image_size: int, weights_path: Path | None) -> Any:
    """The frozen ImageNet feature extractor, from Keras' cache or a file the user points to."""
    factory = getattr(keras.applications, str(choice.application))
    kwargs = {
        "input_shape": (image_size, image_size, 3),
        "include_top": False,
        "pooling": "avg",
        "name": BACKBONE_LAYER,
    }
    if weights_path is not None:
        path = Path(weights_path)
        if not path.is_file():
            raise UserError(
                f"The weights file {path} does not exist.",
                "Point --weights to the downloaded file, or choose --model small_cnn.",
            )
        backbone = factory(weights=None, **kwargs)
        try:
            with warnings.catch_warnings():
                # Keras only *warns* when parts of the file do not match; that would leave
                # random weights behind a "pretrained" label, so treat it as the error it is.
                warnings.simplefilter("error", UserWarning)
                backbone.load_weights(path)
        except Exception as error:  # random bytes raise anything (BadZipFile, KeyError...)
            raise UserError(
                f"{path.name} does not fit {choice.label} at {image_size} px: {error}",
                f"Use the '{choice.application}' no-top weights file from keras.applications, "
                "or choose --model small_cnn.",
            ) from error
    else:
        try:
            with warnings.catch_warnings():
                # "weights for 224 px will be loaded": expected, the conv features still fit.
                warnings.filterwarnings("ignore", message=".*input_shape.*", category=UserWarning)
                backbone = factory(weights="imagenet", **kwargs)
        except Exception as error:  # keras.utils.get_file raises a bare Exception offline
            if "fetch failure" not in str(error) and not isinstance(error, OSError):
                raise
            raise UserError(
                f"Could not download the ImageNet weights for {choice.label} "
                f"(no internet connection?): {error}",
                "Connect once so Keras can cache them, point to a downloaded weights file "
                "(--weights FILE / 'Weights file' in the app), or choose the Small CNN, "
                "which needs no download.",
            ) from error
    backbone.trainable = False
    return backbone


def unfreeze_top(model: Any, fraction: float = 0.3) -> int:
    """Make the top `fraction` of the backbone trainable for fine-tuning (batch norm stays frozen).

    Returns how many layers were unfrozen; 0 for models without a backbone.
    """
    try:
        backbone = model.get_layer(BACKBONE_LAYER)
    except ValueError:
        return 0
    import keras

    backbone.trainable = True
    layers = backbone.layers
    first = int(len(layers) * (1.0 - fraction))
    count = 0
    for index, layer in enumerate(layers):
        train = index >= first and not isinstance(layer, keras.layers.BatchNormalization)
        layer.trainable = train
        count += int(train)
    return count
