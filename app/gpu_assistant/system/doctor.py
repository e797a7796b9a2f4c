"""The environment report: what the machine has, what fits it, and whether TensorFlow works.

Combines the NVML probe, the recommendation and (unless skipped) the child-process
verification into one `DoctorReport`, printable as JSON (the CLI contract), readable text, or
a Markdown block to paste into a forum post or bug report (like PyTorch's collect_env).
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass
from typing import Any

from gpu_assistant import __version__, paths
from gpu_assistant.jobs import CancelToken, Report, ignore
from gpu_assistant.system.compat import release_part
from gpu_assistant.system.diagnose import FAIL, PASS, WARN, Check
from gpu_assistant.system.hardware import NVML_OK, SystemInfo, probe
from gpu_assistant.system.recommend import Recommendation, query_from_system, recommend
from gpu_assistant.system.requirements import MISSING, OK, WRONG, RequirementRow, app_requirements
from gpu_assistant.system.verify import VerifyResult
from gpu_assistant.system.verify import verify as run_verification

_GPU_PACKAGES = ("tensorflow", "tf-nightly")
_LOG_LINES_IN_MARKDOWN = 30
_MARK = {PASS: "PASS", WARN: "WARN", FAIL: "FAIL"}


@dataclass
class DoctorReport:
    system: SystemInfo
    recommendation: Recommendation
    verification: VerifyResult | None
    checks: list[Check]
    requirements: list[RequirementRow] | None = None  # None: not installed as a distribution

    @property
    def ready(self) -> bool:
        """TensorFlow will use a GPU now: proven by the verification, else predicted."""
        if self.verification is not None:
            return self.verification.gpu_works
        return _predicted_ready(self.system, self.recommendation)

    def to_json(self) -> dict[str, Any]:
        info, verification = self.system, self.verification
        installed = info.tensorflow_package
        tensorflow: dict[str, Any] = {
            "installed": installed is not None,
            "package": installed[0] if installed else None,
            "version": installed[1] if installed else None,
            "build": None,
            "gpus_visible": None,
            "verified": verification is not None,
        }
        if verification is not None:
            tensorflow.update(
                installed=tensorflow["installed"] or verification.installed,
                imports=verification.installed,
                version=verification.version or tensorflow["version"],
                build=verification.build or None,
                gpus_visible=verification.gpus_visible,
                devices=verification.devices,
                seconds=verification.seconds,
            )
        return {
            "app_version": __version__,
            "os": info.os,
            "os_detail": info.os_detail,
            "arch": info.arch,
            "glibc": info.glibc,
            "python": info.python,
            "python_executable": sys.executable,
            "driver": dataclasses.asdict(info.driver),
            "nvml": {"state": info.nvml_state, "message": info.nvml_message},
            "gpus": [dataclasses.asdict(g) for g in info.gpus],
            "packages": info.packages,
            "tensorflow": tensorflow,
            "recommendation": self.recommendation.to_json(),
            "checks": [dataclasses.asdict(c) for c in self.checks],
            "requirements": None
            if self.requirements is None
            else [dataclasses.asdict(r) for r in self.requirements],
            "ready": self.ready,
            "ready_basis": "verified" if verification is not None else "predicted",
            "log": verification.log if verification is not None else None,
        }

    def to_text(self) -> str:
        data = self.to_json()
        lines = [
            f"System:     {data['os_detail']} ({data['arch']}), Python {data['python']}",
            f"Driver:     {data['driver']['version'] or 'none'}"
            + (
                f" (supports CUDA {data['driver']['cuda_driver_version']})"
                if data["driver"]["cuda_driver_version"]
                else ""
            ),
        ]
        lines += [
            f"GPU {g['index']}:      {g['name']}, compute capability "
            f"{g['compute_capability']}, {g['memory_total_mib']} MiB"
            for g in data["gpus"]
        ] or [f"GPUs:       none ({data['nvml']['message']})"]
        lines.append(f"TensorFlow: {_tf_line(data['tensorflow'])}")
        rec = data["recommendation"]
        if rec["ok"]:
            lines.append(f"Recommended: {rec['package']}  ->  {rec['install_command']}")
        else:
            lines.append("Recommended: no GPU build fits without changes (see checks)")
        lines.append("")
        for check in data["checks"]:
            lines.append(f"[{_MARK[check['status']]}] {check['message']}")
            if check["fix"] and check["status"] != PASS:
                lines.append(f"       Fix: {check['fix']}")
        if data["requirements"]:
            lines += ["", "Requirements (installed vs wanted):"]
            lines += [
                f"  {r['name']:<20} {r['installed'] or '-':<12} {r['wanted']:<18} {r['state']}"
                for r in data["requirements"]
            ]
        verdict = "READY: TensorFlow will use the GPU." if data["ready"] else "NOT READY"
        if data["ready_basis"] == "predicted":
            verdict += " (predicted; run without --no-verify to test for real)"
        lines += ["", verdict]
        return "\n".join(lines)

    def to_markdown(self) -> str:
        data = self.to_json()
        rows = [
            ("App", f"tf-gpu-assistant {data['app_version']}"),
            ("OS", f"{data['os_detail']} ({data['os']}, {data['arch']})"),
            ("glibc", data["glibc"] or "n/a"),
            ("Python", data["python"]),
            ("NVIDIA driver", data["driver"]["version"] or f"none ({data['nvml']['state']})"),
            ("Driver CUDA version", data["driver"]["cuda_driver_version"] or "n/a"),
            ("TensorFlow", _tf_line(data["tensorflow"])),
            ("Recommended", data["recommendation"]["package"] or "none fits"),
            ("Ready", "yes" if data["ready"] else "no"),
            ("App log", str(paths.log_file())),
        ]
        out = [
            "### TensorFlow GPU environment",
            "",
            "| | |",
            "|---|---|",
            *(f"| {k} | {_cell(v)} |" for k, v in rows),
            "",
            "**GPUs**",
            "",
        ]
        if data["gpus"]:
            out += ["| # | Name | CC | Memory (MiB) | MIG |", "|---|---|---|---|---|"]
            out += [
                f"| {g['index']} | {_cell(g['name'])} | {g['compute_capability']} | "
                f"{g['memory_total_mib']} | {'on' if g['mig_enabled'] else 'off'} |"
                for g in data["gpus"]
            ]
        else:
            out.append(f"none: {_cell(data['nvml']['message'])}")
        packages = ", ".join(f"{k}=={v}" for k, v in data["packages"].items()) or "none"
        out += ["", f"**Packages:** {packages}", "", "**Checks**", ""]
        out += [
            f"- **{_MARK[c['status']]}** `{c['id']}`: {c['message']}"
            + (f" *Fix:* {c['fix']}" if c["fix"] and c["status"] != PASS else "")
            for c in data["checks"]
        ]
        if data["requirements"]:
            out += ["", "**Requirements**", "", "| Package | Installed | Wanted | |"]
            out += ["|---|---|---|---|"]
            out += [
                f"| {r['name']} | {r['installed'] or '-'} | {_cell(r['wanted'])} | {r['state']} |"
                for r in data["requirements"]
            ]
        if data["log"]:
            tail = data["log"].splitlines()[-_LOG_LINES_IN_MARKDOWN:]
            out += ["", "<details><summary>TensorFlow log</summary>", "", "```", *tail, "```"]
            out += ["", "</details>"]
        return "\n".join(out) + "\n"


def doctor(
    verify: bool = True,
    *,
    nvml: Any = None,
    timeout: float = 180.0,
    report: Report = ignore,
    cancel: CancelToken | None = None,
) -> DoctorReport:
    """Probe, recommend and (with `verify`) test TF in a child; never imports TF itself."""
    info = probe(nvml)
    rec = recommend(query_from_system(info))
    checks = system_checks(info, rec)
    requirements = app_requirements()
    if requirements is not None:
        checks.append(requirements_check(requirements))
    verification = None
    if verify:
        verification = run_verification(timeout=timeout, report=report, cancel=cancel)
        checks += verification.checks
    return DoctorReport(info, rec, verification, checks, requirements)


def requirements_check(rows: list[RequirementRow]) -> Check:
    """One check over the app's own dependencies: a wrong version fails, a missing one warns
    (a missing TensorFlow is `tensorflow_installed`'s to report, with the build that fits)."""
    wrong = [r for r in rows if r.state == WRONG]
    missing = [r for r in rows if r.state == MISSING and r.name.lower() not in _GPU_PACKAGES]
    if not wrong and not missing:
        ok = sum(r.state == OK for r in rows)
        return Check("app_requirements", PASS, f"The app's {ok} dependencies are installed.")
    problems = [f"{r.name} {r.installed} is installed, the app needs {r.wanted}" for r in wrong]
    problems += [f"{r.name} is not installed (the app needs {r.wanted})" for r in missing]
    wanted = " ".join(f'"{r.name}{"" if r.wanted == "any" else r.wanted}"' for r in wrong + missing)
    return Check(
        "app_requirements",
        FAIL if wrong else WARN,
        "; ".join(problems) + ".",
        f"python -m pip install {wanted}",
    )


def system_checks(info: SystemInfo, rec: Recommendation) -> list[Check]:
    """What can be said without importing TensorFlow: driver, GPUs, fit, what is installed."""
    checks = []
    if info.nvml_state == NVML_OK:
        cuda = info.driver.cuda_driver_version
        checks.append(
            Check(
                "nvidia_driver",
                PASS,
                f"NVIDIA driver {info.driver.version}"
                + (f" (supports CUDA up to {cuda})" if cuda else "")
                + ", "
                + ", ".join(
                    f"GPU {g.index}: {g.name} (CC {g.compute_capability})" for g in info.gpus
                )
                + ".",
            )
        )
    blockers = rec.blockers
    if info.nvml_state != NVML_OK:
        # the recommender's "no GPU" blocker repeats the probe's message: fold it in here
        no_gpu = [b for b in blockers if b.id == "no_nvidia_gpu"]
        blockers = [b for b in blockers if b.id != "no_nvidia_gpu"]
        fix = no_gpu[0].fix if no_gpu else ""
        checks.append(Check("nvidia_driver", FAIL, info.nvml_message, fix))
    checks += [Check(note.id, WARN, note.message, note.fix) for note in info.notes]
    if rec.ok:
        checks.append(
            Check(
                "recommendation",
                PASS,
                f"TensorFlow {rec.tensorflow} fits this machine (CUDA {rec.cuda}, "
                f"cuDNN {rec.cudnn}).",
            )
        )
    checks += [Check(b.id, FAIL, b.message, b.fix) for b in blockers]
    seen = {c.id for c in checks}
    checks += [Check(w.id, WARN, w.message, w.fix) for w in rec.warnings if w.id not in seen]
    checks.append(_installed_check(info, rec))
    return checks


def _installed_check(info: SystemInfo, rec: Recommendation) -> Check:
    installed = info.tensorflow_package
    install = rec.install_command or rec.cpu_fallback.get("install_command") or ""
    if installed is None:
        return Check(
            "tensorflow_installed", WARN, "TensorFlow is not installed.", f"Install it: {install}"
        )
    name, version = installed
    if name not in _GPU_PACKAGES:
        return Check(
            "tensorflow_installed",
            FAIL,
            f"{name} {version} is installed: a build without NVIDIA GPU support.",
            f"pip uninstall {name}, then: {install}",
        )
    if rec.ok and not _acceptable(version, rec):
        return Check(
            "tensorflow_installed",
            WARN,
            f"TensorFlow {version} is installed, but it will not use this GPU here; "
            f"{rec.tensorflow} will.",
            f"Install it: {install}",
        )
    return Check("tensorflow_installed", PASS, f"{name} {version} is installed.")


def _acceptable(version: str, rec: Recommendation) -> bool:
    """The installed TensorFlow is of a minor line the recommendation accepts."""
    minor = release_part(version)[:2]
    return any(release_part(v)[:2] == minor for v in rec.acceptable_versions)


def _predicted_ready(info: SystemInfo, rec: Recommendation) -> bool:
    installed = info.tensorflow_package
    return (
        info.nvml_state == NVML_OK
        and rec.ok
        and installed is not None
        and installed[0] in _GPU_PACKAGES
        and _acceptable(installed[1], rec)
    )


def _tf_line(tf: dict[str, Any]) -> str:
    if not tf["installed"]:
        return "not installed"
    text = f"{tf['version']}"
    build = tf.get("build")
    if build:
        text += (
            f", CUDA build {build.get('cuda_version')} / cuDNN {build.get('cudnn_version')}"
            if build.get("is_cuda_build")
            else ", CPU-only build"
        )
    if tf.get("gpus_visible") is not None:
        text += f", {len(tf['gpus_visible'])} GPU(s) visible"
    return text


def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")
