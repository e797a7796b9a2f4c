"""The shipped compatibility data loads, is internally consistent, and every row has a source."""

from __future__ import annotations

import json
import shutil

import pytest

from gpu_assistant.resources import resource_path
from gpu_assistant.system.compat import CompatDataError, load_knowledge, parse_version

REFERENCE = resource_path("..").resolve().parent / "shared" / "reference"


def test_knowledge_loads_with_sources():
    k = load_knowledge()
    assert k.releases and k.gpus and k.traps
    for release in k.releases:
        assert set(release.sources) <= set(k.sources)
        assert parse_version(release.python_min) <= parse_version(release.python_max)
        assert release.driver_floor.keys() >= {"linux", "windows"}
    assert [r.version for r in k.releases] == sorted(
        (r.version for r in k.releases), key=parse_version, reverse=True
    )


def test_cuda_12_builds_drop_kepler_and_raise_the_driver_floor():
    """Cross-checks between columns: CUDA 12 removed sm_35, and needs an R525+ driver."""
    k = load_knowledge()
    for release in k.releases:
        if release.cuda_major >= 12:
            assert parse_version(release.min_cc) >= (5, 0)
            assert "35" not in release.sass_archs
        floor = parse_version(release.driver_floor["linux"])
        assert (floor >= (525,)) == (release.cuda_major >= 12)


def test_gpu_table_compute_capabilities_parse():
    k = load_knowledge()
    names = [g.name for g in k.gpus]
    assert len(names) == len(set(names))
    assert k.architecture_of("8.6") == "Ampere"
    assert k.architecture_of("12.0") == "Blackwell"


def _copy_compat(tmp_path):
    folder = tmp_path / "compat"
    shutil.copytree(resource_path("compat"), folder)
    return folder


def _edit(folder, name, change):
    path = folder / name
    data = json.loads(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(json.dumps(data), encoding="utf-8")


@pytest.mark.parametrize(
    ("name", "change", "words"),
    [
        ("tensorflow.json", lambda d: d["releases"][0].update(sources=["NOPE"]), "unknown source"),
        ("tensorflow.json", lambda d: d["releases"][1].update(sources=[]), "names no source"),
        ("tensorflow.json", lambda d: d["releases"][0].update(min_cc="six"), "not a version"),
        ("tensorflow.json", lambda d: d["releases"].reverse(), "newest first"),
        ("tensorflow.json", lambda d: d["releases"][0].pop("cuda"), "missing or wrong field"),
        ("gpus.json", lambda d: d["gpus"][0].update(compute_capability="x"), "not a version"),
        ("gpus.json", lambda d: d["other_gpus"]["vendors"][0].update(pattern="("), "bad or"),
        ("gpus.json", lambda d: d["other_gpus"]["vendors"][1].update(sources=[]), "no source"),
        (
            "tensorflow.json",
            lambda d: d["platforms"]["macos"]["gpu_route"].update(python_text="{pyhton}"),
            "unknown placeholder",
        ),
        (
            "tensorflow.json",
            lambda d: d["traps"].pop(
                next(i for i, t in enumerate(d["traps"]) if t["id"] == "windows_cpu_only")
            ),
            r"trap\(s\) \['windows_cpu_only'\] missing",
        ),
        ("tf_logs.json", lambda d: d["signatures"].pop(), r"signature\(s\) \['ptx_jit'\] missing"),
        ("tf_logs.json", lambda d: d["signatures"][0].update(pattern="(?P<"), "bad or missing"),
        ("tf_logs.json", lambda d: d["signatures"][0].update(flags=["LOUD"]), "bad or missing"),
        ("tf_logs.json", lambda d: d["signatures"][1].update(sources=[]), "names no source"),
    ],
)
def test_bad_data_is_rejected_naming_the_row(tmp_path, name, change, words):
    folder = _copy_compat(tmp_path)
    _edit(folder, name, change)
    with pytest.raises(CompatDataError, match=words):
        load_knowledge.__wrapped__(folder)


def test_unreadable_file_is_a_clear_error(tmp_path):
    folder = _copy_compat(tmp_path)
    (folder / "gpus.json").write_text("{", encoding="utf-8")
    with pytest.raises(CompatDataError, match=r"gpus\.json"):
        load_knowledge.__wrapped__(folder)


def test_releases_agree_with_the_team_reference():
    """Every release row matches the reference's release_matrix (the facts from the wheels)."""
    path = REFERENCE / "tensorflow-gpu-facts.json"
    if not path.exists():
        pytest.skip("the team reference is not beside this checkout")
    matrix = {r["minor"]: r for r in json.loads(path.read_text(encoding="utf-8"))["release_matrix"]}
    for release in load_knowledge().releases:
        row = matrix[release.version]
        assert release.latest_patch == row["latest_patch"]
        assert (release.python_min, release.python_max) == (row["python_min"], row["python_max"])
        assert release.min_cc == row["min_cc"]
        assert release.driver_floor == row["driver_floor"]
        assert release.windows_native_gpu == row["windows_native_gpu"]
