"""export(model_path, formats, out_dir): the trained model in the forms people deploy.

.keras, SavedModel (`model.export`, serving signature takes uint8 pixels), TFLite (float32),
labels.txt, and the standalone training script. When the model sits in its run folder, every
exported model is re-scored on the run's validation images and compared with the app's own
accuracy; a mismatch is reported, never hidden.
"""

from __future__ import annotations

import shutil
import tempfile
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gpu_assistant.jobs import Report, UserError, ignore
from gpu_assistant.training.predict import load_model, resolve_model
from gpu_assistant.training.run_folder import RunFolder, load_split, read_labels, write_json
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
    model_file, labels_file = resolve_model(model_path)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    result = ExportResult(out_dir)
    model = load_model(model_file)
    writers: dict[str, Callable[[], Path]] = {
        "keras": lambda: _copy(model_file, out_dir / "model.keras"),
        "savedmodel": lambda: _saved_model(model, out_dir / "savedmodel"),
        "tflite": lambda: _tflite(model, out_dir / "model.tflite"),
        "labels": lambda: _copy(labels_file, out_dir / "labels.txt"),
        "script": lambda: _script(model_file.parent, read_labels(labels_file), out_dir),
    }
    for index, name in enumerate(dict.fromkeys(formats)):
        report({"event": "progress", "done": index, "total": len(formats), "message": name})
        result.paths[name] = writers[name]()
    exported = [f for f in MODEL_FORMATS if f in result.paths]
    validation = _validation_arrays(model_file.parent) if rescore and exported else None
    if validation is not None:
        images, labels = validation
        result.samples = len(labels)
        result.reference_accuracy = _accuracy(model.predict(images, verbose=0), labels)
        for name in exported:
            result.accuracy[name] = _accuracy(_SCORERS[name](result.paths[name], images), labels)
    write_json(
        out_dir / "export.json",
        {
            "paths": {k: str(v) for k, v in result.paths.items()},
            "samples": result.samples,
            "reference_accuracy": result.reference_accuracy,
            "accuracy": result.accuracy,
            "mismatches": result.mismatches(),
        },
    )
    report({"event": "progress", "done": len(formats), "total": len(formats), "message": "done"})
    return result


def _copy(source: Path, target: Path) -> Path:
    if source.resolve() != target.resolve():
        shutil.copyfile(source, target)
    return target


def _saved_model(model: Any, target: Path) -> Path:
    if target.exists():
        shutil.rmtree(target)
    model.export(str(target), format="tf_saved_model", verbose=False)
    return target


def _tflite(model: Any, target: Path) -> Path:
    import tensorflow as tf

    with tempfile.TemporaryDirectory() as tmp:
        saved = _saved_model(model, Path(tmp) / "savedmodel")
        converter = tf.lite.TFLiteConverter.from_saved_model(str(saved))
        target.write_bytes(converter.convert())
    return target


def _script(run_dir: Path, class_names: list[str], out_dir: Path) -> Path:
    from gpu_assistant.training.script_template import write_script

    settings_file = RunFolder(run_dir).settings
    if not settings_file.is_file():
        raise UserError(
            f"The run's settings.json is not next to the model in {run_dir}.",
            "Export the script from the run folder the app wrote.",
        )
    return write_script(TrainSettings.load(settings_file), class_names, out_dir)


def _validation_arrays(run_dir: Path) -> tuple[np.ndarray, np.ndarray] | None:
    """The run's validation images (uint8) and labels, or None outside a complete run folder."""
    import numpy as np

    from gpu_assistant.data.pipeline import build_datasets
    from gpu_assistant.data.scan import scan_folder
    from gpu_assistant.data.split import PipelineOptions

    folder = RunFolder(run_dir)
    if not (folder.settings.is_file() and folder.split.is_file()):
        return None
    settings = TrainSettings.load(folder.settings)
    if not Path(settings.data_dir).is_dir():
        return None
    scan = scan_folder(settings.data_dir)
    split = load_split(folder.split, scan)
    options = PipelineOptions(
        image_size=settings.image_size, batch_size=64, augment=False, cache="none"
    )
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
