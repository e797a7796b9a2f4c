"""Settings persist in the config folder, migrate from v1, and survive bad or newer files."""

from __future__ import annotations

from PySide6.QtCore import QSettings

from gpu_assistant import paths
from gpu_assistant.ui.settings import (
    DEFAULT_OPTIONS,
    SCHEMA_VERSION,
    VERSION_KEY,
    Options,
    Settings,
)


def _raw() -> QSettings:
    return QSettings(str(paths.config_dir() / "ui.ini"), QSettings.Format.IniFormat)


def test_round_trip_in_the_redirected_config_folder(qtbot):
    settings = Settings()
    settings.last_folder = "/data/photos"
    settings.save_options(Options(image_size=128, augment=False, learning_rate=0.0005))
    again = Settings()
    assert again.last_folder == "/data/photos"
    assert again.options() == Options(image_size=128, augment=False, learning_rate=0.0005)
    assert (paths.config_dir() / "ui.ini").exists()


def test_v1_file_is_migrated(qtbot):
    raw = _raw()
    raw.setValue("lastFolder", "/old/folder")
    raw.setValue("imageSize", 224)
    raw.sync()
    settings = Settings()
    assert settings.last_folder == "/old/folder"
    assert settings.options().image_size == 224
    migrated = _raw()
    assert int(migrated.value(VERSION_KEY)) == SCHEMA_VERSION
    assert not migrated.contains("lastFolder")


def test_bad_values_fall_back_and_a_newer_file_is_left_alone(qtbot):
    raw = _raw()
    raw.setValue(VERSION_KEY, SCHEMA_VERSION)
    raw.setValue("options/batch_size", "lots")
    raw.sync()
    assert Settings().options().batch_size == DEFAULT_OPTIONS.batch_size

    raw.setValue(VERSION_KEY, SCHEMA_VERSION + 1)
    raw.setValue("data/last_folder", "/from/the/future")
    raw.sync()
    newer = Settings()
    assert newer.readonly and newer.last_folder == ""
    newer.last_folder = "/not/written"
    assert _raw().value("data/last_folder") == "/from/the/future"


def test_v2_image_size_96_was_the_starting_value_and_becomes_auto(qtbot):
    raw = _raw()
    raw.setValue(VERSION_KEY, 2)
    raw.setValue("options/image_size", 96)  # v2's spin box started here; Auto ignored it
    raw.sync()
    assert Settings().options().image_size == 0  # v3: Auto, the model's own size
    raw.setValue(VERSION_KEY, 2)
    raw.setValue("options/image_size", 160)  # a size the user chose stays
    raw.sync()
    assert Settings().options().image_size == 160
