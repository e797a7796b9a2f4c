"""The one worker pattern: results, errors, cancel, throttled progress, shutdown."""

from __future__ import annotations

import threading
import time

import pytest

from gpu_assistant.jobs import UserError
from gpu_assistant.ui.worker import JobRunner


@pytest.fixture
def runner(qtbot):
    runner = JobRunner()
    yield runner
    assert runner.shutdown(10_000)


def _collect(job):
    seen = {"progress": [], "result": [], "error": [], "cancelled": 0, "finished": 0}
    job.progress.connect(seen["progress"].append)
    job.result.connect(seen["result"].append)
    job.error.connect(lambda *args: seen["error"].append(args))
    job.cancelled.connect(lambda: seen.__setitem__("cancelled", seen["cancelled"] + 1))
    job.finished.connect(lambda: seen.__setitem__("finished", seen["finished"] + 1))
    return seen


def test_result_arrives_on_the_gui_thread_and_finished_is_last(qtbot, runner):
    threads = []

    def job(report, cancel):
        threads.append(threading.current_thread())
        return 42

    gui_thread = threading.current_thread()
    running = runner.start("answer", job)
    seen = _collect(running)
    order = []
    running.result.connect(lambda _v: order.append((threading.current_thread(), "result")))
    running.finished.connect(lambda: order.append((threading.current_thread(), "finished")))
    qtbot.waitUntil(lambda: seen["finished"] == 1, timeout=5000)
    assert seen["result"] == [42] and seen["error"] == []
    assert threads[0] is not gui_thread
    assert order == [(gui_thread, "result"), (gui_thread, "finished")]
    qtbot.waitUntil(lambda: not runner.running(), timeout=5000)


def test_user_error_and_bug_reach_the_error_signal(qtbot, runner):
    def user_error(report, cancel):
        raise UserError("The folder is empty.", "Choose a folder with images.")

    def bug(report, cancel):
        return 1 / 0

    first, second = runner.start("a", user_error), runner.start("b", bug)
    seen_a, seen_b = _collect(first), _collect(second)
    qtbot.waitUntil(lambda: seen_a["finished"] and seen_b["finished"], timeout=5000)
    assert seen_a["error"] == [("The folder is empty.", "Choose a folder with images.", "")]
    message, fix, details = seen_b["error"][0]
    assert message.startswith("ZeroDivisionError") and fix == ""
    assert "Traceback" in details and "1 / 0" in details
    assert seen_a["result"] == seen_b["result"] == []


def test_cancel_is_cooperative_and_finished_still_fires(qtbot, runner):
    started = threading.Event()

    def slow(report, cancel):
        started.set()
        while True:
            cancel.raise_if_cancelled()
            time.sleep(0.01)

    running = runner.start("slow", slow)
    seen = _collect(running)
    assert started.wait(5)
    running.cancel()
    qtbot.waitUntil(lambda: seen["finished"] == 1, timeout=5000)
    assert seen["cancelled"] == 1 and seen["result"] == [] and seen["error"] == []


def test_progress_bursts_are_throttled_but_the_last_event_arrives(qtbot, runner):
    def chatty(report, cancel):
        for done in range(1, 2001):
            report({"event": "progress", "done": done, "total": 2000})
        report({"event": "epoch", "epoch": 1})
        for done in range(1, 11):
            report({"event": "progress", "done": done, "total": 10})

    running = runner.start("chatty", chatty)
    seen = _collect(running)
    qtbot.waitUntil(lambda: seen["finished"] == 1, timeout=5000)
    events = seen["progress"]
    assert len(events) < 50  # 2010 reported within well under a second
    kinds = [e["event"] for e in events]
    assert kinds.count("epoch") == 1  # never dropped
    epoch_at = kinds.index("epoch")
    assert events[epoch_at - 1]["done"] == 2000  # the burst's last value precedes it
    assert events[-1] == {"event": "progress", "done": 10, "total": 10}


def test_log_lines_in_a_burst_are_joined_not_dropped(qtbot, runner):
    def pip_like(report, cancel):
        for n in range(100):
            report({"event": "log", "line": f"line {n}"})

    running = runner.start("log", pip_like)
    seen = _collect(running)
    qtbot.waitUntil(lambda: seen["finished"] == 1, timeout=5000)
    text = "\n".join(e["line"] for e in seen["progress"])
    assert text.splitlines() == [f"line {n}" for n in range(100)]


def test_shutdown_cancels_and_waits_for_every_thread(qtbot):
    runner = JobRunner()
    stopped = []

    def worker(report, cancel):
        while not cancel.wait(0.01):
            pass
        time.sleep(0.2)  # cleanup after cancel: shutdown must wait for it
        stopped.append(True)

    jobs = [runner.start(f"job{n}", worker) for n in range(3)]
    assert runner.shutdown(10_000)
    assert stopped == [True, True, True]
    assert all(job.worker_thread.isFinished() for job in jobs)
