"""The tf.data pipeline with real TensorFlow on the CPU, over small real image folders."""

from __future__ import annotations

import os
from dataclasses import replace
from functools import partial
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from data_factory import make_class_folder, make_messy_folder, write_image
from gpu_assistant.data.images import load_for_model, resize_square
from gpu_assistant.data.pipeline import build_datasets
from gpu_assistant.data.sample import sample_data_dir
from gpu_assistant.data.scan import scan_folder
from gpu_assistant.data.split import PipelineOptions, split_records, stable_order
from gpu_assistant.jobs import Cancelled, CancelToken, UserError

pytestmark = pytest.mark.tf
SIZE = 24


def _count(dataset) -> int:
    return sum(int(labels.shape[0]) for _, labels in dataset)


def _options(tmp_path: Path, **kwargs) -> PipelineOptions:
    defaults = {"image_size": SIZE, "batch_size": 4, "cache_dir": tmp_path / "cache"}
    return PipelineOptions(**(defaults | kwargs))


@pytest.mark.parametrize("cache", ["memory", "disk", "none"])
def test_messy_folder_iterates_full_epochs(tmp_path: Path, cache: str) -> None:
    messy = make_messy_folder(tmp_path / "data")
    scan = scan_folder(tmp_path / "data")
    data = build_datasets(scan, _options(tmp_path, cache=cache, test_split=0.2))
    sizes = (len(data.split.train), len(data.split.val), len(data.split.test))
    assert sum(sizes) == sum(messy.counts.values()) and all(sizes)
    for _ in range(2):
        assert _count(data.train) == sizes[0]
        assert _count(data.val) == sizes[1] and _count(data.test) == sizes[2]
    images, labels = next(iter(data.train))
    assert images.dtype.name == "uint8" and labels.dtype.name == "int32"
    assert images.shape[1:] == (SIZE, SIZE, 3) and images.shape[0] <= 4
    assert data.cache_mode == cache and data.class_names == scan.class_names


def test_validation_pixels_match_single_image_prediction(tmp_path: Path) -> None:
    """What the model sees in validation is exactly what `load_for_model` gives predict."""
    make_messy_folder(tmp_path / "data", symlink_loop=False)
    scan = scan_folder(tmp_path / "data")
    data = build_datasets(scan, _options(tmp_path, val_split=0.5, batch_size=64))
    images, labels = next(iter(data.val))
    expected = stable_order(data.split.val, scan.root, 1337)
    assert labels.numpy().tolist() == [r.label for r in expected]
    for image, record in zip(images.numpy(), expected, strict=True):
        np.testing.assert_array_equal(image, load_for_model(record.path, SIZE))


def test_converted_files_keep_their_picture(tmp_path: Path) -> None:
    """CMYK, 16-bit and palette files come out like their plain 8-bit RGB twin."""
    for name, mode in (("plain.png", "RGB"), ("cmyk.jpg", "CMYK"), ("p.png", "P")):
        write_image(tmp_path / "a" / name, 0, size=(32, 32), mode=mode, quality=95)
    write_image(tmp_path / "b" / "gray.png", 1, size=(32, 32), mode="L")
    write_image(tmp_path / "b" / "deep.png", 1, size=(32, 32), mode="I;16")
    scan = scan_folder(tmp_path)
    pixels = {r.path.name: load_for_model(r.path, 16).astype(int) for r in scan.records}
    for name in ("cmyk.jpg", "p.png"):
        assert np.abs(pixels[name] - pixels["plain.png"]).mean() < 12, name
    assert np.abs(pixels["deep.png"] - pixels["gray.png"]).max() <= 1


