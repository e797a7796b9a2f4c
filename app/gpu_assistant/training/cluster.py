"""The multi-worker cluster spec (TF_CONFIG), checked before anything runs: a spec that
MultiWorkerMirroredStrategy cannot use crashes or hangs it long after the command started."""

from __future__ import annotations

from typing import Any

from gpu_assistant.jobs import UserError

CLUSTER_EXAMPLE = (
    'Use {"cluster": {"worker": ["host1:port", "host2:port"]}, '
    '"task": {"type": "worker", "index": 0}}.'
)


def validate_cluster(spec: Any) -> None:
    """Refuse a TF_CONFIG that MultiWorkerMirroredStrategy would crash or hang on."""

    def bad(message: str) -> UserError:
        return UserError(f"The cluster spec (TF_CONFIG) is not usable: {message}.", CLUSTER_EXAMPLE)

    if not isinstance(spec, dict) or not isinstance(spec.get("cluster"), dict):
        raise bad('it needs a "cluster" object')
    cluster, task = spec["cluster"], spec.get("task")
    others = sorted(set(cluster) - {"worker", "chief"})
    if others:
        raise bad(
            f"{', '.join(others)} jobs are not supported (MultiWorkerMirroredStrategy trains "
            "on workers only, no parameter servers)"
        )
    for job, addresses in cluster.items():
        if not isinstance(addresses, list) or not addresses:
            raise bad(f'"{job}" lists no workers: give a non-empty list of "host:port" addresses')
        for address in addresses:
            host, _, port = address.rpartition(":") if isinstance(address, str) else ("", "", "")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise bad(f'{address!r} in "{job}" is not a "host:port" address')
    every = [a for addresses in cluster.values() for a in addresses]
    if len(set(every)) != len(every):
        raise bad("an address is listed twice")
    if "worker" not in cluster:
        raise bad('it lists no "worker"')
    if not isinstance(task, dict) or task.get("type", "worker") not in cluster:
        raise bad(f'"task" must name this process\'s job ({" or ".join(cluster)}) and index')
    index, job = task.get("index", 0), task.get("type", "worker")
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(cluster[job]):
        raise bad(f'task index {index!r} is not one of the {len(cluster[job])} "{job}" entries')
