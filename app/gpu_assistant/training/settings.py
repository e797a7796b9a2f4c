"""What a training run needs to know, as one JSON-round-trippable dataclass.

The same object drives the CLI, the UI and resume: it is saved as settings.json in the run
folder so that a resumed run (and the exported standalone script) uses exactly the same choices.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gpu_assistant.jobs import UserError

SETTINGS_VERSION = 1
MIXED_PRECISION_CHOICES = ("auto", "on", "off")


@dataclass
class TrainSettings:
    """Every choice of a run; defaults suit a CPU-only laptop and the bundled sample set."""

    data_dir: Path
    out_dir: Path | None = None  # None: a new folder under paths.runs_dir()
    model: str = "small_cnn"
    epochs: int = 10
    batch_size: int = 32  # per replica
    image_size: int = 96
    val_split: float = 0.2
    learning_rate: float = 1e-3
    multi_gpu: bool = False
    gpus: list[int] = field(default_factory=list)  # empty: all visible GPUs
    mixed_precision: str = "auto"
    resume: bool = False
    early_stopping: bool = True
    patience: int = 3
    fine_tune_epochs: int = 0
    weights_path: Path | None = None
    virtual_devices: int = 0  # >1: split the one physical device into this many logical ones
    seed: int = 1337
    augment: bool = True
    # Mirror left-right while augmenting. Settings saved before this field existed load with
    # True, which is what those runs did, so resume and the exported script reproduce them.
    flip: bool = True
    cache: str = "auto"
    cluster: dict[str, Any] | None = None  # a TF_CONFIG dict for MultiWorkerMirroredStrategy
    memory_growth: bool = True
    version: int = SETTINGS_VERSION

    def validate(self) -> None:
        """Reject impossible values with a message the user can act on."""
        checks = [
            (self.epochs >= 1, "--epochs must be at least 1", "Use --epochs 1 or more."),
            (self.batch_size >= 1, "--batch-size must be at least 1", "Try --batch-size 32."),
            (self.image_size >= 32, "--image-size must be at least 32 pixels", "Try 96 or 160."),
            (
                0.0 < self.val_split < 1.0,
                "--val-split must be between 0 and 1",
                "Try --val-split 0.2 (20% of the images are held out).",
            ),
            (self.learning_rate > 0, "--learning-rate must be positive", "Try 0.001."),
            (
                self.mixed_precision in MIXED_PRECISION_CHOICES,
                f"mixed precision must be one of {', '.join(MIXED_PRECISION_CHOICES)}",
                "Use --mixed-precision auto.",
            ),
            (self.virtual_devices >= 0, "--virtual-devices cannot be negative", "Use 2."),
            (self.fine_tune_epochs >= 0, "fine-tune epochs cannot be negative", "Use 0."),
        ]
        for ok, message, fix in checks:
            if not ok:
                raise UserError(message, fix)

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        for key in ("data_dir", "out_dir", "weights_path"):
            data[key] = None if data[key] is None else str(data[key])
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TrainSettings:
        """Build from saved JSON, ignoring unknown keys (a newer app wrote them)."""
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        for key in ("data_dir", "out_dir", "weights_path"):
            if values.get(key) is not None:
                values[key] = Path(values[key])
        values["version"] = SETTINGS_VERSION
        return cls(**values)

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
