"""Table tests of the recommender over many systems: drivers at each floor, each architecture's
cut-off, every OS, Pythons too old and too new, and mixed GPUs.

Expected answers follow the team reference (shared/reference/tensorflow-gpu-facts.json), whose
facts come from the released wheels (build_info, fatbinary scans) and NVIDIA's driver tables.
"""

from __future__ import annotations

import pytest

from fakes.nvml import FakeGPU, FakeNVML
from gpu_assistant.jobs import UserError
from gpu_assistant.system.hardware import probe
from gpu_assistant.system.recommend import (
    GpuSpec,
    Query,
    lookup_compute_capability,
    query_from_system,
    recommend,
)


def answer(os, python, driver, *gpus, glibc=None, installed=None):
    specs = [GpuSpec(name, cc, i) for i, (name, cc) in enumerate(gpus)]
    query = Query(os=os, python=python, driver=driver, gpus=specs, glibc=glibc)
    query.installed = installed or {}
    return recommend(query)


def ids(items):
    return [item.id for item in items]


RTX3090 = ("NVIDIA GeForce RTX 3090", "8.6")
H100 = ("NVIDIA H100 80GB HBM3", "9.0")

# (os, python, driver, gpu, expected tensorflow or None, blocker ids)
TABLE = [
    # current Linux desktop
    ("linux", "3.11", "550.54.14", RTX3090, "2.21.0", []),
    ("linux", "3.12", "535.104.05", RTX3090, "2.21.0", []),
    # CUDA 12 floor 525.60.13: exactly at it works, just below falls back to a CUDA 11 build
    ("linux", "3.11", "525.60.13", RTX3090, "2.21.0", []),
    ("linux", "3.11", "525.60.12", RTX3090, "2.14.1", []),
    ("linux", "3.10", "470.256.02", RTX3090, "2.14.1", []),
    # Ampere on 2.13/2.14 JITs PTX 7.1 -> 455.23; at 450.80.02 only 2.12 works
    ("linux", "3.11", "455.23", RTX3090, "2.14.1", []),
    ("linux", "3.11", "450.80.02", RTX3090, "2.12.1", []),
    ("linux", "3.11", "450.80.01", RTX3090, None, ["driver_too_old"]),
    # Windows floors apply to WSL2 (the Windows driver): 528.33 for CUDA 12 builds
    ("wsl2", "3.12", "528.33", RTX3090, "2.21.0", []),
    ("wsl2", "3.12", "528.24", RTX3090, None, ["driver_too_old"]),
    ("wsl2", "3.11", "528.24", RTX3090, "2.14.1", []),
    # Hopper: JIT floors per release (2.19+ need PTX 8.5 -> 555.42.02; 2.17/2.18 545.23.06)
    ("linux", "3.11", "555.42.02", H100, "2.21.0", []),
    ("linux", "3.12", "550.54.14", H100, "2.18.1", []),
    ("linux", "3.12", "535.104.05", H100, "2.16.2", []),
    ("linux", "3.13", "535.104.05", H100, None, ["driver_too_old"]),
    # Kepler 3.5/3.7: only CUDA 11 builds (<= 2.14), so Python <= 3.11
    ("linux", "3.11", "470.256.02", ("Tesla K80", "3.7"), "2.14.1", []),
    ("linux", "3.12", "470.256.02", ("Tesla K80", "3.7"), None, ["python_too_new"]),
    ("linux", "3.10", "470.256.02", ("GeForce GTX 780", "3.5"), "2.14.1", []),
    ("linux", "3.10", "470.256.02", ("GeForce GTX 680", "3.0"), None, ["gpu_too_old"]),
    # Maxwell 5.x ends at 2.16
    ("linux", "3.12", "550.54.14", ("GeForce GTX 970", "5.2"), "2.16.2", []),
    ("linux", "3.13", "550.54.14", ("GeForce GTX 970", "5.2"), None, ["python_too_new"]),
    ("linux", "3.11", "550.54.14", ("Quadro K2200", "5.0"), "2.16.2", []),
    # Pascal, Volta, Turing, Ada: current release
    ("linux", "3.12", "550.54.14", ("GeForce GTX 1080 Ti", "6.1"), "2.21.0", []),
    ("linux", "3.12", "550.54.14", ("Tesla V100", "7.0"), "2.21.0", []),
    ("linux", "3.12", "550.54.14", ("Tesla T4", "7.5"), "2.21.0", []),
    ("linux", "3.12", "550.54.14", ("GeForce RTX 4090", "8.9"), "2.21.0", []),
    ("linux", "3.12", "550.54.14", ("NVIDIA A100", "8.0"), "2.21.0", []),
    # Blackwell: no release
    ("linux", "3.12", "575.57.08", ("NVIDIA B200", "10.0"), None, ["gpu_too_new"]),
    ("linux", "3.12", "575.57.08", ("GeForce RTX 5090", "12.0"), None, ["gpu_too_new"]),
    # Python too old / too new
    ("linux", "3.8", "550.54.14", RTX3090, "2.13.1", []),
    ("linux", "3.9", "550.54.14", RTX3090, "2.20.0", []),
    ("linux", "3.10", "550.54.14", RTX3090, "2.21.0", []),
    ("linux", "3.13", "550.54.14", RTX3090, "2.21.0", []),
    ("linux", "3.14", "550.54.14", RTX3090, None, ["python_too_new"]),
    ("linux", "3.6", "550.54.14", RTX3090, None, ["python_too_old"]),
    # native Windows: 2.10 with Python <= 3.10 only
    ("windows", "3.10", "560.94", RTX3090, "2.10.1", []),
    ("windows", "3.9", "452.39", ("GeForce GTX 1060", "6.1"), "2.10.1", []),
    ("windows", "3.11", "560.94", RTX3090, None, ["windows_native"]),
    ("windows", "3.12", "450.00", RTX3090, None, ["windows_native", "driver_too_old"]),
    ("windows", "3.10", "440.00", RTX3090, None, ["driver_too_old"]),
    ("windows", "3.9", "470.05", ("Tesla K80", "3.7"), "2.10.1", []),
    ("windows", "3.10", "460.82", H100, "2.10.1", []),
    ("windows", "3.10", "460.79", H100, None, ["driver_too_old"]),
    ("windows", "3.12", "572.16", ("GeForce RTX 5090", "12.0"), None, ["gpu_too_new"]),
    ("windows", "3.10", "572.16", ("GeForce GTX 680", "3.0"), None, ["gpu_too_old"]),
    # WSL2 with Hopper uses the Windows JIT floors (555.85 for 2.19+)
    ("wsl2", "3.12", "555.85", H100, "2.21.0", []),
    ("wsl2", "3.12", "552.22", H100, "2.18.1", []),
    # Turing and Volta have native kernels in every release: only the CUDA floor matters
    ("linux", "3.10", "450.80.02", ("Tesla T4", "7.5"), "2.14.1", []),
    ("linux", "3.10", "450.80.01", ("Tesla T4", "7.5"), None, ["driver_too_old"]),
    ("linux", "3.12", "525.60.13", ("Tesla V100", "7.0"), "2.21.0", []),
    # Pascal: supported by 2.17+ (min 6.0) and everything before
    ("linux", "3.13", "525.60.13", ("Tesla P100", "6.0"), "2.21.0", []),
    # Ada with only a CUDA 11 driver: 2.13/2.14 JIT PTX 7.1 needs 455.23
    ("linux", "3.10", "455.22", ("GeForce RTX 4090", "8.9"), "2.12.1", []),
]


