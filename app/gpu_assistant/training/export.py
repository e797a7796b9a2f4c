"""export(model_path, formats, out_dir): the trained model in the forms people deploy.

.keras, SavedModel (`model.export`, serving signature takes uint8 pixels), TFLite (float32),
labels.txt, and the standalone training script. When the model sits in its run folder, every
exported model is re-scored on the run's validation images and compared with the app's own
accuracy; a mismatch is reported, never hidden.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gpu_assistant.jobs import Report, UserError, ignore
from gpu_assistant.paths import temp_path
from gpu_assistant.training.predict import load_classifier
from gpu_assistant.training.run_folder import RunFolder, load_split, write_json
from gpu_assistant.training.script_template import BACKBONE_FILE, render_script, ships_backbone
from gpu_assistant.training.settings import TrainSettings

if TYPE_CHECKING:
    import numpy as np

FORMATS = ("keras", "savedmodel", "tflite", "labels", "script")
MODEL_FORMATS = ("keras", "savedmodel", "tflite")


@dataclass
class ExportResult:
    """Where each format went and, for models, its validation accuracy next to the app's."""

    out_dir: Path
    paths: dict[str, Path] = field(default_factory=dict)
    reference_accuracy: float | None = None  # the .keras model in the app, same images
    accuracy: dict[str, float] = field(default_factory=dict)
    samples: int = 0

    def mismatches(self) -> list[str]:
        """Formats whose accuracy differs from the app's by more than one image."""
        if self.reference_accuracy is None or not self.samples:
            return []
        tolerance = 1.0 / self.samples + 1e-9
        return [
            name
            for name, value in self.accuracy.items()
            if abs(value - self.reference_accuracy) > tolerance
        ]


def export(
    model_path: Path,
    formats: Sequence[str],
    out_dir: Path,
    *,
    report: Report = ignore,
    rescore: bool = True,
) -> ExportResult:
    """Write each of `formats` into `out_dir`; re-score model formats when the run is known."""
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise UserError(
            f"Unknown export format {', '.join(unknown) or '(none)'}.",
            f"Choose from: {', '.join(FORMATS)}.",
        )
    classifier = load_classifier(model_path)
    model, model_file = classifier.model, classifier.model_file
    run_dir = model_file.parent
    settings = _script_settings(run_dir) if "script" in formats else None
    # The offline backbone travels with the script as a Keras file (see script_template).
    backbone = settings is not None and ships_backbone(settings)
    names = {
        "keras": "model.keras",
        "savedmodel": "savedmodel",
        "tflite": "model.tflite",
        "labels": "labels.txt",
        "script": f"train_{settings.model}.py" if settings else "",
        "script_backbone": BACKBONE_FILE,
    }
    sources = {"keras": model_file, "labels": classifier.labels_file}
    writers: dict[str, Callable[[Path], object]] = {
        "keras": lambda tmp: shutil.copyfile(model_file, tmp),
        "savedmodel": lambda tmp: _saved_model(model, tmp),
        "tflite": lambda tmp: _tflite(model, tmp),
        "labels": lambda tmp: shutil.copyfile(classifier.labels_file, tmp),
    }
    if settings is not None:
        known = settings  # not None inside the writers either
        writers["script"] = lambda tmp: tmp.write_text(
            render_script(known, classifier.labels, run_dir.name), encoding="utf-8"
        )
        writers["script_backbone"] = lambda tmp: _start_backbone(run_dir, known).save(tmp)
    wanted = list(dict.fromkeys(formats)) + ["script_backbone"] * backbone
    folder = _ExportFolder(Path(out_dir))
    for name in wanted:  # every refusal before the first write
        folder.check(names[name], sources.get(name))
    result = ExportResult(folder.root)
    for index, name in enumerate(wanted):
        report({"event": "progress", "done": index, "total": len(formats), "message": name})
        result.paths[name] = folder.write(names[name], writers[name], sources.get(name))
    exported = [f for f in MODEL_FORMATS if f in result.paths]
    validation = _validation_arrays(run_dir) if rescore and exported else None
    if validation is not None:
        images, labels = validation
        result.samples = len(labels)
        result.reference_accuracy = _accuracy(model.predict(images, verbose=0), labels)
        for name in exported:
            result.accuracy[name] = _accuracy(_SCORERS[name](result.paths[name], images), labels)
    write_json(
        folder.manifest,
        {
            "paths": {k: str(v) for k, v in (folder.written | result.paths).items()},
            "samples": result.samples,
            "reference_accuracy": result.reference_accuracy,
            "accuracy": result.accuracy,
            "mismatches": result.mismatches(),
        },
    )
    report({"event": "progress", "done": len(formats), "total": len(formats), "message": "done"})
    return result


