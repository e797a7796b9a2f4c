"""train(settings, report, cancel): one training run, from a folder of images to a run folder.

The steps: scan + split (saved, reused on resume; before TensorFlow starts, so a wrong folder
fails in a second) -> devices and strategy -> datasets -> model
(new, or the last checkpoint) -> fit with progress/cancel/checkpoint/early-stopping callbacks ->
an out-of-memory retry at half the batch -> optional fine-tuning -> model, labels, metrics,
evaluation. Everything the user sees arrives through `report`; nothing here knows about Qt.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from gpu_assistant.jobs import Cancelled, CancelToken, Report, UserError
from gpu_assistant.training import distribute
from gpu_assistant.training.callbacks import (
    RunClock,
    checkpoint_callback,
    early_stopping_callback,
    progress_callback,
)
from gpu_assistant.training.checkpoints import (
    Checkpoint,
    latest_checkpoint,
    load_best,
    load_values,
    restore,
    save_base,
)
from gpu_assistant.training.evaluate import evaluation_report, predict_probabilities
from gpu_assistant.training.lock import run_lock
from gpu_assistant.training.models import build_model, model_choice, unfreeze_top
from gpu_assistant.training.preflight import (
    check_class_names,
    check_enough_images,
    check_free_space,
    check_resumable,
    check_same_classes,
    write_error,
)
from gpu_assistant.training.run_folder import (
    RunFolder,
    existing_run_folder,
    fresh_run_dir,
    load_split,
    new_run_folder,
    remove_temp_files,
    save_model,
    save_split,
    write_json,
    write_labels,
)
from gpu_assistant.training.settings import TrainSettings

FINE_TUNE_LR_FACTOR = 0.1
IMBALANCE_FOR_CLASS_WEIGHTS = 1.5  # weight classes when the largest is 1.5x the smallest


@dataclass
class TrainResult:
    """How a run ended and where its files are. status: completed | stopped_early | cancelled."""

    status: str
    run_dir: Path
    model_path: Path | None
    epochs_completed: int
    metrics: dict[str, Any] = field(default_factory=dict)
    evaluation_path: Path | None = None


@dataclass
class _Run:
    """What the steps of one run share."""

    settings: TrainSettings
    folder: RunFolder
    report: Report
    cancel: CancelToken
    strategy: Any
    replicas: int
    device_type: str
    multi_worker: bool


def train(
    settings: TrainSettings,
    report: Report,
    cancel: CancelToken,
    *,
    callbacks: Sequence[Any] = (),
) -> TrainResult:
    """Train as `settings` say; `callbacks` are extra Keras callbacks (a fault-injection seam
    for tests, and a hook for power users). Emits start/batch/epoch/done|cancelled|error."""
    try:
        return _train(settings, report, cancel, list(callbacks))
    except UserError as error:
        report({"event": "error", **error.to_dict()})
        raise


def _train(
    settings: TrainSettings, report: Report, cancel: CancelToken, extra: list[Any]
) -> TrainResult:
    settings.validate()
    model_choice(settings.model)
    chief, worker_index = distribute.is_chief(settings)
    if settings.resume:
        folder = existing_run_folder(settings.out_dir)
    else:
        folder = RunFolder(Path(settings.out_dir or fresh_run_dir(settings.model)))
    if not chief:  # other workers keep their own files apart from the chief's
        folder = RunFolder(folder.root / f"worker-{worker_index}")
    try:
        with run_lock(folder.root):  # one writer per run folder, for the whole run
            remove_temp_files(folder)
            return _locked(replace(settings, out_dir=folder.root), folder, report, cancel, extra)
    except OSError as error:
        problem = write_error(error, folder.root)
        if problem is None:
            raise
        raise problem from error


def _locked(
    settings: TrainSettings,
    folder: RunFolder,
    report: Report,
    cancel: CancelToken,
    extra: list[Any],
) -> TrainResult:
    """The run, holding the folder's lock. A new run's settings are saved first (a failed
    start leaves a folder the corrected command reuses); a resume's only once it is accepted,
    so a refused one changes no file of the run."""
    if settings.resume:
        check_resumable(folder, settings)
    else:
        new_run_folder(folder.root, settings.model)
        settings.save(folder.settings)
    try:
        scan, split, duplicates = _scan_and_split(settings, folder, report, cancel)
        if settings.resume:
            settings.save(folder.settings)
        if not (settings.resume and folder.split.is_file()):
            save_split(folder.split, split, scan.root)
        if duplicates is not None:
            write_json(folder.duplicates, duplicates.to_json(scan.records, scan.root))
        write_labels(folder.labels, scan.class_names)
        plan = distribute.configure_devices(settings)
        for message in plan.warnings:
            report({"event": "warning", "message": message})
        strategy, strategy_name = distribute.make_strategy(settings, plan)
        run = _Run(
            settings,
            folder,
            report,
            cancel,
            strategy,
            int(strategy.num_replicas_in_sync),
            plan.device_type,
            strategy_name == "MultiWorkerMirroredStrategy",
        )
        use_mixed, warning = distribute.decide_mixed_precision(
            settings.mixed_precision, plan.device_type, plan.compute_capabilities
        )
        if warning:
            report({"event": "warning", "message": warning})
        cancel.raise_if_cancelled()
        return _fit_and_finish(run, plan, strategy_name, use_mixed, extra, scan=scan, split=split)
    except Cancelled:
        report(
            {
                "event": "cancelled",
                "epochs_completed": 0,
                "run_dir": str(folder.root),
                "model_path": None,
            }
        )
        return TrainResult("cancelled", folder.root, None, 0)


def _scan_and_split(
    settings: TrainSettings, folder: RunFolder, report: Report, cancel: CancelToken
) -> tuple[Any, Any, Any]:
    """Scan and split (the saved split on resume), refusing what cannot train; writes nothing.
    Third: the duplicate groups the new split keeps together (None on resume)."""
    from gpu_assistant.data.scan import scan_folder
    from gpu_assistant.data.split import split_records

    scan = scan_folder(settings.data_dir, report=_scan_events(report), cancel=cancel)
    check_class_names(scan.class_names)
    if settings.resume:
        check_same_classes(folder, scan.class_names)
    if settings.resume and folder.split.is_file():
        return scan, load_split(folder.split, scan), None
    check_enough_images(scan)
    duplicates = _duplicates(scan, report, cancel)
    groups = duplicates.index_groups()
    split = split_records(scan, settings.val_split, 0.0, settings.seed, groups=groups)
    return scan, split, duplicates


def _duplicates(scan: Any, report: Report, cancel: CancelToken) -> Any:
    """Copies of the same picture, to keep on one side of the split: identical files, and the
    near copies the folder's last audit found (files unchanged since); a warning says what
    was done."""
    from gpu_assistant.data.duplicates import find_duplicates, remembered_pairs

    known = remembered_pairs(scan.records, scan.root)
    found = find_duplicates(scan.records, known_pairs=known, cancel=cancel)
    if found.groups:
        report({"event": "warning", "message": found.summary(scan.records, scan.class_names)})
    return found


def _scan_events(report: Report) -> Report:
    """Forward the scan's progress; rename its other events ("done" -> "scan_done") so they
    cannot be mistaken for the run's own."""

    def forward(event: dict[str, Any]) -> None:
        name = event["event"]
        report(event if name == "progress" else {**event, "event": f"scan_{name}"})

    return forward


