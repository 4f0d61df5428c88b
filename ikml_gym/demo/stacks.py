"""The two IK stacks the reaching demo compares, built from the package's parts.

A *stack* is what an ``ee``-controlled reach env needs: the per-step IK solver and
the goal filter. Counting follows one rule: a numerical call is one
iterative-solver invocation for one pose, read from the solvers' ``calls``
counters; networks, the classifier and FK checks are free.

* **baseline**: ``PyBulletIK`` every step; goals filtered by asking ``PyBulletIK``.
* **plug-in**: goals filtered by the classifier; each commanded target screened by
  the classifier (:class:`ScreenedIK`: a target it is sure is unreachable is
  refused without a call, as the baseline's failed IK would have been); then
  ``HybridIK`` (the arm's learned IK, FK check, ``PyBulletIK`` only where the check
  fails). The same stack for every arm.

Both stacks accept an IK answer on the registered envs' own tolerance
(:func:`~ikml_gym.envs.task.task_ik_tolerance`: a third of the task's success
distance, 6.3 mm for arm4 and 17 mm for arm6, and 3 degrees).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..arms import Arm
from ..envs.task import default_distance_threshold, task_ik_tolerance
from ..solvers import SCREEN_CONFIDENCE, HybridIK, IKSolver, PyBulletIK, ScreenedIK


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
    """The env's own rule (:func:`~ikml_gym.envs.task.task_ik_tolerance`)."""
    threshold = (
        default_distance_threshold(arm) if distance_threshold is None else distance_threshold
    )
    return task_ik_tolerance(threshold)


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
    """Classifier goal filter + screened commanded targets + HybridIK (learned IK guess,
    FK check, ``PyBulletIK`` fallback): the same stack for every arm with a learned IK.

    ``screen_targets=False`` keeps the classifier to goal sampling. Screening refuses
    targets the classifier is sure are unreachable (without a call, as the baseline's
    failed IK would have been).

    ``classifier`` defaults to ``load_classifier(arm.name)``; ``learned`` to the shipped
    learned IK (:func:`~ikml_gym.learned.ik.load_guess_ik`).
    """
    from ..learned.classifier import load_classifier
    from ..learned.ik import load_guess_ik

    pos_tol, rot_tol = _tolerances(arm, distance_threshold)
    clf = load_classifier(arm.name, arm=arm) if classifier is None else classifier
    if learned is None:
        learned = load_guess_ik(arm, pos_tol=pos_tol, rot_tol=rot_tol)
    fallback = PyBulletIK(arm, pos_tol=pos_tol, rot_tol=rot_tol, seed=1)
    inner: IKSolver = HybridIK(learned, fallback, tol=(pos_tol, rot_tol))
    note = "learned IK + FK check, PyBulletIK fallback"
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
