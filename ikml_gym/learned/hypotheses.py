"""Choosing one answer among several IK hypotheses per pose, by FK.

Both learned IKs propose several joint vectors per target (one per cluster or head) and
keep one: :func:`best_hypotheses` measures every proposal with the arm's FK and picks,
without a current configuration, the best-scoring one, and with one (tracking), the
plausible proposal nearest to it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import fields

import numpy as np

from .. import kinematics as kin
from ..arms import POSE4, Arm
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


def one_pose_errors(
    arm: Arm, proposals: np.ndarray, features: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Errors of the ``K`` proposals of one pose: what :meth:`Arm.pose_error` gives on the
    pose repeated ``K`` times, with fewer numpy calls (the same numbers, see
    ``tests/test_mh_ik.py``).

    Args:
        arm: the arm.
        proposals: (K, dof) radians; K at most :data:`~ikml_gym.kinematics.SMALL_FK_ROWS`.
        features: (1, feature_dim) one validated target.

    Returns:
        Position errors (K,) metres and orientation errors (K,) radians.
    """
    t = kin._fk_products(arm.chain, proposals)[0]
    d = t[:, :3, 3] - features[0, :3]
    pos_err = np.sqrt(np.einsum("ij,ij->i", d, d))
    if arm.feature_kind == POSE4:
        return pos_err, np.abs(kin.wrap_angle(kin.tool_pitch(t[:, :3, :3]) - features[0, 3]))
    # the target's rotation from K rows, as pose_error computes it (one row may take
    # another BLAS kernel)
    target_rot = kin.quat_to_matrix(np.repeat(features[:, 3:], len(proposals), axis=0))
    return pos_err, kin.rotation_angle(target_rot, t[:, :3, :3])


def best_of_one(
    proposals: np.ndarray,
    pos_err: np.ndarray,
    rot_err: np.ndarray,
    pos_tol: float,
    rot_tol: float,
    q0: np.ndarray | None = None,
) -> IKResult:
    """:func:`best_hypotheses` of one pose, from its (K, dof) proposals and (K,) errors.

    The same choice as the batched rule (first lowest score, or with ``q0`` the first
    nearest plausible proposal), without the batch's masks over N rows.

    Returns:
        A one-row IKResult ((1, dof) answer, (1,) success and errors).
    """
    # K numbers: Python floats cost less than numpy calls, with the same IEEE operations
    pos_l, rot_l = pos_err.tolist(), rot_err.tolist()
    best = -1
    if q0 is not None:
        pos_lim, rot_lim = BRANCH_PLAUSIBLE * pos_tol, BRANCH_PLAUSIBLE * rot_tol
        ok = [p < pos_lim and r < rot_lim for p, r in zip(pos_l, rot_l)]
        if any(ok):
            dist = _distances(proposals, q0).tolist()
            best = _first_min([d if o else math.inf for d, o in zip(dist, ok)])
    if best < 0:
        best = _first_min([p / pos_tol + r / rot_tol for p, r in zip(pos_l, rot_l)])
    success = np.array([pos_l[best] < pos_tol and rot_l[best] < rot_tol])
    return IKResult(
        proposals[best : best + 1], success, pos_err[best : best + 1], rot_err[best : best + 1]
    )


def _distances(proposals: np.ndarray, q0: np.ndarray) -> np.ndarray:
    """(K,) joint-space distances of (K, dof) proposals to a (1, dof) q0, as
    :func:`best_hypotheses` measures them (np.linalg.norm's steps; huge q0 capped)."""
    d = proposals - q0
    if max(map(abs, q0.ravel().tolist())) < _NO_OVERFLOW:
        return np.sqrt(np.add.reduce(d * d, axis=1))
    with np.errstate(over="ignore"):
        return np.minimum(np.linalg.norm(d, axis=1), np.finfo(np.float64).max)


def _first_min(values: list[float]) -> int:
    """Index of the first smallest value, or of the first NaN (as ``np.argmin``)."""
    best, low = 0, values[0]
    for i, v in enumerate(values):
        if math.isnan(v):
            return i
        if v < low:
            best, low = i, v
    return best


#: a q0 whose joints are all below this (radians) cannot overflow the distance to a
#: proposal within the joint limits
_NO_OVERFLOW = 1e150


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
