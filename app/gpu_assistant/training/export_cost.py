"""Exports that report what they cost: file size, latency per image on this CPU in the
format's own runtime, and how often they agree with the Keras model.

Why: "will it run on my device, and is it still the same model?" is what users ask of an
export. Besides the float TFLite file, an int8 TFLite (weights and activations quantized,
calibrated on up to CALIBRATION_IMAGES training images) and ONNX (through Keras' own
`model.export(format="onnx")`, which needs tf2onnx; scored with onnxruntime) are written.
Each is re-scored on the run's validation images: top-1 agreement with the Keras model and
accuracy; a format whose agreement is under AGREEMENT says why, and one that cannot be
made says so instead of failing the others. The table goes to `export/report.json`.
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from gpu_assistant.jobs import Report, ignore

AGREEMENT = 0.99
CALIBRATION_IMAGES = 100
TIMED_IMAGES = 30  # single-image calls per format for the latency percentiles
REPORT_FILE = "report.json"
ONNX_MISSING = (
    "ONNX needs tf2onnx and onnxruntime: pip install 'tf-gpu-assistant[onnx]' "
    "(tf2onnx 1.17 and onnxruntime 1.32 work with TensorFlow 2.21 and Keras 3.15)."
)


def _calibration(run_dir: Path, image_size: int) -> np.ndarray:
    """Up to CALIBRATION_IMAGES training images of the run, decoded as training decodes."""
    from gpu_assistant.data.images import load_for_model
    from gpu_assistant.training.run_folder import RunFolder
    from gpu_assistant.training.settings import TrainSettings

    folder = RunFolder(run_dir)
    root = Path(TrainSettings.load(folder.settings).data_dir)
    train = json.loads(folder.split.read_text(encoding="utf-8"))["train"][:CALIBRATION_IMAGES]
    return np.stack([load_for_model(root / name, image_size) for name in train])


def _tflite_int8(model: Any, target: Path, calibration: np.ndarray) -> Path:
    import tensorflow as tf

    def representative() -> Any:
        for image in calibration:
            yield [image[None]]  # uint8, as the model takes it

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    with warnings.catch_warnings():
        # The uint8 image input stays as it is (the model scales it itself); the converter
        # warns that it has no statistics for it, which is what is meant.
        warnings.filterwarnings("ignore", "Statistics for quantized inputs", UserWarning)
        target.write_bytes(converter.convert())
    return target


def _tflite_runner(path: Path) -> Callable[[np.ndarray], np.ndarray]:
    from gpu_assistant.training.export import _tflite_interpreter

    interpreter = _tflite_interpreter(path)
    interpreter.allocate_tensors()
    (given,), (answer,) = interpreter.get_input_details(), interpreter.get_output_details()

    def run(image: np.ndarray) -> np.ndarray:
        interpreter.set_tensor(given["index"], image[None].astype(given["dtype"]))
        interpreter.invoke()
        return np.asarray(interpreter.get_tensor(answer["index"]))[0]

    return run


def _onnx(model: Any, target: Path) -> Callable[[np.ndarray], np.ndarray]:
    """Keras' own ONNX export, and an onnxruntime session on it."""
    import onnxruntime

    model.export(str(target), format="onnx", verbose=False)
    session = onnxruntime.InferenceSession(str(target), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda image: np.asarray(session.run(None, {name: image[None]})[0])[0]


def _measure(
    name: str,
    path: Path,
    runtime: str,
    run: Callable[[np.ndarray], np.ndarray],
    *,
    images: np.ndarray,
    labels: np.ndarray,
    reference: np.ndarray,
) -> dict[str, Any]:
    """Scores on every validation image, and latency over the first TIMED_IMAGES."""
    answers = np.stack([run(image) for image in images]).argmax(axis=1)
    seconds = []
    for image in images[:TIMED_IMAGES]:
        start = time.perf_counter()
        run(image)
        seconds.append(time.perf_counter() - start)
    row: dict[str, Any] = {
        "format": name,
        "file": path.name,
        "runtime": runtime,
        "size_bytes": path.stat().st_size,
        "agreement": round(float(np.mean(answers == reference)), 4),
        "accuracy": round(float(np.mean(answers == labels)), 4),
        "p50_ms": round(float(np.percentile(seconds, 50)) * 1000, 2),
        "p95_ms": round(float(np.percentile(seconds, 95)) * 1000, 2),
    }
    if row["agreement"] < AGREEMENT:
        changed = int(np.sum(answers != reference))
        row["why"] = (
            f"{changed} of {len(images)} validation answers differ from the Keras model's "
            f"({name}: {'8-bit weights and activations' if 'int8' in name else 'conversion'}); "
            "check its accuracy before using it."
        )
    return row


def cost_report(run_dir: Path, out_dir: Path, *, report: Report = ignore) -> dict[str, Any]:
    """Write model.tflite, model-int8.tflite and model.onnx into `out_dir`, score and time
    each against the Keras model, and save the table as `out_dir/report.json`."""
    from gpu_assistant.training.export import _tflite, _validation_arrays
    from gpu_assistant.training.predict import load_classifier

    run_dir = Path(run_dir)
    classifier = load_classifier(run_dir)
    model = classifier.model
    arrays = _validation_arrays(run_dir)
    if arrays is None:
        from gpu_assistant.jobs import UserError

        raise UserError(
            "The cost report needs the run's validation images (run folder and data folder).",
            "Give the run folder of a finished run whose data folder still exists.",
        )
    images, labels = arrays
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    keras_run = lambda image: np.asarray(model(image[None], training=False))[0]  # noqa: E731
    reference = np.stack([keras_run(image) for image in images]).argmax(axis=1)
    scoring = {"images": images, "labels": labels, "reference": reference}
    rows = [_measure("keras", classifier.model_file, "Keras", keras_run, **scoring)]
    steps: list[tuple[str, str, Callable[[Path], Callable[[np.ndarray], np.ndarray]]]] = [
        ("tflite", "model.tflite", lambda p: _tflite_runner(_tflite(model, p))),
        (
            "tflite_int8",
            "model-int8.tflite",
            lambda p: _tflite_runner(
                _tflite_int8(model, p, _calibration(run_dir, classifier.image_size))
            ),
        ),
        ("onnx", "model.onnx", lambda p: _onnx(model, p)),
    ]
    runtimes = {"tflite": "TFLite interpreter", "tflite_int8": "TFLite interpreter"}
    for name, file, make in steps:
        report({"event": "progress", "message": f"Exporting and timing {name}"})
        target = out_dir / file
        try:
            run = make(target)
        except ImportError:
            rows.append({"format": name, "file": file, "why": ONNX_MISSING})
            continue
        except Exception as error:  # a converter's failure is this format's, not the run's
            rows.append({"format": name, "file": file, "why": f"export failed: {error}"})
            continue
        runtime = runtimes.get(name, "onnxruntime")
        rows.append(_measure(name, target, runtime, run, **scoring))
    table = {"validation_images": len(images), "formats": rows}
    (out_dir / REPORT_FILE).write_text(json.dumps(table, indent=2), encoding="utf-8")
    return table
