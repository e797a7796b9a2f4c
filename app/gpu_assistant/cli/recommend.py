"""`gpu-assistant recommend`: which TensorFlow fits this (or a described) machine, and why not.

Flags replace what was detected, so users can ask about a machine they plan to buy or a server
they manage. Exit 0 when a GPU build fits without changes, 1 when it does not, 2 on bad flags.
"""

from __future__ import annotations

import argparse
from typing import Any

from gpu_assistant.cli import EXIT_NO, EXIT_OK
from gpu_assistant.cli.output import print_json
from gpu_assistant.system.recommend import OSES


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "recommend",
        help="the TensorFlow version, package and install command for this GPU",
        description="Recommend the newest TensorFlow that will use the GPU. With no flags, for "
        "this machine; each flag replaces one detected value. Exit 0: a GPU build fits; "
        "1: it does not (see blockers); 2: bad arguments.",
    )
    parser.add_argument("--os", choices=OSES, help="operating system (default: detected)")
    parser.add_argument("--python", metavar="X.Y", help="Python version, e.g. 3.11")
    parser.add_argument("--gpu-name", metavar="NAME", help='e.g. "GeForce RTX 3090"')
    parser.add_argument(
        "--compute-capability", metavar="X.Y", help="CUDA compute capability, e.g. 8.6"
    )
    parser.add_argument("--driver", metavar="VERSION", help="NVIDIA driver, e.g. 535.104.05")
    parser.add_argument(
        "--glibc",
        metavar="X.Y",
        help="the Linux machine's glibc (`ldd --version`), e.g. 2.17 on CentOS 7",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from gpu_assistant.system.hardware import probe
    from gpu_assistant.system.recommend import query_from_system, recommend

    query = query_from_system(
        probe(),
        os=args.os,
        python=args.python,
        gpu_name=args.gpu_name,
        compute_capability=args.compute_capability,
        driver=args.driver,
        glibc=args.glibc,
    )
    result = recommend(query)
    if args.json:
        print_json(result.to_json())
    else:
        print(format_text(result.to_json()))
    return EXIT_OK if result.ok else EXIT_NO


def format_text(rec: dict[str, Any]) -> str:
    """The recommendation as a short readable report (also used by `doctor`)."""
    system = rec["system"]
    named = [f"{g['name']} ({g['compute_capability']})" for g in system["gpus"]]
    if system.get("other_gpu"):
        named.append(f"{system['other_gpu']} (not NVIDIA)")
    gpus = ", ".join(named) or "none"
    lines = [
        f"System: {system['os']}, Python {system['python']}, "
        f"driver {system['driver'] or 'unknown'}, GPUs: {gpus}"
    ]
    if rec["ok"]:
        lines += [
            f"TensorFlow {rec['tensorflow']} will use the GPU "
            f"(CUDA {rec['cuda']}, cuDNN {rec['cudnn']}).",
            f"Install: {rec['install_command']}",
        ]
    else:
        lines.append("No TensorFlow build will use a GPU here without changes:")
    lines += [f"  BLOCKER {b['message']}\n    Fix: {b['fix']}" for b in rec["blockers"]]
    lines += [f"  note: {w['message']} {w['fix']}".rstrip() for w in rec["warnings"]]
    cpu = rec["cpu_fallback"]
    lines.append(
        f"CPU fallback: {cpu['install_command']}" if cpu["package"] else f"CPU: {cpu['note']}"
    )
    return "\n".join(lines)
