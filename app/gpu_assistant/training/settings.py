"""What a training run needs to know, as one JSON-round-trippable dataclass.

The same object drives the CLI, the UI and resume: it is saved as settings.json in the run
folder so that a resumed run (and the exported standalone script) uses exactly the same choices.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from gpu_assistant.jobs import UserError

if TYPE_CHECKING:
    from gpu_assistant.data.split import CacheMode, PipelineOptions

# Bump it (and add a step to _MIGRATIONS) when a field changes meaning; a new field with a
# default that reproduces older runs needs no bump (older files load with the default).
SETTINGS_VERSION = 2
MIXED_PRECISION_CHOICES = ("auto", "on", "off")
CACHE_CHOICES = ("auto", "memory", "disk", "none")
MAX_IMAGE_SIZE = 1024  # pixels a side; beyond this one image batch no longer fits in memory
MAX_BATCH_SIZE = 4096
MAX_EPOCHS = 100_000
MAX_VIRTUAL_DEVICES = 64
MAX_SEED = 2**32 - 1  # NumPy's seed range


@dataclass
class TrainSettings:
    """Every choice of a run; defaults suit a CPU-only laptop and the bundled sample set."""

    data_dir: Path
    out_dir: Path | None = None  # None: a new folder under paths.runs_dir()
    # "auto": training/auto.py picks the model for the folder; a run saves what it picked
    # (and `model_reason`, why), so resume and the exported script use the same model.
    model: str = "auto"
    # None: the model's (10 for the small CNN; 60 for a backbone's head, whose epochs on
    # cached features take milliseconds and which early stopping usually ends sooner).
    epochs: int | None = None
    batch_size: int = 32  # per replica
    image_size: int = 0  # 0: the model's own (224 for the backbone, 32 or 96 for the small CNN)
    val_split: float = 0.2
    learning_rate: float = 1e-3
    multi_gpu: bool = False
    gpus: list[int] = field(default_factory=list)  # empty: all visible GPUs
    mixed_precision: str = "auto"
    resume: bool = False
    early_stopping: bool = True
    patience: int = 3
    # Epochs with the top of the backbone unfrozen, after the head. None: on a GPU 5, on the
    # CPU 0 (the run's `fine_tune_estimate` event says what they would cost there).
    fine_tune_epochs: int | None = None
    # Epochs tuning the offline backbone's top on cached maps after the head (training/
    # top_tuning.py), at a tenth of the learning rate. None: 10 for efficientnet_lite0, where
    # early stopping usually ends them sooner; 0 for the models without a tunable top.
    top_epochs: int | None = None
    weights_path: Path | None = None
    pretrained: bool = True  # False: the offline backbone with random weights (tests)
    model_reason: str = ""  # why Auto picked `model` (empty when the user chose it)
    virtual_devices: int = 0  # >1: split the one physical device into this many logical ones
    seed: int = 1337
    augment: bool = True
    # Mirror left-right while augmenting. Settings saved before this field existed load with
    # True, which is what those runs did, so resume and the exported script reproduce them.
    flip: bool = True
    cache: str = "auto"  # one of CACHE_CHOICES (validate() checks)
    cluster: dict[str, Any] | None = None  # a TF_CONFIG dict for MultiWorkerMirroredStrategy
    memory_growth: bool = True
    version: int = SETTINGS_VERSION

    def validate(self) -> None:
        """Reject impossible values with a message the user can act on."""
        from gpu_assistant.training.cluster import validate_cluster
        from gpu_assistant.training.models import MENU

        checks = [
            (
                self.epochs is None or 1 <= self.epochs <= MAX_EPOCHS,
                f"--epochs must be between 1 and {MAX_EPOCHS}",
                "Use --epochs 10.",
            ),
            (
                1 <= self.batch_size <= MAX_BATCH_SIZE,
                f"--batch-size must be between 1 and {MAX_BATCH_SIZE}",
                "Try --batch-size 32.",
            ),
            (
                self.image_size == 0 or 32 <= self.image_size <= MAX_IMAGE_SIZE,
                f"--image-size must be between 32 and {MAX_IMAGE_SIZE} pixels",
                "Try 96 or 160, or leave it out to let the model choose.",
            ),
            (
                0.0 < self.val_split < 1.0,
                "--val-split must be between 0 and 1",
                "Try --val-split 0.2 (20% of the images are held out).",
            ),
            (
                math.isfinite(self.learning_rate) and 0 < self.learning_rate <= 10,
                "--learning-rate must be a positive number (at most 10)",
                "Try 0.001.",
            ),
            (
                self.model in MENU,
                f"unknown model {self.model!r}",
                f"Choose one of: {', '.join(MENU)}.",
            ),
            (
                self.mixed_precision in MIXED_PRECISION_CHOICES,
                f"mixed precision must be one of {', '.join(MIXED_PRECISION_CHOICES)}",
                "Use --mixed-precision auto.",
            ),
            (
                self.cache in CACHE_CHOICES,
                f"the cache must be one of {', '.join(CACHE_CHOICES)}",
                "Use auto.",
            ),
            (
                0 <= self.virtual_devices <= MAX_VIRTUAL_DEVICES,
                f"--virtual-devices must be between 0 and {MAX_VIRTUAL_DEVICES}",
                "Use 2.",
            ),
            (
                self.fine_tune_epochs is None or 0 <= self.fine_tune_epochs <= MAX_EPOCHS,
                "fine-tune epochs cannot be negative",
                "Use 0.",
            ),
            (
                self.top_epochs is None or 0 <= self.top_epochs <= MAX_EPOCHS,
                "top-tuning epochs cannot be negative",
                "Use 0.",
            ),
            (0 <= self.patience <= MAX_EPOCHS, "patience cannot be negative", "Use 3."),
            (0 <= self.seed <= MAX_SEED, f"--seed must be between 0 and {MAX_SEED}", "Use 1337."),
            (
                all(gpu >= 0 for gpu in self.gpus) and len(set(self.gpus)) == len(self.gpus),
                f"--gpus {','.join(map(str, self.gpus))} is not a list of distinct GPU numbers",
                "Use e.g. --gpus 0,1 (the numbers `gpu-assistant doctor` shows).",
            ),
        ]
        for ok, message, fix in checks:
            if not ok:
                raise UserError(message, fix)
        if self.cluster is not None:
            validate_cluster(self.cluster)

    def pipeline_options(self, global_batch: int) -> PipelineOptions:
        """The data pipeline's options for this run, batched `global_batch` images a step."""
        from gpu_assistant.data.split import PipelineOptions

        return PipelineOptions(
            image_size=self.image_size,
            batch_size=global_batch,
            val_split=self.val_split,
            seed=self.seed,
            augment=self.augment,
            flip=self.flip,
            cache=cast("CacheMode", self.cache),
        )

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        for key in ("data_dir", "out_dir", "weights_path"):
            data[key] = None if data[key] is None else str(data[key])
        return data

    @classmethod
    def from_json(cls, data: Any) -> TrainSettings:
        """Build from saved JSON, checking every value's type: a run folder can come from
        anyone, and its values end up in code (the exported script) and in TensorFlow."""
        if not isinstance(data, dict):
            raise UserError("The settings are not a JSON object.", "Start a new run.")
        version = data.get("version", 0)
        if not isinstance(version, int) or isinstance(version, bool) or version < 0:
            raise UserError(f"The settings' version {version!r} is not a number.", "Start anew.")
        values = migrate(data, version)
        hints = typing.get_type_hints(cls)
        unknown = sorted(set(values) - set(hints))
        if unknown:
            raise UserError(
                f"The settings hold unknown keys ({', '.join(map(repr, unknown))}): a newer app "
                "wrote them, or the file was edited.",
                "Update the app, or remove those keys from settings.json.",
            )
        for key, value in values.items():
            values[key] = _checked(key, value, hints[key])
        if "data_dir" not in values:
            raise UserError("The settings name no data folder (data_dir).", "Start a new run.")
        settings = cls(**values)
        try:
            settings.validate()
        except UserError as error:
            message = f"The saved settings are not usable: {error.message}"
            raise UserError(message, error.fix) from None
        return settings

    def save(self, path: Path) -> None:
        from gpu_assistant.paths import atomic_write_text

        atomic_write_text(path, json.dumps(self.to_json(), indent=2))

    @classmethod
    def load(cls, path: Path) -> TrainSettings:
        try:
            return cls.from_json(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError) as error:
            raise UserError(
                f"Cannot read the saved settings {path}: {error}",
                "Start a new run without --resume.",
            ) from error


