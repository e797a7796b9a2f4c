"""Devices and the tf.distribute strategy a run uses, decided from its settings.

Device configuration (visible GPUs, memory growth, logical devices) only works before
TensorFlow initialises its runtime, so `configure_devices` must run first in a training process;
a second call in the same process (the UI training twice) keeps the first configuration and says
so instead of failing.
"""

from __future__ import annotations

import json
import math
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from gpu_assistant.jobs import CancelToken, Report, UserError, ignore
from gpu_assistant.training.cluster import validate_cluster
from gpu_assistant.training.settings import TrainSettings

MIN_MIXED_PRECISION_CC = (7, 0)
CLUSTER_TIMEOUT_ENV = "GPU_ASSISTANT_CLUSTER_TIMEOUT"  # seconds to wait for the other workers
CLUSTER_TIMEOUT_S = 300.0
WAITING_EVERY_S = 5.0  # a "waiting" event per missing worker at most this often
DEFAULT_STRATEGY = "default (one device)"


@dataclass
class DevicePlan:
    """What `configure_devices` found and set up."""

    device_type: str  # "GPU" or "CPU"
    devices: list[str]  # logical device names the strategy uses (set by make_strategy)
    compute_capabilities: list[tuple[int, int]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def cluster_spec(settings: TrainSettings) -> dict[str, Any] | None:
    """The multi-worker TF_CONFIG for this run: settings.cluster, else the TF_CONFIG variable."""
    if settings.cluster:
        return settings.cluster
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return None
    try:
        config = json.loads(raw)
    except ValueError as error:
        raise UserError(
            f"TF_CONFIG is not valid JSON: {error}",
            'Set it like {"cluster": {"worker": ["host:port", ...]}, '
            '"task": {"type": "worker", "index": 0}} or unset it.',
        ) from error
    cluster = config.get("cluster") if isinstance(config, dict) else None
    workers = cluster.get("worker") if isinstance(cluster, dict) else None
    one = isinstance(workers, list) and len(workers) <= 1
    if one and isinstance(cluster, dict) and set(cluster) == {"worker"}:
        return None  # one worker: nothing to distribute
    validate_cluster(config)
    return config


def configure_devices(settings: TrainSettings) -> DevicePlan:
    """Choose GPUs, turn on memory growth, split into logical devices; before TF starts."""
    import tensorflow as tf

    warnings: list[str] = []
    gpus = tf.config.list_physical_devices("GPU")
    if settings.gpus:
        missing = [i for i in settings.gpus if i >= len(gpus)]
        if missing:
            raise UserError(
                f"GPU {missing[0]} was asked for but only {len(gpus)} GPU(s) are visible.",
                "Check `gpu-assistant doctor` and pick GPUs from its list (--gpus 0,1).",
            )
        gpus = [gpus[i] for i in settings.gpus]
    if not settings.multi_gpu and len(gpus) > 1:
        gpus = gpus[:1]
    try:
        if gpus:
            tf.config.set_visible_devices(gpus, "GPU")
            for gpu in gpus:
                if settings.memory_growth and settings.virtual_devices <= 1:
                    tf.config.experimental.set_memory_growth(gpu, True)
        if settings.virtual_devices > 1:
            _split(tf, gpus[0] if gpus else tf.config.list_physical_devices("CPU")[0], settings)
    except RuntimeError:
        # TF is already initialised in this process (a second run in the app): keep what is set.
        warnings.append(
            "Device settings (GPUs, memory growth, virtual devices) were already fixed by an "
            "earlier run in this process; restart the app to change them."
        )
    # Only physical devices here: listing logical ones would start the runtime, after which
    # MultiWorkerMirroredStrategy can no longer be created (make_strategy fills `devices`).
    capabilities = [
        tuple(tf.config.experimental.get_device_details(g).get("compute_capability", (0, 0)))
        for g in gpus
    ]
    return DevicePlan("GPU" if gpus else "CPU", [], capabilities, warnings)


def _split(tf: Any, device: Any, settings: TrainSettings) -> None:
    """Make `settings.virtual_devices` logical devices out of one physical device."""
    count = settings.virtual_devices
    if device.device_type == "GPU":
        # Each logical GPU needs a fixed memory limit; split a conservative 1 GiB each.
        configs = [tf.config.LogicalDeviceConfiguration(memory_limit=1024) for _ in range(count)]
    else:
        configs = [tf.config.LogicalDeviceConfiguration() for _ in range(count)]
    tf.config.set_logical_device_configuration(device, configs)


def decide_mixed_precision(
    mode: str, device_type: str, capabilities: list[tuple[int, int]]
) -> tuple[bool, str | None]:
    """Whether to train in mixed float16, and a warning when the user's "on" cannot be honoured.

    Mixed precision only speeds up GPUs with tensor cores (compute capability >= 7.0) and is
    never used on the CPU, where it is slower.
    """
    if mode == "off":
        return False, None
    capable = (
        device_type == "GPU"
        and bool(capabilities)
        and all(cc >= MIN_MIXED_PRECISION_CC for cc in capabilities)
    )
    if capable:
        return True, None
    if mode == "on":
        where = "on the CPU" if device_type != "GPU" else "on GPUs below compute capability 7.0"
        return False, f"Mixed precision was asked for but is off: it does not help {where}."
    return False, None


def make_strategy(
    settings: TrainSettings,
    plan: DevicePlan,
    report: Report = ignore,
    cancel: CancelToken | None = None,
) -> tuple[Any, str]:
    """The tf.distribute strategy for the run and its name; fills `plan.devices`."""
    import tensorflow as tf

    cluster = cluster_spec(settings)
    if cluster is not None:
        os.environ["TF_CONFIG"] = json.dumps(cluster)
        communication = tf.distribute.experimental.CommunicationOptions(
            implementation=tf.distribute.experimental.CommunicationImplementation.RING
        )
        wait_for_peers(cluster, report, cancel or CancelToken(), cluster_timeout())
        strategy = tf.distribute.MultiWorkerMirroredStrategy(communication_options=communication)
        plan.devices = list(strategy.extended.worker_devices)
        return strategy, "MultiWorkerMirroredStrategy"
    plan.devices = [d.name for d in tf.config.list_logical_devices(plan.device_type)]
    if settings.multi_gpu and len(plan.devices) > 1:
        if plan.device_type == "CPU":
            # NCCL is GPU-only; on logical CPU devices reduce through host memory.
            cross = tf.distribute.ReductionToOneDevice(reduce_to_device=plan.devices[0])
        else:
            cross = None
        return (
            tf.distribute.MirroredStrategy(plan.devices, cross_device_ops=cross),
            "MirroredStrategy",
        )
    # One device: TF's default strategy (it places work on the first visible GPU, else the
    # CPU). OneDeviceStrategy would add a distribution layer to every step for nothing.
    plan.devices = plan.devices[:1]
    return tf.distribute.get_strategy(), DEFAULT_STRATEGY


def cluster_timeout() -> float:
    """How long to wait for the other workers: $GPU_ASSISTANT_CLUSTER_TIMEOUT, else 5 min."""
    raw = os.environ.get(CLUSTER_TIMEOUT_ENV, "")
    try:
        value = float(raw) if raw else CLUSTER_TIMEOUT_S
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise UserError(
            f"{CLUSTER_TIMEOUT_ENV}={raw!r} is not a number of seconds.", "Unset it, or use 300."
        )
    return value


def wait_for_peers(
    spec: dict[str, Any], report: Report, cancel: CancelToken, timeout_s: float
) -> None:
    """Return once every other worker's port answers; report each one still missing.

    TensorFlow's own multi-worker setup waits in C++, holding the GIL, until every worker
    answers: nothing is said, and Ctrl-C and SIGTERM go unheard (11 minutes in the attack). So
    this waits first, in Python. Meanwhile it listens on this worker's own port, so that the
    others, waiting the same way, see it too; the port is handed to TensorFlow right after.
    """
    task = spec.get("task", {})
    own = (task.get("type", "worker"), int(task.get("index", 0)))
    missing = {
        (job, index): address
        for job, addresses in spec["cluster"].items()
        for index, address in enumerate(addresses)
        if (job, index) != own
    }
    start = time.monotonic()
    told: dict[tuple[str, int], float] = {}  # when each missing peer was last reported
    with _listening(spec["cluster"][own[0]][own[1]]):
        while True:
            missing = {key: address for key, address in missing.items() if not _answers(address)}
            if not missing:
                return
            now = time.monotonic()
            for (job, index), address in missing.items():
                if now - told.get((job, index), -math.inf) >= WAITING_EVERY_S:
                    told[(job, index)] = now
                    report(
                        {
                            "event": "waiting",
                            "message": f"waiting for {job} {index} at {address}",
                            "job": job,
                            "worker": index,
                            "address": address,
                            "waited_s": round(now - start, 1),
                        }
                    )
            if now - start > timeout_s:
                who = ", ".join(
                    f"{job} {index} at {address}" for (job, index), address in missing.items()
                )
                raise UserError(
                    f"The other workers did not answer within {timeout_s:g} s: {who}.",
                    "Start the training on every machine of the cluster spec (the same spec, "
                    "each with its own task index), and check the addresses and the firewall; "
                    f"{CLUSTER_TIMEOUT_ENV}=SECONDS waits longer.",
                )
            cancel.wait(0.5)
            cancel.raise_if_cancelled()


@contextmanager
def _listening(address: str) -> Iterator[None]:
    """Accept connections on this worker's port while waiting (the others probe it)."""
    port = int(address.rpartition(":")[2])
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind(("", port))
        listener.listen(64)
    except OSError as error:
        listener.close()
        raise UserError(
            f"This worker cannot listen on {address} ({error.strerror or error}).",
            "Another program uses that port: stop it, or give this worker another port in "
            "the cluster spec (on every machine).",
        ) from error
    try:
        yield
    finally:
        listener.close()


def _answers(address: str) -> bool:
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=1.0):
            return True
    except (OSError, ValueError):
        return False


