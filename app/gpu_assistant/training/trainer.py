"""train(settings, report, cancel): one training run, from a folder of images to a run folder.

The steps: scan + split (saved, reused on resume; before TensorFlow starts, so a wrong folder
fails in a second) -> devices and strategy -> Auto's choices resolved (training/auto.py) ->
model (new, or the last checkpoint) -> the phases: the small CNN on augmented pixels, or a
backbone model's head on cached backbone features (training/features.py), then the offline
backbone's top on cached maps (training/top_tuning.py) and optional fine-tuning on augmented
pixels (what each phase fits on: training/phase_inputs.py); each fit with progress/cancel/
checkpoint/early-stopping callbacks, and an out-of-memory retry at half the batch -> model,
labels, metrics, evaluation. Everything the user sees arrives through `report`; nothing here
knows about Qt.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from gpu_assistant.jobs import Cancelled, CancelToken, Report, UserError
from gpu_assistant.training import auto, distribute, top_tuning
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
from gpu_assistant.training.evaluate import (
    evaluation_report,
    predict_probabilities,
    trust_warnings,
)
from gpu_assistant.training.lock import run_lock
from gpu_assistant.training.models import (
    AUTO,
    BACKBONE_LAYER,
    HEAD_LAYER,
    build_model,
    model_choice,
    unfreeze_top,
)
from gpu_assistant.training.phase_inputs import PhaseInputs
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
PHASE_LABELS = {  # what the Train page and the CLI say a phase does
    "full": "training on the images",
    "head": "training the head on cached features",
    "top": "tuning the backbone's top on cached maps",
    "fine_tune": "fine-tuning the backbone on the images",
}


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
    known_files: Sequence[Sequence[Any]] = (),
) -> TrainResult:
    """Train as `settings` say; `callbacks` are extra Keras callbacks (a fault-injection seam
    for tests, and a hook for power users); `known_files` (`scan.fingerprints` of a scan the
    caller already made) spares decoding again the files that did not change since. Emits
    start/batch/epoch/done|cancelled|error."""
    try:
        return _train(settings, report, cancel, list(callbacks), known_files)
    except UserError as error:
        report({"event": "error", **error.to_dict()})
        raise


def _train(
    settings: TrainSettings,
    report: Report,
    cancel: CancelToken,
    extra: list[Any],
    known_files: Sequence[Sequence[Any]],
) -> TrainResult:
    settings.validate()
    if settings.model != AUTO:
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
            locked = replace(settings, out_dir=folder.root)
            return _locked(locked, folder, report, cancel, extra, known_files=known_files)
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
    *,
    known_files: Sequence[Sequence[Any]],
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
        scan, split, duplicates = _scan_and_split(settings, folder, report, cancel, known_files)
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
        settings = _resolve(settings, scan, plan.device_type, report)
        settings.save(folder.settings)
        strategy, strategy_name = distribute.make_strategy(settings, plan, report, cancel)
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
        return _cancelled_before_an_epoch(folder, report)


def _cancelled_before_an_epoch(folder: RunFolder, report: Report) -> TrainResult:
    """Cancelled before this start trained an epoch (while scanning or computing features).
    A new run has nothing yet; a resumed one is as its last stop left it (model, metrics and
    evaluation untouched), and the result says so rather than "0 epochs"."""
    from gpu_assistant.training.runs import summarise

    summary = summarise(folder.root)
    epochs = summary.epochs if summary is not None else 0
    model = folder.model if folder.model.is_file() else None
    evaluation = folder.evaluation if model is not None and folder.evaluation.is_file() else None
    report(
        {
            "event": "cancelled",
            "epochs_completed": epochs,
            "run_dir": str(folder.root),
            "model_path": str(model) if model is not None else None,
            "evaluation_path": str(evaluation) if evaluation is not None else None,
        }
    )
    return TrainResult("cancelled", folder.root, model, epochs, evaluation_path=evaluation)


def _scan_and_split(
    settings: TrainSettings,
    folder: RunFolder,
    report: Report,
    cancel: CancelToken,
    known_files: Sequence[Sequence[Any]],
) -> tuple[Any, Any, Any]:
    """Scan and split (the saved split on resume), refusing what cannot train; writes nothing.
    Third: the duplicate groups the new split keeps together (None on resume)."""
    from gpu_assistant.data.scan import scan_folder
    from gpu_assistant.data.split import split_records

    events = _scan_events(report)
    scan = scan_folder(settings.data_dir, report=events, cancel=cancel, known=known_files)
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


def _resolve(settings: TrainSettings, scan: Any, device_type: str, report: Report) -> TrainSettings:
    """Auto's model, the image size and fine-tuning made concrete (a resumed run keeps the
    ones it saved), and the choice reported with its reason."""
    sizes = [(r.width, r.height) for r in scan.records]
    resolved = auto.resolve(settings, sizes, device_type).settings
    report(
        {
            "event": "model_choice",
            "model": resolved.model,
            "label": model_choice(resolved.model).label,
            "auto": settings.model == AUTO or bool(resolved.model_reason),
            "reason": resolved.model_reason,
            "image_size": resolved.image_size,
            "flip": resolved.flip,
            "fine_tune_epochs": resolved.fine_tune_epochs,
            "top_epochs": resolved.top_epochs,
        }
    )
    return resolved


def _scan_events(report: Report) -> Report:
    """Forward the scan's progress; rename its other events ("done" -> "scan_done") so they
    cannot be mistaken for the run's own."""

    def forward(event: dict[str, Any]) -> None:
        name = event["event"]
        report(event if name == "progress" else {**event, "event": f"scan_{name}"})

    return forward


