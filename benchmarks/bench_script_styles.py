"""The exported script in both styles against the app's own run, on the same folder and split.

For each folder: the app trains with its defaults (`gpu-assistant train`), the run is exported
as a script, and the script trains again twice, `--loop fit` and `--loop custom`, on the run's
own split (`--split`, from the job bundle). Prints each side's final validation accuracy and
wall time, and the ratio of each script's accuracy to the app's.

    .venv/bin/python benchmarks/bench_script_styles.py [--folders digits,objects] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from folders import build

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}


def _run(command: list[str], cwd: Path) -> tuple[str, float]:
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=ENV, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{(done.stdout + done.stderr)[-3000:]}")
    return done.stdout, time.perf_counter() - start


def _app(data: Path, work: Path) -> tuple[Path, float, float]:
    run_dir = work / "run"
    command = [sys.executable, "-m", "gpu_assistant", "train", str(data), "--out", str(run_dir)]
    _, seconds = _run([*command, "--json"], work)
    evaluation = json.loads((run_dir / "evaluation.json").read_text())
    return run_dir, float(evaluation["accuracy"]), seconds


def _script(run_dir: Path, data: Path, work: Path, loop: str) -> tuple[float, float]:
    bundle = work / "job"
    if not bundle.is_dir():
        hosts = "127.0.0.1:2222,127.0.0.1:2223"  # only the split and script are used here
        command = ["export", str(run_dir), "--format", "job", "--hosts", hosts, "--out"]
        _run([sys.executable, "-m", "gpu_assistant", *command, str(bundle)], work)
    script = next(bundle.glob("train_*.py"))
    out = work / f"script-{loop}"
    command = [sys.executable, str(script), str(data), "--split", str(bundle / "split.json")]
    _, seconds = _run([*command, "--loop", loop, "--out", str(out)], bundle)
    return _keras_accuracy(out / "model.keras", run_dir), seconds


def _keras_accuracy(model_file: Path, run_dir: Path) -> float:
    """The script's model scored on the app's validation images, as the app scores its own."""
    code = (
        "import sys, numpy as np, keras\n"
        "from gpu_assistant.training.export import _validation_arrays\n"
        "images, labels = _validation_arrays(__import__('pathlib').Path(sys.argv[2]))\n"
        "p = keras.models.load_model(sys.argv[1]).predict(images, verbose=0)\n"
        "print(float(np.mean(np.argmax(p, axis=1) == labels)))\n"
    )
    output, _ = _run([sys.executable, "-c", code, str(model_file), str(run_dir)], run_dir)
    return float(output.strip().splitlines()[-1])


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folders", default="digits,objects")
    parser.add_argument("--per-class", type=int, default=None)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    rows = []
    print(f"load average {os.getloadavg()[0]:.1f}")
    for name in args.folders.split(","):
        with tempfile.TemporaryDirectory(prefix=f"styles-{name}-") as tmp:
            work = Path(tmp)
            data = work / "data"
            build(name, data, per_class=args.per_class)
            run_dir, app_accuracy, app_seconds = _app(data, work)
            row = {"folder": name, "app": [app_accuracy, app_seconds]}
            for loop in ("fit", "custom"):
                row[loop] = list(_script(run_dir, data, work, loop))
            rows.append(row)
        print(
            f"{name:<9} app {row['app'][0]:.3f} ({row['app'][1]:.0f} s)"
            + "".join(
                f"  {loop} {row[loop][0]:.3f} ({row[loop][1]:.0f} s, "
                f"{row[loop][0] / max(row['app'][0], 1e-9):.2f}x)"
                for loop in ("fit", "custom")
            ),
            flush=True,
        )
    print(f"load average {os.getloadavg()[0]:.1f}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
