"""Multi-hypothesis learned IK (v2) for any serial-chain arm: the model and its numpy inference.

One network proposes ``K`` full joint vectors per target pose (its *heads*); forward
kinematics checks every proposal and the best is kept. It is trained end to end through
a differentiable FK (:mod:`ikml_gym.learned.train_mh_ik`), with no branch labels, so it
works for pose4 and pose7 arms, redundant ones included.

* **Inputs** (:func:`~ikml_gym.learned.mh_encoding.mh_inputs`): the target position relative to the arm's reach,
  ``(p - reach_center) / reach`` (unitless), then the orientation as continuous numbers:
  ``sin psi, cos psi`` for pose4 arms (5 inputs), the first two columns of the rotation
  matrix ``R[:, 0], R[:, 1]`` for pose7 arms (9 inputs; no quaternion sign seam).
* **Network**: one :class:`~ikml_gym.learned.mlp.StackedMLP` (a single trunk) whose last
  layer outputs ``K x dof x (cos q, sin q)``.
* **Answers** (:meth:`MultiHypothesisIK.propose`): each ``(cos, sin)`` pair becomes an
  angle by ``atan2``, then the joints are brought into the limits (full-turn joints
  wrapped, the others clipped); :func:`~ikml_gym.learned.hypotheses.best_hypotheses`
  keeps the best head by FK, or with ``q0`` the plausible head nearest to it.
* **One pose** (an env step's call): the same steps on (K, dof) arrays, without the batch's
  repeats and N-row masks (:func:`~ikml_gym.learned.mh_encoding.mh_inputs_one`,
  :func:`~ikml_gym.learned.hypotheses.one_pose_errors`,
  :func:`~ikml_gym.learned.hypotheses.best_of_one`), with the answers of the batch path
  on that one pose, bit for bit.

Counting (as in :mod:`ikml_gym.solvers`): network and FK check are free
(``numerical = False``). The model file is read and written by
:mod:`ikml_gym.learned.mh_ik_file`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .. import kinematics as kin
from ..arms import Arm
from ..solvers import DEFAULT_POS_TOL, DEFAULT_ROT_TOL, IKResult, IKSolver
from .hypotheses import best_hypotheses, best_of_one, one_pose_errors, solve_in_chunks
from .mh_encoding import (
    POSE4_INPUTS,
    POSE7_INPUTS,
    heads_from_outputs,
    input_spec,
    mh_inputs,
    mh_inputs_one,
)
from .mh_ik_file import read_mh_model, write_mh_model
from .mlp import StackedMLP

__all__ = [
    "CHUNK",
    "POSE4_INPUTS",
    "POSE7_INPUTS",
    "MultiHypothesisIK",
    "heads_from_outputs",
    "input_spec",
    "mh_inputs",
]

#: poses per chunk of a large batch
CHUNK = 4096


class MultiHypothesisIK(IKSolver):
    """Learned IK of any arm: ``K`` heads, FK check, best head kept (see the module docstring).

    Build one with :func:`~ikml_gym.learned.train_mh_ik.train_multi_hypothesis_ik` or load
    one with :meth:`load`.

    Args:
        arm: the arm (pose4 or pose7).
        weights: per layer (d_in, d_out) arrays; the first takes :func:`input_spec`
            inputs, the last gives ``n_heads * dof * 2`` outputs.
        biases: per layer (d_out,) arrays.
        n_heads: K, the hypotheses per pose.
        activation: the hidden activation, ``"silu"`` or ``"relu"``.
        info: training metadata (saved in the model file's header).
        pos_tol, rot_tol: success tolerances (metres, radians).

    Raises:
        ValueError: layer shapes that do not fit the arm and ``n_heads``.
    """

    numerical = False

    def __init__(
        self,
        arm: Arm,
        weights: Sequence[np.ndarray],
        biases: Sequence[np.ndarray],
        n_heads: int,
        activation: str = "silu",
        info: dict[str, Any] | None = None,
        pos_tol: float = DEFAULT_POS_TOL,
        rot_tol: float = DEFAULT_ROT_TOL,
    ) -> None:
        super().__init__(arm, pos_tol, rot_tol)
        self.n_heads = int(n_heads)
        self.weights = [np.asarray(w, dtype=np.float32) for w in weights]
        self.biases = [np.asarray(b, dtype=np.float32) for b in biases]
        n_in, n_out = len(input_spec(arm)), self.n_heads * arm.dof * 2
        if self.n_heads < 1 or self.weights[0].shape[0] != n_in:
            raise ValueError(f"the first layer must take {n_in} inputs and n_heads be >= 1")
        if self.weights[-1].shape[1] != n_out:
            raise ValueError(
                f"the last layer must give n_heads * dof * 2 = {n_out} outputs, "
                f"got {self.weights[-1].shape[1]}"
            )
        self.activation = activation
        self.info = dict(info or {})
        self._mlp = StackedMLP(self.weights, self.biases, activation=activation)

    @property
    def hidden(self) -> tuple[int, ...]:
        """Hidden layer widths as trained."""
        return tuple(int(w.shape[1]) for w in self.weights[:-1])

    # ------------------------------------------------------------------ inference
    def propose(self, features: object) -> np.ndarray:
        """Every head's proposal: (N, K, dof) radians within the joint limits.

        Raises:
            InvalidInputError: features of the wrong shape, or not finite.
        """
        f, _ = self.arm.check_features(features)
        return np.concatenate(
            [self._propose(f[s : s + CHUNK]) for s in range(0, max(len(f), 1), CHUNK)]
        )

    def _propose(self, f: np.ndarray) -> np.ndarray:
        y = self._mlp.forward(mh_inputs(self.arm, f))[0]
        return self.arm.wrap_to_limits(heads_from_outputs(y, self.n_heads, self.arm.dof))

    def _best(self, features: np.ndarray, q0: np.ndarray | None) -> IKResult:
        proposals = self._propose(features)
        return best_hypotheses(self.arm, proposals, features, self.pos_tol, self.rot_tol, q0)

    def _solve(self, features: np.ndarray, q0: np.ndarray | None) -> IKResult:
        if len(features) == 1 and self.n_heads <= kin.SMALL_FK_ROWS:
            return self._solve_one(features, q0)
        return solve_in_chunks(self._best, features, q0, CHUNK)

    def _solve_one(self, features: np.ndarray, q0: np.ndarray | None) -> IKResult:
        """:meth:`_best` of one (1, feature_dim) pose, with the same answers: the
        batch path's steps without its N-row bookkeeping (an env step's call)."""
        arm = self.arm
        y = self._mlp.forward(mh_inputs_one(arm, features))[0]
        proposals = arm.wrap_to_limits(heads_from_outputs(y, self.n_heads, arm.dof)[0])
        pos_err, rot_err = one_pose_errors(arm, proposals, features)
        return best_of_one(proposals, pos_err, rot_err, self.pos_tol, self.rot_tol, q0)

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> tuple[Path, Path]:
        """Write ``<path>.safetensors`` + ``<path>.json`` -> (weights, header) paths."""
        return write_mh_model(
            path, self.arm, self.weights, self.biases, self.n_heads, self.activation,
            input_spec(self.arm), self.info,
        )  # fmt: skip

    @classmethod
    def load(cls, path: str | Path, arm: Arm | None = None, **kwargs: Any) -> MultiHypothesisIK:
        """Load a model written by :meth:`save`.

        Args:
            path: file stem or either file.
            arm: the arm to check the model against; by default the shipped arm named in
                the header.
            kwargs: ``pos_tol``, ``rot_tol``.

        Raises:
            ModelFileError: missing, truncated or damaged files, or an unexpected layout.
            ArmMismatchError: the model is for another arm or another URDF.
        """
        parts = read_mh_model(path, arm)
        return cls(
            parts.arm, parts.weights, parts.biases, parts.n_heads, parts.activation,
            info=parts.info, **kwargs,
        )  # fmt: skip

    def __repr__(self) -> str:
        return (
            f"MultiHypothesisIK(arm={self.arm.name!r}, heads={self.n_heads}, "
            f"hidden={self.hidden}, activation={self.activation!r})"
        )
