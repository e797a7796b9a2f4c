"""The Train page's model menu: Auto first (the default) with the choice it will make and why,
then the run's own choice once it reports it."""

from __future__ import annotations

from pathlib import Path

from gpu_assistant.data.scan import ImageRecord, ScanResult
from gpu_assistant.training.models import AUTO, MODELS, OFFLINE_BACKBONE, SMALL_CNN


def _scan(size: tuple[int, int]) -> ScanResult:
    records = [ImageRecord(Path(f"/d/{i % 2}/{i}.png"), i % 2, *size, False) for i in range(8)]
    return ScanResult(Path("/d"), ["0", "1"], records)


def test_auto_is_the_default_and_says_what_it_picks(make_window) -> None:
    window = make_window()
    train = window.page("train")
    assert train.model.currentData() == AUTO
    assert [train.model.itemData(i) for i in range(train.model.count())] == [AUTO, *MODELS]
    assert OFFLINE_BACKBONE in MODELS and SMALL_CNN in MODELS

    window.state.set_scan(_scan((32, 32)))
    assert train.model_reason.text().startswith("Small CNN")
    assert train.settings().image_size == 0  # Auto sizes the images for its model

    window.state.set_scan(_scan((640, 480)))
    assert "EfficientNet-Lite0" in train.model_reason.text()
    train.on_event(_choice_event())
    assert (
        train.model_reason.text() == "Pretrained (EfficientNet-Lite0, offline). Because. (224 px)"
    )
    reason = "Pretrained (EfficientNet-Lite0, offline): the images are photo-sized."
    train.on_event({**_choice_event(), "reason": reason})
    assert train.model_reason.text() == f"{reason} (224 px)"  # the model named once
    tiny = "Small CNN: the images are tiny (median short side 8 px), ..."
    train.on_event({**_choice_event(), "label": "Small CNN (from scratch)", "reason": tiny})
    assert train.model_reason.text() == f"{tiny} (224 px)"  # once, by its short name too

    train.model.setCurrentIndex(train.model.findData(SMALL_CNN))
    assert train.model_reason.text() == ""
    assert train.settings().image_size == window.state.options.image_size


def _choice_event() -> dict:
    return {
        "event": "model_choice",
        "label": "Pretrained (EfficientNet-Lite0, offline)",
        "image_size": 224,
        "reason": "Because.",
    }
