"""Training: the loop (``loop.train``), checkpoints, batches, progress. Import from the modules:
recipes import ``training.data`` and the loop imports recipes, so this package stays empty."""
