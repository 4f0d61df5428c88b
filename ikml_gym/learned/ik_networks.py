"""The learned IK's per-cluster regressors as inference objects.

:class:`ClusterNet` holds one cluster's ReLU MLP as plain float32 arrays plus its
input/output standardisation (the only kind that can be saved);
:class:`SklearnClusterNet` wraps any other fitted scikit-learn regressor (in
memory only). :func:`stack_cluster_nets` joins the clusters' networks into one
:class:`~ikml_gym.learned.mlp.StackedMLP` so that all of them run in one pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..io import flush_subnormals
from .mlp import StackedMLP

#: hidden-layer activations a :class:`ClusterNet` (and a model file) can hold
ACTIVATIONS = ("relu",)


@dataclass
class ClusterNet:
    """One cluster's regressor as plain arrays: standardise, ReLU MLP, unstandardise.

    Attributes:
        weights: per layer (in, out) float32.
        biases: per layer (out,) float32.
        x_mean, x_scale: (8,) input standardisation.
        y_mean, y_scale: (2 dof,) output standardisation.
    """

    weights: list[np.ndarray]
    biases: list[np.ndarray]
    x_mean: np.ndarray
    x_scale: np.ndarray
    y_mean: np.ndarray
    y_scale: np.ndarray

    def predict(self, inputs: np.ndarray) -> np.ndarray:
        """(N, 8) inputs -> (N, 2 dof) float64 outputs."""
        return stack_cluster_nets([self]).forward(inputs)[0].astype(np.float64)

    def __post_init__(self) -> None:
        self.weights = [flush_subnormals(np.asarray(w, np.float32)) for w in self.weights]
        self.biases = [flush_subnormals(np.asarray(b, np.float32)) for b in self.biases]


@dataclass
class SklearnClusterNet:
    """A cluster regressor of any scikit-learn kind (in memory only; cannot be saved)."""

    regressor: Any
    x_scaler: Any
    y_scaler: Any

    def predict(self, inputs: np.ndarray) -> np.ndarray:
        """(N, 8) inputs -> (N, 2 dof) float64 outputs."""
        y = self.regressor.predict(self.x_scaler.transform(inputs))
        return self.y_scaler.inverse_transform(
            np.asarray(y, dtype=np.float64).reshape(len(inputs), -1)
        )


def stack_cluster_nets(nets: list[ClusterNet | SklearnClusterNet]) -> StackedMLP | None:
    """All cluster networks as one :class:`StackedMLP`, or None if some cannot stack
    (another regressor kind, or layer shapes that differ)."""
    if not all(isinstance(n, ClusterNet) for n in nets):
        return None
    shapes = {tuple(w.shape for w in n.weights) for n in nets}  # type: ignore[union-attr]
    if len(shapes) != 1:
        return None
    layers = range(len(nets[0].weights))  # type: ignore[union-attr]
    return StackedMLP(
        [np.stack([n.weights[i] for n in nets]) for i in layers],  # type: ignore[union-attr]
        [np.stack([n.biases[i] for n in nets]) for i in layers],  # type: ignore[union-attr]
        in_shift=np.stack([n.x_mean for n in nets]),  # type: ignore[union-attr]
        in_scale=np.stack([n.x_scale for n in nets]),  # type: ignore[union-attr]
        out_scale=np.stack([n.y_scale for n in nets]),  # type: ignore[union-attr]
        out_shift=np.stack([n.y_mean for n in nets]),  # type: ignore[union-attr]
    )
