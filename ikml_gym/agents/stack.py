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

Both stacks accept an IK answer on the same tolerance, a quarter of the task's
success distance (4.75 mm for arm4) and 3 degrees: in closed-loop ee control each
step is re-planned from the measured pose, so a few millimetres of IK error
cost nothing, while demanding 1 mm would make the learned guess fail where it is
perfectly usable.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..arms import Arm
from ..solvers import HybridIK, IKResult, IKSolver, PyBulletIK

#: accepted IK error as a fraction of the env's success distance, and in radians
TOL_FRACTION = 0.25
ROT_TOL = float(np.deg2rad(3.0))
#: classifier probability of "unreachable" above which a commanded target is refused
SCREEN_CONFIDENCE = 0.999


class ScreenedIK(IKSolver):
    """Refuse commanded targets the classifier is sure are unreachable; solve the rest.

    Args:
        solver: the IK solver for the targets that pass (its ``calls`` are this one's).
        classifier: a ``FeasibilityClassifier`` of the same arm.
        confidence: refuse where P(unreachable) > confidence.

    Attributes:
        screened: targets refused so far without a numerical call.
    """

    numerical = False  # counts through ``solver``

    def __init__(self, solver: IKSolver, classifier: Any, confidence: float = SCREEN_CONFIDENCE):
        super().__init__(solver.arm, pos_tol=solver.pos_tol, rot_tol=solver.rot_tol)
        if classifier.arm.urdf_hash != solver.arm.urdf_hash:
            raise ValueError("classifier and solver are for different arms")
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
) -> ReachStack:
    """Classifier goal filter + screened commanded targets + HybridIK (learned IK) where one exists.

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
    solver = ScreenedIK(inner, clf)
    return ReachStack(
        f"plug-in: classifier goal filter + target screening, {note}",
        {"control_type": "ee", "ik_solver": solver, "goal_filter": "classifier", "classifier": clf},
        owned=[fallback],
        note=note,
    )
