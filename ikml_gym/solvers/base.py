"""The solver interface: IKResult, the IKSolver base class, default tolerances, call accounting."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from .._validation import as_batch
from ..arms import Arm
from ..errors import InvalidInputError

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
