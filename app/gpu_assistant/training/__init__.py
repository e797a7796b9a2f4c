"""Training: model builders, the trainer (strategy, loop, checkpoints), export, predict. No Qt."""