@pytest.mark.parametrize(
    "row", TABLE, ids=lambda row: "-".join(map(str, row[:3])) + f"-{row[3][1]}"
)
def test_recommendation_table(row):
    os, python, driver, gpu, tf, blockers = row
    rec = answer(os, python, driver, gpu)
    assert rec.tensorflow == tf
    assert ids(rec.blockers) == blockers
    assert rec.ok == (tf is not None)
    for blocker in rec.blockers:
        assert blocker.message and blocker.fix


def test_ok_answer_has_package_command_and_libraries():
    rec = answer("linux", "3.11", "550.54.14", RTX3090)
    assert rec.package == "tensorflow[and-cuda]==2.21.0"
    assert rec.install_argv == ["-m", "pip", "install", "tensorflow[and-cuda]==2.21.0"]
    assert rec.install_command == 'python -m pip install "tensorflow[and-cuda]==2.21.0"'
    assert (rec.cuda, rec.cudnn) == ("12.5.1", "9.3")
    assert rec.acceptable_versions[0] == "2.21.0" and "2.15.1" in rec.acceptable_versions
    assert rec.gpus_used == [0]
    assert rec.cpu_fallback["package"] == "tensorflow==2.21.0"


def test_driver_blocker_names_the_exact_minimum_and_the_oldest_option():
    (blocker,) = answer("linux", "3.11", "440.33", RTX3090).blockers
    assert "525.60.13" in blocker.message
    assert "525.60.13" in blocker.fix and "450.80.02" in blocker.fix and "2.12.1" in blocker.fix


