"""The engine says when an accuracy cannot be trusted, so the CLI, its JSON events and
evaluation.json warn as the Results page does (a 10 % model once ended with a plain "Done")."""

from __future__ import annotations

from gpu_assistant.cli.train import _text_report
from gpu_assistant.training.evaluate import trust_warnings

PER_CLASS = [{"support": 10}, {"support": 6}, {"support": 4}]


def test_chance_level_and_too_few_images_are_both_named() -> None:
    notes = trust_warnings({"samples": 20, "accuracy": 0.10, "per_class": PER_CLASS})
    assert len(notes) == 2
    assert notes[0].startswith("10% is no better than chance (50%")
    assert notes[1].startswith("Only 20 validation images (fewest in one class: 4)")


def test_a_good_model_on_enough_images_gets_no_warning() -> None:
    fine = {"samples": 300, "accuracy": 0.9, "per_class": [{"support": 150}] * 2}
    assert trust_warnings(fine) == []


def test_majority_class_share_is_the_chance_to_beat() -> None:
    skewed = {"samples": 100, "accuracy": 0.8, "per_class": [{"support": 80}, {"support": 20}]}
    assert "no better than chance (80%" in trust_warnings(skewed)[0]


def test_the_command_line_names_the_saved_models_accuracy_and_an_empty_cancel(capsys) -> None:
    _text_report(
        {
            "event": "done",
            "status": "completed",
            "model_path": "m.keras",
            "metrics": {"model_val_accuracy": 0.25},
        }
    )
    _text_report({"event": "cancelled", "model_path": None})
    out = capsys.readouterr().out
    assert "Validation accuracy of the saved model: 25.0%" in out
    assert "Cancelled before the first epoch finished: no model was saved." in out
