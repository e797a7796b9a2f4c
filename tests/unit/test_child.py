"""The child-process supervisor: events, stdin, cancel (line or terminate), timeout, stderr."""

from __future__ import annotations

import sys
import threading

import pytest

from gpu_assistant.child import KeptChild, OutputLog, child_env, run_child
from gpu_assistant.jobs import CancelToken


def _python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_events_are_json_lines_and_stray_prints_are_ignored():
    events = []
    code = "import json; print('hello'); print(json.dumps({'event': 'a', 'n': 1}))"
    outcome = run_child(_python(code), report=events.append)
    assert outcome.returncode == 0
    assert events == [{"event": "a", "n": 1}] == outcome.events
    assert outcome.last("a") == {"event": "a", "n": 1} and outcome.last("b") is None


def test_stdin_reaches_the_child_and_stderr_is_kept():
    code = (
        "import sys, json; line = sys.stdin.readline(); "
        "sys.stderr.write('warning from a library\\n'); "
        "print(json.dumps({'event': 'echo', 'got': json.loads(line)}))"
    )
    outcome = run_child(_python(code), stdin_text='{"x": 2}\n')
    assert outcome.last("echo")["got"] == {"x": 2}
    assert "warning from a library" in outcome.stderr.text()


def test_every_child_sees_gpus_in_nvml_order():
    env = child_env({"PATH": "/usr/bin"})
    assert env["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID"
    code = "import os, json; print(json.dumps({'event': 'env', **os.environ}))"
    assert run_child(_python(code)).last("env")["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID"


def test_cancel_line_lets_the_child_stop_itself():
    cancel = CancelToken()
    code = (
        "import sys, json; sys.stdin.readline(); "
        "print(json.dumps({'event': 'ready'}), flush=True); "
        "line = sys.stdin.readline(); print(json.dumps({'event': 'stopped', 'line': line.strip()}))"
    )
    events = []

    def report(event):
        events.append(event)
        if event["event"] == "ready":
            cancel.cancel()

    outcome = run_child(
        _python(code), report=report, cancel=cancel, stdin_text="go\n", cancel_line="cancel\n"
    )
    assert outcome.cancelled and outcome.returncode == 0
    assert outcome.last("stopped")["line"] == "cancel"


def test_cancel_without_a_line_terminates_the_child():
    cancel = CancelToken()
    threading.Timer(0.3, cancel.cancel).start()
    outcome = run_child(_python("import time; time.sleep(60)"), cancel=cancel)
    assert outcome.cancelled and outcome.returncode != 0 and outcome.seconds < 30


def test_timeout_stops_a_hanging_child():
    outcome = run_child(_python("import time; time.sleep(60)"), timeout=0.5)
    assert outcome.timed_out and outcome.returncode != 0


def test_plain_text_lines_with_stderr_merged():
    lines = []
    code = "import sys; print('one'); sys.stderr.write('two\\n')"
    run_child(_python(code), on_line=lines.append, merge_stderr=True)
    assert sorted(lines) == ["one", "two"]


def test_a_shell_string_is_refused():
    with pytest.raises(TypeError):
        run_child("echo hi")  # type: ignore[arg-type]


def test_the_log_keeps_its_head_and_tail():
    log = OutputLog(head=2, tail=2)
    for n in range(10):
        log.append(str(n))
    assert log.text() == "0\n1\n... 6 log lines skipped ...\n8\n9"
    assert log.last_lines(3) == "1\n8\n9"


# A kept child that answers each JSON line: "sleep" waits (for cancel), "exit" ends the process
# after its answer (as an idle child does), anything else is echoed with the child's pid.
SERVER = """
import json, os, sys, time
for line in sys.stdin:
    request = json.loads(line)
    if request.get("sleep"):
        time.sleep(request["sleep"])
    print(json.dumps({"event": "progress", "n": request.get("n")}), flush=True)
    print(json.dumps({"event": "done", "pid": os.getpid(), "n": request.get("n")}), flush=True)
    if request.get("exit"):
        sys.exit(0)
"""


def _server() -> KeptChild:
    return KeptChild(_python(SERVER), child_env(), {"done"})


def test_a_kept_child_answers_request_after_request_in_one_process():
    server = _server()
    seen = []
    first = server.ask({"n": 1}, report=seen.append)
    second = server.ask({"n": 2})
    assert [e["event"] for e in seen] == ["progress", "done"]
    assert first.last("done")["n"] == 1 and second.last("done")["n"] == 2
    assert first.last("done")["pid"] == second.last("done")["pid"] and server.starts == 1
    assert server.running
    server.close()
    assert not server.running


def test_cancel_ends_the_kept_child_and_the_next_request_gets_a_new_one():
    server = _server()
    cancel = CancelToken()
    threading.Timer(0.5, cancel.cancel).start()
    outcome = server.ask({"sleep": 30}, cancel=cancel)
    assert outcome.cancelled and outcome.last("done") is None and not server.running
    assert server.ask({"n": 3}).last("done")["n"] == 3 and server.starts == 2
    server.close()


def test_a_kept_child_that_ended_by_itself_is_started_again_for_the_next_request():
    server = _server()
    gone = server.ask({"n": 1, "exit": True}).last("done")["pid"]
    server._process.wait(timeout=10)  # it exited after answering, as an idle child does
    again = server.ask({"n": 2})
    assert again.last("done")["n"] == 2 and again.last("done")["pid"] != gone
    assert server.starts == 2
    server.close()


def test_an_error_mid_request_ends_the_kept_child_so_no_late_answer_is_misread():
    server = _server()

    def broken_report(event):
        raise RuntimeError("the page went away")

    with pytest.raises(RuntimeError):
        server.ask({"n": 1}, report=broken_report)  # its "done" was never read
    assert not server.running
    assert server.ask({"n": 2}).last("done")["n"] == 2 and server.starts == 2
    server.close()
