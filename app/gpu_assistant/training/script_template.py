"""The standalone training script: a run's settings filled into resources/templates/.

The script uses only TensorFlow (no app import), so users can take it to a cluster or make it
the seed of their own code. Its split, resize, augmentation and model mirror data/pipeline.py
and training/models.py; tests/integration/test_export*.py checks that they still agree.
"""

from __future__ import annotations

import string
from pathlib import Path

from gpu_assistant import __version__
from gpu_assistant.resources import resource_path
from gpu_assistant.training.models import model_choice
from gpu_assistant.training.settings import TrainSettings


def render_script(settings: TrainSettings, class_names: list[str], run_name: str) -> str:
    """The script's text for this run's settings and classes."""
    template = string.Template(
        resource_path("templates", "train_script.py.tmpl").read_text(encoding="utf-8")
    )
    choice = model_choice(settings.model)
    return template.substitute(
        run_name=run_name,
        app_version=__version__,
        script_name=f"train_{settings.model}.py",
        model=settings.model,
        backbone=repr(choice.application),
        image_size=settings.image_size,
        batch_size=settings.batch_size,
        epochs=settings.epochs,
        learning_rate=repr(settings.learning_rate),
        val_split=repr(settings.val_split),
        seed=settings.seed,
        augment=repr(settings.augment),
        flip=repr(settings.flip),
        patience=settings.patience if settings.early_stopping else 0,
        class_names=repr(list(class_names)),
    )


def write_script(settings: TrainSettings, class_names: list[str], out_dir: Path) -> Path:
    path = out_dir / f"train_{settings.model}.py"
    path.write_text(render_script(settings, class_names, out_dir.name), encoding="utf-8")
    return path
