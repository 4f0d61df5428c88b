"""Closed-form IK of the shipped arm families (every branch, no numerical calls)."""

from __future__ import annotations

import numpy as np

from .. import kinematics as kin
from ..arms import POSE4, Arm
from ..closed_form import closed_form_for
from .base import IKResult, IKSolver


class AnalyticIK(IKSolver):
    """Closed-form IK of the shipped arm families: every branch, exact, no numerical calls.

    ``solve`` returns, per pose, the valid solution nearest to ``q0`` (wrapped
    joint distance) or, without ``q0``, the lowest valid branch id.
    ``solve_all`` returns every branch.

    Raises:
        ValueError: the arm has no closed form here (use :class:`DLSIK`).
    """

    numerical = False
    #: a branch counts as a solution when its FK is this close to the target (m, rad)
    exact_tol = 1e-6

    def __init__(self, arm: Arm, **kwargs: float) -> None:
        super().__init__(arm, **kwargs)
        form = closed_form_for(arm)
        if form is None:
            raise ValueError(
                f"arm {arm.name!r} has no closed-form IK here (only yaw-pitch-pitch-pitch and "
                "UR-type chains); use DLSIK or PyBulletIK"
            )
        self.form = form
        self.n_branches = form.n_branches

    def solve_all(self, features: object) -> tuple[np.ndarray, np.ndarray]:
        """All branches: ``(q, valid)`` of shapes (N, B, dof) and (N, B).

        ``q`` is wrapped into the joint limits; ``valid`` marks branches that exist,
        lie within the limits and reproduce the target to ``exact_tol``.
        """
        f, _ = self.arm.check_features(features)
        q_all, valid, _, _ = self._branches(f)
        return q_all, valid

    def _branches(
        self, f: np.ndarray, check: bool = True
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
        """(q (N, B, dof), valid (N, B), pos_err (N, B) m, rot_err (N, B) rad) of features.

        With ``check=False`` the FK check is skipped: ``valid`` then only says that a
        branch exists and lies within the limits, and the errors are ``None``.
        """
        arm = self.arm
        n, b, dof = len(f), self.n_branches, arm.dof
        if n == 0:
            z = np.zeros((0, b))
            return np.zeros((0, b, dof)), z.astype(bool), z, z
        target = None
        if arm.feature_kind == POSE4:
            raw = self.form.solve(f)
        else:
            target = arm.target_matrices(f)
            raw = self.form.solve(target)
        q_all = raw.reshape(n * b, dof)
        exists = ~np.isnan(q_all).any(axis=1)
        if not np.all(exists):
            q_all[~exists] = 0.0
        # full-turn joints: one wrap into [lo, lo + 2 pi); others: wrap to (-pi, pi], check
        lo, hi = arm.joint_limits[:, 0], arm.joint_limits[:, 1]
        full = arm.full_turn
        valid = exists
        if np.all(full):
            q_all = lo + np.mod(q_all - lo, 2 * np.pi)
        else:
            q_all[:, full] = lo[full] + np.mod(q_all[:, full] - lo[full], 2 * np.pi)
            part = kin.wrap_angle(q_all[:, ~full])
            valid = valid & np.all((part >= lo[~full] - 1e-9) & (part <= hi[~full] + 1e-9), axis=1)
            q_all[:, ~full] = np.clip(part, lo[~full], hi[~full])
        q_all, valid = q_all.reshape(n, b, dof), valid.reshape(n, b)
        if not check:
            return q_all, valid, None, None
        pos_err, rot_err = self._exact_errors(
            q_all.reshape(n * b, dof),
            np.repeat(f, b, axis=0),
            None if target is None else np.repeat(target, b, 0),
        )
        pos_err, rot_err = pos_err.reshape(n, b), rot_err.reshape(n, b)
        valid = valid & (pos_err < self.exact_tol) & (rot_err < self.exact_tol)
        return q_all, valid, pos_err, rot_err

    def _exact_errors(
        self, q: np.ndarray, f: np.ndarray, target: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Position (m) and orientation (rad) errors (M,) of (M, dof) ``q``, accurate to
        ~1e-15: rotations compared as matrices, |R - R_t|_F = 2 sqrt(2) sin(angle / 2)."""
        t = kin.chain_fk(self.arm.chain, q)[0]
        dp = t[:, :3, 3] - f[:, :3]
        pos_err = np.sqrt(np.einsum("ni,ni->n", dp, dp))
        if self.arm.feature_kind == POSE4:
            return pos_err, np.abs(kin.wrap_angle(kin.tool_pitch(t[:, :3, :3]) - f[:, 3]))
        d = (t[:, :3, :3] - target[:, :3, :3]).reshape(len(q), 9)
        frob = np.sqrt(np.einsum("ni,ni->n", d, d))
        return pos_err, 2.0 * np.arcsin(np.minimum(frob / (2.0 * np.sqrt(2.0)), 1.0))

    def _choose(self, q_all: np.ndarray, valid: np.ndarray, q0: np.ndarray | None) -> np.ndarray:
        """Per row, the lowest valid branch id, or the valid branch nearest ``q0``."""
        if q0 is None:
            score = np.where(valid, np.arange(self.n_branches), np.inf)
        else:
            dist = np.linalg.norm(kin.wrap_angle(q_all - q0[:, None, :]), axis=2)
            score = np.where(valid, dist, np.inf)
        return np.argmin(score, axis=1)

    def _solve(self, features: np.ndarray, q0: np.ndarray | None) -> IKResult:
        # Fast path: pick among the branches that exist and respect the limits, then
        # FK-check only the picked one. Rows whose pick fails the exact check (near
        # degenerate poses) or that have no candidate get the full check of every branch.
        n = len(features)
        rows = np.arange(n)
        q_all, cand, _, _ = self._branches(features, check=False)
        choice = self._choose(q_all, cand, q0)
        q = q_all[rows, choice]
        target = None if self.arm.feature_kind == POSE4 else self.arm.target_matrices(features)
        pe, re = self._exact_errors(q, features, target)
        bad = ~((pe < self.exact_tol) & (re < self.exact_tol))
        if np.any(bad):
            idx = np.flatnonzero(bad)
            qb, vb, peb, reb = self._branches(features[idx], check=True)
            cb = self._choose(qb, vb, None if q0 is None else q0[idx])
            # rows without a valid branch: the branch with the smallest error (best attempt)
            fallback = np.argmin(peb / self.pos_tol + reb / self.rot_tol, axis=1)
            cb = np.where(vb.any(axis=1), cb, fallback)
            r = np.arange(len(idx))
            q[idx], pe[idx], re[idx] = qb[r, cb], peb[r, cb], reb[r, cb]
        success = (pe < self.pos_tol) & (re < self.rot_tol)
        return IKResult(q, success, pe, re)
