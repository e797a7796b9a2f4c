"""Arguments that pass argparse but used to crash later (exit 3) or quietly mean something
else: each is refused up front with exit 2 and one line that says what to do."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from gpu_assistant.cli import main
from gpu_assistant.cli.output import print_json


def exit_code(argv: list[str]) -> int:
    """main()'s status; argparse's own usage errors exit through SystemExit."""
    try:
        return main(argv)
    except SystemExit as stop:
        return stop.code if isinstance(stop.code, int) else 2


def _refused(argv: list[str], capsys: pytest.CaptureFixture, words: str) -> None:
    assert exit_code(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert words.lower() in err.lower(), err


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["--gpus", "-1"], "GPU numbers"),
        (["--gpus", "0,0"], "distinct"),
        (["--image-size", "100000"], "--image-size"),
        (["--learning-rate", "inf"], "--learning-rate"),
        (["--learning-rate", "nan"], "--learning-rate"),
        (["--val-split", "nan"], "--val-split"),
        (["--batch-size", "99999999"], "--batch-size"),
        (["--epochs", "-3"], "--epochs"),
        (["--virtual-devices", "100000"], "--virtual-devices"),
        (["--seed", "-1"], "--seed"),
        (["--out", ""], "empty"),
        (["--weights", ""], "empty"),
    ],
)
def test_train_arguments_out_of_range(
    extra: list[str], words: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    _refused(["train", str(tmp_path), *extra], capsys, words)


def test_an_empty_folder_argument_is_not_the_current_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    for argv in (["train", ""], ["scan", ""], ["scan", "  "], ["predict", "", "x.png"]):
        _refused(argv, capsys, "empty")
    _refused(["export", str(tmp_path), "--out", ""], capsys, "empty")
    _refused(["--self-test", "--report", ""], capsys, "empty")


WORKERS = '{"cluster": {"worker": %s}, "task": {"type": "%s", "index": %s}}'


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        (WORKERS % ('"h:1"', "worker", 0), "list"),
        (WORKERS % ('["h:1", 5]', "worker", 0), "host:port"),
        (WORKERS % ('["h1", "h2"]', "worker", 0), "host:port"),
        (WORKERS % ('["h:1", "h:1"]', "worker", 0), "twice"),
        (WORKERS % ('["h:1", "h:2"]', "worker", 5), "index 5"),
        (WORKERS % ('["h:1", "h:2"]', "worker", '"0"'), "index"),
        (WORKERS % ('["h:1", "h:2"]', "ps", 0), "job"),
        ('{"cluster": {"worker": ["h:1"], "ps": ["h:2"]}, "task": {"index": 0}}', "ps"),
        ('{"cluster": {"worker": []}, "task": {"index": 0}}', "non-empty"),
        ("[1, 2]", "TF_CONFIG"),
        ("/nonexistent/cluster.json", "does not exist"),
        ("{broken", "JSON"),
    ],
)
def test_cluster_specs_that_would_crash_are_refused(
    spec: str, words: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    _refused(["train", str(tmp_path), "--cluster-spec", spec], capsys, words)


def test_a_cluster_spec_file_that_is_not_json_says_which_file(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    spec = tmp_path / "cluster.json"
    spec.write_text("")
    _refused(["train", str(tmp_path), "--cluster-spec", str(spec)], capsys, str(spec))


def test_tf_config_is_checked_like_the_option(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TF_CONFIG", WORKERS % ('["h:1", "h:2"]', "worker", 7))
    _refused(["train", str(tmp_path)], capsys, "index 7")


def test_json_lines_never_carry_nan_or_infinity() -> None:
    stream = io.StringIO()
    print_json({"loss": float("nan"), "eta_s": float("inf"), "xs": [float("-inf"), 1.5]},
               stream=stream, indent=None)  # fmt: skip

    def strict(name: str) -> None:
        raise ValueError(f"{name} is not JSON")

    assert json.loads(stream.getvalue(), parse_constant=strict) == {
        "loss": None,
        "eta_s": None,
        "xs": [None, 1.5],
    }


def test_self_test_report_path_is_checked_before_the_test_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gpu_assistant.ui import app

    def never(*_args: object) -> bool:
        raise AssertionError("the self-test ran although its report cannot be written")

    monkeypatch.setattr(app, "_timed", never)
    (tmp_path / "file").write_text("x")
    _refused(["--self-test", "--report", str(tmp_path / "file" / "x.json")], capsys, "report")
    _refused(["--self-test", "--report", str(tmp_path)], capsys, "folder")