class _ExportFolder:
    """The --out folder. What earlier exports wrote there (export.json lists it) is replaced;
    anything else is never deleted or overwritten, and links are replaced, never written
    through. Each file or folder is written under a temp name, then renamed into place."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.manifest = root / "export.json"
        self.written: dict[str, Path] = {}  # format -> path, from the last export.json
        if os.path.lexists(self.manifest):
            try:
                saved = json.loads(self.manifest.read_text(encoding="utf-8"))
                self.written = {k: Path(v) for k, v in saved["paths"].items()}
            except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
                raise self._foreign(self.manifest) from error
        self.ours = {p.name for p in self.written.values()}

    def _foreign(self, target: Path) -> UserError:
        return UserError(
            f"{target} exists and was not written by this app's export, so it is left alone.",
            "Choose another --out folder (or move that away).",
        )

    def check(self, name: str, source: Path | None) -> None:
        target = self.root / name
        if self.root.exists() and not self.root.is_dir():
            raise UserError(f"The export folder {self.root} is a file.", "Choose a folder.")
        if not os.path.lexists(target) or name in self.ours or _same_file(source, target):
            return
        raise self._foreign(target)

    def write(self, name: str, make: Callable[[Path], object], source: Path | None) -> Path:
        target = self.root / name
        if _same_file(source, target):
            return target  # exporting a run's own file into the run folder
        self.root.mkdir(parents=True, exist_ok=True)
        tmp, old = temp_path(target), temp_path(self.root / f"old-{name}")
        try:
            make(tmp)
            if target.is_dir() and not target.is_symlink():
                os.rename(target, old)  # our own earlier folder: out of the way, then gone
            elif os.path.lexists(target) and tmp.is_dir():
                target.unlink()  # a link (or file) where the folder goes: only the link
            os.replace(tmp, target)  # a file: replaces a link itself, never its target
        finally:
            for leftover in (tmp, old):
                if leftover.is_dir() and not leftover.is_symlink():
                    shutil.rmtree(leftover)
                elif os.path.lexists(leftover):
                    leftover.unlink()
        return target


def _same_file(source: Path | None, target: Path) -> bool:
    return source is not None and target.exists() and os.path.samefile(source, target)


def _saved_model(model: Any, target: Path) -> Path:
    model.export(str(target), format="tf_saved_model", verbose=False)
    return target


def _tflite(model: Any, target: Path) -> Path:
    import tensorflow as tf

    with tempfile.TemporaryDirectory() as tmp:
        saved = _saved_model(model, Path(tmp) / "savedmodel")
        converter = tf.lite.TFLiteConverter.from_saved_model(str(saved))
        target.write_bytes(converter.convert())
    return target


def _script_settings(run_dir: Path) -> TrainSettings:
    settings_file = RunFolder(run_dir).settings
    if not settings_file.is_file():
        raise UserError(
            f"The run's settings.json is not next to the model in {run_dir}.",
            "Export the script from the run folder the app wrote.",
        )
    return TrainSettings.load(settings_file)


def _start_backbone(run_dir: Path, settings: TrainSettings) -> Any:
    """The backbone as the run started from it (before any fine-tuning): from the run's
    checkpoints/base.keras, else built again (the same ImageNet weights)."""
    import keras

    from gpu_assistant.training import efficientnet_lite
    from gpu_assistant.training.checkpoints import BASE_FILE
    from gpu_assistant.training.models import BACKBONE_LAYER

    base = RunFolder(run_dir).checkpoints / BASE_FILE
    if base.is_file():
        return keras.models.load_model(base).get_layer(BACKBONE_LAYER)
    return efficientnet_lite.feature_extractor(settings.image_size, pretrained=settings.pretrained)


def _validation_arrays(run_dir: Path) -> tuple[np.ndarray, np.ndarray] | None:
    """The run's validation images (uint8) and labels, or None outside a complete run folder."""
    import numpy as np

    from gpu_assistant.data.pipeline import build_datasets
    from gpu_assistant.data.scan import scan_folder

    folder = RunFolder(run_dir)
    if not (folder.settings.is_file() and folder.split.is_file()):
        return None
    settings = TrainSettings.load(folder.settings)
    if not Path(settings.data_dir).is_dir():
        return None
    scan = scan_folder(settings.data_dir)
    split = load_split(folder.split, scan)
    # One pass over the validation images: neither augmented nor cached.
    options = replace(settings.pipeline_options(64), augment=False, cache="none")
    val = build_datasets(scan, options, split=split).val
    if val is None:
        return None
    batches = [(np.asarray(x), np.asarray(y)) for x, y in val]
    return np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches])


def _accuracy(probabilities: Any, labels: np.ndarray) -> float:
    import numpy as np

    return round(float(np.mean(np.argmax(np.asarray(probabilities), axis=1) == labels)), 5)


def _score_keras(path: Path, images: np.ndarray) -> np.ndarray:
    import keras

    return keras.models.load_model(path).predict(images, verbose=0)


def _score_saved_model(path: Path, images: np.ndarray) -> np.ndarray:
    import numpy as np
    import tensorflow as tf

    serve = tf.saved_model.load(str(path)).signatures["serving_default"]
    outputs = [serve(tf.constant(images[i : i + 64])) for i in range(0, len(images), 64)]
    return np.concatenate([np.asarray(next(iter(o.values()))) for o in outputs])


def _score_tflite(path: Path, images: np.ndarray) -> np.ndarray:
    import numpy as np

    interpreter = _tflite_interpreter(path)
    interpreter.allocate_tensors()
    (source,) = interpreter.get_input_details()
    (target,) = interpreter.get_output_details()
    rows = []
    for image in images:
        interpreter.set_tensor(source["index"], image[None].astype(source["dtype"]))
        interpreter.invoke()
        rows.append(interpreter.get_tensor(target["index"])[0])
    return np.stack(rows)


def _tflite_interpreter(path: Path) -> Any:
    """LiteRT's interpreter when installed, else TF's (deprecated, still present in 2.21)."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import tensorflow as tf

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "deprecated, use LiteRT"
            return tf.lite.Interpreter(model_path=str(path))
    return Interpreter(model_path=str(path))


_SCORERS: dict[str, Callable[[Path, np.ndarray], np.ndarray]] = {
    "keras": _score_keras,
    "savedmodel": _score_saved_model,
    "tflite": _score_tflite,
}