def _compile(model: Any, learning_rate: float) -> None:
    import keras

    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )


@dataclass(frozen=True)
class _Phase:
    """Epochs `start`..`end` (0-based, end exclusive) of one kind of training.

    "full": the small CNN, on augmented pixels. "head": a backbone model's head alone, on the
    cached backbone features. "top": the offline backbone's top and the head, on the cached
    maps where the top starts (training/top_tuning.py), at a lower learning rate.
    "fine_tune": the whole model with the top of the backbone unfrozen, on augmented pixels,
    at a lower learning rate."""

    name: str
    start: int
    end: int
    learning_rate: float


def _phases(settings: TrainSettings, has_backbone: bool, tunable_top: bool) -> list[_Phase]:
    lr = settings.learning_rate
    first = int(settings.epochs or 0)  # resolved by auto.resolve before any phase
    if not has_backbone:
        return [_Phase("full", 0, first, lr)]
    phases = [_Phase("head", 0, first, lr)]
    top = settings.top_epochs if tunable_top else 0
    for name, epochs in (("top", top), ("fine_tune", settings.fine_tune_epochs)):
        if epochs:
            start = phases[-1].end
            phases.append(_Phase(name, start, start + epochs, lr * FINE_TUNE_LR_FACTOR))
    return phases


def _model(run: _Run, num_classes: int, use_mixed: bool) -> tuple[Any, Checkpoint | None]:
    """(model, the checkpoint it continues): from the last checkpoint on resume, else new."""
    import keras

    keras.mixed_precision.set_global_policy("mixed_float16" if use_mixed else "float32")
    try:
        checkpoint = latest_checkpoint(run.folder.checkpoints) if run.settings.resume else None
        with run.strategy.scope():
            if checkpoint is not None:
                return _resumed(checkpoint, run.settings.learning_rate), checkpoint
            settings = run.settings
            model = build_model(
                settings.model,
                num_classes,
                settings.image_size,
                weights_path=settings.weights_path,
                pretrained=settings.pretrained,
            )
            _compile(model, settings.learning_rate)
            return model, None
    finally:
        keras.mixed_precision.set_global_policy("float32")


def _resumed(checkpoint: Checkpoint, learning_rate: float) -> Any:
    """The model as it was after the checkpoint's epoch (call inside the strategy's scope).

    A checkpoint of the head phase holds the head's values only (the backbone is frozen and
    comes back from `base.keras`)."""
    import keras

    try:
        model = keras.models.load_model(checkpoint.base_path)
        _restore_checkpoint(model, checkpoint, learning_rate)
    except (OSError, ValueError, KeyError) as error:
        raise UserError(
            f"The run's last checkpoint cannot be read: {error}",
            "Start a new run (the finished model.keras, if any, is still usable).",
        ) from error
    return model


