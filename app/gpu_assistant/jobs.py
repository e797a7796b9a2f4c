"""The plain (Qt-free) contract every long job follows: a progress callback and a cancel token.

`system/`, `data/` and `training/` report through a `Report` callable that takes one event dict
(always with an ``"event"`` key, JSON-serialisable so the CLI can print it as JSON Lines) and
stop cooperatively when their `CancelToken` is set. `ui/` adapts both to Qt signals.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

Event = dict[str, Any]
Report = Callable[[Event], None]


class Cancelled(Exception):
    """Raised inside a job when its cancel token was set; the job's caller treats it as a stop."""


class CancelToken:
    """A thread-safe flag a job polls between steps; cancelling is a request, never a kill."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise Cancelled

    def wait(self, timeout: float) -> bool:
        """Sleep up to `timeout` seconds, waking early (and returning True) when cancelled."""
        return self._event.wait(timeout)


def ignore(_event: Event) -> None:
    """A `Report` that drops every event, for callers that do not show progress."""


class UserError(Exception):
    """A failure the user can act on: `message` says what happened, `fix` what to do.

    The CLI prints both and exits with status 2; the UI shows them in a dialog. Anything else
    that escapes a job is a bug and is shown with its traceback in the log.
    """

    def __init__(self, message: str, fix: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix

    def to_dict(self) -> dict[str, str]:
        return {"message": self.message, "fix": self.fix}