def test_exif_rotated_photos_are_turned_upright(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    write_image(tmp_path / "a" / "turned.jpg", 0, size=(40, 20), exif=exif.tobytes())
    write_image(tmp_path / "b" / "plain.jpg", 1, size=(40, 20))
    scan = scan_folder(tmp_path)
    turned = next(r for r in scan.records if r.path.name == "turned.jpg")
    assert (turned.width, turned.height, turned.needs_conversion) == (20, 40, True)
    upright = np.asarray(Image.open(turned.path).transpose(Image.Transpose.ROTATE_270))
    expected = resize_square(upright, 16).numpy()
    np.testing.assert_array_equal(load_for_model(turned.path, 16), expected)


def test_augmentation_changes_training_batches_but_never_validation(tmp_path: Path) -> None:
    make_class_folder(tmp_path / "data", {"a": 6, "b": 6}, size=(20, 20))
    scan = scan_folder(tmp_path / "data")
    options = _options(tmp_path, batch_size=16, cache="memory", val_split=0.5)
    data = build_datasets(scan, options)
    val = [next(iter(data.val))[0].numpy() for _ in range(2)]
    np.testing.assert_array_equal(val[0], val[1])
    plain = build_datasets(scan, _options(tmp_path, batch_size=16, augment=False, val_split=0.5))
    augmented = np.sort(next(iter(data.train))[0].numpy().reshape(6, -1), axis=0)
    original = np.sort(next(iter(plain.train))[0].numpy().reshape(6, -1), axis=0)
    assert not np.array_equal(augmented, original)


def _cache_files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.rglob("*") if p.is_file())


def test_disk_cache_is_reused_while_the_folder_is_unchanged(tmp_path: Path) -> None:
    root = make_class_folder(tmp_path / "data", {"a": 5, "b": 5})
    scan = scan_folder(root)
    options = _options(tmp_path, cache="disk")
    assert _count(build_datasets(scan, options).train) == 8
    cache_dirs = list((tmp_path / "cache").iterdir())
    assert len(cache_dirs) == 1 and "train.index" in _cache_files(cache_dirs[0])

    # Unchanged folder: a new pipeline reads the cache files and does not write them again.
    files = sorted(cache_dirs[0].iterdir())
    before = [(p.name, p.stat().st_ino, p.stat().st_mtime_ns) for p in files]
    assert _count(build_datasets(scan, options).train) == 8
    after = [(p.name, p.stat().st_ino, p.stat().st_mtime_ns) for p in files]
    assert after == before

    # A changed file gives another fingerprint, hence a fresh cache.
    changed = root / "a" / "img_0000.png"
    write_image(changed, 1, size=(20, 20))
    os.utime(changed, ns=(1, 1))
    with pytest.raises(UserError, match="changed or disappeared since the folder was scanned"):
        build_datasets(scan, options)
    rescanned = scan_folder(root)
    assert _count(build_datasets(rescanned, options).train) == 8
    assert len(list((tmp_path / "cache").iterdir())) == 2


def test_stopped_preparation_never_leaves_a_reusable_half_cache(tmp_path: Path) -> None:
    root = make_class_folder(tmp_path / "data", {"a": 40, "b": 40})
    scan = scan_folder(root)
    options = _options(tmp_path, cache="disk", batch_size=2, val_split=0.25)
    cancel = CancelToken()
    with pytest.raises(Cancelled):  # the user pressed Stop while the cache was written
        build_datasets(scan, options, report=lambda _event: cancel.cancel(), cancel=cancel)
    (directory,) = (tmp_path / "cache").iterdir()
    assert _cache_files(directory) == []
    # A crash leaves a lock and temp files: they are cleared, never read as a cache.
    (directory / "train_0.lockfile").write_text("crashed")
    (directory / "train_0.data-00000-of-00001.tempstate123").write_bytes(b"half")
    assert _count(build_datasets(scan, options).train) == 60
    assert "train_0.lockfile" not in _cache_files(directory)
    assert "train.index" in _cache_files(directory)


def test_memory_cache_is_filled_before_training(tmp_path: Path) -> None:
    """After `build_datasets` the images come from memory: the files can even go away."""
    root = make_class_folder(tmp_path / "data", {"a": 6, "b": 6})
    data = build_datasets(scan_folder(root), _options(tmp_path, cache="memory", batch_size=3))
    for path in root.rglob("*.png"):
        path.unlink()
    orders = []
    for _ in range(3):
        batches = [labels.numpy().tolist() for _, labels in data.train]
        assert sum(len(b) for b in batches) == 10
        orders.append(batches)
    assert _count(data.val) == 2
    assert orders[0] != orders[1] or orders[1] != orders[2]  # batch order changes per epoch