def migrate(data: dict[str, Any], version: int) -> dict[str, Any]:
    """A copy of settings saved at `version`, brought up to SETTINGS_VERSION one step at a
    time (each step in _MIGRATIONS). A newer version is refused: this app cannot know what its
    fields mean."""
    if version > SETTINGS_VERSION:
        raise UserError(
            f"The settings were written by a newer app (settings version {version}; this app "
            f"reads up to {SETTINGS_VERSION}).",
            "Update the app, or start a new run.",
        )
    values = dict(data)
    for step in range(version, SETTINGS_VERSION):
        values = _MIGRATIONS[step](values)
    values["version"] = SETTINGS_VERSION
    return values


def _from_version_0(values: dict[str, Any]) -> dict[str, Any]:
    """Version 0 (no "version" key) predates the mirror switch; those runs always mirrored."""
    return {"flip": True, **values}


def _from_version_1(values: dict[str, Any]) -> dict[str, Any]:
    """Version 1 predates tuning the backbone's top on cached maps; those runs had none."""
    return {"top_epochs": 0, **values}


_MIGRATIONS = {0: _from_version_0, 1: _from_version_1}  # version -> the step to version + 1


def _checked(key: str, value: Any, hint: Any) -> Any:
    """`value` converted to the field's type (Path from str, float from int), or UserError."""
    allowed = (
        typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else ()
    )
    if allowed and type(None) in allowed:
        if value is None:
            return None
        hint = next(a for a in allowed if a is not type(None))
    origin = typing.get_origin(hint) or hint
    if origin is bool:
        ok = isinstance(value, bool)
    elif origin is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif origin is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif origin is str:
        ok = isinstance(value, str)
    elif origin is Path:
        ok = isinstance(value, str) and "\0" not in value
        value = Path(value) if ok else value
    elif origin is list:
        (item,) = typing.get_args(hint)
        ok = isinstance(value, list) and all(_is_exact(v, item) for v in value)
    elif origin is dict:
        ok = isinstance(value, dict) and all(isinstance(k, str) for k in value)
    else:
        ok = False
    if not ok:
        raise UserError(
            f"The settings' {key} is {value!r}, which is not a {_describe(hint)}.",
            "Fix settings.json (or start a new run); the app writes only valid values.",
        )
    return value


def _is_exact(value: Any, kind: type) -> bool:
    return isinstance(value, kind) and not (kind is int and isinstance(value, bool))


def _describe(hint: Any) -> str:
    origin = typing.get_origin(hint) or hint
    names = {bool: "true/false", int: "whole number", float: "number", str: "text"}
    return names.get(origin, "path" if origin is Path else getattr(origin, "__name__", "value"))


def default(name: str) -> Any:
    """The default of the `TrainSettings` field `name`: written once, there; the UI's first-run
    options and the command line's help read it here."""
    found = {f.name: f for f in dataclasses.fields(TrainSettings)}[name]
    if found.default_factory is not dataclasses.MISSING:
        return found.default_factory()
    return found.default
