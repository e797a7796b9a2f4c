"""How long `gpu-assistant doctor` takes, against the cost of a bare `import tensorflow`.

`doctor --no-verify` must answer in well under a second because it never imports TensorFlow
(checked here in-process: tensorflow stays out of sys.modules). Full `doctor` imports TF in a
child process and runs a few ops, so its baseline is a bare `python -c "import tensorflow"`,
measured in the same run; the ratio says how much the verification adds on top.

Run: .venv/bin/python benchmarks/bench_doctor.py [--repeat N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time


def timed(argv: list[str], repeat: int) -> float:
    """Median wall time of running `argv` as a fresh process (what a user waits for)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(argv, capture_output=True, check=False)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def in_process_no_verify() -> float:
    from gpu_assistant.system.doctor import doctor

    start = time.perf_counter()
    report = doctor(verify=False)
    report.to_json()
    seconds = time.perf_counter() - start
    assert "tensorflow" not in sys.modules, "doctor --no-verify imported TensorFlow"
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    repeat = parser.parse_args().repeat
    python = sys.executable
    in_process = in_process_no_verify()
    bare_python = timed([python, "-c", "pass"], repeat)
    no_verify = timed([python, "-m", "gpu_assistant", "doctor", "--no-verify", "--json"], repeat)
    import_tf = timed([python, "-c", "import tensorflow"], repeat)
    full = timed([python, "-m", "gpu_assistant", "doctor", "--json"], repeat)
    print(f"doctor --no-verify, in process:        {in_process:7.3f} s  (no TensorFlow import)")
    print(f"python -c pass (process start):        {bare_python:7.3f} s")
    print(f"gpu-assistant doctor --no-verify:      {no_verify:7.3f} s  target < 1 s")
    print(f"baseline: python -c 'import tensorflow': {import_tf:5.3f} s")
    print(f"gpu-assistant doctor (full verify):    {full:7.3f} s")
    print(f"ratio  doctor --no-verify / import tensorflow: {no_verify / import_tf:6.2f}")
    print(f"ratio  doctor (full) / import tensorflow:      {full / import_tf:6.2f}")
    print(f"full doctor adds {full - import_tf:.2f} s on top of importing TensorFlow")


if __name__ == "__main__":
    main()
