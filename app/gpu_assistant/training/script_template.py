"""The standalone training script: a run's settings filled into resources/templates/.

The script uses only TensorFlow (no app import), so users can take it to a cluster or make it
the seed of their own code. Its split, resize, augmentation and model mirror data/pipeline.py
and training/models.py; tests/integration/test_export*.py checks that they still agree. The
offline pretrained backbone travels as `backbone.keras` beside the script (plain Keras layers,
loadable anywhere): the script reads that file rather than re-implementing EfficientNet-Lite0
and its weight conversion.
"""

from __future__ import annotations

import string
from pathlib import Path

from gpu_assistant import __version__
from gpu_assistant.resources import resource_path
from gpu_assistant.training.models import AUTO, model_choice
from gpu_assistant.training.settings import TrainSettings

BACKBONE_FILE = "backbone.keras"


def render_script(settings: TrainSettings, class_names: list[str], run_name: str) -> str:
    """The script's text for this run's settings and classes.

    Everything pasted into code is the repr() of a validated int, float, bool or str (the
    settings may come from someone else's run folder); names in the docstring are reduced
    to characters that cannot end it."""
    settings.validate()
    if settings.model == AUTO or not settings.image_size or settings.epochs is None:
        raise ValueError("a script is rendered from a run's settings, with Auto resolved")
    if not all(isinstance(name, str) for name in class_names):
        raise TypeError("class names must be strings")
    from gpu_assistant.training.efficientnet_lite import TUNE_FROM  # numpy: not at import

    template = string.Template(
        resource_path("templates", "train_script.py.tmpl").read_text(encoding="utf-8")
    )
    choice = model_choice(settings.model)
    return template.substitute(
        run_name=_docstring_safe(run_name),
        model_label=_docstring_safe(settings.model),
        app_version=_docstring_safe(__version__),
        script_name=_docstring_safe(f"train_{settings.model}.py"),
        model=repr(str(settings.model)),
        backbone=repr(choice.application),
        image_size=repr(int(settings.image_size)),
        batch_size=repr(int(settings.batch_size)),
        epochs=repr(int(settings.epochs)),
        learning_rate=repr(float(settings.learning_rate)),
        val_split=repr(float(settings.val_split)),
        seed=repr(int(settings.seed)),
        augment=repr(bool(settings.augment)),
        flip=repr(bool(settings.flip)),
        patience=repr(int(settings.patience) if settings.early_stopping else 0),
        fine_tune_epochs=repr(int(settings.fine_tune_epochs or 0)),
        top_epochs=repr(int(settings.top_epochs or 0)),
        tune_from=repr(TUNE_FROM if ships_backbone(settings) else None),
        backbone_file=repr(BACKBONE_FILE if ships_backbone(settings) else None),
        mixed_precision=repr(str(settings.mixed_precision)),
        class_names=repr([str(name) for name in class_names]),
    )


def _docstring_safe(text: str) -> str:
    """`text` with only letters, digits and a few harmless marks (no quote, no backslash)."""
    return "".join(c if c.isalnum() or c in " -_.,+()[]" else "_" for c in text)


def ships_backbone(settings: TrainSettings) -> bool:
    """Whether the run's backbone ships with the app (and so travels with the script)."""
    choice = model_choice(settings.model)
    return choice.has_backbone and not choice.needs_download


def write_script(settings: TrainSettings, class_names: list[str], out_dir: Path) -> Path:
    """The script alone in `out_dir` (`export` also writes BACKBONE_FILE where it needs one)."""
    path = out_dir / f"train_{settings.model}.py"
    path.write_text(render_script(settings, class_names, out_dir.name), encoding="utf-8")
    return path
