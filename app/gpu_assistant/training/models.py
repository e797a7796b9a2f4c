"""Model builders: a small CNN for training from scratch, and ImageNet backbones for transfer.

Every model takes raw uint8 pixels ([B, S, S, 3], 0-255) and does its own scaling, so the
exported files behave exactly like the app (no preprocessing to forget in user code). A
backbone model is `image -> backbone -> head`, the head (dropout + softmax) a sub-model of
its own, so that it can be trained alone on cached backbone features (training/features.py)
and still be the same layers as the full model's.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gpu_assistant.jobs import UserError

SMALL_CNN = "small_cnn"
OFFLINE_BACKBONE = "efficientnet_lite0"  # efficientnet_lite.MODEL_NAME, without importing it
AUTO = "auto"  # not a model: training/auto.py picks one per folder
BACKBONE_LAYER = "backbone"
HEAD_LAYER = "head"


@dataclass(frozen=True)
class ModelChoice:
    """One entry of the model menu: what the user sees and what builds it."""

    name: str
    label: str
    application: str | None  # keras.applications class name; None for the others
    description: str

    @property
    def has_backbone(self) -> bool:
        return self.name != SMALL_CNN

    @property
    def needs_download(self) -> bool:
        return self.application is not None


MODELS: dict[str, ModelChoice] = {
    c.name: c
    for c in (
        ModelChoice(
            SMALL_CNN,
            "Small CNN (from scratch)",
            None,
            "No download; best for tiny images (digits, icons, 32 px and less).",
        ),
        ModelChoice(
            OFFLINE_BACKBONE,
            "Pretrained (EfficientNet-Lite0, offline)",
            None,
            "ImageNet features installed with the app (no download): accurate on photos and "
            "drawings of things from a few dozen images per class.",
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


AUTO_LABEL = "Auto (picked for the folder)"
AUTO_DESCRIPTION = (
    "Pretrained EfficientNet-Lite0 for photos and drawings; the small CNN for tiny images "
    "(digits, icons). The choice and its reason are shown and saved with the run."
)
MENU = (AUTO, *MODELS)  # what the UI and the CLI offer, Auto first (the default)


def model_choice(name: str) -> ModelChoice:
    try:
        return MODELS[name]
    except KeyError:
        raise UserError(f"Unknown model '{name}'.", f"Choose one of: {', '.join(MENU)}.") from None


def build_model(
    name: str,
    num_classes: int,
    image_size: int,
    *,
    weights_path: Path | None = None,
    pretrained: bool = True,
    dropout: float = 0.2,
) -> Any:
    """Build an uncompiled classifier (call inside the distribution strategy's scope).

    `pretrained=False` gives the offline backbone random weights (plumbing tests, and the
    "how much do the ImageNet weights bring" comparison)."""
    choice = model_choice(name)
    if num_classes < 2:
        raise UserError("Training needs at least two classes.", "Add a second class folder.")
    import keras

    inputs = keras.Input((image_size, image_size, 3), dtype="uint8", name="image")
    if not choice.has_backbone:
        features = _small_cnn_features(keras, keras.layers.Rescaling(1.0 / 255)(inputs))
        x = keras.layers.Dropout(dropout)(features)
        return keras.Model(inputs, _probabilities(keras, num_classes)(x), name=name)
    if choice.needs_download:
        backbone = _backbone(keras, choice, image_size, weights_path)
    else:
        from gpu_assistant.training import efficientnet_lite

        backbone = efficientnet_lite.feature_extractor(image_size, pretrained=pretrained)
        backbone.trainable = False
    # The backbones scale 0-255 input themselves; Rescaling(1) only casts uint8 to float.
    features = backbone(keras.layers.Rescaling(1.0)(inputs), training=False)
    head = build_head(int(features.shape[-1]), num_classes, dropout)
    return keras.Model(inputs, head(features), name=name)


def build_head(features: int, num_classes: int, dropout: float = 0.2) -> Any:
    """The classifier on top of a backbone: pooled features in, probabilities out."""
    import keras

    inputs = keras.Input((features,), name="features")
    x = keras.layers.Dropout(dropout)(inputs)
    return keras.Model(inputs, _probabilities(keras, num_classes)(x), name=HEAD_LAYER)


def _probabilities(keras: Any, num_classes: int) -> Any:
    # float32 output even under mixed precision, so the softmax stays numerically stable.
    return keras.layers.Dense(num_classes, activation="softmax", dtype="float32", name="probs")


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
                "Point --weights to the downloaded file, or choose --model efficientnet_lite0 "
                "(pretrained, offline).",
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
                "or choose --model efficientnet_lite0 (pretrained, offline).",
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
                f"{choice.label} needs its ImageNet weights downloaded once, and the "
                f"download failed (no internet connection?): {error}",
                "Choose 'Pretrained (EfficientNet-Lite0, offline)' (--model efficientnet_lite0): "
                "it is installed with the app and needs no download. Or connect once so Keras "
                "can cache the weights (the command line also takes a downloaded file: "
                "--weights FILE).",
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
    return unfreeze_from(backbone, int(len(backbone.layers) * (1.0 - fraction)))


def unfreeze_from(backbone: Any, first: int) -> int:
    """Make the backbone's layers from index `first` on trainable, the others frozen; batch
    norm stays frozen everywhere (its ImageNet statistics). Returns how many were unfrozen."""
    import keras

    backbone.trainable = True
    count = 0
    for index, layer in enumerate(backbone.layers):
        train = index >= first and not isinstance(layer, keras.layers.BatchNormalization)
        layer.trainable = train
        count += int(train)
    return count
