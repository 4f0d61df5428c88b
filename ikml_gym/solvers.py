"""IK solvers behind one interface, each counting its numerical calls.

Every solver maps task features (:meth:`ikml_gym.Arm.features`) to joint angles::

    result = solver.solve(features, q0=None)   # IKResult, batched
    solver.calls                               # numerical IK invocations so far

A *call* is one invocation of an iterative solver for one pose (restarts
included in that one call). Closed forms, networks and FK checks are free, so
``AnalyticIK`` and the learned solvers never add to ``calls``.

Success means position error < ``pos_tol`` (default 1 mm) and orientation error
< ``rot_tol`` (default 1 degree) on the angles the arm controls (psi for pose4
arms, the full orientation for pose7 arms).
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import kinematics as kin
from ._validation import as_batch
from .arms import POSE4, Arm
from .bullet import load_in_bullet
from .closed_form import closed_form_for
from .errors import InvalidInputError

DEFAULT_POS_TOL = 1e-3  # metres
DEFAULT_ROT_TOL = float(np.deg2rad(1.0))  # radians


@dataclass
class IKResult:
    """Solutions of a batch of N poses.

    Attributes:
        q: (N, dof) joint angles, within the joint limits (best attempt where unsolved).
        success: (N,) bool, errors below the solver's tolerances.
        pos_err: (N,) metres.
        rot_err: (N,) radians.
    """

    q: np.ndarray
    success: np.ndarray
    pos_err: np.ndarray
    rot_err: np.ndarray

    def __len__(self) -> int:
        return len(self.success)

    def first(self) -> IKResult:
        """The first row, unbatched (q (dof,), scalars); used for single-pose calls."""
        return IKResult(self.q[0], self.success[0], self.pos_err[0], self.rot_err[0])


class IKSolver(ABC):
    """Base class: input validation, error measurement and the ``calls`` counter."""

    #: whether this solver is iterative (its calls count as numerical IK calls)
    numerical: bool = True

    def __init__(
        self, arm: Arm, pos_tol: float = DEFAULT_POS_TOL, rot_tol: float = DEFAULT_ROT_TOL
    ) -> None:
        if not isinstance(arm, Arm):
            raise TypeError(f"expected an ikml_gym.Arm, got {type(arm).__name__}")
        if not (pos_tol > 0 and rot_tol > 0):
            raise ValueError("pos_tol and rot_tol must be positive")
        self.arm = arm
        self.pos_tol = float(pos_tol)
        self.rot_tol = float(rot_tol)
        self.calls = 0

    def reset_calls(self) -> None:
        """Set the call counter back to zero."""
        self.calls = 0

    def solve(self, features: object, q0: object | None = None) -> IKResult:
        """Solve IK for task features (feature_dim,) or (N, feature_dim).

        Args:
            features: target poses, see :meth:`Arm.features`.
            q0: optional initial guess (dof,) or (N, dof) radians.

        Returns:
            IKResult, unbatched (``first()``) when ``features`` is one pose.

        Raises:
            InvalidInputError: ``features`` or ``q0`` of the wrong shape or dtype, with NaN or
                inf, a position beyond +-1e6 m, or (pose7) a quaternion not of unit norm;
                ``q0`` with neither 1 nor N rows.
        """
        f, single = self.arm.check_features(features)
        q_init = None
        if q0 is not None:
            q_init, _ = as_batch(q0, self.arm.dof, "q0")
            if len(q_init) == 1 and len(f) != 1:  # one start for every pose (none for none)
                q_init = np.repeat(q_init, len(f), axis=0)
            if len(q_init) != len(f):
                raise InvalidInputError(f"q0 has {len(q_init)} rows but features has {len(f)}")
        if len(f) == 0:
            z = np.zeros(0)
            return IKResult(np.zeros((0, self.arm.dof)), z.astype(bool), z, z)
        result = self._solve(f, q_init)
        if self.numerical:
            self.calls += len(f)
        return result.first() if single else result

    @abstractmethod
    def _solve(self, features: np.ndarray, q0: np.ndarray | None) -> IKResult:
        """Batched solve on validated (N, feature_dim) features, N >= 1."""

    def evaluate(self, q: np.ndarray, features: np.ndarray) -> IKResult:
        """Measure (N, dof) ``q`` against (N, feature_dim) targets -> IKResult."""
        pos_err, rot_err = self.arm.pose_error(q, features)
        success = (pos_err < self.pos_tol) & (rot_err < self.rot_tol)
        return IKResult(q, success, pos_err, rot_err)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(arm={self.arm.name!r}, calls={self.calls})"


# --------------------------------------------------------------------------- analytic
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


# ------------------------------------------------------------------------------ DLS
def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cross product of (3, N) component-major vectors."""
    return np.stack(
        [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]]
    )