def test_only_the_training_set_is_autotuned(tmp_path: Path) -> None:
    """Keras opens a new validation iterator every epoch; an autotuned one stalls when it is
    dropped, so validation and test run untuned while training keeps tf.data's autotuner."""
    root = make_class_folder(tmp_path / "data", {"a": 6, "b": 6})
    data = build_datasets(scan_folder(root), _options(tmp_path, test_split=0.2))
    assert data.train.options().autotune.enabled is not False
    assert data.val.options().autotune.enabled is False
    assert data.test.options().autotune.enabled is False


def test_split_is_deterministic_stratified_and_order_independent(tmp_path: Path) -> None:
    make_class_folder(tmp_path, {"a": 10, "b": 20, "c": 5})
    scan = scan_folder(tmp_path)
    split = split_records(scan, 0.2, 0.2, seed=7)
    shuffled = scan_folder(tmp_path)
    shuffled.records.reverse()
    again = split_records(shuffled, 0.2, 0.2, seed=7)
    assert {p for r in split.val for p in [r.path]} == {r.path for r in again.val}
    assert {r.path for r in split.test} == {r.path for r in again.test}
    per_class = [sum(r.label == k for r in split.val) for k in range(3)]
    assert per_class == [2, 4, 1]
    other = split_records(scan, 0.2, 0.2, seed=8)
    assert {r.path for r in other.val} != {r.path for r in split.val}
    with pytest.raises(UserError):
        split_records(scan, 0.6, 0.5)


def test_class_weights_balance_the_classes(tmp_path: Path) -> None:
    make_class_folder(tmp_path, {"a": 12, "b": 4})
    data = build_datasets(scan_folder(tmp_path), _options(tmp_path, val_split=0.25))
    assert data.class_weights == pytest.approx({0: 12 / 18, 1: 2.0})


