"""The Train page says how each run ended, and marks the epoch whose weights were kept."""

from __future__ import annotations

from pathlib import Path

from gpu_assistant.training.trainer import TrainResult


def _finish(train, tmp_path: Path, status: str, events: list[dict], **metrics) -> None:
    for event in events:
        train.on_event(event)
    train._on_result(TrainResult(status, tmp_path, None, 4, metrics))


def test_the_kept_epoch_is_named_and_marked(make_window, tmp_path):
    train = make_window().page("train")
    _finish(
        train, tmp_path, "stopped_early", [{"event": "done", "best_epoch": 2}], val_accuracy=0.9
    )
    assert "Best epoch 2 restored" in train.status.text()
    assert "Validation accuracy 90.0%" in train.status.text()
    assert train.loss_plot.marked() == 2.0 and train.accuracy_plot.marked() == 2.0
    legend = [label.text for _, label in train.loss_plot.getPlotItem().legend.items]
    assert legend[-1] == "kept: epoch 2"  # named in the legend, clear of the curves
    train.loss_plot.clear_data()
    assert "kept: epoch 2" not in [t.text for _, t in train.loss_plot.getPlotItem().legend.items]


def test_runs_without_best_epoch_still_read_well(make_window, tmp_path):
    train = make_window().page("train")
    _finish(train, tmp_path, "completed", [{"event": "done"}])
    assert train.status.text().startswith("Done.") and "Best epoch" not in train.status.text()
    assert train.loss_plot.marked() is None


def test_a_stopped_run_offers_resume(make_window, tmp_path):
    train = make_window().page("train")
    _finish(train, tmp_path, "cancelled", [{"event": "cancelled", "best_epoch": 3}])
    assert "Stopped after 4 completed epoch(s). Best epoch 3 restored" in train.status.text()
    assert train.resume_button.isVisibleTo(train)


def test_the_epoch_count_is_an_upper_bound_when_early_stopping_may_end_the_run(make_window):
    train = make_window().page("train")
    phase = {"event": "phase", "phase": "top", "label": "tuning the backbone's top on cached maps"}
    batch = {"event": "batch", "epoch": 49, "epochs": 70, "step": 3, "steps": 25}
    for event in ({**phase, "first_epoch": 41, "epochs": 30}, batch):
        train.on_event(event)
    assert train.status.text() == "Tuning the backbone's top on cached maps (epochs 41–70 at most)."
    assert train.progress.text().startswith("Epoch 49 of up to 70 · step 3/25 · ")
    train.on_event({**batch, "step": 4})  # 4 lines a second at most
    assert "step 3/25" in train.progress.text()
    train.early_stopping = False  # a run without early stopping trains every epoch
    train.on_event({**batch, "step": 25})  # an epoch's last step is always shown
    assert train.progress.text().startswith("Epoch 49/70 · step 25/25")
    train.on_event({"event": "progress", "message": "Scoring the kept model on the 20 images…"})
    assert "step" not in train.progress.text()  # no stale ETA while it scores
