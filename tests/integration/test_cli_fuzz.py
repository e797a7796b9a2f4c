"""A bounded, seeded fuzz over the command line: a few hundred short invocations in-process,
mixing odd numbers, paths, JSON and flags. None may exit 3 or print a traceback: every bad
input is exit 2 with one line, every other answer 0 or 1. Training never starts: the data
folders hold no usable image, so a run stops at the scan, before TensorFlow."""

from __future__ import annotations

import random

import pytest

from gpu_assistant.cli import main

pytestmark = pytest.mark.tf
SEED, RUNS = 20261202, 300

NUMBERS = ["0", "1", "3", "-1", "0.5", "1e9", "inf", "-inf", "nan", "abc", "", "100000",
           "1e-300", "9" * 30, "0x10", " 2"]  # fmt: skip
GPUS = ["0", "-1", "0,0", "a", ",", "1,2,3", "0,,1", "99"]
SPECS = [
    '{"cluster": {"worker": ["h:1", "h:2"]}, "task": {"type": "worker", "index": 0}}',
    '{"cluster": {"worker": ["h:1"]}, "task": {"type": "ps", "index": 0}}',
    '{"cluster": {"worker": {}}, "task": {}}',
    '{"cluster": {"worker": ["h:x"]}, "task": {"type": "worker", "index": -1}}',
    '{"cluster": {"chief": ["h:1"], "worker": ["h:2"]}, "task": {"type": "chief"}}',
    "null", "[]", '"x"', "{", "",
]  # fmt: skip
FLAGS = {
    "train": {
        "--epochs": NUMBERS, "--batch-size": NUMBERS, "--image-size": NUMBERS,
        "--val-split": NUMBERS, "--learning-rate": NUMBERS, "--virtual-devices": NUMBERS,
        "--fine-tune-epochs": NUMBERS, "--seed": NUMBERS, "--gpus": GPUS,
        "--cluster-spec": SPECS, "--model": ["small_cnn", "mobilenet_v3_small", "nope"],
        "--mixed-precision": ["on", "off", "auto", "maybe"],
        "--weights": None, "--out": None,
        "--resume": [], "--multi-gpu": [], "--no-augment": [], "--no-flip": [], "--json": [],
        "--no-early-stopping": [],
    },
    "recommend": {
        "--os": ["linux", "wsl2", "windows", "macos", "beos"],
        "--python": ["3.11", "3.14", "2.7", "3", "x.y", "", "3.11.2.1"],
        "--gpu-name": ["RTX 3090", "GTX 480", "", "Tesla K80", "\u00e9\n"],
        "--compute-capability": ["8.6", "3.0", "x", "-1", "", "10.0", "8"],
        "--driver": ["535.104.05", "abc", "", "999", "1.2.3.4.5"],
        "--glibc": ["2.17", "x", "", "2.99"],
        "--json": [],
    },
    "doctor": {"--json": [], "--markdown": [], "--timeout": NUMBERS},
    "scan": {"--json": [], "--progress": []},
    "predict": {"--json": []},
    "export": {"--format": ["keras", "labels", "script", "onnx"], "--out": None,
               "--no-rescore": [], "--json": []},
}  # fmt: skip


@pytest.fixture(scope="module")
def places(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """Paths of every awkward kind: missing, empty, a file, junk models, no images."""
    root = tmp_path_factory.mktemp("fuzz")
    (root / "empty").mkdir()
    (root / "junk" / "a").mkdir(parents=True)
    (root / "junk" / "a" / "x.png").write_bytes(b"not a png")
    (root / "junk" / "b").mkdir()
    (root / "junk" / "b" / "y.jpg").write_bytes(b"")
    (root / "file.txt").write_text("text")
    (root / "run").mkdir()
    (root / "run" / "model.keras").write_bytes(b"PK\x03\x04 truncated")
    (root / "run" / "labels.txt").write_text("a\n\nb\n")
    (root / "run" / "settings.json").write_text('{"data_dir": 5}')
    (root / "settings-run").mkdir()
    (root / "settings-run" / "settings.json").write_text('{"version": 99}')
    return [str(p) for p in (root / "empty", root / "junk", root / "file.txt", root / "run",
            root / "run" / "model.keras", root / "settings-run", root / "missing",
            root / "file.txt" / "below", "", " ", "/dev/null", "/proc/self")]  # fmt: skip


def _argv(rng: random.Random, places: list[str]) -> list[str]:
    command = rng.choice(list(FLAGS))
    argv = [command]
    if command in ("train", "scan"):
        argv.append(rng.choice(places))
    elif command in ("predict", "export"):
        argv.append(rng.choice(places))
        if command == "predict":
            argv += rng.sample(places, rng.randint(1, 2))
    if command == "doctor":
        argv.append("--no-verify")  # the verify child imports TensorFlow: seconds, not fuzz
    options = FLAGS[command]
    for flag in rng.sample(list(options), rng.randint(0, min(5, len(options)))):
        values = options[flag]
        if values is None:
            argv += [flag, rng.choice(places)]
        elif values:
            argv += [flag, rng.choice(values)]
        else:
            argv.append(flag)
    if rng.random() < 0.05:
        argv.insert(rng.randint(0, len(argv)), rng.choice(["--bogus", "-x", "--", "--help"]))
    return argv


def test_no_argument_combination_is_an_internal_error(
    places: list[str], capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TF_CONFIG", raising=False)
    rng = random.Random(SEED)
    codes: dict[int, int] = {}
    for _ in range(RUNS):
        argv = _argv(rng, places)
        try:
            code = main(argv)
        except SystemExit as stop:  # argparse: usage errors and --help
            code = stop.code if isinstance(stop.code, int) else 2
        out, err = capsys.readouterr()
        assert code in (0, 1, 2), (argv, code, err[-3000:])
        assert "Traceback" not in err + out, (argv, err[-3000:])
        codes[code] = codes.get(code, 0) + 1
    assert codes.get(2, 0) > RUNS // 2  # mostly bad input, as intended
    assert codes.get(0, 0) > 0  # and some good answers (recommend, doctor, scan)
