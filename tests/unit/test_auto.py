"""The Auto rule (training/auto.py): which model a folder gets, and what a run resolves."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from gpu_assistant.training.auto import (
    BACKBONE_SIZE,
    GPU_FINE_TUNE_EPOCHS,
    HEAD_EPOCHS,
    SMALL_CNN_EPOCHS,
    resolve,
)
from gpu_assistant.training.models import AUTO, OFFLINE_BACKBONE, SMALL_CNN
from gpu_assistant.training.settings import TrainSettings

DIGITS = [(8, 8)] * 50  # sklearn's digits as files
SAMPLE = [(32, 32)] * 50  # the bundled sample set
PHOTOS = [(4032, 3024)] * 30 + [(640, 480)] * 20 + [(20, 20)] * 5  # a few icons mixed in


def _settings(**kwargs: object) -> TrainSettings:
    return TrainSettings(data_dir=Path("data"), **kwargs)  # type: ignore[arg-type]


def test_auto_picks_the_small_cnn_for_digits_at_native_size_without_the_mirror() -> None:
    for sizes in (DIGITS, SAMPLE):
        resolved = resolve(_settings(), sizes, "CPU")
        chosen = resolved.settings
        assert (chosen.model, chosen.image_size, chosen.flip) == (SMALL_CNN, 32, False)
        assert (chosen.fine_tune_epochs, chosen.epochs) == (0, SMALL_CNN_EPOCHS)
        assert "tiny" in resolved.reason
        assert chosen.model_reason == resolved.reason


def test_auto_picks_the_offline_backbone_for_photos_fine_tuning_only_on_a_gpu() -> None:
    on_cpu = resolve(_settings(), PHOTOS, "CPU").settings
    assert (on_cpu.model, on_cpu.image_size, on_cpu.flip) == (OFFLINE_BACKBONE, BACKBONE_SIZE, True)
    assert (on_cpu.fine_tune_epochs, on_cpu.epochs) == (0, HEAD_EPOCHS)  # the head: cheap
    assert "EfficientNet-Lite0" in on_cpu.model_reason
    on_gpu = resolve(_settings(), PHOTOS, "GPU").settings
    assert on_gpu.fine_tune_epochs == GPU_FINE_TUNE_EPOCHS


def test_a_chosen_model_and_explicit_values_are_kept() -> None:
    mine = resolve(_settings(model=SMALL_CNN, image_size=64, fine_tune_epochs=2), DIGITS, "GPU")
    assert (mine.settings.model, mine.settings.image_size, mine.settings.flip) == (
        SMALL_CNN,
        64,
        True,
    )
    assert mine.settings.fine_tune_epochs == 2
    assert mine.reason == ""
    sized = resolve(_settings(model=OFFLINE_BACKBONE), DIGITS, "CPU").settings
    assert sized.image_size == BACKBONE_SIZE  # the backbone's size, whatever the images


def test_the_resolved_choice_round_trips_through_settings_json(tmp_path: Path) -> None:
    """What resume and the exported script read: the resolved model, never Auto again."""
    resolved = resolve(_settings(), PHOTOS, "CPU").settings
    path = tmp_path / "settings.json"
    resolved.save(path)
    loaded = TrainSettings.load(path)
    assert loaded == resolved
    assert loaded.model != AUTO
    again = resolve(replace(loaded, resume=True), DIGITS, "GPU").settings  # another folder now
    assert (again.model, again.image_size, again.fine_tune_epochs) == (
        OFFLINE_BACKBONE,
        BACKBONE_SIZE,
        0,
    )
    assert again.model_reason == resolved.model_reason
