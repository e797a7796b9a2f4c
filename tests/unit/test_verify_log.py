"""diagnose.analyse(): real TensorFlow log lines and child results become the right checks.

Log lines are copied from real TF output: this machine's TF 2.21 CPU run, and the public reports
named in resources/compat/sources.json (TF_ISSUE_60646 dlopen, TF_ISSUES_MINCC minimum CC,
TF_ISSUE_60739 PTX JIT, TF_DEVICE_LOGS created-device lines).
"""

from __future__ import annotations

import sys

import pytest

from gpu_assistant.system.diagnose import FAIL, PASS, WARN, analyse

CUDA_BUILD = {
    "is_cuda_build": True,
    "cuda_version": "12.5.1",
    "cudnn_version": "9",
    "cuda_compute_capabilities": ["sm_60", "sm_70", "sm_80", "sm_89", "compute_90"],
}
CPU_ONLY = {"is_cuda_build": False, "cuda_version": None, "cudnn_version": None}
CPU_DEVICE = {"device": "/CPU:0", "matmul_ms": 2.6, "conv2d_ms": 15.5}
GPU0 = "/job:localhost/replica:0/task:0/device:GPU:0"
ON_GPU = {"matmul_device": GPU0, "conv2d_device": GPU0}

# TF 2.21 on this CI machine (no NVIDIA driver), verbatim.
NO_DRIVER_LOG = """\
I0000 00:00:1795813788.054957   12007 cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will not be used.
E0000 00:00:1795813791.321715   12007 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)"""  # noqa: E501
DLOPEN_LOG = """\
2023-06-01 10:00:00.000000: W tensorflow/compiler/xla/stream_executor/platform/default/dso_loader.cc:66] Could not load dynamic library 'libcudnn.so.8'; dlerror: libcudnn.so.8: cannot open shared object file: No such file or directory
2023-06-01 10:00:00.000000: W tensorflow/core/common_runtime/gpu/gpu_device.cc:1956] Cannot dlopen some GPU libraries. Please make sure the missing libraries mentioned above are installed properly if you would like to use GPU. Follow the guide at https://www.tensorflow.org/install/gpu for how to download and setup the required libraries for your platform.
Skipping registering GPU devices..."""  # noqa: E501
MIN_CC_LOG = """\
2019-01-30 12:00:00.000000: I tensorflow/core/common_runtime/gpu/gpu_device.cc:1482] Ignoring visible gpu device (device: 0, name: GeForce GTX 680, pci bus id: 0000:01:00.0, compute capability: 3.0) with Cuda compute capability 3.0. The minimum required Cuda capability is 3.5."""  # noqa: E501
JIT_LOG = """\
2023-06-20 00:00:00.000000: W tensorflow/compiler/xla/stream_executor/cuda/cuda_gpu_executor.cc:1637] TensorFlow was not built with CUDA kernel binaries compatible with compute capability 9.0. CUDA kernels will be jit-compiled from PTX, which could take 30 minutes or longer.
2023-06-20 00:00:00.000000: I tensorflow/core/common_runtime/gpu/gpu_device.cc:1639] Created device /job:localhost/replica:0/task:0/device:GPU:0 with 79078 MB memory:  -> device: 0, name: NVIDIA H100 PCIe, pci bus id: 0000:00:05.0, compute capability: 9.0"""  # noqa: E501
OLD_DRIVER_LOG = """\
2021-03-01 00:00:00.000000: E tensorflow/stream_executor/cuda/cuda_driver.cc:328] failed call to cuInit: CUDA_ERROR_SYSTEM_DRIVER_MISMATCH: system has unsupported display driver / cuda driver combination
2021-03-01 00:00:00.000000: I tensorflow/stream_executor/cuda/cuda_diagnostics.cc:156] kernel driver does not appear to be running on this host"""  # noqa: E501
NO_DEVICE_LOG = "E tensorflow/stream_executor/cuda/cuda_driver.cc:271] failed call to cuInit: CUDA_ERROR_NO_DEVICE: no CUDA-capable device is detected"  # noqa: E501


def result(build=CUDA_BUILD, gpus=(), devices=(CPU_DEVICE,), version="2.21.0"):
    return {
        "imported": True,
        "version": version,
        "import_seconds": 3.2,
        "build": build,
        "gpus_visible": list(gpus),
        "devices": list(devices),
    }