def test_hopper_driver_blocker_offers_the_python_alternative():
    (blocker,) = answer("linux", "3.13", "535.104.05", H100).blockers
    assert "555.42.02" in blocker.fix
    assert "Python 3.12" in blocker.fix and "2.16.2" in blocker.fix


def test_hopper_gets_jit_and_driver_upgrade_warnings():
    rec = answer("linux", "3.12", "535.104.05", H100)
    assert {"ptx_jit", "driver_upgrade_unlocks"} <= set(ids(rec.warnings))
    unlock = next(w for w in rec.warnings if w.id == "driver_upgrade_unlocks")
    assert "555.42.02" in unlock.message and "2.21.0" in unlock.message


def test_builds_without_and_cuda_say_how_to_get_cuda():
    rec = answer("linux", "3.11", "450.80.02", RTX3090)
    assert rec.package == "tensorflow==2.12.1"
    (manual,) = [w for w in rec.warnings if w.id == "cuda_manual_install"]
    assert "CUDA 11.8" in manual.message and "cuDNN 8.6" in manual.message


def test_tensorrt_trap_avoids_and_cuda_for_2_14_on_python_3_11():
    rec = answer("linux", "3.11", "470.256.02", RTX3090)
    assert rec.package == "tensorflow==2.14.1"
    assert "tensorrt" in next(w for w in rec.warnings if w.id == "cuda_manual_install").message
    assert answer("linux", "3.10", "470.256.02", RTX3090).package == "tensorflow[and-cuda]==2.14.1"


def test_windows_native_points_to_wsl2_and_tf_2_10():
    (blocker, *_) = answer("windows", "3.12", "560.94", RTX3090).blockers
    assert "WSL2" in blocker.fix and "2.21.0" in blocker.fix
    assert "2.10.1" in blocker.fix and "Python 3.10" in blocker.fix
    ok = answer("windows", "3.10", "560.94", RTX3090)
    assert {"cuda_manual_install", "windows_native_old"} <= set(ids(ok.warnings))


def test_macos_has_no_cuda_but_a_metal_note():
    rec = answer("macos", "3.12", None)
    assert ids(rec.blockers) == ["macos_no_cuda"]
    assert "tensorflow-metal" in rec.cpu_fallback["note"]
    assert rec.cpu_fallback["package"] == "tensorflow==2.21.0"


def test_python_3_14_has_no_cpu_package_either():
    rec = answer("linux", "3.14", "550.54.14", RTX3090)
    assert rec.cpu_fallback["package"] is None
    assert "3.13" in rec.cpu_fallback["note"]


def test_glibc_too_old_for_2_21_falls_back_to_2_20():
    assert answer("linux", "3.12", "550.54.14", RTX3090, glibc="2.26").tensorflow == "2.20.0"
    rec = answer("linux", "3.13", "550.54.14", RTX3090, glibc="2.17")
    assert rec.tensorflow == "2.20.0"
    assert ids(answer("linux", "3.13", "550.54.14", RTX3090, glibc="2.12").blockers) == [
        "glibc_too_old"
    ]


def test_glibc_that_holds_back_2_21_is_explained_and_caps_the_cpu_build_too():
    """CentOS 7 (glibc 2.17): TF 2.21's wheels need glibc 2.27, so 2.20 for the GPU and the
    CPU alike, and the answer says why (pip would pick 2.20 silently)."""
    rec = answer("linux", "3.11", "550.54.14", RTX3090, glibc="2.17")
    assert rec.tensorflow == "2.20.0"
    held = next(w for w in rec.warnings if w.id == "glibc_holds_back")
    assert "2.17" in held.message and "2.21.0" in held.message and "2.27" in held.message
    assert rec.cpu_fallback["package"] == "tensorflow==2.20.0"
    blocked = answer("linux", "3.11", "550.54.14", RTX3090, glibc="2.12")
    assert "glibc 2.17 is enough for TensorFlow 2.20.0" in blocked.blockers[0].fix
    assert blocked.cpu_fallback["package"] is None
    assert "glibc 2.12" in blocked.cpu_fallback["note"]
    assert "glibc_holds_back" not in ids(answer("linux", "3.11", "550.54.14", RTX3090).warnings)