def test_sample_set_trains_well_above_chance_quickly(tmp_path: Path) -> None:
    """Four classes (chance 25%): a tiny CNN on the pipeline reaches far more in 3 epochs."""
    import keras

    scan = scan_folder(sample_data_dir())
    data = build_datasets(scan, _options(tmp_path, image_size=32, batch_size=32, cache="memory"))
    keras.utils.set_random_seed(1)
    model = keras.Sequential(
        [
            keras.Input((32, 32, 3)),
            keras.layers.Rescaling(1 / 255),
            keras.layers.Conv2D(16, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(32, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Flatten(),
            keras.layers.Dense(4, activation="softmax"),
        ]
    )
    model.compile(
        keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    history = model.fit(data.train, validation_data=data.val, epochs=3, verbose=0, shuffle=False)
    assert history.history["val_accuracy"][-1] > 0.8


def test_augmentation_transform_is_exact_at_zero_strength_and_mirrors() -> None:
    import tensorflow as tf

    from gpu_assistant.data.augment import affine_transforms

    images = np.random.default_rng(0).integers(0, 255, (2, 8, 10, 3)).astype(np.float32)
    transforms = affine_transforms(
        tf.constant([1.0, -1.0]), tf.zeros([2]), tf.ones([2]), height=8, width=10
    )
    out = tf.raw_ops.ImageProjectiveTransformV3(
        images=images,
        transforms=transforms,
        output_shape=[8, 10],
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode="REFLECT",
    ).numpy()
    np.testing.assert_allclose(out[0], images[0], atol=1e-3)
    np.testing.assert_allclose(out[1], images[1][:, ::-1], atol=1e-3)


def _mirrored(images: np.ndarray, originals: np.ndarray) -> list[bool]:
    """Per image: is it exactly the original mirrored left-right (else exactly the original)?"""
    flags = [bool(np.array_equal(a, b[:, ::-1])) for a, b in zip(images, originals, strict=True)]
    for image, original, mirrored in zip(images, originals, flags, strict=True):
        assert mirrored or np.array_equal(image, original)
    return flags


def test_without_flip_augmentation_never_mirrors() -> None:
    """At zero rotation, zoom and contrast only the mirror is left: with `flip` off every image
    comes back exactly as it was; with it on, about half come back exactly mirrored."""
    from gpu_assistant.data.augment import Augmentation, augmenter

    images = np.random.default_rng(0).integers(0, 256, (64, 8, 10, 3)).astype(np.uint8)
    still = Augmentation(flip=False, max_rotation=0.0, max_zoom=0.0, max_contrast=0.0)
    for flip in (False, True):
        augment = augmenter(5, replace(still, flip=flip))
        outputs = [augment(images, None)[0].numpy() for _ in range(3)]
        mirrored = [m for output in outputs for m in _mirrored(output, images)]
        assert any(mirrored) is flip and all(mirrored) is False


def test_the_flip_option_reaches_training_batches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`PipelineOptions(flip=False)` reaches the training augmentation: with the other
    augmentations at zero strength, no image is ever mirrored."""
    from gpu_assistant.data import augment, pipeline

    still = partial(augment.Augmentation, max_rotation=0.0, max_zoom=0.0, max_contrast=0.0)
    monkeypatch.setattr(pipeline, "Augmentation", still)
    make_class_folder(tmp_path / "data", {"a": 16, "b": 16}, size=(20, 20))
    scan = scan_folder(tmp_path / "data")
    # 16 training images in one batch, so every epoch's batch holds the same images in order.
    options = _options(tmp_path, batch_size=16, cache="memory", val_split=0.5)
    plain = next(iter(build_datasets(scan, replace(options, augment=False)).train))[0].numpy()
    for flip in (False, True):
        flipped = replace(options, flip=flip)
        train = build_datasets(scan, flipped).train
        epochs = [images for _ in range(3) for images, _ in train]
        mirrored = [m for images in epochs for m in _mirrored(np.asarray(images), plain)]
        assert any(mirrored) is flip


def test_big_jpegs_shrink_in_the_dct_like_a_full_decode(tmp_path: Path) -> None:
    """A 400x300 photo is decoded at 1/4 scale for size 48; training and predict agree, and
    the picture matches a full decode + resize closely."""
    import tensorflow as tf

    from gpu_assistant.data.images import JPEG_QUARTER, decode_group

    for label in (0, 1):
        for i in range(2):
            write_image(tmp_path / f"c{label}" / f"{i}.jpg", label, size=(400, 300), quality=92)
    scan = scan_folder(tmp_path)
    assert {decode_group(r.format, r.width, r.height, False, 48) for r in scan.records} == {
        JPEG_QUARTER
    }
    data = build_datasets(scan, _options(tmp_path, image_size=48, val_split=0.5, cache="none"))
    images, _ = next(iter(data.val))
    ordered = stable_order(data.split.val, scan.root, 1337)
    for image, record in zip(images.numpy(), ordered, strict=True):
        np.testing.assert_array_equal(image, load_for_model(record.path, 48))
        full = tf.io.decode_jpeg(tf.io.read_file(str(record.path)), channels=3)
        reference = resize_square(full, 48).numpy().astype(int)
        assert np.abs(image.astype(int) - reference).mean() < 6


def test_building_reports_progress_and_can_be_cancelled(tmp_path: Path) -> None:
    make_class_folder(tmp_path / "data", {"a": 40, "b": 40})
    scan = scan_folder(tmp_path / "data")
    events: list[dict] = []
    build_datasets(scan, _options(tmp_path, cache="memory"), report=events.append)
    assert events[-1]["done"] == events[-1]["total"] == 80
    assert all(e["event"] == "progress" for e in events)
    cancel = CancelToken()
    cancel.cancel()
    with pytest.raises(Cancelled):
        build_datasets(scan, _options(tmp_path, cache="memory"), cancel=cancel)


def test_a_training_run_over_a_messy_folder_completes(tmp_path: Path) -> None:
    """Bad, hidden and awkward files, an empty class, a link loop: Keras fits to the end."""
    import keras

    make_messy_folder(tmp_path / "data")
    scan = scan_folder(tmp_path / "data")
    data = build_datasets(scan, _options(tmp_path, image_size=16, cache="disk"))
    model = keras.Sequential(
        [
            keras.Input((16, 16, 3)),
            keras.layers.Rescaling(1 / 255),
            keras.layers.Flatten(),
            keras.layers.Dense(len(data.class_names), activation="softmax"),
        ]
    )
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(
        data.train,
        validation_data=data.val,
        epochs=2,
        class_weight=data.class_weights,
        verbose=0,
        shuffle=False,
    )
    assert len(history.history["loss"]) == 2
    assert all(np.isfinite(history.history["val_loss"]))