def by_id(checks):
    found = {}
    for check in checks:
        found.setdefault(check.id, check)
    return found


def test_this_machine_cuda_build_without_driver_says_why():
    checks = by_id(analyse(result(), NO_DRIVER_LOG, returncode=0))
    assert checks["tensorflow_import"].status == PASS
    assert checks["cuda_build"].status == PASS and "12.5.1" in checks["cuda_build"].message
    assert checks["cuda_driver"].status == FAIL
    assert "cuda_init" not in checks  # error 303 is the same no-driver story
    visible = checks["gpus_visible"]
    assert visible.status == FAIL and "no usable NVIDIA driver" in visible.message
    assert visible.fix
    assert checks["cpu_compute"].status == PASS


def test_missing_libraries_are_named():
    checks = by_id(analyse(result(), DLOPEN_LOG, returncode=0))
    libs = checks["gpu_libraries"]
    assert libs.status == FAIL and "libcudnn.so.8" in libs.message
    assert "and-cuda" in libs.fix
    assert "could not load" in checks["gpus_visible"].message


def test_gpu_below_minimum_compute_capability():
    check = by_id(analyse(result(), MIN_CC_LOG, returncode=0))["compute_capability"]
    assert check.status == FAIL
    assert "GeForce GTX 680" in check.message and "3.0" in check.message and "3.5" in check.message


def test_ptx_jit_is_a_warning_and_a_working_gpu_passes():
    gpu = {
        "name": "NVIDIA H100 PCIe",
        "compute_capability": "9.0",
        "device": "/physical_device:GPU:0",
    }
    devices = [CPU_DEVICE, {"device": "/GPU:0", "matmul_ms": 0.4, "conv2d_ms": 0.9, **ON_GPU}]
    checks = by_id(analyse(result(gpus=[gpu], devices=devices), JIT_LOG, returncode=0))
    assert checks["ptx_jit"].status == WARN and "9.0" in checks["ptx_jit"].message
    assert checks["gpus_visible"].status == PASS and "H100" in checks["gpus_visible"].message
    assert checks["gpu_compute"].status == PASS and "cuDNN" in checks["gpu_compute"].message


def test_ops_that_fell_back_to_the_cpu_are_not_a_working_gpu():
    cpu0 = "/job:localhost/replica:0/task:0/device:CPU:0"
    entry = {"device": "/GPU:0", "matmul_ms": 3.0, "conv2d_ms": 9.0, "matmul_device": cpu0}
    entry["conv2d_device"] = cpu0
    gpu = {"name": "NVIDIA GeForce RTX 5090", "compute_capability": "12.0"}
    check = by_id(analyse(result(gpus=[gpu], devices=[CPU_DEVICE, entry]), "", returncode=0))
    assert check["gpu_compute"].status == FAIL and "on the CPU" in check["gpu_compute"].message


@pytest.mark.parametrize(
    "line",
    [
        # TF_ISSUES_BLACKWELL: RTX 50 series with the official wheels
        "E0000 00:00:1740000000.000000 1234 gpu_kernel_helper.cc:63] cuModuleLoadData(...) "
        "failed: CUDA_ERROR_INVALID_PTX: a PTX JIT compilation failed",
        "LLVM ERROR: PTX version 8.5 does not support target sm_120",
    ],
)
def test_blackwell_kernel_failures(line):
    check = by_id(analyse(result(), line, returncode=0))["gpu_kernels"]
    assert check.status == FAIL and "architecture" in check.message


def test_failing_gpu_kernel_is_reported():
    devices = [
        CPU_DEVICE,
        {
            "device": "/GPU:0",
            "matmul_ms": 1.0,
            "conv2d_error": "InternalError: CUDA_ERROR_INVALID_PTX",
        },
    ]
    gpu = {"name": "NVIDIA GeForce RTX 5090", "compute_capability": "12.0"}
    check = by_id(analyse(result(gpus=[gpu], devices=devices), "", returncode=0))["gpu_compute"]
    assert check.status == FAIL and "INVALID_PTX" in check.message


