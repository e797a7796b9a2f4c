"""What the app remembers between runs: last folder, options, window geometry (QSettings, INI).

The file carries a schema version. When an older version is read, `_MIGRATIONS` bring it up to
date step by step; a file from a newer app is left alone and defaults are used instead, so a
downgrade never crashes or rewrites the user's newer settings.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QByteArray, QSettings

from gpu_assistant import paths
from gpu_assistant.training.settings import default as settings_default

SCHEMA_VERSION = 3
VERSION_KEY = "schema/version"


@dataclass
class Options:
    """The Data and Train pages' options, remembered between runs: first-run values from
    TrainSettings (written once there), where the pages start otherwise."""

    val_split: float = settings_default("val_split")
    batch_size: int = settings_default("batch_size")
    augment: bool = settings_default("augment")
    flip: bool = settings_default("flip")
    cache: str = settings_default("cache")
    model: str = settings_default("model")
    learning_rate: float = settings_default("learning_rate")
    # 0, as TrainSettings' 0 / None: "the model's own" (224 px for the pretrained backbone)
    image_size: int = 0  # the Data page's "Auto (the model's own)"
    epochs: int = 0  # the Train page's "Auto (by model)"


DEFAULT_OPTIONS = Options()


def _v1_to_v2(store: QSettings) -> None:
    """v1 kept flat keys (`lastFolder`, `imageSize`, `batchSize`); v2 groups them."""
    renames = {
        "lastFolder": "data/last_folder",
        "imageSize": "options/image_size",
        "batchSize": "options/batch_size",
    }
    for old, new in renames.items():
        if store.contains(old):
            store.setValue(new, store.value(old))
            store.remove(old)


def _v2_to_v3(store: QSettings) -> None:
    """v2's image size started at 96 px, which the Auto model ignored; v3 has "Auto" (0) and
    applies any other size to every model. A saved 96 was that starting value, not a choice."""
    if str(store.value("options/image_size", "")) == "96":
        store.setValue("options/image_size", 0)


_MIGRATIONS: dict[int, Callable[[QSettings], None]] = {1: _v1_to_v2, 2: _v2_to_v3}


class Settings:
    """Typed access to the settings file in the app's config folder."""

    def __init__(self, store: QSettings | None = None) -> None:
        self.store = store or QSettings(
            str(paths.config_dir() / "ui.ini"), QSettings.Format.IniFormat
        )
        self.readonly = False
        self._migrate()

    def _migrate(self) -> None:
        saved = self.store.value(VERSION_KEY, 1 if self.store.allKeys() else SCHEMA_VERSION)
        version = int(str(saved))
        if version > SCHEMA_VERSION:
            self.readonly = True  # written by a newer app: do not touch, use defaults
            return
        while version < SCHEMA_VERSION:
            _MIGRATIONS[version](self.store)
            version += 1
        self.store.setValue(VERSION_KEY, SCHEMA_VERSION)
        self.store.sync()

    @property
    def last_folder(self) -> str:
        return "" if self.readonly else str(self.store.value("data/last_folder", ""))

    @last_folder.setter
    def last_folder(self, folder: str) -> None:
        self._set("data/last_folder", folder)

    def options(self) -> Options:
        """The saved options, each coerced to its default's type (bad values fall back)."""
        result = Options()
        if self.readonly:
            return result
        for key, default in dataclasses.asdict(DEFAULT_OPTIONS).items():
            raw = self.store.value(f"options/{key}")
            if raw is None:
                continue
            try:
                if isinstance(default, bool):
                    value: Any = str(raw).lower() in {"true", "1", "yes"}
                else:
                    value = type(default)(raw)
            except (TypeError, ValueError):
                continue
            setattr(result, key, value)
        return result

    def save_options(self, options: Options) -> None:
        for key, value in dataclasses.asdict(options).items():
            self._set(f"options/{key}", value)

    def geometry(self) -> QByteArray | None:
        value = None if self.readonly else self.store.value("window/geometry")
        return value if isinstance(value, QByteArray) else None

    def save_geometry(self, geometry: QByteArray) -> None:
        self._set("window/geometry", geometry)

    def _set(self, key: str, value: Any) -> None:
        if not self.readonly:
            self.store.setValue(key, value)
            self.store.sync()
