"""The job slot: a newer job replaces the old one, whose late result never reaches the page."""

from __future__ import annotations

import threading

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QProgressBar, QPushButton

from gpu_assistant.jobs import Cancelled
from gpu_assistant.ui.job_slot import JobSlot
from gpu_assistant.ui.worker import JobRunner


@pytest.fixture
def runner(qtbot):
    runner = JobRunner()
    yield runner
    assert runner.shutdown(10_000)


def test_a_replaced_job_is_cancelled_and_its_late_result_dropped(qtbot, runner):
    release = threading.Event()
    seen: list[str] = []

    def slow(_report, cancel):
        release.wait(10)  # ignores cancel for a while, like a scan inside a big folder
        return "old"

    slot = JobSlot(runner)
    old = slot.start("slow", slow, on_result=seen.append, on_cancelled=lambda: seen.append("x"))
    new = slot.start("fast", lambda _r, _c: "new", on_result=seen.append)
    assert old.token.cancelled and slot.job is new
    qtbot.waitUntil(lambda: seen == ["new"], timeout=5_000)
    release.set()
    qtbot.waitUntil(lambda: not old.is_running(), timeout=5_000)
    qtbot.wait(100)  # any queued signal of the old job has been delivered by now
    assert seen == ["new"] and not slot.busy


def test_cancel_button_and_progress_follow_the_job(qtbot, runner):
    cancel_button, progress = QPushButton("Cancel"), QProgressBar()
    qtbot.addWidget(cancel_button)
    qtbot.addWidget(progress)
    cancel_button.show()
    slot = JobSlot(runner, cancel_button=cancel_button, progress=progress)
    assert not cancel_button.isEnabled()
    seen: list[str] = []

    def waits(report, cancel):
        report({"event": "progress", "done": 1, "total": 4})
        while not cancel.wait(0.05):
            pass
        raise Cancelled

    slot.start("waits", waits, on_cancelled=lambda: seen.append("cancelled"))
    assert cancel_button.isEnabled() and slot.busy
    qtbot.waitUntil(lambda: progress.maximum() == 4, timeout=5_000)
    qtbot.mouseClick(cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: seen == ["cancelled"] and not slot.busy, timeout=5_000)
    assert not cancel_button.isEnabled() and progress.isHidden()
