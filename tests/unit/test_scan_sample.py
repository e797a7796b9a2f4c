"""The bundled sample set: real, small, licensed, and clean for the scan (no TensorFlow)."""

from __future__ import annotations

from gpu_assistant.data.sample import sample_data_dir
from gpu_assistant.data.scan import scan_folder


def test_sample_set_scans_clean_with_four_balanced_classes() -> None:
    result = scan_folder(sample_data_dir())
    assert {c.name: c.count for c in result.classes} == {
        "0": 178,
        "1": 182,
        "2": 177,
        "3": 183,
    }
    assert (result.skipped, result.problems, result.warnings) == ([], [], [])
    assert {(r.width, r.height, r.needs_conversion) for r in result.records} == {(32, 32, False)}


def test_sample_set_is_small_and_says_where_it_comes_from() -> None:
    folder = sample_data_dir()
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    assert size < 5 * 1024 * 1024
    licence = (folder / "LICENSE.md").read_text(encoding="utf-8")
    assert "CC BY 4.0" in licence and "https://doi.org/10.24432/C50P49" in licence


def test_byte_compiled_helpers_beside_the_classes_are_not_a_class(tmp_path) -> None:
    # pip byte-compiles make_sample.py inside the installed sample set: __pycache__ appears.
    import shutil

    copy = tmp_path / "sample"
    shutil.copytree(sample_data_dir(), copy)
    (copy / "__pycache__").mkdir(exist_ok=True)
    (copy / "__pycache__" / "make_sample.cpython-312.pyc").write_bytes(b"\x00" * 16)
    result = scan_folder(copy)
    assert [c.name for c in result.classes] == ["0", "1", "2", "3"]
    assert (result.skipped, result.problems) == ([], [])
