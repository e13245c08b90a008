"""Market data in, warning signs out: the canonical frame, its features and its labels.

Light on purpose (numpy, pandas, numba, pydantic only): serving imports it.
"""

from features.labels import LabelSpec, make_label_strength, make_labels
from features.pipeline import FEATURES, MIN_WINDOW, build_features, features_at
from features.windows import WindowsMeta, labelled_windows

__all__ = [
    "FEATURES",
    "MIN_WINDOW",
    "LabelSpec",
    "WindowsMeta",
    "build_features",
    "features_at",
    "labelled_windows",
    "make_label_strength",
    "make_labels",
]
