"""The doctor report without TensorFlow (--no-verify): JSON contract, text, Markdown, exit codes."""

from __future__ import annotations

import json
import sys

import pytest

from fakes.nvml import FakeGPU, FakeNVML
from gpu_assistant.cli import main
from gpu_assistant.system import doctor as doctor_module
from gpu_assistant.system.doctor import doctor


def test_json_has_every_contract_field():
    data = doctor(verify=False, nvml=FakeNVML.single()).to_json()
    assert {
        "os",
        "python",
        "driver",
        "gpus",
        "tensorflow",
        "recommendation",
        "checks",
        "ready",
    } <= (data.keys())
    assert data["driver"] == {"version": "550.54.14", "cuda_driver_version": "12.4"}
    (gpu,) = data["gpus"]
    assert gpu["compute_capability"] == "8.6" and gpu["memory_total_mib"] == 24576
    assert {"index", "name", "uuid"} <= gpu.keys()
    assert {"installed", "version", "build", "gpus_visible"} <= data["tensorflow"].keys()
    assert {"ok", "tensorflow", "package", "install_command", "cuda", "cudnn", "blockers"} <= (
        data["recommendation"].keys()
    )
    assert all({"id", "status", "message", "fix"} == c.keys() for c in data["checks"])
    assert data["ready_basis"] == "predicted"
    json.dumps(data)  # plain JSON types only


def test_no_verify_never_imports_tensorflow():
    sys.modules.pop("tensorflow", None)
    doctor(verify=False, nvml=FakeNVML.dual())
    assert "tensorflow" not in sys.modules


def test_fitting_gpu_with_fitting_tensorflow_is_predicted_ready(monkeypatch):
    report = doctor(verify=False, nvml=FakeNVML.single())
    report.system.packages = {"tensorflow": "2.21.0"}
    assert report.ready
    report.system.packages = {"tensorflow": "2.9.0"}
    assert not report.ready
    report.system.packages = {"tensorflow-cpu": "2.21.0"}
    assert not report.ready
    checks = doctor_module.system_checks(report.system, report.recommendation)
    (installed,) = [c for c in checks if c.id == "tensorflow_installed"]
    assert installed.status == "fail" and "uninstall tensorflow-cpu" in installed.fix


def test_installed_version_that_cannot_use_the_gpu_is_a_warning():
    report = doctor(verify=False, nvml=FakeNVML.single())
    report.system.packages = {"tensorflow": "2.9.3"}
    checks = doctor_module.system_checks(report.system, report.recommendation)
    (installed,) = [c for c in checks if c.id == "tensorflow_installed"]
    assert installed.status == "warn" and "2.21.0" in installed.message


def test_no_driver_gives_one_driver_check_with_a_fix():
    report = doctor(verify=False, nvml=FakeNVML.no_driver())
    ids = [c.id for c in report.checks]
    assert ids.count("nvidia_driver") == 1 and "no_nvidia_gpu" not in ids
    (driver,) = [c for c in report.checks if c.id == "nvidia_driver"]
    assert driver.status == "fail" and driver.fix
    assert not report.ready


@pytest.mark.parametrize(
    ("fake", "check_id"),
    [
        (FakeNVML.old_driver, "recommendation"),
        (FakeNVML.mixed_pair, "mixed_gpus"),
        (FakeNVML.mig, "mig"),
        (FakeNVML.mismatch, "nvidia_driver"),
    ],
)
def test_situations_show_up_as_checks(fake, check_id):
    report = doctor(verify=False, nvml=fake())
    assert check_id in [c.id for c in report.checks]


def test_text_and_markdown_reports():
    nvml = FakeNVML.with_gpus([FakeGPU("NVIDIA GeForce RTX 4090", (8, 9), 24564)])
    report = doctor(verify=False, nvml=nvml)
    text = report.to_text()
    assert "RTX 4090" in text and "compute capability 8.9" in text and "Recommended:" in text
    markdown = report.to_markdown()
    assert markdown.startswith("### TensorFlow GPU environment")
    assert "| 0 | NVIDIA GeForce RTX 4090 | 8.9 | 24564 | off |" in markdown
    assert "`recommendation`" in markdown


