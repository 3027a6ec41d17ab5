"""`captcha train`: the run (`trainer`), the `Model.fit` model and callbacks it trains with, and
what only training uses (batches and augmentation, annealing, the weight average, distribution,
run folders and checkpoints, curves)."""
