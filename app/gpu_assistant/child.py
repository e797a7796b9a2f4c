"""The one supervisor of child processes (Qt-free): verify, install, train, predict and export.

Anything that runs TensorFlow runs in a child Python: a broken CUDA install can hang or crash
the process that imports it, and TensorFlow holds the GIL long enough to freeze a window.
`run_child` starts ``argv`` (never a shell) with an environment from `child_env`, writes
``stdin_text`` to it, reads stdout as JSON lines (one event dict per line, stray prints
ignored) or as plain text lines, keeps a bounded stderr log (its first and last lines), and
ends the child on cancel or timeout. Cancelling either writes a line (``cancel_line``: the child
stops cleanly, e.g. training keeps its checkpoint) or terminates the child (then kills it).

`KeptChild` is the same for a child kept running between requests (the Results page's
predictions: Python, TensorFlow and the model are loaded once, not per image).

`child_env` sets ``CUDA_DEVICE_ORDER=PCI_BUS_ID`` so that TensorFlow's GPU i is NVML's GPU i
(CUDA's default order is fastest first, NVML's is PCI order), and puts this package on the
child's path.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from gpu_assistant.jobs import CancelToken, Event, Report, ignore

PACKAGE_ROOT = str(Path(__file__).resolve().parents[1])  # the folder holding gpu_assistant/
STOP_GRACE_S = 5.0
POLL_S = 0.1
STDERR_HEAD_LINES, STDERR_TAIL_LINES = 1000, 400  # bounded memory for a chatty child


def child_env(base: Mapping[str, str] | None = None, **extra: str) -> dict[str, str]:
    """The environment every child gets: GPU order as NVML's, this package importable, UTF-8."""
    env = dict(os.environ if base is None else base)
    env["CUDA_DEVICE_ORDER"] = "PCI_BUS_ID"
    env.setdefault("PYTHONIOENCODING", "utf-8")
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONPATH"] = os.pathsep.join(p for p in (PACKAGE_ROOT, env.get("PYTHONPATH", "")) if p)
    env.update(extra)
    return env


class OutputLog:
    """A child's stderr, bounded: the first lines (where load failures are) and the last ones."""

    def __init__(self, head: int = STDERR_HEAD_LINES, tail: int = STDERR_TAIL_LINES) -> None:
        self.head: list[str] = []
        self.tail: deque[str] = deque(maxlen=tail)
        self.head_size = head
        self.skipped = 0

    def append(self, line: str) -> None:
        if len(self.head) < self.head_size:
            self.head.append(line)
            return
        if len(self.tail) == self.tail.maxlen:
            self.skipped += 1
        self.tail.append(line)

    def text(self) -> str:
        gap = [f"... {self.skipped} log lines skipped ..."] if self.skipped else []
        return "\n".join([*self.head, *gap, *self.tail])

    def last_lines(self, count: int) -> str:
        """The end of the log, for an error message."""
        return "\n".join([*self.head, *self.tail][-count:])


@dataclass
class ChildOutcome:
    """How the child ended: its exit code, whether we stopped it, what it said."""

    returncode: int | None
    cancelled: bool = False
    timed_out: bool = False
    events: list[Event] = field(default_factory=list)
    stderr: OutputLog = field(default_factory=OutputLog)
    seconds: float = 0.0

    def last(self, name: str) -> Event | None:
        """The last event called `name` (e.g. the child's result), or None."""
        return next((e for e in reversed(self.events) if e.get("event") == name), None)


