"""``FeasibilityFilter``: the classifier where it is sure, a numerical IK solver where it is not.

::

    clf = ikml_gym.load_classifier("arm6")
    filt = FeasibilityFilter(clf, DLSIK(clf.arm))
    res = filt.query(features)       # FeasibilityResult, batched
    res.reachable, res.label, res.from_model, filt.fallback.calls

A pose is answered by the classifier when its gate probability is strictly
above ``confidence``. The default gate is reachability: ``max(P(reachable),
P(unreachable))`` with P(reachable) = 1 - P(class 0); the label then is the
classifier's class. With ``gate="class"`` the gate is the max class
probability (use it when the conditioning class matters as much as
reachability). Every other pose goes to the fallback solver, one numerical
call per pose: reachable = the solver succeeded, and the class comes from the
kinv of its solution with the model's thresholds (a lower bound on the best
kinv over all solutions, so it can read one class too low).

``confidence=1.0`` sends every pose to the fallback and ``confidence=0.0``
none (probabilities are at least 0.5 for the reachability gate).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._validation import real_number
from ..labels import label_from_kinv
from ..solvers import IKSolver, total_calls
from .classifier import ClassifierResult, FeasibilityClassifier

#: Default gate threshold, chosen on the 40,000-pose mix the shipped models' operating
#: points were chosen on (the reference study's reachability mix, seed 777): the largest
#: gate probability of a wrong reachability answer there over both arms (arm6: 0.971;
#: ``classifier_eval.choose_confidence``) with half its distance to 1 added as a margin
#: for poses that sample did not hold, rounded to 0.985 (see
#: benchmarks/results/design_choices.md).
DEFAULT_CONFIDENCE = 0.985
GATES = ("reachability", "class")
#: DLSIK settings of the default fallback (``fallback=None``). The poses the classifier
#: is unsure of lie at the workspace boundary, where the solver's default success tolerance
#: (1 mm, 1 degree) accepts unreachable poses less than 1 mm outside it (the fallback's
#: wrong answers on the arm6 test split were such false "reachable"); 0.1 mm / 1e-4 rad
#: leaves few of them (see benchmarks/results/design_choices.md), and more restarts keep
#: reachable near-singular poses from failing at that tolerance.
DLS_FALLBACK = {"max_iters": 60, "restarts": 30, "pos_tol": 1e-4, "rot_tol": 1e-4}


@dataclass
class FeasibilityResult:
    """Answers for N poses.

    Attributes:
        reachable: (N,) bool.
        label: (N,) int class (0 unreachable .. 3 high manipulability).
        from_model: (N,) bool, True where the classifier answered (no numerical call).
        confidence: (N,) the classifier's gate probability.
        q: (N, dof) the fallback's solution where it was asked and succeeded, NaN elsewhere.
    """

    reachable: np.ndarray
    label: np.ndarray
    from_model: np.ndarray
    confidence: np.ndarray
    q: np.ndarray

    def __len__(self) -> int:
        return len(self.reachable)

    @property
    def fraction_from_model(self) -> float:
        """Share of poses answered without a numerical call."""
        return float(np.mean(self.from_model)) if len(self) else 1.0


class FeasibilityFilter:
    """Answers "reachable? how well conditioned?" from a classifier, a solver where it is unsure.

    Args:
        classifier: a :class:`FeasibilityClassifier` for the arm.
        fallback: an :class:`~ikml_gym.solvers.IKSolver` for the same arm (``DLSIK``,
            ``PyBulletIK``); its ``calls`` counter counts the numerical calls made.
            Default: ``DLSIK(arm, **DLS_FALLBACK)`` -- note that its success tolerance
            decides poses at the workspace boundary.
        confidence: gate threshold in [0, 1]; the classifier answers where its gate
            probability is strictly above it.
        gate: ``"reachability"`` (default) or ``"class"`` (see the module docstring).

    Raises:
        TypeError: ``classifier`` or ``fallback`` of the wrong type.
        ValueError: a fallback for another arm, or an unknown ``gate``.
        InvalidInputError: ``confidence`` is not a real number in [0, 1].
    """

    def __init__(
        self,
        classifier: FeasibilityClassifier,
        fallback: IKSolver | None = None,
        confidence: float = DEFAULT_CONFIDENCE,
        gate: str = "reachability",
    ) -> None:
        if not isinstance(classifier, FeasibilityClassifier):
            raise TypeError(f"classifier must be a FeasibilityClassifier, got {type(classifier)}")
        if fallback is None:
            from ..solvers import DLSIK

            fallback = DLSIK(classifier.arm, **DLS_FALLBACK)
        if not isinstance(fallback, IKSolver):
            raise TypeError(f"fallback must be an ikml_gym IKSolver, got {type(fallback)}")
        if fallback.arm.name != classifier.arm.name or (
            fallback.arm.urdf_hash != classifier.arm.urdf_hash
        ):
            raise ValueError(
                f"classifier is for arm {classifier.arm.name!r}, fallback for {fallback.arm.name!r}"
            )
        confidence = real_number(confidence, "confidence", low=0.0, high=1.0)
        if gate not in GATES:
            raise ValueError(f"gate must be one of {GATES}, got {gate!r}")
        self.classifier = classifier
        self.fallback = fallback
        self.confidence = float(confidence)
        self.gate = gate
        self.arm = classifier.arm

    def solvers(self) -> tuple[IKSolver, ...]:
        """The solvers this filter calls (for call accounting and reseeding)."""
        return (self.fallback,)

    @property
    def calls(self) -> int:
        """Numerical calls made by the fallback so far."""
        return total_calls(self.solvers())

    def gate_probability(self, features: object) -> np.ndarray:
        """(N,) gate probability of poses (see the module docstring)."""
        return self._gate(self.classifier.evaluate(features))

    def _gate(self, r: ClassifierResult) -> np.ndarray:
        if self.gate == "class":
            return r.confidence
        return np.maximum(r.p_reachable, 1.0 - r.p_reachable)

    def query(self, features: object) -> FeasibilityResult:
        """Answer N poses (feature_dim,) or (N, feature_dim); always batched output."""
        f, _ = self.arm.check_features(features)
        r = self.classifier.evaluate(f)
        conf = self._gate(r)
        from_model = conf > self.confidence
        label = r.label.copy()  # the classifier's decision rule, for either gate
        reachable = label > 0
        q = np.full((len(f), self.arm.dof), np.nan)
        ask = np.flatnonzero(~from_model)
        if len(ask):
            res = self.fallback.solve(f[ask])
            ok = np.asarray(res.success, dtype=bool)
            reachable[ask] = ok
            kinv = np.zeros(len(ask))
            if ok.any():
                kinv[ok] = self.arm.kinv(res.q[ok])
            label[ask] = label_from_kinv(ok, kinv, self.classifier.thresholds)
            q[ask[ok]] = res.q[ok]
        return FeasibilityResult(reachable, label.astype(np.int64), from_model, conf, q)

    def is_reachable(self, features: object) -> np.ndarray:
        """(N,) bool reachability (classifier where sure, fallback elsewhere)."""
        return self.query(features).reachable

    def __repr__(self) -> str:
        return (
            f"FeasibilityFilter(arm={self.arm.name!r}, confidence={self.confidence}, "
            f"gate={self.gate!r}, fallback={self.fallback!r})"
        )
