"""Choosing one answer among several IK hypotheses per pose, by FK.

Both learned IKs propose several joint vectors per target (one per cluster or head) and
keep one: :func:`best_hypotheses` measures every proposal with the arm's FK and picks,
without a current configuration, the best-scoring one, and with one (tracking), the
plausible proposal nearest to it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields

import numpy as np

from ..arms import Arm
from ..solvers import IKResult

#: with a q0, proposals within this many times the tolerances count as real branches
#: (1x left the arm to jump branches where its own branch's guess was slightly off, any
#: distance picked garbage for missing branches; see benchmarks/results/design_choices.md)
BRANCH_PLAUSIBLE = 3.0
_RESULT_FIELDS = [f.name for f in fields(IKResult)]


def best_hypotheses(
    arm: Arm,
    proposals: np.ndarray,
    features: np.ndarray,
    pos_tol: float,
    rot_tol: float,
    q0: np.ndarray | None = None,
) -> IKResult:
    """Pick one proposal per pose, measured by FK.

    Without ``q0``: the lowest ``pos_err / pos_tol + rot_err / rot_tol``. With
    ``q0`` (tracking, e.g. ee control): among the plausible proposals (within
    :data:`BRANCH_PLAUSIBLE` times the tolerances), the one nearest to ``q0`` in joint
    space -- the solution branch the arm is on -- so consecutive targets do not
    jump branches; where none is plausible, the best-scoring one. The distance is not
    wrapped: the joints stop at their limits, so a branch across +-pi is far away for
    the arm.

    Args:
        arm: the arm.
        proposals: (N, K, dof) radians within the joint limits.
        features: (N, feature_dim) validated targets.
        pos_tol, rot_tol: metres and radians.
        q0: (N, dof) current joints, or None.

    Returns:
        The chosen (N, dof) answers with their errors and success at the tolerances.
    """
    n, k, dof = proposals.shape
    pos_err, rot_err = arm.pose_error(proposals.reshape(n * k, dof), np.repeat(features, k, axis=0))
    pos_err, rot_err = pos_err.reshape(n, k), rot_err.reshape(n, k)
    score = pos_err / pos_tol + rot_err / rot_tol
    if q0 is not None:
        ok = (pos_err < BRANCH_PLAUSIBLE * pos_tol) & (rot_err < BRANCH_PLAUSIBLE * rot_tol)
        # a q0 far outside the limits overflows the norm; inf would tie with the
        # implausible proposals and argmin could pick one of those
        with np.errstate(over="ignore"):
            dist = np.linalg.norm(proposals - q0[:, None, :], axis=2)
        dist = np.minimum(dist, np.finfo(np.float64).max)
        # nearest plausible proposal; poses with none keep the best-scoring one
        score = np.where(ok.any(axis=1, keepdims=True), np.where(ok, dist, np.inf), score)
    best = np.argmin(score, axis=1)
    rows = np.arange(n)
    pos_err, rot_err = pos_err[rows, best], rot_err[rows, best]
    success = (pos_err < pos_tol) & (rot_err < rot_tol)
    return IKResult(proposals[rows, best], success, pos_err, rot_err)


def solve_in_chunks(
    solve: Callable[[np.ndarray, np.ndarray | None], IKResult],
    features: np.ndarray,
    q0: np.ndarray | None,
    chunk: int,
) -> IKResult:
    """``solve(features, q0)`` on slices of at most ``chunk`` rows, joined into one result.

    Every head's activations and FK check of a slice stay in cache, which is faster than
    one large batch (see ``benchmarks/results/design_choices.md``).
    """
    if len(features) <= chunk:
        return solve(features, q0)
    parts = [
        solve(features[s : s + chunk], None if q0 is None else q0[s : s + chunk])
        for s in range(0, len(features), chunk)
    ]
    return IKResult(*(np.concatenate([getattr(r, k) for r in parts]) for k in _RESULT_FIELDS))