def run_child(
    argv: Sequence[str],
    *,
    report: Report = ignore,
    cancel: CancelToken | None = None,
    env: Mapping[str, str] | None = None,
    stdin_text: str | None = None,
    cancel_line: str | None = None,
    timeout: float | None = None,
    on_line: Callable[[str], None] | None = None,
    merge_stderr: bool = False,
    stderr_log: OutputLog | None = None,
) -> ChildOutcome:
    """Run `argv` to its end (or until cancelled / timed out); return what happened.

    stdout is JSON lines: each event dict is kept in ``events`` and passed to `report`. With
    `on_line`, stdout is plain text instead and each line goes there. Raises OSError when the
    program cannot be started; the caller says what that means for the user.
    """
    if isinstance(argv, str):
        raise TypeError("run_child takes a list of arguments, never a shell string")
    keep_stdin = stdin_text is not None or cancel_line is not None
    process = subprocess.Popen(
        list(argv),
        stdin=subprocess.PIPE if keep_stdin else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT if merge_stderr else subprocess.PIPE,
        text=True,
        encoding="utf-8",
        errors="replace",
        env=dict(env) if env is not None else child_env(),
    )
    started = time.monotonic()
    outcome = ChildOutcome(returncode=None, stderr=stderr_log or OutputLog())
    readers = [
        threading.Thread(target=_read_stdout, args=(process.stdout, outcome, report, on_line))
    ]
    if not merge_stderr:
        readers.append(threading.Thread(target=_read_log, args=(process.stderr, outcome.stderr)))
    for reader in readers:
        reader.daemon = True
        reader.start()
    if stdin_text is not None:
        _write(process, stdin_text)
    asked_to_stop = False
    try:
        while process.poll() is None:
            if cancel is not None and not asked_to_stop and cancel.wait(POLL_S):
                outcome.cancelled = True
                if cancel_line is None:
                    break
                _write(process, cancel_line)  # the child finishes its step and exits itself
                asked_to_stop = True
            elif cancel is None or asked_to_stop:
                time.sleep(POLL_S)
            if timeout is not None and time.monotonic() - started > timeout:
                outcome.timed_out = True
                break
    finally:
        if process.poll() is None:
            _stop(process)
        for reader in readers:
            reader.join(timeout=5)
        for stream in (process.stdin, process.stdout, process.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
    outcome.returncode = process.returncode
    outcome.seconds = round(time.monotonic() - started, 2)
    return outcome


def python_module(python: str, module: str) -> list[str]:
    """argv that runs `module` in `python` (``python -m module``)."""
    return [python, "-m", module]


def parse_event(line: str) -> Event | None:
    """One JSON-lines event, or None for a stray print from a library."""
    try:
        event = json.loads(line)
    except ValueError:
        return None
    return event if isinstance(event, dict) and "event" in event else None


def _read_stdout(
    stream: IO[str], outcome: ChildOutcome, report: Report, on_line: Callable[[str], None] | None
) -> None:
    for raw in _lines(stream):
        line = raw.rstrip("\n")
        if on_line is not None:
            on_line(line)
            continue
        event = parse_event(line)
        if event is not None:
            outcome.events.append(event)
            report(event)


def _read_log(stream: IO[str], log: OutputLog) -> None:
    for line in _lines(stream):
        log.append(line.rstrip("\n"))


def _lines(stream: IO[str]) -> Iterator[str]:
    """Lines until EOF, or until the pipe is closed under us after a kill."""
    try:
        yield from stream
    except (OSError, ValueError):
        return


def _write(process: subprocess.Popen[str], text: str) -> None:
    try:
        assert process.stdin is not None
        process.stdin.write(text)
        process.stdin.flush()
    except (OSError, ValueError):  # the child already ended and closed its pipe
        pass


def _stop(process: subprocess.Popen[str]) -> None:
    process.terminate()
    try:
        process.wait(timeout=STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_GRACE_S)


class ChildSide:
    """The child's end of the pipe: events out as JSON lines, `cancel` (or EOF) in.

    Stray prints from libraries go to stderr, so they never corrupt the event stream.
    """

    def __init__(self) -> None:
        sys.stdout.flush()
        self.out = os.fdopen(os.dup(1), "w", encoding="utf-8")
        os.dup2(2, 1)  # native libraries writing to fd 1 land in the log too
        sys.stdout = sys.stderr
        self._lock = threading.Lock()
        self.cancel = CancelToken()

    def report(self, event: Event) -> None:
        with self._lock:
            self.out.write(json.dumps(event, default=str) + "\n")
            self.out.flush()

    def listen(self, stdin: IO[str]) -> None:
        """Set `cancel` when the parent writes ``cancel`` or closes the pipe (it went away)."""

        def wait() -> None:
            for line in stdin:
                if line.strip() == "cancel":
                    break
            self.cancel.cancel()

        threading.Thread(target=wait, daemon=True).start()


def read_request(stdin: IO[str]) -> Any:
    """The first stdin line: the child's JSON request."""
    return json.loads(stdin.readline())


class KeptChild:
    """A child kept running between requests (one JSON line in, its events out, until an
    event named in `last_events`): for the Results page's *Try an image*, whose cost was
    starting Python and TensorFlow and loading the model, every time.

    One request at a time (`ask` holds a lock). Cancel or a timeout ends the child; the next
    `ask` starts a new one, and so does a child that ended by itself (it exits when idle, or
    crashed). `close` ends it. Qt-free, like `run_child`.
    """

    def __init__(self, argv: Sequence[str], env: Mapping[str, str], last_events: set[str]) -> None:
        self.argv, self.env, self.last_events = list(argv), dict(env), last_events
        self._lock = threading.Lock()
        self._process: subprocess.Popen[str] | None = None
        self._events: Any = None  # queue.Queue of the running child's events (None: EOF)
        self.stderr = OutputLog()
        self._readers: list[threading.Thread] = []
        self.starts = 0  # children started so far (a test counts them)

    def ask(
        self,
        request: Mapping[str, Any],
        *,
        report: Report = ignore,
        cancel: CancelToken | None = None,
        timeout: float | None = None,
    ) -> ChildOutcome:
        """Send `request`, pass its events to `report`, return them with how it ended."""
        with self._lock:
            if cancel is not None and cancel.cancelled:  # while it waited for the lock
                return ChildOutcome(returncode=None, cancelled=True, stderr=self.stderr)
            fresh = self._process is None or self._process.poll() is not None
            try:
                outcome = self._exchange(request, report, cancel, timeout)
                ended = outcome.returncode is not None and not (
                    outcome.cancelled or outcome.timed_out
                )
                if ended and not outcome.events and not fresh:
                    # It ended as the request came (idle exit): once more, on a new child.
                    outcome = self._exchange(request, report, cancel, timeout)
            except BaseException:  # a child left mid-request: the next one would read this
                self._abandon()  # one's late answer
                raise
            return outcome

    def _abandon(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            if process.poll() is None:
                _stop(process)
            self._release(process)

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def close(self) -> None:
        """End the child: EOF on its stdin, then terminate if it does not go."""
        with self._lock:
            process, self._process = self._process, None
            if process is None:
                return
            if process.poll() is not None:
                self._release(process)
                return
            with contextlib.suppress(OSError):
                assert process.stdin is not None
                process.stdin.close()
            try:
                process.wait(timeout=STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                _stop(process)
            self._release(process)

    def _exchange(
        self,
        request: Mapping[str, Any],
        report: Report,
        cancel: CancelToken | None,
        timeout: float | None,
    ) -> ChildOutcome:
        import queue

        process = self._running()
        events: queue.Queue[Event | None] = self._events
        outcome = ChildOutcome(returncode=None, stderr=self.stderr)
        started = time.monotonic()
        _write(process, json.dumps(dict(request)) + "\n")
        while True:
            if cancel is not None and cancel.cancelled:
                outcome.cancelled = True
                break
            if timeout is not None and time.monotonic() - started > timeout:
                outcome.timed_out = True
                break
            try:
                event = events.get(timeout=POLL_S)
            except queue.Empty:
                continue
            if event is None:  # the child ended
                process.wait(timeout=STOP_GRACE_S)
                outcome.returncode = process.returncode
                self._process = None
                self._release(process)
                break
            outcome.events.append(event)
            report(event)
            if event.get("event") in self.last_events:
                break
        if outcome.cancelled or outcome.timed_out:
            _stop(process)
            outcome.returncode, self._process = process.returncode, None
            self._release(process)
        outcome.seconds = round(time.monotonic() - started, 2)
        return outcome

    def _release(self, process: subprocess.Popen[str]) -> None:
        """Once the child has ended: its readers done, its pipes closed."""
        for reader in self._readers:
            reader.join(timeout=STOP_GRACE_S)
        for stream in (process.stdin, process.stdout, process.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()

    def _running(self) -> subprocess.Popen[str]:
        import queue

        if self._process is not None:
            if self._process.poll() is None:
                return self._process
            self._release(self._process)  # it ended between requests
        process = subprocess.Popen(
            self.argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
            env=self.env,
        )
        events: queue.Queue[Event | None] = queue.Queue()

        def read(stream: IO[str]) -> None:
            for raw in _lines(stream):
                event = parse_event(raw.rstrip("\n"))
                if event is not None:
                    events.put(event)
            events.put(None)

        self._readers = [
            threading.Thread(target=read, args=(process.stdout,), daemon=True),
            threading.Thread(target=_read_log, args=(process.stderr, self.stderr), daemon=True),
        ]
        for reader in self._readers:
            reader.start()
        self._process, self._events = process, events
        self.starts += 1
        return process
