"""The NVML probe against FakeNVML: every driver situation becomes a state with a message."""

from __future__ import annotations

import sys

import pytest

from fakes.nvml import FakeGPU, FakeNVML
from gpu_assistant.system import hardware


def test_one_gpu_is_read_completely():
    nvml = FakeNVML.single()
    info = hardware.probe(nvml)
    assert info.nvml_state == hardware.NVML_OK
    assert info.driver.version == "550.54.14"
    assert info.driver.cuda_driver_version == "12.4"
    (gpu,) = info.gpus
    assert (gpu.index, gpu.name, gpu.compute_capability) == (0, "NVIDIA GeForce RTX 3090", "8.6")
    assert gpu.memory_total_mib == 24576
    assert gpu.uuid.startswith("GPU-")
    assert not gpu.mig_enabled
    assert nvml.init_calls == nvml.shutdown_calls == 1
    assert info.to_json()["gpus"][0]["compute_capability"] == "8.6"


def test_probe_does_not_import_tensorflow():
    sys.modules.pop("tensorflow", None)
    hardware.probe(FakeNVML.single())
    assert "tensorflow" not in sys.modules


def test_two_identical_gpus_have_no_mixed_note():
    info = hardware.probe(FakeNVML.dual())
    assert [g.index for g in info.gpus] == [0, 1]
    assert not [n for n in info.notes if n.id == "mixed_gpus"]


def test_mixed_pair_is_noted_with_names():
    info = hardware.probe(FakeNVML.mixed_pair())
    (note,) = [n for n in info.notes if n.id == "mixed_gpus"]
    assert "RTX 4090" in note.message and "1080 Ti" in note.message
    assert note.fix


@pytest.mark.parametrize(
    ("fake", "state", "words"),
    [
        (FakeNVML.no_driver, hardware.NVML_NO_DRIVER, "No NVIDIA driver"),
        (FakeNVML.mismatch, hardware.NVML_MISMATCH, "Reboot"),
        (FakeNVML.no_permission, hardware.NVML_NO_PERMISSION, "permission"),
        (FakeNVML.no_gpus, hardware.NVML_NO_GPUS, "reports no GPU"),
    ],
)
def test_failures_are_states_with_messages(fake, state, words):
    info = hardware.probe(fake())
    assert info.nvml_state == state
    assert words in info.nvml_message
    assert info.gpus == []


def test_old_driver_reports_its_cuda_version():
    info = hardware.probe(FakeNVML.old_driver())
    assert info.driver.version.startswith("470.")
    assert info.driver.cuda_driver_version == "11.4"


def test_mig_mode_is_flagged_with_a_fix():
    info = hardware.probe(FakeNVML.mig())
    assert info.gpus[0].mig_enabled
    (note,) = [n for n in info.notes if n.id == "mig"]
    assert "CUDA_VISIBLE_DEVICES" in note.fix


def test_one_unreadable_gpu_does_not_hide_the_others():
    class LostSecondGPU(FakeNVML):
        def nvmlDeviceGetHandleByIndex(self, index):
            if index == 1:
                import pynvml

                raise pynvml.NVMLError(pynvml.NVML_ERROR_GPU_IS_LOST)
            return super().nvmlDeviceGetHandleByIndex(index)

    nvml = LostSecondGPU([FakeGPU("A", (8, 6), 1000), FakeGPU("B", (8, 6), 1000)])
    info = hardware.probe(nvml)
    assert [g.name for g in info.gpus] == ["A"]
    assert any(n.id == "gpu_1_unreadable" for n in info.notes)
    assert nvml.shutdown_calls == 1


def test_gpu_usage_reads_memory_and_utilisation():
    nvml = FakeNVML.dual()
    nvml.gpus[1].used_mib, nvml.gpus[1].utilization = 1024, 87
    assert hardware.gpu_usage([1], nvml) == [hardware.GpuUsage(1, 1024, 24576, 87)]
    assert len(hardware.gpu_usage(None, nvml)) == 2
    assert nvml.init_calls == 1 and nvml.shutdown_calls == 0  # one NVML session for polling
    hardware.release_nvml()
    assert nvml.shutdown_calls == 1


def test_gpu_usage_is_empty_without_a_driver_and_skips_bad_indices():
    assert hardware.gpu_usage([0], FakeNVML.no_driver()) == []
    assert hardware.gpu_usage([5], FakeNVML.single()) == []
    (mig,) = hardware.gpu_usage([0], FakeNVML.mig())
    assert mig.utilization_percent is None


@pytest.mark.parametrize(
    ("proc", "env", "expected"),
    [
        ("Linux version 5.15.153.1-microsoft-standard-WSL2", {}, "wsl2"),
        ("Linux version 6.1.0-18-amd64 (debian-kernel@lists.debian.org)", {}, "linux"),
        ("Linux version 6.1.0", {"WSL_DISTRO_NAME": "Ubuntu"}, "wsl2"),
    ],
)
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux /proc/version rules")
def test_wsl2_is_detected(proc, env, expected):
    assert hardware.detect_os(proc, env)[0] == expected


def test_real_machine_probe_never_raises():
    info = hardware.probe()
    assert info.python.startswith(f"{sys.version_info.major}.{sys.version_info.minor}")
    assert info.nvml_state in {
        hardware.NVML_OK,
        hardware.NVML_NO_DRIVER,
        hardware.NVML_NO_GPUS,
        hardware.NVML_DRIVER_NOT_LOADED,
    }
    assert "tensorflow" in info.packages  # the venv has TF; found from metadata
    if sys.platform.startswith("linux"):
        assert info.glibc


@pytest.mark.gpu
def test_real_nvml_reads_every_gpu():
    info = hardware.probe()
    assert info.nvml_state == hardware.NVML_OK
    assert info.gpus and all(g.memory_total_mib > 0 for g in info.gpus)
    assert all("." in g.compute_capability for g in info.gpus)


def _dist_info(site, name, version):
    folder = site / f"{name.replace('-', '_')}-{version}.dist-info"
    folder.mkdir(parents=True)
    (folder / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n", encoding="utf-8"
    )


def test_installed_packages_finds_tf_builds_and_cuda_wheels_only(tmp_path):
    for name, version in [
        ("tensorflow-cpu", "2.21.0"),
        ("nvidia-cudnn-cu12", "9.3.0.75"),
        ("nvidia-cublas-cu11", "11.11.3.6"),
        ("tf_keras", "2.21.0"),
        ("requests", "2.32.0"),
        ("nvidia-ml-py", "12.560.30"),
    ]:
        _dist_info(tmp_path, name, version)
    found = hardware.installed_packages([str(tmp_path)])
    assert found == {
        "nvidia-cublas-cu11": "11.11.3.6",
        "nvidia-cudnn-cu12": "9.3.0.75",
        "tensorflow-cpu": "2.21.0",
        "tf-keras": "2.21.0",
    }
