"""One job slot: the page's current job, its busy state and its Cancel button, in one place.

Modelled on Orange3's ``ConcurrentWidgetMixin``: starting a new job cancels the old one *and
disconnects it*, so a late result, error or progress event of a job the user has moved on from
can never overwrite what the newer one shows. Callbacks run only for the slot's current job.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QMetaObject, QObject, Signal
from PySide6.QtWidgets import QAbstractButton, QProgressBar

from gpu_assistant.ui.worker import Job, JobFn, JobRunner

ErrorCallback = Callable[[str, str, str], None]


class JobSlot(QObject):
    """Holds at most one running job; `busy_changed(bool)` follows it."""

    busy_changed = Signal(bool)

    def __init__(
        self,
        runner: JobRunner,
        *,
        cancel_button: QAbstractButton | None = None,
        progress: QProgressBar | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._runner = runner
        self._cancel_button = cancel_button
        self._progress = progress
        self.job: Job | None = None
        self._connections: list[QMetaObject.Connection] = []
        if cancel_button is not None:
            cancel_button.setEnabled(False)
            cancel_button.clicked.connect(lambda _checked=False: self.cancel())
        if progress is not None:
            progress.setVisible(False)

    @property
    def busy(self) -> bool:
        return self.job is not None

    def start(
        self,
        name: str,
        fn: JobFn,
        *,
        on_result: Callable[[Any], None] | None = None,
        on_error: ErrorCallback | None = None,
        on_cancelled: Callable[[], None] | None = None,
        on_progress: Callable[[dict], None] | None = None,
        on_finished: Callable[[], None] | None = None,
    ) -> Job:
        """Replace the current job (cancelled and disconnected) with a new one."""
        self.discard()
        job = self._runner.start(name, fn)
        self.job = job
        pairs: list[tuple[Any, Callable[..., None] | None]] = [
            (job.progress, on_progress),
            (job.result, on_result),
            (job.error, on_error),
            (job.cancelled, on_cancelled),
        ]
        for signal, callback in pairs:
            if callback is not None:
                self._connections.append(signal.connect(self._guarded(job, callback)))
        self._connections.append(job.finished.connect(lambda: self._finished(job, on_finished)))
        if self._progress is not None:
            self._progress.setRange(0, 0)
            self._progress.setVisible(True)
            self._connections.append(job.progress.connect(self._show_progress))
        self._set_busy(True)
        return job

    def cancel(self) -> None:
        """Ask the current job to stop; it still reports that it was cancelled."""
        if self.job is not None:
            self.job.cancel()

    def discard(self) -> None:
        """Cancel the current job and drop it: nothing it reports reaches the page any more."""
        job, self.job = self.job, None
        if job is None:
            return
        job.cancel()
        for connection in self._connections:
            QObject.disconnect(connection)
        self._connections = []
        self._set_busy(False)

    def _guarded(self, job: Job, callback: Callable[..., None]) -> Callable[..., None]:
        def call(*args: Any) -> None:
            if self.job is job:  # a queued call may arrive after the disconnect
                callback(*args)

        return call

    def _finished(self, job: Job, on_finished: Callable[[], None] | None) -> None:
        if self.job is not job:
            return
        self.job = None
        for connection in self._connections:
            QObject.disconnect(connection)
        self._connections = []
        self._set_busy(False)
        if on_finished is not None:
            on_finished()

    def _show_progress(self, event: dict[str, Any]) -> None:
        total, done = event.get("total"), event.get("done")
        if self._progress is None or not (isinstance(total, int) and isinstance(done, int)):
            return
        if total > 0:
            self._progress.setRange(0, total)
            self._progress.setValue(done)

    def _set_busy(self, busy: bool) -> None:
        if self._cancel_button is not None:
            self._cancel_button.setEnabled(busy)
        if self._progress is not None and not busy:
            self._progress.setVisible(False)
        self.busy_changed.emit(busy)
