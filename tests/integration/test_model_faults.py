"""predict and export on models and folders the app did not make (or that were damaged):
exit 2 with a plain message, never a traceback; export never deletes or writes through what
it did not write; labels.txt can never silently name the wrong class."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import pytest

from data_factory import write_image
from gpu_assistant.cli import main
from gpu_assistant.jobs import UserError
from gpu_assistant.training.export import export

pytestmark = pytest.mark.tf


def _save(model: object, folder: Path, labels: str | None = "a\nb\n") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    model.save(folder / "model.keras")  # type: ignore[attr-defined]
    if labels is not None:
        (folder / "labels.txt").write_text(labels, encoding="utf-8")
    return folder


def _classifier(inputs: object, outputs: int = 2) -> object:
    import keras

    x = keras.layers.GlobalAveragePooling2D()(inputs)
    return keras.Model(inputs, keras.layers.Dense(outputs, activation="softmax")(x))


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import keras

    return _save(_classifier(keras.Input((32, 32, 3))), tmp_path_factory.mktemp("good"))


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_image(tmp_path_factory.mktemp("img") / "x.png", size=(32, 32))


def _custom_layer(good: Path, folder: Path) -> Path:
    """The good model with its pooling layer swapped for a class from someone else's code."""
    folder.mkdir()
    with (
        zipfile.ZipFile(good / "model.keras") as source,
        zipfile.ZipFile(folder / "model.keras", "w") as target,
    ):
        for item in source.infolist():
            data = source.read(item)
            if item.filename == "config.json":
                config = json.loads(data)
                layer = next(x for x in config["config"]["layers"] if "Pooling" in x["class_name"])
                layer.update(class_name="Mystery", module="their_package.layers")
                data = json.dumps(config).encode()
            target.writestr(item, data)
    (folder / "labels.txt").write_text("a\nb\n")
    return folder


def _foreign_models(root: Path, good: Path) -> dict[str, Path]:
    """One folder per kind of model the app did not write."""
    import keras

    made: dict[str, Path] = {}
    made["unknown size"] = _save(_classifier(keras.Input((None, None, 3))), root / "unknown")
    made["grayscale"] = _save(_classifier(keras.Input((32, 32, 1))), root / "gray")
    first, second = keras.Input((32, 32, 3)), keras.Input((32, 32, 3))
    both = keras.layers.Add()([first, second])
    two = keras.Model([first, second], _classifier(keras.Input((32, 32, 3)))(both))
    made["several inputs"] = _save(two, root / "two")
    made["three outputs, two labels"] = _save(_classifier(keras.Input((32, 32, 3)), 3), root / "3")

    made["custom layer"] = _custom_layer(good, root / "custom")
    for name, content in {
        "truncated": (good / "model.keras").read_bytes()[:3000],
        "random bytes": os.urandom(4000),
        "empty file": b"",
    }.items():
        folder = root / name.replace(" ", "-")
        folder.mkdir()
        (folder / "model.keras").write_bytes(content)
        (folder / "labels.txt").write_text("a\nb\n")
        made[name] = folder
    folder = root / "zip"
    folder.mkdir()
    with zipfile.ZipFile(folder / "model.keras", "w") as archive:
        archive.writestr("readme.txt", "not a model")
    (folder / "labels.txt").write_text("a\nb\n")
    made["zip without Keras contents"] = folder
    for name, labels in {
        "empty labels": "",
        "short labels": "a\n",
        "blank line": "a\n\nb\n",
    }.items():
        made[name] = root / name.replace(" ", "-")
        made[name].mkdir()
        (made[name] / "model.keras").write_bytes((good / "model.keras").read_bytes())
        (made[name] / "labels.txt").write_text(labels)
    return made


