"""The orientation a position goal leaves free, chosen for the ``ik_prior`` controller.

A position goal fixes only ``[x, y, z]``; the learned IK prior needs a full pose.
A random orientation at a reachable position is often unreachable, so
:class:`OrientationChooser` picks one:

1. **Candidates**: the goal position with the orientation sampled with the goal
   (first) and a fixed, deterministic set of orientations: for pose4 arms
   :data:`N_PITCHES` tool pitches evenly spaced over (-pi, pi]; for pose7 arms
   :data:`N_ROTATIONS` quaternions spread over the rotation group by
   :func:`spread_quaternions`.
2. **Classifier**: the classifier rates every candidate (0 unreachable, 1
   near-singular, 2 adequate, 3 high manipulability); those rated unreachable are
   dropped (all are kept, as one class, when every candidate is rated unreachable or
   there is no classifier).
3. **Prior**: a free prior (``prior.free``: it never spends a numerical call, e.g.
   the learned IK without polish) solves every kept candidate in one batch from the start
   configuration; the answer kept is the one of the best-conditioned class among
   those whose position error is within the prior's position tolerance, and within
   that class the one with the smallest position error (if no answer is within the
   tolerance: the smallest position error of all). Any other prior (numerical,
   polishing or with a numerical fallback) solves one candidate only: the first of
   the best-conditioned class, so choosing costs no extra numerical call.

Everything is a function of the goal and the start configuration, so seeded
episodes stay reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import kinematics as kin
from ..arms import POSE4, Arm
from ..labels import UNREACHABLE
from .task import predict_classes

#: pitch candidates of pose4 arms (every 10 degrees)
N_PITCHES = 36
#: orientation candidates of pose7 arms
N_ROTATIONS = 32


def spread_quaternions(n: int) -> np.ndarray:
    """(n, 4) xyzw unit quaternions spread evenly over the rotations, deterministic.

    Shoemake's uniform map of the unit cube onto the rotations, fed with the
    additive recurrence (R3) sequence ``frac(0.5 + i * (1/g, 1/g^2, 1/g^3))``, ``g``
    the real root of ``x^4 = x + 1``: a low-discrepancy cover of the cube.
    """
    g = 1.2207440846057596
    alpha = np.array([1.0 / g, 1.0 / g**2, 1.0 / g**3])
    u = np.mod(0.5 + np.arange(1, n + 1)[:, None] * alpha, 1.0)
    a, b = np.sqrt(1.0 - u[:, 0]), np.sqrt(u[:, 0])
    t1, t2 = 2.0 * np.pi * u[:, 1], 2.0 * np.pi * u[:, 2]
    quat = np.column_stack([a * np.sin(t1), a * np.cos(t1), b * np.sin(t2), b * np.cos(t2)])
    return kin.canonical_quat(quat)


def fixed_orientations(arm: Arm) -> np.ndarray:
    """The fixed candidate orientations of ``arm``: (:data:`N_PITCHES`, 1) pitches,
    radians, or (:data:`N_ROTATIONS`, 4) xyzw quaternions."""
    if arm.feature_kind == POSE4:
        return np.linspace(-np.pi, np.pi, N_PITCHES + 1)[1:, None]
    return spread_quaternions(N_ROTATIONS)


@dataclass
class PriorChoice:
    """What :meth:`OrientationChooser.solve` chose.

    Attributes:
        pose: the pose solved (feature_dim,): the goal position and the chosen orientation.
        q: the prior's answer (dof,), radians.
        success: whether the prior met its tolerances on ``pose``.
        pose_class: the classifier's class of ``pose`` (-1 without a classifier).
    """

    pose: np.ndarray
    q: np.ndarray
    success: bool
    pose_class: int


class OrientationChooser:
    """Chooses the orientation of a position goal and solves it with a prior (see the
    module docstring for the candidates and the rule).

    Args:
        arm: the arm.
        classifier: a feasibility classifier (``predict``) or ``FeasibilityFilter``
            (``query``), or None (every candidate kept, as one class).
    """

    def __init__(self, arm: Arm, classifier: Any = None) -> None:
        self.arm = arm
        self.classifier = classifier
        self.orientations = fixed_orientations(arm)

    def candidates(self, goal_pose: np.ndarray) -> np.ndarray:
        """(1 + M, feature_dim) poses at the position of ``goal_pose`` (feature_dim,): its
        own orientation first, then the fixed ones."""
        own = np.asarray(goal_pose, dtype=np.float64)[None, 3:]
        orient = np.concatenate([own, self.orientations])
        pos = np.broadcast_to(np.asarray(goal_pose[:3], dtype=np.float64), (len(orient), 3))
        return np.column_stack([pos, orient])

    def rate(self, poses: np.ndarray) -> np.ndarray:
        """(N,) classes of (N, feature_dim) poses; all -1 without a classifier."""
        if self.classifier is None:
            return np.full(len(poses), -1, dtype=np.int64)
        return predict_classes(self.classifier, poses)

    def solve(self, prior: Any, goal_pose: np.ndarray, q0: np.ndarray) -> PriorChoice:
        """Pick the orientation for the position of ``goal_pose`` and solve it with ``prior``
        from the start configuration ``q0`` (dof,) radians."""
        poses = self.candidates(goal_pose)
        classes = self.rate(poses)
        kept = classes != UNREACHABLE
        if not kept.any():
            kept[:] = True
        poses, classes = poses[kept], classes[kept]
        if not getattr(prior, "free", False):
            i = int(np.argmax(classes))  # the first of the best class
            res = prior.solve(poses[i], q0=q0)
            return PriorChoice(poses[i], np.asarray(res.q), bool(res.success), int(classes[i]))
        res = prior.solve(poses, q0=q0)
        i = best_answer(np.asarray(res.pos_err), classes, float(prior.pos_tol))
        return PriorChoice(poses[i], np.asarray(res.q[i]), bool(res.success[i]), int(classes[i]))


def best_answer(pos_err: np.ndarray, classes: np.ndarray, pos_tol: float) -> int:
    """Index of the answer kept: among those within ``pos_tol`` (metres) the highest class,
    then the smallest position error ``pos_err`` (N,) metres; if none is within, the
    smallest position error. Ties go to the first."""
    within = pos_err <= pos_tol
    class_key = np.where(within, -classes, 0)  # classes rank only answers within the tolerance
    order = np.lexsort((np.arange(len(pos_err)), pos_err, class_key, ~within))
    return int(order[0])