def is_chief(settings: TrainSettings) -> tuple[bool, int]:
    """(whether this process writes the run folder, its worker index) under multi-worker."""
    cluster = cluster_spec(settings)
    if cluster is None:
        return True, 0
    task = cluster.get("task", {})
    index = int(task.get("index", 0))
    return task.get("type", "worker") in ("chief", "worker") and index == 0, index


def prepare_multi_worker(model: Any, strategy: Any) -> None:
    """Work around two Keras 3.x bugs under MultiWorkerMirroredStrategy (tested by
    tests/integration/test_train_cli.py with two real workers):

    1. fit() builds metrics and optimizer from its first batch all-reduced across workers,
       which fails for an (images, labels) tuple ("Attempt to convert a value (PerReplica...)").
       Build them from a local batch of the same shapes (only shapes matter) and skip that.
    2. Each step's scalar logs are reduced with `strategy.reduce("MEAN", v, axis=0)`, which
       fails on scalars ("Invalid reduction dimension 0"); reduce those with axis=None.
    """
    import numpy as np
    from keras.src.backend.tensorflow import trainer as keras_tf_trainer

    (source,) = model.inputs  # images for a whole model, features for a head alone
    batch = (np.zeros((1, *source.shape[1:]), source.dtype), np.zeros((1,), np.int32))
    with strategy.scope():
        model._symbolic_build(data_batch=batch)
    model._maybe_symbolic_build = lambda iterator=None, data_batch=None: None

    original = keras_tf_trainer.reduce_per_replica
    if getattr(original, "scalar_safe", False):
        return

    def reduce_per_replica(values: Any, strategy: Any, reduction: str) -> Any:
        import keras
        import tensorflow as tf

        if reduction in ("auto", "mean") and isinstance(
            strategy, tf.distribute.MultiWorkerMirroredStrategy
        ):
            return keras.tree.map_structure(
                lambda v: (
                    strategy.reduce("MEAN", v, axis=None)
                    if isinstance(v, tf.distribute.DistributedValues)
                    else v
                ),
                values,
            )
        return original(values, strategy, reduction)

    reduce_per_replica.scalar_safe = True  # type: ignore[attr-defined]
    keras_tf_trainer.reduce_per_replica = reduce_per_replica


def feed_every_replica(
    train: Any, val: Any, train_count: int, val_count: int, replicas: int
) -> tuple[Any, Any]:
    """Drop final partial batches smaller than the replica count: a replica given zero images
    fails inside batch normalisation. Validation is skipped when it cannot feed them all."""
    import tensorflow as tf

    if train_count < replicas:
        raise UserError(
            f"{train_count} training images cannot feed {replicas} devices.",
            "Add images, or train on fewer devices.",
        )

    def enough(_images: Any, labels: Any) -> Any:
        return tf.shape(labels)[0] >= replicas

    val = val.filter(enough) if val is not None and val_count >= replicas else None
    return train.filter(enough), val