def test_foreign_or_damaged_models_exit_2_with_a_plain_message(
    good: Path, image: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    assert main(["predict", str(good), str(image)]) == 0
    capsys.readouterr()
    for kind, folder in _foreign_models(tmp_path, good).items():
        for argv in (
            ["predict", str(folder), str(image)],
            ["export", str(folder), "--format", "keras", "--out", str(tmp_path / "out" / kind)],
        ):
            code = main(argv)
            err = capsys.readouterr().err
            assert code == 2, (kind, argv[0], err)
            assert "Traceback" not in err and "File not found" not in err, (kind, err)


def test_a_model_with_more_outputs_than_labels_says_so(
    good: Path, image: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "model.keras").write_bytes((good / "model.keras").read_bytes())
    (folder / "labels.txt").write_text("a\nb\nc\n")
    assert main(["predict", str(folder), str(image)]) == 2
    assert "labels.txt names 3 classes" in capsys.readouterr().err


def test_scan_refuses_class_names_with_line_breaks(tmp_path: Path) -> None:
    from gpu_assistant.data.scan import scan_folder

    for name in ("cat\ndog", "tab\there", "ok"):
        for i in range(2):
            write_image(tmp_path / name / f"{i}.png")
    write_image(tmp_path / "other" / "0.png", 1)
    result = scan_folder(tmp_path)
    assert result.class_names == ["ok", "other"]
    messages = " ".join(p.message for p in result.problems)
    assert "'cat\\ndog'" in messages and "'tab\\there'" in messages


def test_labels_with_line_breaks_are_never_written(tmp_path: Path) -> None:
    from gpu_assistant.training.run_folder import read_labels, write_labels

    with pytest.raises(ValueError):
        write_labels(tmp_path / "labels.txt", ["a\nb", "c"])
    write_labels(tmp_path / "labels.txt", ["a", "b"])
    assert read_labels(tmp_path / "labels.txt") == ["a", "b"]


def test_export_never_deletes_what_it_did_not_write(good: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    mine = out / "savedmodel" / "my-notes.txt"
    mine.parent.mkdir(parents=True)
    mine.write_text("keep me")
    with pytest.raises(UserError, match="not written by"):
        export(good, ["savedmodel", "labels"], out, rescore=False)
    assert mine.read_text() == "keep me"
    assert not (out / "labels.txt").exists()  # refused before anything was written


def test_export_replaces_its_own_files_but_never_writes_through_links(
    good: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    export(good, ["savedmodel", "labels"], out, rescore=False)
    export(good, ["savedmodel", "labels"], out, rescore=False)  # again: its own files, replaced
    assert (out / "savedmodel" / "saved_model.pb").is_file()
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (out / "labels.txt").unlink()
    (out / "labels.txt").symlink_to(victim)
    export(good, ["labels"], out, rescore=False)
    assert victim.read_text() == "precious"
    assert not (out / "labels.txt").is_symlink()
    assert (out / "labels.txt").read_text() == "a\nb\n"
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "keep").mkdir(parents=True)
    os.rename(out / "savedmodel", tmp_path / "gone")
    (out / "savedmodel").symlink_to(elsewhere)
    export(good, ["savedmodel"], out, rescore=False)
    assert (elsewhere / "keep").is_dir() and not (elsewhere / "saved_model.pb").exists()
    assert not (out / "savedmodel").is_symlink()


def test_export_refuses_a_foreign_labels_file(good: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "labels.txt").write_text("somebody else's\n")
    with pytest.raises(UserError, match="not written by"):
        export(good, ["labels"], out, rescore=False)
    assert (out / "labels.txt").read_text() == "somebody else's\n"


def test_weights_of_random_bytes_are_a_user_error(tmp_path: Path) -> None:
    """A .keras name made Keras read it as a zip: BadZipFile, exit 3."""
    from gpu_assistant.training.models import build_model

    weights = tmp_path / "w.keras"
    weights.write_bytes(os.urandom(5000))
    with pytest.raises(UserError, match="does not fit"):
        build_model("mobilenet_v3_small", 2, 32, weights_path=weights)
