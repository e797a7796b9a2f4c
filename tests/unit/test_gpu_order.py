"""NVML's GPU i must be TensorFlow's GPU i: the Train page passes NVML indices to training."""

from __future__ import annotations

from fakes.nvml import FakeNVML
from gpu_assistant.child import child_env
from gpu_assistant.system.diagnose import FAIL, PASS, gpu_order_check
from gpu_assistant.system.hardware import probe


def _tf_gpus(names):
    return [{"name": name, "device": f"/physical_device:GPU:{i}"} for i, name in enumerate(names)]


def test_pci_order_matches_nvml_on_a_mixed_pair():
    nvml = [gpu.name for gpu in probe(nvml=FakeNVML.mixed_pair()).gpus]
    assert nvml == ["NVIDIA GeForce RTX 4090", "NVIDIA GeForce GTX 1080 Ti"]
    assert child_env({})["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID"  # what makes TF use this order
    assert gpu_order_check(nvml, _tf_gpus(nvml)).status == PASS


def test_fastest_first_order_is_caught_and_explained():
    nvml = [gpu.name for gpu in probe(nvml=FakeNVML.mixed_pair()).gpus]
    swapped = gpu_order_check(nvml, _tf_gpus(reversed(nvml)))
    assert swapped.status == FAIL
    assert "GPU 0 is NVIDIA GeForce GTX 1080 Ti" in swapped.message and swapped.fix


def test_nothing_to_compare_without_gpus():
    assert gpu_order_check([], []) is None
    assert gpu_order_check(["NVIDIA GeForce RTX 4090"], []) is None
