"""The "Auto" model choice, and the settings a run leaves to the folder and the device.

Pretrained features are not always the answer. Measured on this project's 2-core CPU
(docs/training.md, "Auto"): on photos and drawings of things the offline EfficientNet-Lite0's
features beat a small CNN from scratch by 30 points and more (8 classes of drawn objects:
0.56 from scratch, 0.86 with the backbone frozen, 0.90 with its top tuned); on tiny grayscale
images the small CNN wins (sklearn's 8x8 digits: 0.99 from scratch at 32 px without
mirroring, 0.94 with the pretrained features). What separates the two
in a scan, without decoding anything again, is the image size: so the rule is the images'
median short side.

Also resolved here, once per run and saved in settings.json (resume and the exported script
then use the same values): the epochs and the image size when left to the model, the mirror
for tiny images (digits and letters change meaning), the top-tuning epochs (the offline
backbone's), and the fine-tuning epochs when left to the device.
Pure Python: no TensorFlow, so the UI can show the choice before a run.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from gpu_assistant.training.models import AUTO, OFFLINE_BACKBONE, SMALL_CNN, model_choice
from gpu_assistant.training.settings import TrainSettings

TINY_SIDE = 40  # px: a median short side at or below this is a tiny-image folder
SMALL_CNN_SIZE = 96  # the small CNN's image size for ordinary images
TINY_SIZE = 32  # the small CNN's image size for tiny images (the smallest TrainSettings takes)
BACKBONE_SIZE = 224  # the backbone's ImageNet resolution: 128 px cost 9 points on objects
GPU_FINE_TUNE_EPOCHS = 5  # fine-tuning is on by default only where a GPU does the work
SMALL_CNN_EPOCHS = 10
# The head on cached features: an epoch takes milliseconds, and 10 left it short of where it
# goes (8 drawn-object classes: 0.80 after 10 epochs, 0.85-0.87 where early stopping ends it,
# after 30-60 epochs).
HEAD_EPOCHS = 60
# Tuning the backbone's top on cached maps (training/top_tuning.py): at most this many epochs,
# early stopping usually ends it sooner (drawn objects: best after 3-6 epochs).
TOP_EPOCHS = 10


@dataclass(frozen=True)
class Resolved:
    """What a run trains with, and why (the reason is shown to the user and saved)."""

    settings: TrainSettings
    reason: str


def median_short_side(sizes: Sequence[tuple[int, int]]) -> int:
    """The median of min(width, height) over the images (0 for none)."""
    return int(statistics.median(min(w, h) for w, h in sizes)) if sizes else 0


def choose_model(sizes: Sequence[tuple[int, int]]) -> tuple[str, str]:
    """(model name, reason) for a folder whose usable images have these (width, height)."""
    side = median_short_side(sizes)
    if side <= TINY_SIDE:
        return SMALL_CNN, (
            f"Small CNN: the images are tiny (median short side {side} px), where a small "
            "network trained from scratch beats ImageNet features (digits: 0.99 vs 0.94); "
            "not mirrored (a mirrored digit or letter is another one)."
        )
    return OFFLINE_BACKBONE, (
        f"Pretrained (EfficientNet-Lite0, offline): the images are photo-sized (median short "
        f"side {side} px), where ImageNet features learn from few images (drawn objects: "
        "0.90, vs 0.56 from scratch)."
    )


def model_image_size(model: str, sizes: Sequence[tuple[int, int]]) -> int:
    """The image size a run of `model` (Auto: the model it picks) gets when none is set."""
    if model == AUTO:
        model = choose_model(sizes)[0]
    if model_choice(model).has_backbone:
        return BACKBONE_SIZE
    return TINY_SIZE if median_short_side(sizes) <= TINY_SIDE else SMALL_CNN_SIZE


def resolve(
    settings: TrainSettings, sizes: Sequence[tuple[int, int]], device_type: str
) -> Resolved:
    """`settings` with Auto and the values left to the model or the device made concrete."""
    reason = settings.model_reason
    changes: dict[str, Any] = {}
    tiny = median_short_side(sizes) <= TINY_SIDE
    if settings.model == AUTO:
        model, reason = choose_model(sizes)
        changes["model"] = model
        if model == SMALL_CNN and tiny:
            changes["flip"] = False
    model = changes.get("model", settings.model)
    if settings.epochs is None:
        changes["epochs"] = HEAD_EPOCHS if model_choice(model).has_backbone else SMALL_CNN_EPOCHS
    if settings.image_size == 0:
        changes["image_size"] = model_image_size(model, sizes)
    if settings.fine_tune_epochs is None:
        fine_tune = model_choice(model).has_backbone and device_type == "GPU"
        changes["fine_tune_epochs"] = GPU_FINE_TUNE_EPOCHS if fine_tune else 0
    if settings.top_epochs is None:
        changes["top_epochs"] = TOP_EPOCHS if model == OFFLINE_BACKBONE else 0
    return Resolved(replace(settings, **changes, model_reason=reason), reason)


def choice_text(label: str, image_size: int, reason: str) -> str:
    """One line for the model a run trains: the reason when it names the model already (Auto's
    reasons do), else the model's label; with the image size."""
    name = label.partition(" (")[0]  # "Small CNN (from scratch)": Auto says "Small CNN: ..."
    text = reason if reason.startswith(name) else f"{label}. {reason}".strip()
    return f"{text} ({image_size} px)"