def _datasets(run: _Run, scan: Any, split: Any, per_replica_batch: int) -> Any:
    from gpu_assistant.data.pipeline import build_datasets
    from gpu_assistant.data.split import PipelineOptions

    settings = run.settings
    options = PipelineOptions(
        image_size=settings.image_size,
        batch_size=per_replica_batch * run.replicas,
        val_split=settings.val_split,
        seed=settings.seed,
        augment=settings.augment,
        flip=settings.flip,
        cache=settings.cache,  # type: ignore[arg-type]
    )
    return build_datasets(scan, options, split=split, report=run.report, cancel=run.cancel)


def _compile(model: Any, learning_rate: float) -> None:
    import keras

    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )


def _model(run: _Run, num_classes: int, use_mixed: bool) -> tuple[Any, Checkpoint | None]:
    """(model, the checkpoint it continues): from the last checkpoint on resume, else new."""
    import keras

    keras.mixed_precision.set_global_policy("mixed_float16" if use_mixed else "float32")
    try:
        checkpoint = latest_checkpoint(run.folder.checkpoints) if run.settings.resume else None
        with run.strategy.scope():
            if checkpoint is not None:
                return _resumed(checkpoint), checkpoint
            settings = run.settings
            model = build_model(
                settings.model,
                num_classes,
                settings.image_size,
                weights_path=settings.weights_path,
            )
            _compile(model, settings.learning_rate)
            return model, None
    finally:
        keras.mixed_precision.set_global_policy("float32")