def test_markdown_escapes_table_cells():
    nvml = FakeNVML.with_gpus([FakeGPU("Weird | Name", (8, 6), 1000)])
    assert "Weird \\| Name" in doctor(verify=False, nvml=nvml).to_markdown()


def test_cli_no_verify_json_and_exit_code(capsys):
    code = main(["doctor", "--no-verify", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert code == (0 if data["ready"] else 1)
    assert data["tensorflow"]["verified"] is False


def test_cli_text_and_markdown(capsys):
    main(["doctor", "--no-verify"])
    assert "System:" in capsys.readouterr().out
    main(["doctor", "--no-verify", "--markdown"])
    assert capsys.readouterr().out.startswith("### TensorFlow GPU environment")


@pytest.mark.parametrize(
    "argv", [["--timeout", "0"], ["--timeout", "soon"], ["--json", "--markdown"], ["--bogus"]]
)
def test_cli_bad_arguments_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["doctor", "--no-verify", *argv])
    assert exited.value.code == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_recommendation_warnings_become_checks_once():
    report = doctor(verify=False, nvml=FakeNVML.old_driver())
    (unlock,) = [c for c in report.checks if c.id == "driver_upgrade_unlocks"]
    assert unlock.status == "warn" and "525.60.13" in unlock.message
    mixed = doctor(verify=False, nvml=FakeNVML.mixed_pair())
    assert [c.id for c in mixed.checks].count("mixed_gpus") == 1


def _dist(site, name, version, requires=()):
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    lines += [f"Requires-Dist: {r}" for r in requires]
    (info / "METADATA").write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_app_requirements_table_names_the_excluded_pyside6(tmp_path):
    """Installed vs wanted from the app's own metadata; extras and markers that do not hold
    here are left out; the excluded PySide6-Essentials 6.12.0 is a failing check."""
    from gpu_assistant.system.requirements import app_requirements

    requires = [
        "PySide6-Essentials!=6.12.0,>=6.6",
        "numpy>=1.26",
        "pillow>=10.0",
        "pytest>=8.0; extra == 'test'",
        "tensorflow>=2.16; python_version < '3.0'",
    ]
    _dist(tmp_path, "tf-gpu-assistant", "0.1.0", requires)
    _dist(tmp_path, "PySide6-Essentials", "6.12.0")
    _dist(tmp_path, "numpy", "2.1.0")
    rows = app_requirements([str(tmp_path)])
    assert [(r.name, r.installed, r.state) for r in rows] == [
        ("numpy", "2.1.0", "ok"),
        ("pillow", None, "missing"),
        ("PySide6-Essentials", "6.12.0", "wrong version"),
    ]
    check = doctor_module.requirements_check(rows)
    assert check.status == "fail"
    assert "PySide6-Essentials 6.12.0 is installed, the app needs !=6.12.0,>=6.6" in check.message
    assert "pillow is not installed" in check.message
    assert check.fix == 'python -m pip install "PySide6-Essentials!=6.12.0,>=6.6" "pillow>=10.0"'
    assert app_requirements([str(tmp_path / "elsewhere")]) is None


def test_doctor_reports_the_requirements_in_every_format(monkeypatch):
    from gpu_assistant.system.requirements import RequirementRow

    rows = [RequirementRow("PySide6-Essentials", "!=6.12.0,>=6.6", "6.12.0", "wrong version")]
    monkeypatch.setattr(doctor_module, "app_requirements", lambda: rows)
    report = doctor(verify=False, nvml=FakeNVML.single())
    (check,) = [c for c in report.checks if c.id == "app_requirements"]
    assert check.status == "fail"
    assert report.to_json()["requirements"] == [
        {
            "name": "PySide6-Essentials",
            "wanted": "!=6.12.0,>=6.6",
            "installed": "6.12.0",
            "state": "wrong version",
        }
    ]
    assert "PySide6-Essentials   6.12.0" in report.to_text()
    assert "| PySide6-Essentials | 6.12.0 | !=6.12.0,>=6.6 | wrong version |" in (
        report.to_markdown()
    )
