"""PyBullet's own IK (``calculateInverseKinematics``) behind the solver interface."""

from __future__ import annotations

import numpy as np

from .. import kinematics as kin
from ..arms import POSE4, Arm
from ..bullet import connect, load_in_bullet
from .base import IKResult, IKSolver


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
        self._client, self._finalizer = connect(self)
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
        self._finalizer()
        self._client = None

    def _attempt(self, q_start: np.ndarray, pos: list, quat: list) -> np.ndarray:
        p, c = self._p, self._client
        for j, v in zip(self._joints, q_start):
            p.resetJointState(self._body, j, float(v), physicsClientId=c)
        # No lowerLimits/upperLimits: PyBullet's null-space mode they switch on solves
        # almost nothing here (see benchmarks/results/design_choices.md); the answer is
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