def _resumed(checkpoint: Checkpoint) -> Any:
    """The model as it was after the checkpoint's epoch (call inside the strategy's scope)."""
    import keras

    try:
        model = keras.models.load_model(checkpoint.base_path)
        restore(model, load_values(checkpoint))
    except (OSError, ValueError, KeyError) as error:
        raise UserError(
            f"The run's last checkpoint cannot be read: {error}",
            "Start a new run (the finished model.keras, if any, is still usable).",
        ) from error
    return model


def _fit_and_finish(
    run: _Run,
    plan: Any,
    strategy_name: str,
    use_mixed: bool,
    extra: list[Any],
    *,
    scan: Any,
    split: Any,
) -> TrainResult:
    import tensorflow as tf

    settings = run.settings
    model, resumed = _model(run, len(scan.class_names), use_mixed)
    check_free_space(run.folder.root, model)
    with run.strategy.scope():  # the optimizer's variables are built here: mirrored
        save_base(run.folder.checkpoints, model)
    total_epochs = settings.epochs + (settings.fine_tune_epochs if _has_backbone(model) else 0)
    batch = settings.batch_size
    retried = False
    stopped_early = False
    while True:
        data = _datasets(run, scan, split, batch)
        split = data.split  # without images that vanished while the caches were filled
        steps = _steps(run, len(split.train), batch * run.replicas)
        run.report(
            {
                "event": "start",
                "run_dir": str(run.folder.root),
                "strategy": strategy_name,
                "devices": plan.devices,
                "device_type": plan.device_type,
                "replicas": run.replicas,
                "mixed_precision": use_mixed,
                "per_replica_batch": batch,
                "global_batch": batch * run.replicas,
                "steps_per_epoch": steps,
                "epochs": total_epochs,
                "initial_epoch": resumed.epoch if resumed else 0,
                "train_images": len(split.train),
                "val_images": len(split.val),
                "classes": scan.class_names,
                "cache": data.cache_mode,
            }
        )
        try:
            history, stopped_early = _fit_phases(
                run,
                model,
                data,
                steps=steps,
                batch=batch,
                resumed=resumed,
                total_epochs=total_epochs,
                extra=extra,
            )
            break
        except tf.errors.ResourceExhaustedError as error:
            if retried or batch == 1:
                raise UserError(
                    f"Out of memory even with a batch of {batch} images per device.",
                    "Lower --image-size, choose a smaller model, or close other programs "
                    "using the GPU.",
                ) from error
            retried, batch = True, max(1, batch // 2)
            resumed = latest_checkpoint(run.folder.checkpoints)
            if resumed is not None:  # start again from the last completed epoch
                with run.strategy.scope():
                    restore(model, load_values(resumed))
            run.report(
                {
                    "event": "warning",
                    "message": f"Out of memory: retrying once with a batch of {batch} images "
                    f"per device (from epoch {(resumed.epoch if resumed else 0) + 1}).",
                }
            )
            run.settings = settings = replace(settings, batch_size=batch)
            settings.save(run.folder.settings)
    return _finish(
        run, model, data, split=split, scan=scan, history=history, stopped_early=stopped_early
    )


def _steps(run: _Run, images: int, global_batch: int) -> int:
    """Steps per epoch; multi-worker runs drop the last partial batch so all workers agree."""
    if run.multi_worker:
        return max(1, images // global_batch)
    return max(1, math.ceil(images / global_batch))


def _has_backbone(model: Any) -> bool:
    from gpu_assistant.training.models import BACKBONE_LAYER

    return any(layer.name == BACKBONE_LAYER for layer in model.layers)


def _fit_phases(
    run: _Run,
    model: Any,
    data: Any,
    *,
    steps: int,
    batch: int,
    resumed: Checkpoint | None,
    total_epochs: int,
    extra: list[Any],
) -> tuple[list[dict], bool]:
    """The frozen phase, then (for backbones) the fine-tuning phase; returns (history, early).

    Each phase has its own early stopping, which a resumed run continues from the checkpoint
    (`resumed`): a phase whose patience had already run out, or that ended exactly at the
    checkpoint, is ended as its fit() would have ended it (best weights back), not retrained.
    """
    settings = run.settings
    clock = RunClock(steps, batch * run.replicas, total_epochs, run.device_type)
    saved = resumed.state if resumed else {}
    state = {"batch_size": batch, "history": saved.get("history", []), "best": saved.get("best")}
    best = load_best(resumed) if resumed else None
    progress = progress_callback(run.report, run.cancel, clock)
    tensorboard = _tensorboard(run.folder.logs)
    phases = [(0, settings.epochs, None)]
    if total_epochs > settings.epochs:
        phases.append((settings.epochs, total_epochs, settings.learning_rate * FINE_TUNE_LR_FACTOR))
    stopped_early = False
    for start, end, fine_tune_lr in phases:
        history = state["history"]
        if len(history) > end or run.cancel.cancelled or stopped_early:
            continue
        stopper = _early_stopping(settings, progress, history, start, best)
        spent = stopper is not None and stopper.resumed.stopped
        if len(history) == end or spent:
            if stopper is not None:
                stopper.restore_best(model)
            stopped_early = spent
            continue
        if fine_tune_lr is not None:
            with run.strategy.scope():
                unfreeze_top(model)
                _compile(model, fine_tune_lr)
        checkpoint = checkpoint_callback(run.folder.checkpoints, progress, state, stopper)
        stoppers = [] if stopper is None else [stopper]  # before the checkpoint: it asks
        _fit(
            run,
            model,
            data,
            epochs=end,
            initial_epoch=len(history),
            callbacks=[progress, *stoppers, checkpoint, *extra, tensorboard],
        )
        state = checkpoint.state
        stopped_early = stopper is not None and stopper.stopped_epoch > 0
    return state["history"], stopped_early


def _fit(
    run: _Run, model: Any, data: Any, *, epochs: int, initial_epoch: int, callbacks: list[Any]
) -> None:
    import tensorflow as tf

    # Repeat with explicit step counts: the pipeline's cardinality is unknown (it skips files
    # that vanished since the scan), and multi-worker runs need every worker to agree on steps.
    global_batch = run.settings.batch_size * run.replicas
    train, val = data.train.repeat(), data.val
    kwargs: dict[str, Any] = {
        "steps_per_epoch": _steps(run, len(data.split.train), global_batch),
    }
    if val is not None:
        val = val.repeat()
        kwargs["validation_steps"] = _steps(run, len(data.split.val), global_batch)
    if run.replicas > 1:
        train, val = distribute.feed_every_replica(
            train, val, len(data.split.train), len(data.split.val), run.replicas
        )
    if run.multi_worker:
        options = tf.data.Options()
        shard = tf.data.experimental.AutoShardPolicy.DATA
        options.experimental_distribute.auto_shard_policy = shard
        train = train.with_options(options)
        val = val.with_options(options) if val is not None else None
        distribute.prepare_multi_worker(model, run.strategy, run.settings.image_size)
    weights = data.class_weights
    counts = [w for w in weights.values() if w > 0]
    if counts and max(counts) / min(counts) > IMBALANCE_FOR_CLASS_WEIGHTS:
        kwargs["class_weight"] = weights
    model.fit(
        train,
        validation_data=val,
        epochs=epochs,
        initial_epoch=initial_epoch,
        callbacks=callbacks,
        verbose=0,
        shuffle=False,  # the pipeline shuffles
        **kwargs,
    )


def _early_stopping(
    settings: TrainSettings,
    progress: Any,
    history: list[dict],
    first_epoch: int,
    best: tuple[int, list[Any]] | None,
) -> Any | None:
    """The phase's early stopping (None when off), continuing its epochs in `history`."""
    if not settings.early_stopping:
        return None
    return early_stopping_callback(
        progress, settings.patience, history[first_epoch:], first_epoch, best
    )


def _tensorboard(logs: Path) -> Any:
    from gpu_assistant.training.callbacks import epoch_tensorboard

    return epoch_tensorboard(logs)


def _finish(
    run: _Run,
    model: Any,
    data: Any,
    *,
    split: Any,
    scan: Any,
    history: list[dict],
    stopped_early: bool,
) -> TrainResult:
    """Save the model, metrics and evaluation. A cancelled run keeps the last completed epoch:
    the weights of a half-trained epoch are replaced by its checkpoint's first (none: no
    model.keras)."""
    from gpu_assistant.data.split import stable_order

    folder = run.folder
    saved = _completed_model(run, model)
    if saved:
        save_model(model, folder.model)
    final = history[-1] if history else {}
    evaluation_path = None
    if data.val is not None and not run.cancel.cancelled:
        probabilities, labels = predict_probabilities(model, data.val)
        ordered = stable_order(split.val, scan.root, run.settings.seed)
        paths = [r.path for r in ordered] if len(ordered) == len(labels) else None
        evaluation = evaluation_report(probabilities, labels, scan.class_names, paths)
        write_json(folder.evaluation, evaluation)
        evaluation_path = folder.evaluation
        final = {**final, "model_val_accuracy": evaluation["accuracy"]}
    status = (
        "cancelled" if run.cancel.cancelled else "stopped_early" if stopped_early else "completed"
    )
    write_json(folder.metrics, {"status": status, "final": final, "history": history})
    paths = {
        "run_dir": str(folder.root),
        "model_path": str(folder.model) if saved else None,
        "labels_path": str(folder.labels),
        "metrics_path": str(folder.metrics),
        "evaluation_path": str(evaluation_path) if evaluation_path else None,
        "logs_dir": str(folder.logs),
    }
    if status == "cancelled":
        run.report({"event": "cancelled", "epochs_completed": len(history), **paths})
    else:
        run.report(
            {
                "event": "done",
                "status": status,
                "epochs_completed": len(history),
                "metrics": final,
                **paths,
            }
        )
    model_path = folder.model if saved else None
    return TrainResult(status, folder.root, model_path, len(history), final, evaluation_path)


def _completed_model(run: _Run, model: Any) -> bool:
    """Whether `model` holds a completed epoch to save: always unless cancelled, when the
    last checkpoint's weights are put back (the cancel stopped mid-epoch)."""
    if not run.cancel.cancelled:
        return True
    checkpoint = latest_checkpoint(run.folder.checkpoints)
    if checkpoint is None:
        return False
    with run.strategy.scope():
        restore(model, load_values(checkpoint))
    return True
