"""The app's log file: a rotating file in the data folder, so a menu-launched app's errors are kept.

`paths.log_file()` is where it is (shown in Help → About and in the doctor's Markdown report);
at 1 MB it rolls over, keeping three older files.
"""

from __future__ import annotations

import logging
from logging.handlers import RotatingFileHandler
from pathlib import Path

from gpu_assistant import paths

LOGGER_NAME = "gpu_assistant"
MAX_BYTES, BACKUPS = 1_000_000, 3


def logger() -> logging.Logger:
    """The app's logger, writing to today's `paths.log_file()` (tests move the data folder)."""
    log = logging.getLogger(LOGGER_NAME)
    target = str(paths.log_file())
    handlers = [h for h in log.handlers if isinstance(h, RotatingFileHandler)]
    if not any(h.baseFilename == target for h in handlers):
        for handler in handlers:
            log.removeHandler(handler)
            handler.close()
        handler = RotatingFileHandler(
            target, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8", delay=True
        )
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False
    return log


def log_path() -> Path:
    return paths.log_file()
