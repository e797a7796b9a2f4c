"""`gpu-assistant recommend` through the real dispatcher: JSON contract, exit codes, bad flags."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from gpu_assistant.cli import main


def run(capsys, *argv):
    code = main(["recommend", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_json_contract_for_a_described_machine(capsys):
    code, out, _ = run(
        capsys, "--os", "linux", "--python", "3.11", "--gpu-name", "GeForce RTX 3090",
        "--driver", "535.104.05", "--json",
    )  # fmt: skip
    data = json.loads(out)
    assert code == 0
    assert data["ok"] is True and data["tensorflow"] == "2.21.0"
    assert data["package"] == "tensorflow[and-cuda]==2.21.0"
    assert data["install_command"].endswith('"tensorflow[and-cuda]==2.21.0"')
    assert (data["cuda"], data["cudnn"]) == ("12.5.1", "9.3")
    assert data["blockers"] == [] and isinstance(data["warnings"], list)
    assert data["cpu_fallback"]["package"] == "tensorflow==2.21.0"


def test_blocked_machine_exits_1_with_blockers(capsys):
    code, out, _ = run(capsys, "--os", "macos", "--python", "3.12", "--json")
    assert code == 1
    assert json.loads(out)["blockers"][0]["id"] == "macos_no_cuda"


def test_an_apple_gpu_on_macos_is_explained_with_exit_1(capsys):
    code, out, _ = run(capsys, "--os", "macos", "--gpu-name", "Apple M2", "--python", "3.13")
    assert code == 1
    assert "macOS has no NVIDIA CUDA" in out and "tensorflow-metal" in out
    assert "use Python 3.12 for the Apple GPU route" in out
    assert "GPUs: Apple M2 (not NVIDIA)" in out  # the GPU asked about, not "none"
    assert '"tensorflow==2.18.*" tensorflow-metal==1.2.0' in out  # the pair Apple lists


def test_glibc_flag_describes_a_centos_7_server(capsys):
    code, out, _ = run(
        capsys, "--os", "linux", "--python", "3.11", "--gpu-name", "Tesla V100",
        "--driver", "550.54.14", "--glibc", "2.17", "--json",
    )  # fmt: skip
    data = json.loads(out)
    assert code == 0 and data["tensorflow"] == "2.20.0"
    assert "glibc_holds_back" in [w["id"] for w in data["warnings"]]


def test_text_report_reads_well(capsys):
    code, out, _ = run(capsys, "--os", "linux", "--python", "3.11", "--compute-capability", "12.0")
    assert code == 1
    assert "BLOCKER" in out and "Fix:" in out and "CPU fallback:" in out


def test_this_machine_without_flags_answers(capsys):
    code, out, _ = run(capsys, "--json")
    assert code in (0, 1)
    assert {"ok", "tensorflow", "blockers", "cpu_fallback"} <= json.loads(out).keys()


@pytest.mark.parametrize(
    "argv",
    [
        ["--os", "beos"],
        ["--python", "three"],
        ["--compute-capability", "eighty"],
        ["--gpu-name", "Voodoo 5 5500"],
        ["--driver", "new"],
        ["--glibc", "new"],
        ["--frobnicate"],
    ],
)
def test_bad_arguments_exit_2_with_one_line(argv):
    done = subprocess.run(
        [sys.executable, "-m", "gpu_assistant", "recommend", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1
    assert done.stdout == ""