def _spd_solve(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Solve a[:, :, n] x[:, n] = b[:, n] for SPD (m, m, N) by a vectorised Cholesky."""
    m = a.shape[0]
    chol = [[None] * m for _ in range(m)]
    for j in range(m):
        d = a[j, j] - sum(chol[j][k] ** 2 for k in range(j)) if j else a[j, j]
        chol[j][j] = np.sqrt(np.maximum(d, 1e-300))
        inv = 1.0 / chol[j][j]
        for i in range(j + 1, m):
            s = a[i, j] - sum(chol[i][k] * chol[j][k] for k in range(j)) if j else a[i, j]
            chol[i][j] = s * inv
    y = [None] * m
    for i in range(m):
        s = b[i] - sum(chol[i][k] * y[k] for k in range(i)) if i else b[i]
        y[i] = s / chol[i][i]
    x = [None] * m
    for i in reversed(range(m)):
        s = y[i] - sum(chol[k][i] * x[k] for k in range(i + 1, m)) if i < m - 1 else y[i]
        x[i] = s / chol[i][i]
    return np.stack(x)


class DLSIK(IKSolver):
    """Batched damped-least-squares (Levenberg-Marquardt) IK in numpy, multi-start.

    Every pose iterates ``q += J^T (J J^T + lam^2 I)^-1 e`` on the unitless task
    error ``e`` (position / reach; the rotation's axis-angle vector, or the psi
    error for pose4 arms), the step capped at ``max_step`` per joint and the
    result wrapped/clipped into the joint limits. The damping follows the error,
    ``lam^2 = damping^2 + 0.01 |e|^2``: firmer far from the target, near
    Gauss-Newton (quadratic convergence) close to it. The small linear systems
    are solved by a Cholesky factorisation vectorised across the batch.

    Starts without ``q0`` are the best of ``seed_pool`` random configurations by
    FK error. A start has converged when both errors are below half the success
    tolerances; one last polishing step (kept only if it lowers both errors)
    then usually takes them to ~1e-6. A start that has not converged after
    ``max_iters`` iterations is replaced by ``restart_seeds`` fresh starts (more
    when few poses are left), up to ``restarts`` starts per pose. Restarts
    happen row by row inside one batch: converged poses leave it, so only the
    failures cost more work. Poses are processed ``chunk`` at a time.

    Args:
        arm: the arm.
        max_iters: iterations per start.
        restarts: random starts per pose after the first one (each seed of a
            multi-seed restart counts).
        damping: the damping floor (unitless).
        max_step: largest joint step per iteration (rad, or m for prismatic joints).
        seed: seed of the start/restart generator.
        seed_pool: random configurations per start, the best by FK error is used.
        restart_seeds: fresh starts per restart.
        chunk: poses iterated together (larger batches fall out of the CPU cache).
    """

    def __init__(
        self,
        arm: Arm,
        max_iters: int = 10,
        restarts: int = 30,
        damping: float = 1e-2,
        max_step: float = 1.0,
        seed: int | None = 0,
        seed_pool: int = 4,
        restart_seeds: int = 2,
        chunk: int = 4096,
        **kwargs: float,
    ) -> None:
        super().__init__(arm, **kwargs)
        if max_iters < 1 or restarts < 0 or damping < 0 or max_step <= 0:
            raise ValueError("need max_iters >= 1, restarts >= 0, damping >= 0, max_step > 0")
        if seed_pool < 1 or restart_seeds < 1 or chunk < 1:
            raise ValueError("seed_pool, restart_seeds and chunk must be >= 1")
        self.max_iters = int(max_iters)
        self.restarts = int(restarts)
        self.damping = float(damping)
        self.max_step = float(max_step)
        self.seed_pool = int(seed_pool)
        self.restart_seeds = int(restart_seeds)
        self.chunk = int(chunk)
        self.rng = np.random.default_rng(seed)
        self._conv_pos = 0.5 * self.pos_tol / arm.reach
        self._conv_rot = 0.5 * self.rot_tol
        lo, hi = arm.joint_limits[:, 0], arm.joint_limits[:, 1]
        self._lo, self._hi = lo[:, None], hi[:, None]
        self._full = arm.full_turn
        self._min_batch = 256  # below this many candidates, restart with more seeds
        self._err_damp = 0.01

    # -- one linearisation, component-major: q (dof, N), targets (k, N)
    def _error_jacobian(
        self, qt: np.ndarray, tpos: np.ndarray, tgt: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Task error (m, N) and task Jacobian (m, dof, N) at (dof, N) joint values.

        ``tgt`` is the target psi (1, N) for pose4 arms, else the target rotation's
        columns stacked (9, N).
        """
        arm = self.arm
        inv_reach = 1.0 / arm.reach
        pos, cols, jpos, jaxis = kin.fk_columns(arm.chain, qt, jacobian=True)
        dof, n = qt.shape
        pose4 = arm.feature_kind == POSE4
        m = 4 if pose4 else 6
        err = np.empty((m, n))
        err[:3] = (tpos - pos) * inv_reach
        jac = np.empty((m, dof, n))
        for i in range(dof):
            w = jaxis[i]
            if arm.chain.types[i] == kin.REVOLUTE:
                r = (pos - jpos[i]) * inv_reach
                jac[0, i] = w[1] * r[2] - w[2] * r[1]
                jac[1, i] = w[2] * r[0] - w[0] * r[2]
                jac[2, i] = w[0] * r[1] - w[1] * r[0]
            else:
                jac[:3, i] = w * inv_reach
            if not pose4:
                jac[3:, i] = w if arm.chain.types[i] == kin.REVOLUTE else 0.0
        if pose4:
            r20, r22 = cols[0][2], cols[2][2]
            err[3] = kin.wrap_angle(tgt[0] - np.arctan2(-r20, r22))
            wx = np.stack([jaxis[i][0] for i in range(dof)])
            wy = np.stack([jaxis[i][1] for i in range(dof)])
            wx[arm.chain.types != kin.REVOLUTE] = 0.0
            wy[arm.chain.types != kin.REVOLUTE] = 0.0
            d20 = -wy * cols[0][0] + wx * cols[0][1]
            d22 = -wy * cols[2][0] + wx * cols[2][1]
            jac[3] = (-r22 * d20 + r20 * d22) / np.maximum(r20**2 + r22**2, 1e-300)
        else:
            # axis-angle of R_t R^T: v = 0.5 sum_k c_k x t_k = sin(a) axis, cos(a) from the trace
            v = 0.5 * (
                _cross(cols[0], tgt[0:3]) + _cross(cols[1], tgt[3:6]) + _cross(cols[2], tgt[6:9])
            )
            tr = (cols[0] * tgt[0:3] + cols[1] * tgt[3:6] + cols[2] * tgt[6:9]).sum(axis=0)
            s = np.sqrt((v * v).sum(axis=0))
            angle = np.arctan2(s, 0.5 * (tr - 1.0))
            err[3:] = v * (angle / np.maximum(s, 1e-12))
        return err, jac

    def _step(self, qt: np.ndarray, err: np.ndarray, jac: np.ndarray) -> np.ndarray:
        """One damped least-squares step from (dof, N) ``qt``, wrapped into the limits."""
        m = err.shape[0]
        a = np.einsum("adn,bdn->abn", jac, jac)
        lam2 = self.damping**2 + self._err_damp * (err * err).sum(axis=0)
        for i in range(m):
            a[i, i] += lam2
        dq = np.einsum("adn,an->dn", jac, _spd_solve(a, err))
        big = np.abs(dq).max(axis=0)
        dq *= np.minimum(1.0, self.max_step / np.maximum(big, 1e-300))
        q = qt + dq
        full = self._full
        if np.all(full):
            return self._lo + np.mod(q - self._lo, 2 * np.pi)
        q[full] = self._lo[full] + np.mod(q[full] - self._lo[full], 2 * np.pi)
        return np.clip(q, self._lo, self._hi)

    def _score(
        self, qt: np.ndarray, tpos: np.ndarray, tgt: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Squared unitless position and orientation errors (N,), (N,) of (dof, N) joint
        values, from FK alone (the orientation as 2 (1 - cos angle) ~ angle^2)."""
        arm = self.arm
        pos, cols, _, _ = kin.fk_columns(arm.chain, qt)
        d = (tpos - pos) / arm.reach
        pos2 = (d * d).sum(axis=0)
        if arm.feature_kind == POSE4:
            psi = np.arctan2(-cols[0][2], cols[2][2])
            return pos2, kin.wrap_angle(tgt[0] - psi) ** 2
        tr = (cols[0] * tgt[0:3] + cols[1] * tgt[3:6] + cols[2] * tgt[6:9]).sum(axis=0)
        return pos2, 3.0 - tr

    def _polish(self, q: np.ndarray, features: np.ndarray) -> np.ndarray:
        """One more step for every (N, dof) row, kept where it lowers the error."""
        tpos, tgt = self._targets(features)
        qt = np.ascontiguousarray(q.T)
        err, jac = self._error_jacobian(qt, tpos, tgt)
        new = self._step(qt, err, jac)
        p_old, r_old = self._score(qt, tpos, tgt)
        p_new, r_new = self._score(new, tpos, tgt)
        better = (p_new <= p_old) & (r_new <= r_old)  # never trade one error for the other
        qt[:, better] = new[:, better]
        return qt.T

    def _seeds(self, tpos: np.ndarray, tgt: np.ndarray) -> np.ndarray:
        """Random starts (dof, M) for M targets: the best of ``seed_pool`` random joint
        configurations by FK error (no Jacobians, so cheap)."""
        arm, k = self.arm, self.seed_pool
        m = tpos.shape[1]
        cand = arm.random_q(m * k, self.rng).T  # (dof, m * k), candidate c of target c // k
        if k == 1:
            return np.ascontiguousarray(cand)
        score = sum(self._score(cand, np.repeat(tpos, k, axis=1), np.repeat(tgt, k, axis=1)))
        pick = np.argmin(score.reshape(m, k), axis=1) + np.arange(m) * k
        return np.ascontiguousarray(cand[:, pick])

    def _converged(self, err: np.ndarray) -> np.ndarray:
        return ((err[:3] ** 2).sum(axis=0) < self._conv_pos**2) & (
            (err[3:] ** 2).sum(axis=0) < self._conv_rot**2
        )

    def _targets(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        tpos = np.ascontiguousarray(features[:, :3].T)
        if self.arm.feature_kind == POSE4:
            return tpos, features[:, 3][None].copy()
        rot = kin.quat_to_matrix(features[:, 3:])  # (N, 3, 3); columns -> (9, N)
        return tpos, np.ascontiguousarray(rot.transpose(2, 1, 0).reshape(9, -1))

    def _run(self, q: np.ndarray, features: np.ndarray, iters: int, restarts: int) -> np.ndarray:
        """Iterate (N, dof) starts; restart poses that miss after ``iters`` -> (N, dof).

        The batch holds *candidates* (a pose and one start). A pose whose candidates
        are all spent gets ``restart_seeds`` fresh ones (more when few poses are left,
        so the last hard poses do not cost a Python-level loop per restart), until it
        has used ``1 + restarts`` starts.
        """
        n = len(q)
        out = q.copy()
        tpos_all, tgt_all = self._targets(features)
        pose = np.arange(n)  # candidate -> pose
        tpos, tgt = tpos_all, tgt_all
        qt = np.ascontiguousarray(q.T)
        age = np.zeros(n, dtype=np.int64)  # iterations since this candidate's start
        limit = np.full(n, iters)  # iterations this candidate may take
        used = np.ones(n, dtype=np.int64)  # starts used per pose
        best = np.full(n, np.inf)
        done = np.zeros(n, dtype=bool)  # solved, or out of starts
        while len(pose):
            err, jac = self._error_jacobian(qt, tpos, tgt)
            conv = self._converged(err)
            spent = ~conv & (age >= limit)
            if np.any(spent):  # keep each pose's best unconverged attempt
                e2 = err[:, spent] ** 2
                score = e2[:3].sum(axis=0) / self._conv_pos**2 + e2[3:].sum(axis=0) / (
                    self._conv_rot**2
                )
                order = np.argsort(-score)  # worst first, so the best attempt is written last
                sp_pose, sp_q, score = pose[spent][order], qt[:, spent][:, order], score[order]
                better = score < best[sp_pose]
                out[sp_pose[better]] = sp_q[:, better].T
                np.minimum.at(best, sp_pose, score)
            if np.any(conv):
                out[pose[conv]] = qt[:, conv].T
                done[pose[conv]] = True
            need = np.zeros(0, dtype=np.int64)
            if np.any(conv | spent):
                spent_poses = np.unique(pose[spent])
                keep = ~done[pose] & ~spent
                pose, qt, err, jac = pose[keep], qt[:, keep], err[:, keep], jac[:, :, keep]
                tpos, tgt, age, limit = tpos[:, keep], tgt[:, keep], age[keep], limit[keep]
                if len(spent_poses):
                    active = np.zeros(n, dtype=bool)
                    active[pose] = True
                    cand = spent_poses[~done[spent_poses] & ~active[spent_poses]]
                    out_of_starts = used[cand] > restarts
                    done[cand[out_of_starts]] = True
                    need = cand[~out_of_starts]
            if len(pose):
                qt = self._step(qt, err, jac)
                age += 1
            if len(need):  # fresh starts for poses whose every candidate is spent
                k = self.restart_seeds
                if len(pose) + len(need) < self._min_batch:  # few left: more seeds per pose
                    k = int(min(16, max(k, -(-self._min_batch // len(need)))))
                count = np.minimum(k, restarts + 1 - used[need])
                # later starts get more iterations: what is left is mostly slow,
                # near-singular poses (or unreachable ones)
                longer = iters * np.minimum(4, 1 + used[need] // 4)
                used[need] += count
                new = np.repeat(need, count)
                limit = np.concatenate([limit, np.repeat(longer, count)])
                pose = np.concatenate([pose, new])
                qt = np.concatenate([qt, self._seeds(tpos_all[:, new], tgt_all[:, new])], axis=1)
                tpos = np.concatenate([tpos, tpos_all[:, new]], axis=1)
                tgt = np.concatenate([tgt, tgt_all[:, new]], axis=1)
                age = np.concatenate([age, np.zeros(len(new), dtype=np.int64)])
        return out

    def refine(self, q: np.ndarray, features: np.ndarray, iters: int) -> np.ndarray:
        """Run at most ``iters`` DLS iterations from (N, dof) ``q`` (no restarts, no call count).

        Returns the (N, dof) result of the last iteration (or of convergence).
        """
        if iters <= 0 or len(q) == 0:
            return np.array(q, dtype=np.float64, copy=True)
        q = self.arm.wrap_to_limits(q)
        rows = np.arange(len(q))
        tpos, tgt = self._targets(features)
        qt = np.ascontiguousarray(q.T)
        for _ in range(iters):
            err, jac = self._error_jacobian(qt, tpos[:, rows], tgt[:, rows])
            keep = ~self._converged(err)
            if not np.any(keep):
                break
            rows, qt, err, jac = rows[keep], qt[:, keep], err[:, keep], jac[:, :, keep]
            qt = self._step(qt, err, jac)
            q[rows] = qt.T
        return q

    def _solve(self, features: np.ndarray, q0: np.ndarray | None) -> IKResult:
        arm = self.arm
        q = np.empty((len(features), arm.dof))
        for lo in range(0, len(features), self.chunk):  # cache-sized batches
            f = features[lo : lo + self.chunk]
            if q0 is None:
                start = self._seeds(*self._targets(f)).T
            else:
                start = arm.wrap_to_limits(q0[lo : lo + self.chunk])
            q[lo : lo + len(f)] = self._polish(
                self._run(start, f, self.max_iters, self.restarts), f
            )
        return self.evaluate(q, features)


# -------------------------------------------------------------------------- PyBullet
class PyBulletIK(IKSolver):
    """PyBullet's ``calculateInverseKinematics``, one pose at a time: the baseline users know.

    The arm is loaded into a private PyBullet client (DIRECT). Each attempt resets
    the joints to the start configuration, calls PyBullet, wraps/clips the answer
    into the limits and checks it with FK; failures restart from a random
    configuration. Defaults are the tuned settings that solve nearly every
    reachable pose; ``PyBulletIK.pybullet_defaults(arm)`` gives PyBullet's own
    (damping 0.1, 20 iterations, no restarts), which rarely reach 1 mm / 1 degree.

    Only PyBullet's default DLS solver is used: ``IK_SDLS`` with an orientation
    target segfaults in pybullet 3.2.7.

    Args:
        arm: the arm.
        damping: joint damping passed to PyBullet, per joint.
        max_iters: ``maxNumIterations``.
        residual: ``residualThreshold`` (m).
        restarts: random restarts after the first attempt.
        seed: seed of the restart generator.
    """

    def __init__(
        self,
        arm: Arm,
        damping: float = 1e-3,
        max_iters: int = 200,
        residual: float = 1e-5,
        restarts: int = 5,
        seed: int | None = 0,
        **kwargs: float,
    ) -> None:
        super().__init__(arm, **kwargs)
        import pybullet

        self._p = pybullet
        self.damping = float(damping)
        self.max_iters = int(max_iters)
        self.residual = float(residual)
        self.restarts = int(restarts)
        self.rng = np.random.default_rng(seed)
        self._client = pybullet.connect(pybullet.DIRECT)
        loaded = load_in_bullet(pybullet, arm, self._client)
        self._body, self._joints, self._ee = loaded.body, loaded.joints, loaded.ee
        movable = loaded.movable
        # PyBullet's IK works over all movable joints; keep the others at zero.
        self._movable = movable
        self._col = [movable.index(j) for j in self._joints]

    @classmethod
    def pybullet_defaults(cls, arm: Arm, **kwargs: float) -> PyBulletIK:
        """PyBullet's out-of-the-box settings: damping 0.1, 20 iterations, no restarts."""
        return cls(arm, damping=0.1, max_iters=20, residual=1e-4, restarts=0, **kwargs)

    def close(self) -> None:
        """Disconnect the private PyBullet client (also done on garbage collection)."""
        if getattr(self, "_client", None) is not None:
            try:
                if self._p.isConnected(self._client):
                    self._p.disconnect(self._client)
            finally:
                self._client = None

    def __del__(self) -> None:
        # interpreter shutdown may have torn pybullet down already
        with contextlib.suppress(Exception):
            self.close()

    def _attempt(self, q_start: np.ndarray, pos: list, quat: list) -> np.ndarray:
        p, c = self._p, self._client
        for j, v in zip(self._joints, q_start):
            p.resetJointState(self._body, j, float(v), physicsClientId=c)
        # No lowerLimits/upperLimits: PyBullet's null-space mode they switch on solves
        # almost nothing here (measured: 1-2% vs 76-87% per attempt); the answer is
        # wrapped/clipped into the limits and FK-checked instead.
        sol = p.calculateInverseKinematics(
            self._body,
            self._ee,
            pos,
            quat,
            jointDamping=[self.damping] * len(self._movable),
            maxNumIterations=self.max_iters,
            residualThreshold=self.residual,
            physicsClientId=c,
        )
        return np.asarray(sol)[self._col]

    def _solve(self, features: np.ndarray, q0: np.ndarray | None) -> IKResult:
        if self._client is None:
            raise RuntimeError("this PyBulletIK was closed")
        arm = self.arm
        targets = arm.target_matrices(features)
        quats = kin.matrix_to_quat(targets[:, :3, :3])
        if arm.feature_kind == POSE4:  # the base-flipped heading is an equally valid target
            flip = kin.axis_rotations(np.array([0.0, 0.0, 1.0]), np.full(len(features), np.pi))
            quats_flip = kin.matrix_to_quat(flip @ targets[:, :3, :3])
        starts = arm.random_q(len(features), self.rng) if q0 is None else q0
        q_out = np.empty((len(features), arm.dof))
        for i in range(len(features)):
            pos = features[i, :3].tolist()
            best, best_err = None, np.inf
            for attempt in range(self.restarts + 1):
                q_start = starts[i] if attempt == 0 else arm.random_q(1, self.rng)[0]
                quat = quats[i]
                if arm.feature_kind == POSE4 and attempt % 2 == 1:
                    quat = quats_flip[i]
                q = arm.wrap_to_limits(self._attempt(q_start, pos, quat.tolist())[None])
                res = self.evaluate(q, features[i : i + 1])
                err = res.pos_err[0] / self.pos_tol + res.rot_err[0] / self.rot_tol
                if err < best_err:
                    best, best_err = q[0], err
                if res.success[0]:
                    break
            q_out[i] = best
        return self.evaluate(q_out, features)


# ---------------------------------------------------------------------------- hybrid
class HybridIK(IKSolver):
    """Learned guess, FK check, numerical fallback only where the check fails.

    ``learned`` is any non-numerical solver (``LearnedIK``, ``AnalyticIK``); its
    answers that meet ``tol`` (position m, orientation rad; default the fallback's
    tolerances) are kept. The others go to ``fallback`` (``PyBulletIK``, ``DLSIK``)
    seeded with the learned guess. ``calls`` is the numerical IK this solver
    spent: the fallback's calls plus the polish steps of the learned solver, if
    it polishes (``LearnedIK.polish_calls``).

    Args:
        learned: solver whose calls are free (``numerical = False``).
        fallback: numerical solver of the same arm.
        tol: ``(pos_tol, rot_tol)`` for accepting a learned guess.
    """

    numerical = False  # counts through the fallback, see ``calls``

    def __init__(
        self, learned: IKSolver, fallback: IKSolver, tol: tuple[float, float] | None = None
    ) -> None:
        if learned.arm.urdf_hash != fallback.arm.urdf_hash:
            raise ValueError("learned and fallback solvers are for different arms")
        pos_tol, rot_tol = tol if tol is not None else (fallback.pos_tol, fallback.rot_tol)
        super().__init__(fallback.arm, pos_tol=pos_tol, rot_tol=rot_tol)
        self.learned = learned
        self.fallback = fallback

    @property
    def calls(self) -> int:  # type: ignore[override]
        """Numerical calls: the fallback's, plus any polish steps the learned solver ran."""
        return self.fallback.calls + int(getattr(self.learned, "polish_calls", 0))

    @calls.setter
    def calls(self, value: int) -> None:  # reset_calls(): zero both counters
        if hasattr(self, "fallback"):
            self.fallback.calls = value
            if hasattr(self.learned, "polish_calls"):
                self.learned.polish_calls = 0

    def _solve(self, features: np.ndarray, q0: np.ndarray | None) -> IKResult:
        guess = self.learned.solve(features, q0)
        ok = (guess.pos_err < self.pos_tol) & (guess.rot_err < self.rot_tol)
        q = guess.q.copy()
        if not np.all(ok):
            bad = np.flatnonzero(~ok)
            # seed: the caller's joints where given (tracking: the next target is a small
            # step away on the arm's own branch), else the learned guess
            fixed = self.fallback.solve(features[bad], (guess.q if q0 is None else q0)[bad])
            better = (fixed.pos_err / self.pos_tol + fixed.rot_err / self.rot_tol) < (
                guess.pos_err[bad] / self.pos_tol + guess.rot_err[bad] / self.rot_tol
            )
            q[bad[better]] = fixed.q[better]
        return self.evaluate(q, features)


# --------------------------------------------------------------------------- screened
#: classifier probability of "unreachable" above which ScreenedIK refuses a target
SCREEN_CONFIDENCE = 0.999


class ScreenedIK(IKSolver):
    """Refuse commanded targets the classifier is sure are unreachable; solve the rest.

    A refused target still gets a best-effort answer from ``guess`` (a free solver,
    e.g. the learned IK) when one is given, else ``q0``: like a failed numerical
    answer, the env applies it only if it brings the arm closer without a joint jump.

    Args:
        solver: the IK solver for the targets that pass (its ``calls`` are this one's).
        classifier: a ``FeasibilityClassifier`` of the same arm (``predict_proba``).
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