def _restore_checkpoint(model: Any, checkpoint: Checkpoint, learning_rate: float) -> None:
    """Put the checkpoint's values back: into the head (compiled first, so that its optimizer
    state comes back too) for a head-phase checkpoint, else into the whole model."""
    values = load_values(checkpoint)
    phase = checkpoint.state.get("phase")
    if phase == "top":  # the tuner's weights: the backbone's top and the head
        restore(top_tuning.tuner(model), values)
        return
    if phase != "head":
        restore(model, values)
        return
    head = model.get_layer(HEAD_LAYER)
    if not head.compiled:
        _compile(head, learning_rate)
    restore(head, values)


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
    phases = _phases(settings, _has_backbone(model), _tunable_top(run, model, split))
    total_epochs = phases[-1].end
    batch = settings.batch_size
    retried = False
    names = {p.name for p in phases}
    while True:
        inputs = PhaseInputs(
            run,
            model,
            scan,
            split,
            batch,
            fine_tunes="fine_tune" in names,
            tunes_top="top" in names,
        )
        done = resumed.epoch if resumed else 0
        first = next((p for p in phases if p.end > done), phases[-1])
        data = inputs.for_phase(first)
        inputs.split = split = data.split  # without images that vanished meanwhile
        steps = _steps(run, len(split.train), batch * run.replicas)
        run.report(
            {
                "event": "start",
                "run_dir": str(run.folder.root),
                "model": settings.model,
                "strategy": strategy_name,
                "devices": plan.devices,
                "device_type": plan.device_type,
                "replicas": run.replicas,
                "mixed_precision": use_mixed,
                "per_replica_batch": batch,
                "global_batch": batch * run.replicas,
                "steps_per_epoch": steps,
                "epochs": total_epochs,
                "phases": [{"name": p.name, "epochs": p.end - p.start} for p in phases],
                "initial_epoch": done,
                "train_images": len(split.train),
                "val_images": len(split.val),
                "classes": scan.class_names,
                "cache": data.cache_mode,
            }
        )
        try:
            outcome = _fit_phases(
                run, model, inputs, phases, batch=batch, resumed=resumed, extra=extra
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
                    _restore_checkpoint(model, resumed, settings.learning_rate)
            run.report(
                {
                    "event": "warning",
                    "message": f"Out of memory: retrying once with a batch of {batch} images "
                    f"per device (from epoch {(resumed.epoch if resumed else 0) + 1}).",
                }
            )
            run.settings = settings = replace(settings, batch_size=batch)
            settings.save(run.folder.settings)
    return _finish(run, model, inputs, split=split, scan=scan, outcome=outcome)


def _steps(run: _Run, images: int, global_batch: int) -> int:
    """Steps per epoch; multi-worker runs drop the last partial batch so all workers agree."""
    if run.multi_worker:
        return max(1, images // global_batch)
    return max(1, math.ceil(images / global_batch))


def _has_backbone(model: Any) -> bool:
    return any(layer.name == BACKBONE_LAYER for layer in model.layers)


def _tunable_top(run: _Run, model: Any, split: Any) -> bool:
    """Whether the run tunes the backbone's top on cached maps: asked for, a backbone that has
    one, and maps that fit in memory (else a warning says the top stays as it is)."""
    if not run.settings.top_epochs or top_tuning.cut_layer(model) is None:
        return False
    images = len(split.train) + len(split.val)
    views = top_tuning.view_count(run.settings.augment, run.settings.flip)
    # Counted twice: the arrays and their tensors live side by side while the phase starts.
    needed = 2 * top_tuning.map_bytes(model, images + len(split.train) * (views - 1))
    if needed <= top_tuning.MAX_MAP_BYTES:
        return True
    run.report(
        {
            "event": "warning",
            "message": f"The backbone's top is not tuned: the maps of {images} images would "
            f"take {needed / 2**30:.1f} GB of memory. The head alone is trained "
            "(--fine-tune-epochs tunes the top on the images instead, slower).",
        }
    )
    return False


@dataclass(frozen=True)
class _Outcome:
    history: list[dict]
    stopped_early: bool
    best_epoch: int | None  # 1-based: the epoch whose weights the model holds
    between_phases: bool = False  # stopped after a phase ended, before the next one's epoch


def _fit_phases(
    run: _Run,
    model: Any,
    inputs: PhaseInputs,
    phases: list[_Phase],
    *,
    batch: int,
    resumed: Checkpoint | None,
    extra: list[Any],
) -> _Outcome:
    """Each phase in turn (for backbones: the head on features, then the top on maps and/or
    fine-tuning), each starting at the epoch where the one before ended, early or not.

    Each phase has its own early stopping, which a resumed run continues from the checkpoint
    (`resumed`, which names its phase and the epoch that phase started at): a phase whose
    patience had already run out, or that ended exactly at the checkpoint, is ended as its
    fit() would have ended it (best weights back), not retrained. With early stopping, a
    later phase whose best epoch does not beat the phase before it (validation loss) gives
    its weights back.
    """
    settings = run.settings
    clock = RunClock(batch * run.replicas, phases[-1].end, run.device_type)
    saved = resumed.state if resumed else {}
    state = {"batch_size": batch, "history": saved.get("history", []), "best": saved.get("best")}
    names = [p.name for p in phases]
    current = names.index(saved["phase"]) if saved.get("phase") in names else 0
    start = int(saved.get("phase_start", phases[current].start))
    best = load_best(resumed) if resumed else None
    progress = progress_callback(run.report, run.cancel, clock)
    tensorboard = _tensorboard(run.folder.logs)
    stopped_early = between = False
    for phase in phases[current:]:
        if run.cancel.cancelled:
            break
        history = state["history"]
        end = start + phase.end - phase.start
        target = inputs.target(phase)
        stopper = _early_stopping(settings, progress, history, start, best)
        spent = stopper is not None and stopper.resumed.stopped
        if len(history) >= end or spent:
            if stopper is not None:
                stopper.restore_best(target)
            stopped_early = spent
        else:
            run.report(
                {
                    "event": "phase",
                    "phase": phase.name,
                    "first_epoch": start + 1,
                    "epochs": end - start,
                    "label": PHASE_LABELS[phase.name],
                }
            )
            try:
                data = inputs.for_phase(phase)  # the top's mirror maps are computed here
            except Cancelled:  # between phases: the model holds the phase before's kept epoch
                between = True
                break
            _prepare_phase(run, model, target, phase, resumed)
            # A later phase, from its first epoch: what it must beat to keep its weights.
            later = phase.name in ("top", "fine_tune") and len(history) == start
            before = _Before.of(target, state) if later and settings.early_stopping else None
            phase_state = {**state, "phase": phase.name, "phase_start": start}
            checkpoint = checkpoint_callback(run.folder.checkpoints, progress, phase_state, stopper)
            stoppers = [] if stopper is None else [stopper]  # before the checkpoint: it asks
            _fit(
                run,
                target,
                data,
                epochs=end,
                initial_epoch=len(history),
                callbacks=[progress, *stoppers, checkpoint, *extra, tensorboard],
            )
            if phase.name == "top":  # the model's own optimizer knows the head's weights only
                top_tuning.freeze(model)
            state = checkpoint.state
            stopped_early = stopper is not None and stopper.stopped_epoch > 0
            if before is not None and not run.cancel.cancelled:
                state["best"] = before.keep_if_better(run, target, state, phase.name)
        start, best = len(state["history"]), None  # the next phase: its own early stopping
    history = state["history"]
    best_epoch = state.get("best") if settings.early_stopping else None
    return _Outcome(history, stopped_early, int(best_epoch or len(history)) or None, between)


@dataclass
class _Before:
    """The weights a later phase starts from and the best validation loss so far: what the
    phase must beat to keep its own weights."""

    weights: list[Any]
    val_loss: float
    epoch: int  # 1-based: the epoch those weights are from

    start: int  # the phase's first epoch (0-based)

    @classmethod
    def of(cls, target: Any, state: dict) -> _Before | None:
        """None before any epoch, or without validation."""
        history = state["history"]
        epoch = int(state.get("best") or len(history))
        loss = history[epoch - 1].get("val_loss") if epoch else None
        if loss is None:
            return None
        return cls(target.get_weights(), float(loss), epoch, len(history))

    def keep_if_better(self, run: _Run, target: Any, state: dict, phase: str) -> int | None:
        """The epoch the model now holds: the phase's best when it beat what came before, else
        (the weights put back) the earlier one, with a message."""
        fresh = [e.get("val_loss") for e in state["history"][self.start :]]
        losses = [loss for loss in fresh if loss is not None]
        if not losses or min(losses) < self.val_loss:
            return state.get("best")
        target.set_weights(self.weights)
        label = "Tuning the backbone's top" if phase == "top" else "Fine-tuning"
        run.report(
            {
                "event": "warning",
                "message": f"{label} did not improve on the validation loss of epoch "
                f"{self.epoch} ({self.val_loss:.3f}); the model keeps epoch {self.epoch}'s "
                "weights.",
            }
        )
        return self.epoch


def _prepare_phase(
    run: _Run, model: Any, target: Any, phase: _Phase, resumed: Checkpoint | None
) -> None:
    """Compile what `phase` trains (the head once; the tuner or the unfrozen model for the
    later phases, with the optimizer state back when the run resumes inside that phase)."""
    with run.strategy.scope():
        if phase.name == "head":
            if not target.compiled:
                _compile(target, phase.learning_rate)
            return
        if phase.name == "full":  # compiled (and restored, on resume) with the model
            return
        if phase.name == "top":
            top_tuning.unfreeze(model)
        else:
            unfreeze_top(model)
        _compile(target, phase.learning_rate)
        if resumed is not None and resumed.state.get("phase") == phase.name:
            restore(target, load_values(resumed))


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
        distribute.prepare_multi_worker(model, run.strategy)
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
    run: _Run, model: Any, inputs: PhaseInputs, *, split: Any, scan: Any, outcome: _Outcome
) -> TrainResult:
    """Save the model, metrics and evaluation. A cancelled run keeps the last completed epoch:
    the weights of a half-trained epoch are replaced by its checkpoint's first (none: no
    model.keras)."""
    folder = run.folder
    history = outcome.history
    saved, best_epoch = _completed_model(run, model, outcome)
    if saved:
        save_model(model, folder.model)
    final = history[-1] if history else {}
    evaluation = _evaluation(run, inputs, split, scan) if split.val and saved else None
    evaluation_path = folder.evaluation if evaluation is not None else None
    if evaluation is not None:
        final = {**final, "model_val_accuracy": evaluation["accuracy"]}
    status = (
        "cancelled"
        if run.cancel.cancelled
        else "stopped_early"
        if outcome.stopped_early
        else "completed"
    )
    best = {"best_epoch": best_epoch}
    write_json(folder.metrics, {"status": status, **best, "final": final, "history": history})
    paths = {
        "run_dir": str(folder.root),
        "model_path": str(folder.model) if saved else None,
        "labels_path": str(folder.labels),
        "metrics_path": str(folder.metrics),
        "evaluation_path": str(evaluation_path) if evaluation_path else None,
        "logs_dir": str(folder.logs),
    }
    if status == "cancelled":
        run.report({"event": "cancelled", "epochs_completed": len(history), **best, **paths})
    else:
        run.report(
            {
                "event": "done",
                "status": status,
                "epochs_completed": len(history),
                **best,
                "metrics": final,
                **paths,
            }
        )
    model_path = folder.model if saved else None
    return TrainResult(status, folder.root, model_path, len(history), final, evaluation_path)


def _evaluation(run: _Run, inputs: PhaseInputs, split: Any, scan: Any) -> dict | None:
    """Score the saved model on the validation images and write evaluation.json: for a
    stopped run too (the kept epoch's results, for the Results and Runs pages), unless what
    it needs was never prepared (stopped before then: None)."""
    from gpu_assistant.data.split import stable_order

    try:
        scorer, val = inputs.evaluation()
    except Cancelled:
        return None
    run.report(  # a stopped run waits for this pass too: long when fine-tuning on a CPU
        {
            "event": "progress",
            "phase": "evaluation",
            "message": f"Scoring the kept model on the {len(split.val)} validation images…",
        }
    )
    probabilities, labels = predict_probabilities(scorer, val)
    ordered = stable_order(split.val, scan.root, run.settings.seed)
    images = [r.path for r in ordered] if len(ordered) == len(labels) else None
    evaluation = evaluation_report(probabilities, labels, scan.class_names, images)
    evaluation["warnings"] = trust_warnings(evaluation)
    write_json(run.folder.evaluation, evaluation)
    for message in evaluation["warnings"]:
        run.report({"event": "warning", "message": message})
    return evaluation


def _completed_model(run: _Run, model: Any, outcome: _Outcome) -> tuple[bool, int | None]:
    """(whether `model` holds a completed epoch to save, that epoch): always unless cancelled,
    when the last checkpoint's weights are put back (the cancel stopped mid-epoch)."""
    if not run.cancel.cancelled or outcome.between_phases:  # no epoch was cut short
        return True, outcome.best_epoch
    checkpoint = latest_checkpoint(run.folder.checkpoints)
    if checkpoint is None:
        return False, None
    with run.strategy.scope():
        _restore_checkpoint(model, checkpoint, run.settings.learning_rate)
    return True, checkpoint.epoch
