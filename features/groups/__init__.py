"""Feature groups: one module per family of warning signs.

Each module exports ``NAMES`` (its features, in order) and ``compute(grid) -> dict`` returning
arrays on the bar grid for the features it can compute from the columns present; the pipeline
fills the rest with NaN. A feature whose inputs are absent is NaN, never a made-up value.
"""
