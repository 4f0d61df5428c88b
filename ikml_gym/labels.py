"""The classifier's classes and how a pose's class follows from reachability and kinv.

Classes, by the percentiles :data:`CLASS_PERCENTILES` of kinv over reachable poses:
0 unreachable, 1 near-singular (bottom 20%), 2 adequately conditioned (middle
60%), 3 high manipulability (top 20%).
"""

from __future__ import annotations

import numpy as np

UNREACHABLE, NEAR_SINGULAR, ADEQUATE, HIGH_MANIPULABILITY = 0, 1, 2, 3
CLASS_NAMES = ("unreachable", "near-singular", "adequate", "high manipulability")
N_CLASSES = len(CLASS_NAMES)
#: percentiles of kinv over reachable poses that split classes 1 | 2 | 3
CLASS_PERCENTILES = (20.0, 80.0)
#: info value of ``goal_class`` when no classifier is attached
UNKNOWN_CLASS = -1


def label_from_kinv(reachable: np.ndarray, kinv: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Class labels (N,) from reachability (N,) bool and kinv (N,), thresholds (2,) =
    (t_low, t_high): kinv below t_low is near-singular, at or above t_high high."""
    labels = np.where(kinv < thresholds[0], NEAR_SINGULAR, ADEQUATE)
    labels = np.where(kinv >= thresholds[1], HIGH_MANIPULABILITY, labels)
    return np.where(reachable, labels, UNREACHABLE).astype(np.int64)
