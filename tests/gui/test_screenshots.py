"""The screenshots script's simulated-GPU mode: two pictures, labelled as simulated."""

from __future__ import annotations

from PySide6.QtGui import QImage

from gpu_assistant.ui import screenshots


def test_simulated_gpus_render_system_and_train_labelled_simulated(tmp_path, qtbot):
    written = screenshots.capture(tmp_path, simulated_gpus=2)
    assert [p.name for p in written] == ["1-system-2gpus.png", "4-train-2gpus.png"]
    for path in written:
        image = QImage(str(path))
        assert (image.width(), image.height()) == screenshots.SIZE
    assert screenshots.simulated_caption(2) == "simulated: 2 × RTX 3090"
    nvml = screenshots.simulated_nvml(2)
    assert [gpu.name for gpu in nvml.gpus] == ["NVIDIA GeForce RTX 3090"] * 2
