"""Qt only: the main window and wizard pages, workers on QThreads, plots and dialogs."""
