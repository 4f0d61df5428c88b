"""IK solvers behind one interface, each counting its numerical calls.

Every solver maps task features (DESIGN section 3) to joint angles::

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

import numpy as np

from . import kinematics as kin
from ._validation import as_batch
from .arms import POSE4, Arm
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
        """
        f, single = self.arm.check_features(features)
        q_init = None
        if q0 is not None:
            q_init, _ = as_batch(q0, self.arm.dof, "q0")
            if len(q_init) == 1 and len(f) > 1:
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

    def _branches(self, f: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(q (N, B, dof), valid (N, B), pos_err (N, B) m, rot_err (N, B) rad) of features."""
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
        full = (arm.chain.types == kin.REVOLUTE) & (hi - lo >= 2 * np.pi - 1e-9)
        valid = exists
        if np.all(full):
            q_all = lo + np.mod(q_all - lo, 2 * np.pi)
        else:
            q_all[:, full] = lo[full] + np.mod(q_all[:, full] - lo[full], 2 * np.pi)
            part = kin.wrap_angle(q_all[:, ~full])
            valid = valid & np.all((part >= lo[~full] - 1e-9) & (part <= hi[~full] + 1e-9), axis=1)
            q_all[:, ~full] = np.clip(part, lo[~full], hi[~full])
        # FK check of every branch, the rotation compared as matrices (no quaternions):
        # |R - R_t|_F = 2 sqrt(2) sin(angle / 2) exactly.
        t = kin.chain_fk(arm.chain, q_all)[0].reshape(n, b, 4, 4)
        dp = t[:, :, :3, 3] - f[:, None, :3]
        pos_err = np.sqrt(np.einsum("nbi,nbi->nb", dp, dp))
        if arm.feature_kind == POSE4:
            rot_err = np.abs(
                kin.wrap_angle(kin.tool_pitch(t.reshape(n * b, 4, 4)).reshape(n, b) - f[:, None, 3])
            )
        else:
            d = (t[:, :, :3, :3] - target[:, None, :3, :3]).reshape(n, b, 9)
            frob = np.sqrt(np.einsum("nbi,nbi->nb", d, d))
            rot_err = 2.0 * np.arcsin(np.minimum(frob / (2.0 * np.sqrt(2.0)), 1.0))
        valid = valid.reshape(n, b) & (pos_err < self.exact_tol) & (rot_err < self.exact_tol)
        return q_all.reshape(n, b, dof), valid, pos_err, rot_err

    def _solve(self, features: np.ndarray, q0: np.ndarray | None) -> IKResult:
        q_all, valid, pos_err, rot_err = self._branches(features)
        rows = np.arange(len(features))
        if q0 is None:
            score = np.where(valid, np.arange(self.n_branches), np.inf)  # lowest valid branch
        else:
            score = np.where(
                valid, np.linalg.norm(kin.wrap_angle(q_all - q0[:, None, :]), axis=2), np.inf
            )
        # rows without a valid branch: the branch with the smallest error (best attempt)
        fallback = np.argmin(pos_err / self.pos_tol + rot_err / self.rot_tol, axis=1)
        choice = np.where(valid.any(axis=1), np.argmin(score, axis=1), fallback)
        pe, re = pos_err[rows, choice], rot_err[rows, choice]
        success = (pe < self.pos_tol) & (re < self.rot_tol)
        return IKResult(q_all[rows, choice], success, pe, re)


# ------------------------------------------------------------------------------ DLS
def _task_error(arm: Arm, t: np.ndarray, target: np.ndarray, target_rot: np.ndarray | None):
    """Unitless task error (N, m): position / reach, then rotation (rad) or psi (rad)."""
    pos_e = (target[:, :3] - t[:, :3, 3]) / arm.reach
    if arm.feature_kind == POSE4:
        psi_e = kin.wrap_angle(target[:, 3] - kin.tool_pitch(t[:, :3, :3]))
        return np.column_stack([pos_e, psi_e])
    # 0.5 * sum_i r_i x r_target_i: the rotation-error vector, exact in direction, |.| = sin(angle)
    rot = t[:, :3, :3]
    rot_e = 0.5 * np.cross(rot, target_rot, axisa=1, axisb=1, axisc=1).sum(axis=2)
    return np.column_stack([pos_e, rot_e])


class DLSIK(IKSolver):
    """Batched damped-least-squares (Levenberg-Marquardt) IK in numpy, multi-start.

    Each iteration takes ``dq = J^T (J J^T + lam^2 I)^-1 e`` on the unitless task
    error, accepts it only if the error drops (then lam shrinks, else it grows),
    and wraps/clips into the joint limits. Poses that have not converged after
    ``max_iters`` restart from a random configuration, up to ``restarts`` times;
    only the unconverged poses are carried from one iteration to the next.

    Args:
        arm: the arm.
        max_iters: iterations per start.
        restarts: random restarts after the first start.
        damping: initial lam.
        seed: seed of the restart generator.
    """

    def __init__(
        self,
        arm: Arm,
        max_iters: int = 30,
        restarts: int = 8,
        damping: float = 1e-2,
        seed: int | None = 0,
        **kwargs: float,
    ) -> None:
        super().__init__(arm, **kwargs)
        self.max_iters = int(max_iters)
        self.restarts = int(restarts)
        self.damping = float(damping)
        self.rng = np.random.default_rng(seed)
        # converge well inside the success tolerances so the reported errors are tiny
        self._conv_pos = 0.01 * self.pos_tol / arm.reach
        self._conv_rot = 0.01 * self.rot_tol

    def _converged(self, e: np.ndarray) -> np.ndarray:
        return (np.linalg.norm(e[:, :3], axis=1) < self._conv_pos) & (
            np.linalg.norm(e[:, 3:], axis=1) < self._conv_rot
        )

    def refine(self, q: np.ndarray, features: np.ndarray, iters: int) -> np.ndarray:
        """Run at most ``iters`` DLS iterations from (N, dof) ``q`` (no restarts, no call count)."""
        target_rot = None
        if self.arm.feature_kind != POSE4:
            target_rot = kin.quat_to_matrix(features[:, 3:])
        return self._iterate(q.copy(), features, target_rot, iters)

    def _iterate(
        self, q: np.ndarray, target: np.ndarray, target_rot: np.ndarray | None, iters: int
    ) -> np.ndarray:
        arm = self.arm
        n = len(q)
        lam = np.full(n, self.damping)
        active = np.arange(n)
        t, jac = kin.chain_fk(arm.chain, q, jacobian=True)
        e = _task_error(arm, t, target, target_rot)
        for _ in range(iters):
            done = self._converged(e)
            if np.all(done):
                break
            keep = ~done
            active, e, lam, t, jac = active[keep], e[keep], lam[keep], t[keep], jac[keep]
            tgt = target[active]
            trot = None if target_rot is None else target_rot[active]
            jt = self._task_jac(t, jac)
            m = jt.shape[1]
            a = jt @ np.swapaxes(jt, 1, 2) + (lam**2)[:, None, None] * np.eye(m)
            dq = np.einsum("nmd,nm->nd", jt, np.linalg.solve(a, e[..., None])[..., 0])
            step = np.linalg.norm(dq, axis=1, keepdims=True)
            dq *= np.minimum(1.0, 0.5 / np.maximum(step, 1e-300))  # at most 0.5 rad per step
            q_new = arm.wrap_to_limits(q[active] + dq)
            t_new, jac_new = kin.chain_fk(arm.chain, q_new, jacobian=True)
            e_new = _task_error(arm, t_new, tgt, trot)
            better = np.sum(e_new**2, axis=1) < np.sum(e**2, axis=1)
            q[active[better]] = q_new[better]
            t[better], jac[better], e[better] = t_new[better], jac_new[better], e_new[better]
            lam = np.where(better, np.maximum(lam * 0.3, 1e-6), np.minimum(lam * 5.0, 1e3))
        return q

    def _task_jac(self, t: np.ndarray, jac: np.ndarray) -> np.ndarray:
        lin = jac[:, :3] / self.arm.reach
        if self.arm.feature_kind == POSE4:
            return np.concatenate(
                [lin, kin.tool_pitch_rate(t[:, :3, :3], jac[:, 3:])[:, None, :]], axis=1
            )
        return np.concatenate([lin, jac[:, 3:]], axis=1)

    def _solve(self, features: np.ndarray, q0: np.ndarray | None) -> IKResult:
        arm = self.arm
        n = len(features)
        target_rot = None if arm.feature_kind == POSE4 else kin.quat_to_matrix(features[:, 3:])
        q = arm.random_q(n, self.rng) if q0 is None else arm.wrap_to_limits(q0)
        todo = np.arange(n)
        for attempt in range(self.restarts + 1):
            if attempt > 0:
                q[todo] = arm.random_q(len(todo), self.rng)
            trot = None if target_rot is None else target_rot[todo]
            q[todo] = self._iterate(q[todo], features[todo], trot, self.max_iters)
            res = self.evaluate(q[todo], features[todo])
            todo = todo[~res.success]
            if len(todo) == 0:
                break
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
        self._body = pybullet.loadURDF(
            str(arm.urdf_path), useFixedBase=True, physicsClientId=self._client
        )
        info = [
            pybullet.getJointInfo(self._body, i, physicsClientId=self._client)
            for i in range(pybullet.getNumJoints(self._body, physicsClientId=self._client))
        ]
        by_name = {j[1].decode(): j[0] for j in info}
        self._joints = [by_name[name] for name in arm.joint_names]
        self._ee = next(j[0] for j in info if j[12].decode() == arm.ee_link)
        movable = [j[0] for j in info if j[2] != pybullet.JOINT_FIXED]
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
    seeded with the learned guess, so ``fallback.calls`` is exactly the numerical
    IK this solver spent; ``calls`` mirrors it.

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
        return self.fallback.calls

    @calls.setter
    def calls(self, value: int) -> None:
        if hasattr(self, "fallback"):
            self.fallback.calls = value

    def _solve(self, features: np.ndarray, q0: np.ndarray | None) -> IKResult:
        guess = self.learned.solve(features, q0)
        ok = (guess.pos_err < self.pos_tol) & (guess.rot_err < self.rot_tol)
        q = guess.q.copy()
        if not np.all(ok):
            bad = np.flatnonzero(~ok)
            fixed = self.fallback.solve(features[bad], guess.q[bad])
            better = (fixed.pos_err / self.pos_tol + fixed.rot_err / self.rot_tol) < (
                guess.pos_err[bad] / self.pos_tol + guess.rot_err[bad] / self.rot_tol
            )
            q[bad[better]] = fixed.q[better]
        return self.evaluate(q, features)
