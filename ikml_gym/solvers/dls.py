"""Batched damped-least-squares IK in numpy (multi-start, vectorised across poses)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import kinematics as kin
from ..arms import POSE4, Arm
from .base import IKResult, IKSolver


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


@dataclass
class _Candidates:
    """The batch of a DLS run, component-major: candidate c is pose ``pose[c]`` from one start.

    Attributes:
        pose: (C,) candidate -> pose index.
        qt: (dof, C) joint values.
        tpos: (3, C) target positions; ``tgt``: (1, C) psi or (9, C) rotation columns.
        age: (C,) iterations since the candidate's start.
        limit: (C,) iterations the candidate may take.
    """

    pose: np.ndarray
    qt: np.ndarray
    tpos: np.ndarray
    tgt: np.ndarray
    age: np.ndarray
    limit: np.ndarray

    def select(self, keep: np.ndarray) -> _Candidates:
        """The candidates where (C,) bool ``keep`` is set."""
        return _Candidates(
            self.pose[keep],
            self.qt[:, keep],
            self.tpos[:, keep],
            self.tgt[:, keep],
            self.age[keep],
            self.limit[keep],
        )

    def extend(
        self,
        pose: np.ndarray,
        qt: np.ndarray,
        tpos: np.ndarray,
        tgt: np.ndarray,
        limit: np.ndarray,
    ) -> _Candidates:
        """These candidates followed by new ones (age 0)."""
        return _Candidates(
            np.concatenate([self.pose, pose]),
            np.concatenate([self.qt, qt], axis=1),
            np.concatenate([self.tpos, tpos], axis=1),
            np.concatenate([self.tgt, tgt], axis=1),
            np.concatenate([self.age, np.zeros(len(pose), dtype=np.int64)]),
            np.concatenate([self.limit, limit]),
        )


@dataclass
class _PoseRecord:
    """Per pose of a DLS run: ``out`` (N, dof) answer so far, ``best`` (N,) score of the best
    spent attempt, ``used`` (N,) starts used, ``done`` (N,) solved or out of starts."""

    out: np.ndarray
    best: np.ndarray
    used: np.ndarray
    done: np.ndarray


def _poses_to_restart(
    poses: _PoseRecord, spent_poses: np.ndarray, active_poses: np.ndarray, restarts: int
) -> np.ndarray:
    """Poses among ``spent_poses`` left without a candidate that still have starts; those
    out of starts are marked done."""
    if not len(spent_poses):
        return np.zeros(0, dtype=np.int64)
    active = np.zeros(len(poses.done), dtype=bool)
    active[active_poses] = True
    cand = spent_poses[~poses.done[spent_poses] & ~active[spent_poses]]
    out_of_starts = poses.used[cand] > restarts
    poses.done[cand[out_of_starts]] = True
    return cand[~out_of_starts]


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
        targets = self._targets(features)
        batch = _Candidates(
            pose=np.arange(n),
            qt=np.ascontiguousarray(q.T),
            tpos=targets[0],
            tgt=targets[1],
            age=np.zeros(n, dtype=np.int64),
            limit=np.full(n, iters),
        )
        poses = _PoseRecord(
            out=q.copy(),
            best=np.full(n, np.inf),
            used=np.ones(n, dtype=np.int64),
            done=np.zeros(n, dtype=bool),
        )
        while len(batch.pose):
            err, jac = self._error_jacobian(batch.qt, batch.tpos, batch.tgt)
            conv = self._converged(err)
            spent = ~conv & (batch.age >= batch.limit)
            self._record(poses, batch, err, conv, spent)
            need = np.zeros(0, dtype=np.int64)
            if np.any(conv | spent):
                spent_poses = np.unique(batch.pose[spent])
                keep = ~poses.done[batch.pose] & ~spent
                batch, err, jac = batch.select(keep), err[:, keep], jac[:, :, keep]
                need = _poses_to_restart(poses, spent_poses, batch.pose, restarts)
            if len(batch.pose):
                batch.qt = self._step(batch.qt, err, jac)
                batch.age += 1
            if len(need):
                batch = self._restart(batch, poses, need, targets, iters, restarts)
        return poses.out

    def _record(
        self,
        poses: _PoseRecord,
        batch: _Candidates,
        err: np.ndarray,
        conv: np.ndarray,
        spent: np.ndarray,
    ) -> None:
        """Write converged candidates, and each pose's best spent (unconverged) attempt, to
        ``poses.out``; converged poses are done."""
        if np.any(spent):
            e2 = err[:, spent] ** 2
            score = e2[:3].sum(axis=0) / self._conv_pos**2 + e2[3:].sum(axis=0) / (
                self._conv_rot**2
            )
            order = np.argsort(-score)  # worst first, so the best attempt is written last
            sp_pose, sp_q = batch.pose[spent][order], batch.qt[:, spent][:, order]
            score = score[order]
            better = score < poses.best[sp_pose]
            poses.out[sp_pose[better]] = sp_q[:, better].T
            np.minimum.at(poses.best, sp_pose, score)
        if np.any(conv):
            poses.out[batch.pose[conv]] = batch.qt[:, conv].T
            poses.done[batch.pose[conv]] = True

    def _restart(
        self,
        batch: _Candidates,
        poses: _PoseRecord,
        need: np.ndarray,
        targets: tuple[np.ndarray, np.ndarray],
        iters: int,
        restarts: int,
    ) -> _Candidates:
        """``batch`` plus fresh random starts for the poses ``need`` (every candidate spent)."""
        k = self.restart_seeds
        if len(batch.pose) + len(need) < self._min_batch:  # few left: more seeds per pose
            k = int(min(16, max(k, -(-self._min_batch // len(need)))))
        count = np.minimum(k, restarts + 1 - poses.used[need])
        # later starts get more iterations: what is left is mostly slow,
        # near-singular poses (or unreachable ones)
        longer = iters * np.minimum(4, 1 + poses.used[need] // 4)
        poses.used[need] += count
        new = np.repeat(need, count)
        tpos_all, tgt_all = targets
        return batch.extend(
            pose=new,
            qt=self._seeds(tpos_all[:, new], tgt_all[:, new]),
            tpos=tpos_all[:, new],
            tgt=tgt_all[:, new],
            limit=np.repeat(longer, count),
        )

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