def test_macos_names_the_apple_gpu_route_for_the_python_at_hand():
    fits = answer("macos", "3.12", None).blockers[0].fix
    assert "tensorflow-metal" in fits and "3.12 (this is" not in fits
    too_new = answer("macos", "3.13", None).blockers[0].fix
    assert "only for Python 3.9–3.12 (this is Python 3.13)" in too_new
    assert "use Python 3.12" in too_new


@pytest.mark.parametrize(
    ("name", "vendor", "metal"),
    [
        ("Apple M2", "Apple", True),
        ("M3 Max", "Apple", True),
        ("AMD Radeon RX 7900 XTX", "AMD", False),
        ("Intel Arc A770", "Intel", False),
    ],
)
def test_a_gpu_of_another_maker_is_explained_not_refused(name, vendor, metal):
    query = query_from_system(probe(FakeNVML.single()), os="linux", gpu_name=name)
    assert (query.gpus, query.other_gpu) == ([], name)
    rec = recommend(query)
    assert ids(rec.blockers) == ["not_nvidia_gpu"]
    assert f"{name} is an {vendor} GPU, not an NVIDIA one" in rec.blockers[0].message
    assert ("tensorflow-metal" in rec.blockers[0].fix) is metal
    mac = recommend(query_from_system(probe(FakeNVML.single()), os="macos", gpu_name=name))
    assert ids(mac.blockers) == ["macos_no_cuda"]


def test_nvidia_names_win_over_the_other_makers_patterns():
    assert lookup_compute_capability("Tesla M40") is not None
    query = query_from_system(probe(FakeNVML.single()), os="linux", gpu_name="Tesla M40")
    assert query.other_gpu == "" and query.gpus[0].name == "Tesla M40"


def test_wsl2_warns_about_the_driver_inside_linux_and_old_gpus():
    rec = answer("wsl2", "3.12", "560.94", ("GeForce GTX 970", "5.2"))
    assert rec.tensorflow == "2.16.2"
    assert {"wsl2_note", "wsl2_old_gpu"} <= set(ids(rec.warnings))


def test_arm_linux_is_warned_that_pypi_gpu_wheels_are_x86_64():
    query = Query("linux", "3.12", "560.35.03", [GpuSpec("NVIDIA GH200", "9.0")], arch="aarch64")
    rec = recommend(query)
    assert "arch_cpu_wheels" in ids(rec.warnings)
    assert "arch_cpu_wheels" not in ids(answer("linux", "3.12", "560.35.03", H100).warnings)


def test_unknown_driver_is_a_warning_with_the_minimum():
    rec = answer("linux", "3.11", None, H100)
    assert rec.ok and rec.tensorflow == "2.21.0"
    (unknown,) = [w for w in rec.warnings if w.id == "driver_unknown"]
    assert "555.42.02" in unknown.message


def test_no_gpu_is_a_blocker_with_the_probe_message():
    query = query_from_system(probe(FakeNVML.no_driver()))
    rec = recommend(query)
    assert not rec.ok and ids(rec.blockers) == ["no_nvidia_gpu"]
    assert "No NVIDIA driver" in rec.blockers[0].message


# -- several GPUs -------------------------------------------------------------------------------


def test_two_identical_gpus_are_both_used():
    rec = answer("linux", "3.11", "550.54.14", RTX3090, RTX3090)
    assert rec.gpus_used == [0, 1] and rec.gpus_left_out == []
    assert "mixed_gpus" not in ids(rec.warnings)


def test_a_gpu_no_release_supports_is_left_out_by_name():
    rec = answer(
        "linux", "3.11", "550.54.14", ("GeForce RTX 4090", "8.9"), ("GeForce GTX 680", "3.0")
    )
    assert rec.ok and rec.tensorflow == "2.21.0"
    assert rec.gpus_used == [0]
    (gone,) = rec.gpus_left_out
    assert gone["index"] == 1 and "3.0" in gone["reason"]
    assert {"mixed_gpus", "gpu_left_out"} <= set(ids(rec.warnings))


