"""``FeasibilityClassifier``: pose -> reachability / conditioning class.

Classes (:data:`ikml_gym.labels.CLASS_NAMES`): 0 unreachable, 1 near-singular
(bottom 20% of kinv over reachable poses), 2 adequate (middle 60%), 3 high
manipulability (top 20%); the two kinv thresholds are stored with the model.

Decision rule: a pose is reachable when P(reachable) = 1 - P(unreachable) is above the
model's operating point ``reach_threshold`` (chosen on the validation split when the
model is trained, so that false "reachable" answers are no more frequent than false
"unreachable" ones; 0.5 for files that carry none); a reachable pose's class is the
likeliest of classes 1-3. Label, ``is_reachable`` and the feasibility filter all follow
this one rule.

The network is an MLP over standardised inputs
(:func:`~ikml_gym.learned.classifier_encoding.input_features`: the task features
plus quantities derived from them), ReLU hidden layers and 4 logits. Inference is a
float32 numpy forward pass (no torch).

Where the other jobs live: the inputs in :mod:`ikml_gym.learned.classifier_encoding`,
the model file in :mod:`ikml_gym.learned.classifier_file`, training in
:mod:`ikml_gym.learned.train_classifier` (torch, the ``[train]`` extra), the shipped
files in :mod:`ikml_gym.pretrained`. The training names are also importable from this
module (``from ikml_gym.learned.classifier import TrainConfig, train_classifier``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._extras import lazy_attributes
from .._validation import expand_user
from ..arms import Arm
from ..io import flush_subnormals
from ..labels import CLASS_NAMES, N_CLASSES, UNREACHABLE
from ..pretrained import SHIPPED_ARMS, shipped_model_stem
from .classifier_encoding import INPUT_SPEC_VERSION, input_features, input_spec
from .classifier_file import KIND, read_classifier_model, write_classifier_model
from .mlp import StackedMLP

__all__ = [
    "INPUT_SPEC_VERSION",
    "KIND",
    "ClassifierResult",
    "FeasibilityClassifier",
    "input_features",
    "input_spec",
    "load_classifier",
    "pretrained_path",
]

_CHUNK = 32_768  # rows per numpy forward chunk (keeps activations in cache)
#: names that moved to :mod:`ikml_gym.learned.train_classifier`, still importable from
#: here (imported on first use, so this module needs no torch)
_TRAINING_NAMES = (
    "BATCH_SIZE",
    "EPOCHS",
    "HIDDEN",
    "HOLDOUT_FRACTION",
    "LR",
    "TrainConfig",
    "WEIGHT_DECAY",
    "split_indices",
    "train_classifier",
)


__getattr__ = lazy_attributes(__name__, "ikml_gym.learned.train_classifier", _TRAINING_NAMES)


# --------------------------------------------------------------------- the model
@dataclass
class ClassifierResult:
    """Batched classifier output.

    Attributes:
        label: (N,) int class (0 unreachable .. 3 high manipulability), by the model's
            decision rule (the module docstring).
        proba: (N, 4) class probabilities, rows sum to 1.
        confidence: (N,) max class probability.
        p_reachable: (N,) probability of classes 1-3 (1 - proba[:, 0]).
    """

    label: np.ndarray
    proba: np.ndarray
    confidence: np.ndarray
    p_reachable: np.ndarray


@dataclass
class FeasibilityClassifier:
    """A trained pose -> class MLP for one arm; numpy inference.

    Args:
        arm: the arm the model is for.
        layers: [(W (in, out), b (out,)), ...] float32; ReLU between layers, logits last.
        mean, std: (d,) input standardisation of :func:`input_features`.
        thresholds: (2,) kinv thresholds between classes 1|2 and 2|3.
        spec: :func:`input_spec` of the arm.
        info: training metadata (seed, epochs, metrics, timings) kept in the header.
        reach_threshold: the operating point: reachable when P(reachable) is above it.
    """

    arm: Arm
    layers: list[tuple[np.ndarray, np.ndarray]]
    mean: np.ndarray
    std: np.ndarray
    thresholds: np.ndarray
    spec: dict[str, Any]
    info: dict[str, Any] = field(default_factory=dict)
    reach_threshold: float = 0.5

    def __post_init__(self) -> None:
        if not 0.0 < float(self.reach_threshold) < 1.0:
            raise ValueError(f"reach_threshold must be in (0, 1), got {self.reach_threshold!r}")
        self.reach_threshold = float(self.reach_threshold)
        # reachable <=> sum_k>0 exp(z_k) > odds * exp(z_0), odds = t / (1 - t)
        self._reach_odds = self.reach_threshold / (1.0 - self.reach_threshold)
        self._log_reach_odds = math.log(self._reach_odds)
        self.mean = np.asarray(self.mean, dtype=np.float64)
        self.std = np.asarray(self.std, dtype=np.float64)
        self.thresholds = np.asarray(self.thresholds, dtype=np.float64)
        self.layers = [
            (
                flush_subnormals(np.asarray(w, np.float32)),
                flush_subnormals(np.asarray(b, np.float32)),
            )
            for w, b in self.layers
        ]
        self._mlp = StackedMLP(
            [w for w, _ in self.layers],
            [b for _, b in self.layers],
            in_shift=self.mean,
            in_scale=self.std,
        )

    # -------------------------------------------------------------- inference
    @property
    def class_names(self) -> tuple[str, ...]:
        return CLASS_NAMES

    def logits(self, features: object) -> tuple[np.ndarray, bool]:
        """(N, 4) float32 logits of task features (feature_dim,) or (N, feature_dim) -> (logits, single)."""
        f, single = self.arm.check_features(features)
        return self._logits(f), single

    def _logits(self, f: np.ndarray) -> np.ndarray:
        if len(f) <= _CHUNK:
            return self._mlp.forward(input_features(f, self.spec))[0]
        out = np.empty((len(f), N_CLASSES), dtype=np.float32)
        for s in range(0, len(f), _CHUNK):
            out[s : s + _CHUNK] = self._mlp.forward(input_features(f[s : s + _CHUNK], self.spec))[0]
        return out

    def evaluate(self, features: object) -> ClassifierResult:
        """Everything at once (batched; single-pose input gives (1,)-shaped arrays)."""
        f, _ = self.arm.check_features(features)
        return self._evaluate(f)

    def _evaluate(self, f: np.ndarray) -> ClassifierResult:
        z = self._logits(f).astype(np.float64)
        z -= z.max(axis=1, keepdims=True)
        proba = np.exp(z)
        proba /= proba.sum(axis=1, keepdims=True)
        return ClassifierResult(
            label=self._decide(proba),
            proba=proba,
            confidence=proba.max(axis=1),
            p_reachable=1.0 - proba[:, UNREACHABLE],
        )

    def _decide(self, weights: np.ndarray) -> np.ndarray:
        """(N,) classes by the decision rule from (N, 4) probabilities, or any positive
        weights proportional to them (exp of shifted logits)."""
        reachable = weights[:, 1:].sum(axis=1) > self._reach_odds * weights[:, UNREACHABLE]
        return np.where(reachable, weights[:, 1:].argmax(axis=1) + 1, UNREACHABLE)

    def _unbatch(self, features: object, pick: Callable[[ClassifierResult], np.ndarray]):
        f, single = self.arm.check_features(features)
        out = pick(self._evaluate(f))
        return out[0] if single else out

    def predict_proba(self, features: object) -> np.ndarray:
        """Class probabilities (N, 4) (float64, rows sum to 1); (4,) for one pose."""
        return self._unbatch(features, lambda r: r.proba)

    def predict(self, features: object) -> np.ndarray:
        """Class labels (N,) int by the decision rule; a scalar for one pose (the softmax's
        normalisation does not change the rule, so it is not computed)."""
        f, single = self.arm.check_features(features)
        z = self._logits(f)
        if len(z) == 1:  # one pose: the rule on 4 Python floats, a few numpy calls cheaper
            return self._decide_one(z[0].tolist(), single)
        labels = self._decide(np.exp(z - z.max(axis=1, keepdims=True)))
        return labels[0] if single else labels

    def _decide_one(self, logits: list[float], single: bool) -> Any:
        """:meth:`_decide` of one row of logits: an ``np.int64`` (``single``) or a (1,) array."""
        z0, z1, z2, z3 = logits
        top, label = (z1, 1) if z1 >= z2 else (z2, 2)
        if z3 > top:
            top, label = z3, 3
        # log sum_k>0 exp(z_k) - z_0 > log(odds)
        spread = math.exp(z1 - top) + math.exp(z2 - top) + math.exp(z3 - top)
        if top + math.log(spread) - z0 <= self._log_reach_odds:
            label = UNREACHABLE
        return np.int64(label) if single else np.array([label])

    def confidence(self, features: object) -> np.ndarray:
        """Max class probability (N,); a scalar for one pose."""
        return self._unbatch(features, lambda r: r.confidence)

    def p_reachable(self, features: object) -> np.ndarray:
        """Probability that the pose is reachable (classes 1-3), (N,); a scalar for one pose."""
        return self._unbatch(features, lambda r: r.p_reachable)

    def is_reachable(self, features: object) -> np.ndarray:
        """(N,) bool: P(reachable) above the operating point ``reach_threshold``; a bool
        for one pose."""
        return self._unbatch(features, lambda r: r.label != UNREACHABLE)

    # ----------------------------------------------------------- persistence
    def save(self, path: str | Path) -> tuple[Path, Path]:
        """Write ``PATH.safetensors`` + ``PATH.json`` atomically (no pickle;
        :mod:`ikml_gym.learned.classifier_file`)."""
        return write_classifier_model(
            path, self.arm, self.layers, self.mean, self.std, self.thresholds, self.spec,
            self.info, self.reach_threshold,
        )  # fmt: skip

    @classmethod
    def load(cls, path: str | Path, arm: Arm | None = None) -> FeasibilityClassifier:
        """Load a model file; ``arm`` defaults to the shipped arm named in the header.

        Raises:
            ModelFileError: missing, damaged or malformed files.
            ArmMismatchError: the file was made for another arm (name or URDF hash), or
                (with ``arm=None``) for an arm that does not ship.
        """
        return cls(**read_classifier_model(path, arm))

    def __repr__(self) -> str:
        hidden = [int(w.shape[1]) for w, _ in self.layers[:-1]]
        return (
            f"FeasibilityClassifier(arm={self.arm.name!r}, hidden={hidden}, "
            f"reach_threshold={self.reach_threshold:.3g})"
        )


def pretrained_path(name: str) -> Path:
    """Stem of the shipped pretrained classifier of arm ``name`` (inside the package)."""
    return shipped_model_stem(name, "classifier")


def load_classifier(
    name_or_path: str | Path = "arm6", arm: Arm | None = None
) -> FeasibilityClassifier:
    """The shipped pretrained classifier (``"arm4"``, ``"arm6"``) or a model file by path.

    Raises:
        ModelFileError: missing or damaged files; ArmMismatchError: ``arm`` differs from the file's.
    """
    key = str(name_or_path)
    if key in SHIPPED_ARMS:
        return FeasibilityClassifier.load(pretrained_path(key), arm=arm)
    return FeasibilityClassifier.load(expand_user(key), arm=arm)
