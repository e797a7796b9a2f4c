"""Training: model builders, the trainer (strategy, loop, checkpoints), export and predict. No Qt."""
