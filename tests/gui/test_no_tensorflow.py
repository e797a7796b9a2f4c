"""The window's process never imports TensorFlow, even after a prediction and an export.

Checked in a fresh Python (this test process imports TensorFlow for other tests): the script
builds the real window, opens a trained run, clicks *Choose an image…* twice (one kept
predicting child answers both) and *Export Keras + labels*, waits for their visible effect and
reports what got imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.tf, pytest.mark.slow]

TESTS_DIR = Path(__file__).resolve().parents[1]
SCRIPT = """
import json, sys, time
from pathlib import Path
from unittest import mock
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QFileDialog
from fakes.nvml import FakeNVML
from gpu_assistant.ui.main_window import MainWindow

run, image, second = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
app = QApplication([])
window = MainWindow(nvml=FakeNVML.no_gpus())
window.show()

def wait(condition, seconds=180):
    end = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > end:
            raise SystemExit("timed out")
        app.processEvents()
        time.sleep(0.02)

results = window.page("results")
window.state.set_run(run)
wait(lambda: bool(results.evaluation))
with mock.patch.object(QFileDialog, "getOpenFileName", return_value=(image, "")):
    QTest.mouseClick(results.try_button, Qt.MouseButton.LeftButton)
wait(lambda: "%" in results.prediction.text())
with mock.patch.object(QFileDialog, "getOpenFileName", return_value=(second, "")):
    QTest.mouseClick(results.try_button, Qt.MouseButton.LeftButton)
wait(lambda: "%" in results.prediction.text())
QTest.mouseClick(results.export_buttons[0], Qt.MouseButton.LeftButton)
wait(lambda: results.status.text().startswith("Exported"))
predicting_children = window.state.models.starts
window.close()
print(json.dumps({
    "prediction": results.prediction.text(),
    "predicting_children": predicting_children,
    "kept_child_left": window.state.models.running,
    "exported": (run / "export" / "labels.txt").exists(),
    "tensorflow": "tensorflow" in sys.modules,
    "keras": "keras" in sys.modules,
}))
"""


def test_predict_and_export_from_the_window_leave_tensorflow_out(trained_run, tmp_path):
    import shutil

    from gpu_assistant.data.sample import sample_data_dir

    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    image, second = sorted(p for p in (sample_data_dir() / "1").iterdir() if p.suffix == ".png")[:2]
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS_DIR), env.get("PYTHONPATH", "")])
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(run), str(image), str(second)],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert "%" in report["prediction"] and report["exported"]
    # Both pictures were predicted by one kept child, which the window ended as it closed.
    assert report["predicting_children"] == 1 and report["kept_child_left"] is False
    assert report["tensorflow"] is False and report["keras"] is False
