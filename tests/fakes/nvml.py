"""FakeNVML: the pynvml functions the app calls, answering for GPUs this machine does not have.

Inject it wherever the code takes an ``nvml`` argument (`system.hardware.probe(nvml=...)`,
`system.hardware.gpu_usage(..., nvml=...)`). Failures raise the *real* pynvml exception classes,
so code under test handles exactly what it would on a real machine.

    from fakes.nvml import FakeGPU, FakeNVML

    nvml = FakeNVML.with_gpus(
        [FakeGPU("NVIDIA GeForce RTX 3090", (8, 6), 24576)], driver="550.54.14", cuda=12040
    )
    FakeNVML.single()          # one RTX 3090 on a current driver
    FakeNVML.dual()            # two identical RTX 3090s
    FakeNVML.mixed_pair()      # an RTX 4090 and a GTX 1080 Ti
    FakeNVML.no_driver()       # nvmlInit raises NVMLError_LibraryNotFound
    FakeNVML.no_gpus()         # driver loads, zero devices
    FakeNVML.old_driver()      # an RTX 3090 on driver 470.x (CUDA 11.4): too old for CUDA 12 TF
    FakeNVML.mismatch()        # nvmlInit raises NVMLError_LibRmVersionMismatch (reboot needed)
    FakeNVML.no_permission()   # nvmlInit raises NVMLError_NoPermission
    FakeNVML.mig()             # an A100 in MIG mode

`used_mib` and `utilization` on FakeGPU feed `gpu_usage`; set them to script a training run.
`init_calls` / `shutdown_calls` count calls so tests can check NVML is always released.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import pynvml


@dataclass
class FakeGPU:
    name: str
    compute_capability: tuple[int, int]
    memory_mib: int
    uuid: str = ""
    mig: bool = False
    used_mib: int = 0
    utilization: int = 0


class FakeNVML:
    """Implements only the pynvml calls the app uses; anything else is an AttributeError."""

    def __init__(
        self,
        gpus: list[FakeGPU] | None = None,
        *,
        driver: str = "550.54.14",
        cuda: int = 12040,
        init_error: int | None = None,
    ) -> None:
        self.gpus = list(gpus or [])
        for index, gpu in enumerate(self.gpus):
            gpu.uuid = gpu.uuid or f"GPU-00000000-0000-0000-0000-{index:012d}"
        self.driver = driver
        self.cuda = cuda
        self.init_error = init_error
        self.init_calls = 0
        self.shutdown_calls = 0
        self._initialised = 0

    # -- constructors for the situations tests need -------------------------------------------
    @classmethod
    def with_gpus(cls, gpus: list[FakeGPU], driver: str = "550.54.14", cuda: int = 12040):
        return cls(gpus, driver=driver, cuda=cuda)

    @classmethod
    def single(cls) -> FakeNVML:
        return cls([FakeGPU("NVIDIA GeForce RTX 3090", (8, 6), 24576)])

    @classmethod
    def dual(cls) -> FakeNVML:
        return cls([FakeGPU("NVIDIA GeForce RTX 3090", (8, 6), 24576) for _ in range(2)])

    @classmethod
    def mixed_pair(cls) -> FakeNVML:
        return cls(
            [
                FakeGPU("NVIDIA GeForce RTX 4090", (8, 9), 24564),
                FakeGPU("NVIDIA GeForce GTX 1080 Ti", (6, 1), 11264),
            ]
        )

    @classmethod
    def no_driver(cls) -> FakeNVML:
        return cls(init_error=pynvml.NVML_ERROR_LIBRARY_NOT_FOUND)

    @classmethod
    def no_gpus(cls) -> FakeNVML:
        return cls([])

    @classmethod
    def old_driver(cls) -> FakeNVML:
        return cls(
            [FakeGPU("NVIDIA GeForce RTX 3090", (8, 6), 24576)], driver="470.256.02", cuda=11040
        )

    @classmethod
    def mismatch(cls) -> FakeNVML:
        return cls(init_error=pynvml.NVML_ERROR_LIB_RM_VERSION_MISMATCH)

    @classmethod
    def no_permission(cls) -> FakeNVML:
        return cls(init_error=pynvml.NVML_ERROR_NO_PERMISSION)

    @classmethod
    def mig(cls) -> FakeNVML:
        return cls(
            [FakeGPU("NVIDIA A100-SXM4-40GB", (8, 0), 40960, mig=True)],
            driver="535.104.05",
            cuda=12020,
        )

    # -- the pynvml API subset ------------------------------------------------------------------
    def nvmlInit(self) -> None:
        self.init_calls += 1
        if self.init_error is not None:
            raise pynvml.NVMLError(self.init_error)
        self._initialised += 1

    def nvmlShutdown(self) -> None:
        self.shutdown_calls += 1
        if not self._initialised:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_UNINITIALIZED)
        self._initialised -= 1

    def nvmlSystemGetDriverVersion(self) -> str:
        self._check()
        return self.driver

    def nvmlSystemGetCudaDriverVersion_v2(self) -> int:
        self._check()
        return self.cuda

    def nvmlDeviceGetCount(self) -> int:
        self._check()
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> FakeGPU:
        self._check()
        if not 0 <= index < len(self.gpus):
            raise pynvml.NVMLError(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        return self.gpus[index]

    def nvmlDeviceGetName(self, handle: FakeGPU) -> str:
        return handle.name

    def nvmlDeviceGetUUID(self, handle: FakeGPU) -> str:
        return handle.uuid

    def nvmlDeviceGetCudaComputeCapability(self, handle: FakeGPU) -> tuple[int, int]:
        return handle.compute_capability

    def nvmlDeviceGetMemoryInfo(self, handle: FakeGPU) -> SimpleNamespace:
        total, used = handle.memory_mib * 2**20, handle.used_mib * 2**20
        return SimpleNamespace(total=total, used=used, free=total - used)

    def nvmlDeviceGetMigMode(self, handle: FakeGPU) -> tuple[int, int]:
        return (int(handle.mig), int(handle.mig))

    def nvmlDeviceGetUtilizationRates(self, handle: FakeGPU) -> SimpleNamespace:
        if handle.mig:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)
        return SimpleNamespace(gpu=handle.utilization, memory=0)

    def _check(self) -> None:
        if not self._initialised:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_UNINITIALIZED)
