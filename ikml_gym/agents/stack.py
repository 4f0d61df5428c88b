"""The two IK stacks the reaching demo compares, built from the package's parts.

A *stack* is what an ``ee``-controlled reach env needs: the per-step IK solver and
the goal filter. Counting follows one rule (issue 6): a numerical call is one
iterative-solver invocation for one pose, read from the solvers' ``calls``
counters; networks, the classifier and FK checks are free.

* **baseline**: ``PyBulletIK`` every step; goals filtered by asking ``PyBulletIK``.
* **plug-in**: goals filtered by the classifier; each commanded target screened by
  the classifier (:class:`ScreenedIK`: a target it is sure is unreachable is
  refused without a call, as the baseline's failed IK would have been); then, for
  arm4, ``HybridIK`` (learned IK, FK check, ``PyBulletIK`` only where the check
  fails). arm6 has no learned IK, so its per-step IK stays numerical and its
  savings come from the classifier alone.

Both stacks accept an IK answer on the same tolerance, a third of the task's
success distance (6.3 mm for arm4, 17 mm for arm6) and 3 degrees: in closed-loop
ee control each step is re-planned from the measured pose, so a few millimetres
of IK error cost nothing, while demanding 1 mm would make the learned guess
(2.3 mm mean error) fail where it is perfectly usable. Measured on arm4, 200
episodes: a quarter of the success distance (4.75 mm) left 8.9% of the learned
guesses to the fallback (-92% calls), a third 2.8% (-97%), at equal success.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..arms import Arm
from ..solvers import HybridIK, IKResult, IKSolver, PyBulletIK

#: accepted IK error as a fraction of the env's success distance, and in radians
TOL_FRACTION = 1.0 / 3.0
ROT_TOL = float(np.deg2rad(3.0))
#: classifier probability of "unreachable" above which a commanded target is refused
SCREEN_CONFIDENCE = 0.999


class ScreenedIK(IKSolver):
    """Refuse commanded targets the classifier is sure are unreachable; solve the rest.

    A refused target still gets a best-effort answer from ``guess`` (a free solver,
    e.g. the learned IK) when one is given, else ``q0``: like a failed numerical
    answer, the env applies it only if it brings the arm closer without a joint jump.

    Args:
        solver: the IK solver for the targets that pass (its ``calls`` are this one's).
        classifier: a ``FeasibilityClassifier`` of the same arm.
        confidence: refuse where P(unreachable) > confidence.
        guess: optional non-numerical solver for the refused targets.

    Attributes:
        screened: targets refused so far without a numerical call.
    """

    numerical = False  # counts through ``solver``

    def __init__(
        self,
        solver: IKSolver,
        classifier: Any,
        confidence: float = SCREEN_CONFIDENCE,
        guess: IKSolver | None = None,
    ) -> None:
        super().__init__(solver.arm, pos_tol=solver.pos_tol, rot_tol=solver.rot_tol)
        if classifier.arm.urdf_hash != solver.arm.urdf_hash:
            raise ValueError("classifier and solver are for different arms")
        if guess is not None and guess.numerical:
            raise ValueError("guess must be a solver without numerical calls (e.g. LearnedIK)")
        self.guess = guess
        self.solver = solver
        self.classifier = classifier
        self.confidence = float(confidence)
        self.screened = 0

    @property
    def calls(self) -> int:  # type: ignore[override]
        return self.solver.calls

    @calls.setter
    def calls(self, value: int) -> None:
        if hasattr(self, "solver"):
            self.solver.calls = value

    def close(self) -> None:
        close = getattr(self.solver, "close", None)
        if close is not None:
            close()

    def _solve(self, features: np.ndarray, q0: np.ndarray | None) -> IKResult:
        p_unreachable = self.classifier.predict_proba(features)[:, 0]
        refuse = p_unreachable > self.confidence
        self.screened += int(refuse.sum())
        q = np.tile(self.arm.joint_limits.mean(axis=1), (len(features), 1)) if q0 is None else q0
        q = q.copy()
        if self.guess is not None and np.any(refuse):
            ref = np.flatnonzero(refuse)
            q[ref] = self.guess.solve(features[ref], None if q0 is None else q0[ref]).q
        if not np.all(refuse):
            keep = np.flatnonzero(~refuse)
            res = self.solver.solve(features[keep], None if q0 is None else q0[keep])
            q[keep] = res.q
        out = self.evaluate(q, features)
        out.success &= ~refuse
        return out


@dataclass
class ReachStack:
    """Keyword arguments for ``ArmReachEnv`` (``ik_solver``, ``goal_filter``, ...) plus
    the objects whose ``close()`` the caller owns."""

    name: str
    env_kwargs: dict[str, Any]
    owned: list[Any] = field(default_factory=list)
    note: str = ""

    def close(self) -> None:
        for part in self.owned:
            part.close()


def _tolerances(arm: Arm, distance_threshold: float | None) -> tuple[float, float]:
    threshold = 0.05 * arm.reach if distance_threshold is None else distance_threshold
    return TOL_FRACTION * threshold, ROT_TOL


def baseline_stack(arm: Arm, distance_threshold: float | None = None) -> ReachStack:
    """PyBulletIK every step and for goal filtering (``goal_filter="ik"``)."""
    pos_tol, rot_tol = _tolerances(arm, distance_threshold)
    ik = PyBulletIK(arm, pos_tol=pos_tol, rot_tol=rot_tol, seed=1)
    goal = PyBulletIK(arm, pos_tol=pos_tol, rot_tol=rot_tol, seed=2)
    return ReachStack(
        "baseline: PyBulletIK every step, IK goal filter",
        {"control_type": "ee", "ik_solver": ik, "goal_filter": "ik", "goal_solver": goal},
        owned=[ik, goal],
    )


def plugin_stack(
    arm: Arm,
    classifier: Any | None = None,
    learned: IKSolver | None = None,
    distance_threshold: float | None = None,
    screen_confidence: float = SCREEN_CONFIDENCE,
    screen_targets: bool = True,
) -> ReachStack:
    """Classifier goal filter + screened commanded targets + HybridIK (learned IK) where one exists.

    ``screen_targets=False`` keeps the classifier to goal sampling. Screening refuses
    targets the classifier is sure are unreachable; PyBullet's least-squares answer
    to such a target still moves the arm part of the way, so where the per-step IK
    stays numerical (arm6) screening saves calls at some cost in success (the demo
    reports both).

    ``classifier`` defaults to ``load_classifier(arm.name)``; ``learned`` to
    ``load_ik(arm.name)`` for pose4 arms and ``None`` (numerical IK every step) otherwise.
    """
    from ..arms import POSE4
    from ..learned.classifier import load_classifier
    from ..learned.ik import load_ik

    pos_tol, rot_tol = _tolerances(arm, distance_threshold)
    clf = load_classifier(arm.name, arm=arm) if classifier is None else classifier
    fallback = PyBulletIK(arm, pos_tol=pos_tol, rot_tol=rot_tol, seed=1)
    if learned is None and arm.feature_kind == POSE4:
        # pitch closure: the last joint from psi exactly (algebra, not a numerical step)
        learned = load_ik(arm.name, arm=arm, pos_tol=pos_tol, rot_tol=rot_tol, pitch_closure=True)
    if learned is not None:
        inner: IKSolver = HybridIK(learned, fallback, tol=(pos_tol, rot_tol))
        note = "learned IK + FK check, PyBulletIK fallback"
    else:
        inner = fallback
        note = "no learned IK for this arm: per-step IK stays numerical"
    if screen_targets:
        solver: IKSolver = ScreenedIK(inner, clf, confidence=screen_confidence, guess=learned)
        what = "classifier goal filter + target screening"
    else:
        solver = inner
        what = "classifier goal filter"
    return ReachStack(
        f"plug-in: {what}, {note}",
        {"control_type": "ee", "ik_solver": solver, "goal_filter": "classifier", "classifier": clf},
        owned=[fallback],
        note=note,
    )
