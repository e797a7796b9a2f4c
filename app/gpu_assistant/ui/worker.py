"""The one way the UI runs a long job: a QObject on its own QThread, fed by the plain contract.

A job is any ``fn(report, cancel) -> result`` (see `gpu_assistant.jobs`). `JobRunner.start` runs
it on a fresh QThread and returns a `Job` whose signals fire on the GUI thread:
``progress(dict)`` (throttled), ``result(object)``, ``cancelled()``,
``error(message, fix, details)`` and ``finished()`` (always, last). The runner keeps every
running job so that closing the window cancels them all and waits for their threads.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

from gpu_assistant.jobs import Cancelled, CancelToken, Event, Report, UserError

JobFn = Callable[[Report, CancelToken], Any]

# Events that may arrive many times a second; the UI sees at most one per interval (the latest).
THROTTLED_EVENTS = frozenset({"progress", "batch", "log"})
PROGRESS_INTERVAL_S = 0.1


class _Throttle:
    """Forwards events, keeping only the latest of a burst of frequent ones (<= 10 per second).

    Any other event first flushes the pending frequent one, so the order the job reported in is
    kept; `flush` delivers the last pending event when the job ends.
    """

    def __init__(self, emit: Callable[[Event], None], interval_s: float) -> None:
        self._emit = emit
        self._interval = interval_s
        self._last = float("-inf")
        self._pending: Event | None = None
        self._lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        with self._lock:
            now = time.monotonic()
            if event.get("event") in THROTTLED_EVENTS and now - self._last < self._interval:
                if event.get("event") == "log" and self._pending is not None:
                    event = _merge_logs(self._pending, event)
                self._pending = event
                return
            self._flush_locked()
            self._last = now
        self._emit(event)

    def flush(self) -> None:
        with self._lock:
            self._flush_locked()

    def _flush_locked(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            self._emit(pending)


def _merge_logs(older: Event, newer: Event) -> Event:
    """Log lines must all reach the screen, so a throttled burst is joined, not dropped."""
    if older.get("event") != "log":
        return newer
    return {**newer, "line": f"{older.get('line', '')}\n{newer.get('line', '')}"}


class _Worker(QObject):
    """Lives on the job's thread; its signals reach the `Job` (GUI thread) as queued calls."""

    progress = Signal(dict)
    result = Signal(object)
    cancelled = Signal()
    error = Signal(str, str, str)
    done = Signal()

    def __init__(self, fn: JobFn, cancel: CancelToken) -> None:
        super().__init__()
        self._fn = fn
        self._cancel = cancel

    @Slot()
    def run(self) -> None:
        throttle = _Throttle(self.progress.emit, PROGRESS_INTERVAL_S)
        try:
            value = self._fn(throttle, self._cancel)
        except Cancelled:
            throttle.flush()
            self.cancelled.emit()
        except UserError as exc:
            throttle.flush()
            self.error.emit(exc.message, exc.fix, "")
        except Exception as exc:  # a bug in the job: the UI shows it and logs the traceback
            throttle.flush()
            self.error.emit(f"{type(exc).__name__}: {exc}", "", traceback.format_exc())
        else:
            throttle.flush()
            self.result.emit(value)
        finally:
            self.done.emit()
            # quit() directly (thread-safe): the GUI thread may be blocked in wait() on close.
            QThread.currentThread().quit()


class Job(QObject):
    """Handle of one running job; connect to its signals, call `cancel()` to ask it to stop."""

    progress = Signal(dict)
    result = Signal(object)
    cancelled = Signal()
    error = Signal(str, str, str)
    finished = Signal()

    def __init__(self, name: str, fn: JobFn, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self.token = CancelToken()
        self.worker_thread = QThread()
        self.worker_thread.setObjectName(f"job:{name}")
        self._worker = _Worker(fn, self.token)
        self._worker.moveToThread(self.worker_thread)
        self._worker.progress.connect(self._on_progress)
        self._worker.result.connect(self._on_result)
        self._worker.cancelled.connect(self._on_cancelled)
        self._worker.error.connect(self._on_error)
        self._worker.done.connect(self._on_done)
        self.worker_thread.started.connect(self._worker.run)

    # Slots re-emit on the GUI thread (queued: this object lives there, the worker does not).
    @Slot(dict)
    def _on_progress(self, event: dict) -> None:
        self.progress.emit(event)

    @Slot(object)
    def _on_result(self, value: object) -> None:
        self.result.emit(value)

    @Slot()
    def _on_cancelled(self) -> None:
        self.cancelled.emit()

    @Slot(str, str, str)
    def _on_error(self, message: str, fix: str, details: str) -> None:
        self.error.emit(message, fix, details)

    @Slot()
    def _on_done(self) -> None:
        self.finished.emit()

    def cancel(self) -> None:
        self.token.cancel()

    def is_running(self) -> bool:
        return self.worker_thread.isRunning()

    def wait(self, timeout_ms: int) -> bool:
        return self.worker_thread.wait(timeout_ms)


class JobRunner(QObject):
    """Starts jobs and remembers the running ones, so that shutdown can stop every thread."""

    job_started = Signal(object)
    job_finished = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._jobs: list[Job] = []

    def start(self, name: str, fn: JobFn) -> Job:
        """Start the job; its signals arrive through the event loop, so connect right after."""
        job = Job(name, fn)
        self._jobs.append(job)
        job.finished.connect(lambda: self._forget(job))
        job.worker_thread.start()
        self.job_started.emit(job)
        return job

    def running(self, name: str | None = None) -> list[Job]:
        """Jobs whose thread has not ended (a job whose `finished` is still queued counts not)."""
        return [
            j
            for j in self._jobs
            if not j.worker_thread.isFinished() and (name is None or j.name == name)
        ]

    def shutdown(self, timeout_ms: int = 30_000) -> bool:
        """Cancel every job and wait for its thread; True when all stopped in time."""
        for job in self._jobs:
            job.cancel()
        stopped = True
        for job in list(self._jobs):
            if job.worker_thread.isRunning():
                stopped = job.wait(timeout_ms) and stopped
        return stopped

    def _forget(self, job: Job) -> None:
        job.worker_thread.wait()
        if job in self._jobs:
            self._jobs.remove(job)
        self.job_finished.emit(job)