@pytest.mark.parametrize(
    "log",
    [
        OLD_DRIVER_LOG,
        "cudaGetDevice() failed. Status: CUDA driver version is insufficient for CUDA runtime "
        "version",
    ],
)
def test_driver_too_old(log):
    check = by_id(analyse(result(), log, returncode=0))["driver_version"]
    assert check.status == FAIL and "Upgrade" in check.fix


def test_no_device_is_a_driver_problem():
    assert by_id(analyse(result(), NO_DEVICE_LOG, returncode=0))["cuda_driver"].status == FAIL


def test_cpu_only_package():
    checks = by_id(analyse(result(build=CPU_ONLY), "", returncode=0))
    assert checks["cuda_build"].status == FAIL and "CPU-only" in checks["cuda_build"].message
    assert checks["gpus_visible"].status == FAIL


@pytest.mark.parametrize(("value", "status"), [("-1", FAIL), ("", FAIL), ("1", WARN)])
def test_cuda_visible_devices(value, status):
    checks = by_id(analyse(result(), "", returncode=0, environ={"CUDA_VISIBLE_DEVICES": value}))
    assert checks["cuda_visible_devices"].status == status
    if status == FAIL:
        assert "hides every GPU" in checks["gpus_visible"].message


def test_ld_library_path_with_cuda_libraries_shadows_pip(tmp_path):
    (tmp_path / "libcudnn.so.8").write_bytes(b"")
    env = {"LD_LIBRARY_PATH": f"{tmp_path}:/nonexistent"}
    warn = by_id(analyse(result(), "", returncode=0, environ=env))["ld_library_path"]
    assert warn.status == WARN and str(tmp_path) in warn.message
    fail = by_id(analyse(result(), DLOPEN_LOG, returncode=0, environ=env))["ld_library_path"]
    assert fail.status == FAIL
    clean = by_id(analyse(result(), "", returncode=0, environ={"LD_LIBRARY_PATH": "/nonexistent"}))
    assert "ld_library_path" not in clean


def test_not_installed():
    child = {
        "imported": False,
        "error_type": "ModuleNotFoundError",
        "error": "No module named 'tensorflow'",
    }
    (check,) = analyse(child, "", returncode=0)
    assert check.status == FAIL and "not installed" in check.message


def test_import_error_from_a_broken_install():
    child = {
        "imported": False,
        "error_type": "ImportError",
        "error": "libcudart.so.12: cannot open",
    }
    (check,) = analyse(child, "", returncode=0)
    assert "libcudart" in check.message


def test_crash_names_the_signal_and_last_log_line():
    (check,) = analyse(None, "F external/xla/...] Check failed: something\n", returncode=-6)
    assert check.status == FAIL and "SIGABRT" in check.message and "Check failed" in check.message


def test_timeout():
    (check,) = analyse(None, "", returncode=-15, timed_out=True, timeout=30)
    assert check.status == FAIL and "30 s" in check.message


linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="pip CUDA wheels")


@linux_only
@pytest.mark.parametrize(
    ("wheels", "status"),
    [
        ({"nvidia-cudnn-cu12": "9.28.0.42", "nvidia-cuda-runtime-cu12": "12.9.79"}, PASS),
        ({"nvidia-cudnn-cu12": "8.9.7.29", "nvidia-cuda-runtime-cu12": "12.3.101"}, FAIL),
        ({"nvidia-cudnn-cu11": "8.7.0.84"}, FAIL),
        ({}, WARN),
    ],
)
def test_pip_cuda_wheels_against_the_build(wheels, status):
    child = result()
    child["cuda_wheels"] = wheels
    check = by_id(analyse(child, "", returncode=0))["cuda_libraries"]
    assert check.status == status
    if status != PASS:
        assert 'tensorflow[and-cuda]==2.21.0"' in check.fix


def test_gpu_works_only_when_both_ops_ran_on_a_gpu():
    from gpu_assistant.system.verify import VerifyResult

    def with_devices(*devices):
        return VerifyResult(True, "2.21.0", CUDA_BUILD, [], list(devices), [], "", 0, False, 1.0)

    on_gpu = {"device": "/GPU:0", "matmul_ms": 0.4, "conv2d_ms": 0.9, **ON_GPU}
    assert with_devices(CPU_DEVICE, on_gpu).gpu_works
    assert not with_devices(CPU_DEVICE).gpu_works
    assert not with_devices({**on_gpu, "conv2d_device": "/device:CPU:0"}).gpu_works
