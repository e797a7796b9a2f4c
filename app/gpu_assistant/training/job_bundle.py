"""write_job(run_dir, out_dir, hosts): a folder to copy to other machines and train there.

The bundle holds the run's standalone script (plain TensorFlow, no app import), the run's split
as a file list with labels (so every machine trains on exactly the app's files), one TF_CONFIG
per worker filled from the user's host list (MultiWorkerMirroredStrategy, TensorFlow's own
engine), a Ray Train entry point for users who already run a Ray cluster, and a README with the
exact command for each worker.
"""

from __future__ import annotations

import ipaddress
import json
import string
from dataclasses import dataclass
from pathlib import Path

from gpu_assistant.jobs import UserError
from gpu_assistant.resources import resource_path
from gpu_assistant.training.run_folder import RunFolder, read_labels, write_json
from gpu_assistant.training.settings import TrainSettings

MAX_WORKERS = 256


@dataclass(frozen=True)
class JobBundle:
    """What `write_job` wrote: the folder, the script in it and one TF_CONFIG per worker."""

    root: Path
    script: Path
    tf_configs: list[Path]


def parse_hosts(text: str) -> list[str]:
    """`host:port,host:port` -> the worker addresses, checked so a typo fails here and not as
    a silent hang on the cluster (IPv6 literals in brackets: `[::1]:2222`)."""
    hosts = [part.strip() for part in text.split(",") if part.strip()]
    fix = "Give each worker as host:port, separated by commas, e.g. --hosts a:2222,b:2222."
    if not hosts:
        raise UserError("--hosts names no worker.", fix)
    if len(hosts) > MAX_WORKERS:
        raise UserError(f"--hosts names {len(hosts)} workers; at most {MAX_WORKERS}.", fix)
    for host in hosts:
        _check_host(host, fix)
    if len(set(hosts)) != len(hosts):
        raise UserError("--hosts names the same worker twice.", fix)
    return hosts


def _check_host(address: str, fix: str) -> None:
    name, sep, port = address.rpartition(":")
    if not sep or not name or not port.isdigit() or not 0 < int(port) < 65536:
        raise UserError(f"'{address}' is not host:port with a port from 1 to 65535.", fix)
    if name.startswith("["):
        try:
            ipaddress.IPv6Address(name.strip("[]"))
        except ValueError:
            raise UserError(f"'{address}' has an invalid IPv6 address.", fix) from None
    elif not all(c.isalnum() or c in "-._" for c in name):
        raise UserError(f"'{address}' is not a host name or address.", fix)


def tf_config(hosts: list[str], index: int) -> dict[str, object]:
    """The TF_CONFIG of worker `index` (worker 0 is the chief: it writes the model)."""
    return {"cluster": {"worker": list(hosts)}, "task": {"type": "worker", "index": index}}


def write_job(run_dir: Path, out_dir: Path, hosts: list[str]) -> JobBundle:
    """Write the bundle for the run in `run_dir` into `out_dir` (created; files replaced)."""
    folder = RunFolder(Path(run_dir))
    for needed in (folder.settings, folder.split, folder.labels):
        if not needed.is_file():
            raise UserError(
                f"The run folder has no {needed.name}: {folder.root}",
                "Export the job from a run folder the app wrote (a finished or stopped run).",
            )
    from gpu_assistant.training.export import export

    settings = TrainSettings.load(folder.settings)
    classes = read_labels(folder.labels)
    out_dir = Path(out_dir)
    # The script (and the offline backbone it starts from, where it needs one), exactly as
    # `export --format script` writes them.
    script = export(folder.root, ["script"], out_dir, rescore=False).paths["script"]
    write_json(out_dir / "split.json", _labelled_split(folder.split, classes))
    configs = []
    for index in range(len(hosts)):
        path = out_dir / "tf_config" / f"worker-{index}.json"
        path.parent.mkdir(exist_ok=True)
        write_json(path, tf_config(hosts, index))
        configs.append(path)
    values = {"script": script.name, "workers": str(len(hosts)), "epochs": str(settings.epochs)}
    _fill("ray_train.py.tmpl", out_dir / "ray_train.py", values)
    readme = _fill("job_readme.md.tmpl", out_dir / "README.md", values)
    with readme.open("a", encoding="utf-8") as file:
        file.write(_worker_commands(script.name, hosts))
    return JobBundle(out_dir, script, configs)


def _labelled_split(split_file: Path, classes: list[str]) -> dict[str, object]:
    """The run's split.json (relative paths) as [path, label] pairs; the label is the index of
    the path's class folder, exactly as the app numbered the classes."""
    saved = json.loads(split_file.read_text(encoding="utf-8"))
    index = {name: i for i, name in enumerate(classes)}
    parts: dict[str, object] = {"classes": classes}
    for name in ("train", "val"):
        items = []
        for relative in saved.get(name, []):
            label = index.get(relative.split("/", 1)[0])
            if label is None:
                raise UserError(
                    f"split.json names '{relative}', outside the run's classes.",
                    "The run folder was changed by hand; export from an unchanged run.",
                )
            items.append([relative, label])
        parts[name] = items
    return parts


def _fill(template: str, target: Path, values: dict[str, str]) -> Path:
    text = resource_path("templates", template).read_text(encoding="utf-8")
    target.write_text(string.Template(text).substitute(values), encoding="utf-8")
    return target


def _worker_commands(script: str, hosts: list[str]) -> str:
    """One block per worker: the exact commands to paste on that machine."""
    lines = ["\n## The commands, one machine each\n"]
    for index, host in enumerate(hosts):
        role = " (the chief: it writes the model)" if index == 0 else ""
        lines += [
            f"\nWorker {index}, on `{host.rpartition(':')[0]}`{role}:\n",
            "```bash",
            f'export TF_CONFIG="$(cat tf_config/worker-{index}.json)"',
            f"python {script} DATA_DIR --split split.json --out trained",
            "```",
        ]
    return "\n".join(lines) + "\n"