def test_serving_an_old_gpu_too_says_what_a_newer_release_would_use():
    rec = answer("linux", "3.11", "550.54.14", ("GeForce RTX 4090", "8.9"), ("Tesla K80", "3.7"))
    assert rec.tensorflow == "2.14.1" and rec.gpus_used == [0, 1]
    (newer,) = [w for w in rec.warnings if w.id == "newer_for_fewer_gpus"]
    assert "2.21.0" in newer.message and "RTX 4090" in newer.message
    assert "CUDA_VISIBLE_DEVICES=0" in newer.fix


def test_mixed_pair_picks_the_release_serving_both():
    rec = answer(
        "linux", "3.12", "550.54.14", ("GeForce RTX 4090", "8.9"), ("GeForce GTX 970", "5.2")
    )
    assert rec.tensorflow == "2.16.2" and rec.gpus_used == [0, 1]


def test_blackwell_next_to_ampere_uses_the_ampere():
    rec = answer("linux", "3.12", "575.57.08", ("GeForce RTX 5090", "12.0"), RTX3090)
    assert rec.tensorflow == "2.21.0" and rec.gpus_used == [1]
    assert "newer than any" in rec.gpus_left_out[0]["reason"]


def test_all_gpus_unusable_gives_each_blocker_once():
    rec = answer(
        "linux", "3.12", "575.57.08", ("GeForce RTX 5090", "12.0"), ("GeForce RTX 5090", "12.0")
    )
    assert not rec.ok and ids(rec.blockers) == ["gpu_too_new"]


# -- installed-package traps --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("os", "installed", "trap"),
    [
        ("linux", {"tensorflow": "2.16.1"}, "tf_2_16_1_gpu_not_detected"),
        ("linux", {"tensorflow-gpu": "2.10.0"}, "tensorflow_gpu_gone"),
        ("windows", {"tensorflow": "2.15.0"}, "windows_cpu_only"),
    ],
)
def test_installed_traps_are_warned(os, installed, trap):
    rec = answer(os, "3.10", "560.94", RTX3090, installed=installed)
    assert trap in ids(rec.warnings)


def test_no_trap_for_a_good_install():
    rec = answer("linux", "3.11", "550.54.14", RTX3090, installed={"tensorflow": "2.21.0"})
    assert not {"tf_2_16_1_gpu_not_detected", "tensorflow_gpu_gone"} & set(ids(rec.warnings))


# -- the query: detection plus flags -------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "cc"),
    [
        ("NVIDIA GeForce RTX 3060 Ti", "8.6"),
        ("NVIDIA A100-SXM4-40GB", "8.0"),
        ("Tesla V100-SXM2-16GB", "7.0"),
        ("NVIDIA H100 80GB HBM3", "9.0"),
        ("NVIDIA GeForce RTX 4070 SUPER", "8.9"),
        ("rtx 5090", "12.0"),
        ("Matrox G200", None),
    ],
)
def test_gpu_names_are_looked_up(name, cc):
    assert lookup_compute_capability(name) == cc


def test_flags_replace_detected_values():
    info = probe(FakeNVML.with_gpus([FakeGPU("NVIDIA GeForce RTX 3090", (8, 6), 24576)]))
    query = query_from_system(
        info, os="wsl2", python="3.12.4", driver="528.33", gpu_name="Tesla T4"
    )
    assert (query.os, query.python, query.driver) == ("wsl2", "3.12", "528.33")
    assert [(g.name, g.compute_capability) for g in query.gpus] == [("Tesla T4", "7.5")]
    assert query.glibc is None  # not this machine any more
    assert query_from_system(info, os="linux", glibc="2.17").glibc == "2.17"
    cc_only = query_from_system(info, compute_capability="6.1")
    assert cc_only.gpus[0].compute_capability == "6.1"


@pytest.mark.parametrize(
    "flags",
    [
        {"os": "beos"},
        {"python": "three"},
        {"python": "3"},
        {"driver": "latest"},
        {"compute_capability": "86"},
        {"gpu_name": "Voodoo 5 5500"},
        {"glibc": "centos7"},
    ],
)
def test_bad_flags_are_user_errors(flags):
    with pytest.raises(UserError) as caught:
        query_from_system(probe(FakeNVML.single()), **flags)
    assert caught.value.fix
