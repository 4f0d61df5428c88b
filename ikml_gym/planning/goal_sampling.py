"""Joint-space goal samples for an end-effector pose goal (no planner needed).

A joint-space planner aiming at a pose needs joint configurations that reach it, the
*goal samples*. Two samplers make them, both counted through the solvers' ``calls``
(:func:`ikml_gym.solvers.total_calls` of the sampler):

* :class:`NumericalGoalSampler` -- the usual way (MoveIt's pose goals): one numerical IK
  call from a random start per goal sample, until ``samples`` valid ones are found or
  ``attempts`` calls are spent (an unreachable pose spends them all).
* :class:`LearnedGoalSampler` -- the plug-in: (a) the classifier screens the pose and a
  sure-unreachable one is refused at once, with no IK call; (b) every head of a
  multi-hypothesis learned IK is FK-checked and those within the goal tolerance are the
  samples; (c) only where no head passes (or none is valid) does numerical IK run,
  seeded with the best heads.

``is_valid`` maps joints (M, dof) radians to (M,) bool (e.g. :meth:`Scene.is_valid`);
invalid samples are dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .._validation import real_number, whole_number
from ..learned.classifier import FeasibilityClassifier
from ..learned.feasibility import DEFAULT_CONFIDENCE
from ..learned.mh_ik import MultiHypothesisIK
from ..solvers import IKSolver, total_calls

#: default goal tolerance of the learned heads' FK check: metres, radians
DEFAULT_GOAL_TOL = (0.01, float(np.deg2rad(3.0)))

Validity = Callable[[np.ndarray], np.ndarray]


@dataclass
class GoalSamples:
    """Goal samples of one pose.

    Attributes:
        q: (M, dof) radians, valid joint configurations within the goal tolerance.
        refused: True when the classifier screen refused the pose (then M = 0).
        from_learned: how many of the samples are learned heads (no numerical call).
    """

    q: np.ndarray
    refused: bool = False
    from_learned: int = 0

    def __len__(self) -> int:
        return len(self.q)


def _all_valid(q: np.ndarray) -> np.ndarray:
    return np.ones(len(q), dtype=bool)


def _check_same_arm(name: str, solver: IKSolver, arm_name: str, urdf_hash: str) -> None:
    if solver.arm.name != arm_name or solver.arm.urdf_hash != urdf_hash:
        raise ValueError(f"{name} is for arm {solver.arm.name!r}, the sampler for {arm_name!r}")


class NumericalGoalSampler:
    """The baseline: one numerical IK call from a random start per goal sample.

    Args:
        solver: a numerical solver (``PyBulletIK``); its tolerances are the goal's.
        samples: stop once this many valid samples are found.
        attempts: at most this many IK calls per pose.
    """

    def __init__(self, solver: IKSolver, samples: int = 1, attempts: int = 10) -> None:
        if not isinstance(solver, IKSolver):
            raise TypeError(f"solver must be an ikml_gym IKSolver, got {type(solver)}")
        self.solver = solver
        self.arm = solver.arm
        self.samples = whole_number(samples, "samples")
        self.attempts = whole_number(attempts, "attempts")
        self.tol = (solver.pos_tol, solver.rot_tol)

    def solvers(self) -> tuple[IKSolver, ...]:
        """The solver this sampler calls (for call accounting and reseeding)."""
        return (self.solver,)

    @property
    def calls(self) -> int:
        """Numerical IK calls made so far."""
        return total_calls(self.solvers())

    def __call__(self, pose: object, is_valid: Validity = _all_valid) -> GoalSamples:
        """Goal samples of one pose (feature_dim,)."""
        f, _ = self.arm.check_features(pose, "pose")
        rng = self.solver.rng if self.solver.rng is not None else np.random.default_rng()
        found: list[np.ndarray] = []
        for _ in range(self.attempts):  # one call per sample: each start is a new draw
            res = self.solver.solve_checked(f, self.arm.random_q(1, rng))
            if res.success[0] and is_valid(res.q)[0]:
                found.append(res.q[0])
                if len(found) >= self.samples:
                    break
        q = np.array(found) if found else np.zeros((0, self.arm.dof))
        return GoalSamples(q)


class LearnedGoalSampler:
    """The plug-in: classifier screen, learned heads FK-checked, numerical IK only where
    none passes (see the module docstring).

    Args:
        ik: the arm's :class:`~ikml_gym.learned.mh_ik.MultiHypothesisIK` (free calls).
        fallback: numerical solver of the same arm (``PyBulletIK``), seeded with the best
            heads; each seed is one counted call, its answer kept within ``tol``.
        classifier: the arm's classifier, or None for no screen.
        confidence: the screen refuses a pose when ``P(unreachable)`` is strictly above it.
        tol: ``(metres, radians)`` goal tolerance of the heads' FK check.
        fallback_seeds: at most this many fallback calls per pose (best heads first).

    Raises:
        TypeError: parts of the wrong type.
        ValueError: parts for different arms.
        InvalidInputError: ``confidence`` not in [0, 1], a non-positive tolerance.
    """

    def __init__(
        self,
        ik: MultiHypothesisIK,
        fallback: IKSolver,
        classifier: FeasibilityClassifier | None = None,
        confidence: float = DEFAULT_CONFIDENCE,
        tol: tuple[float, float] = DEFAULT_GOAL_TOL,
        fallback_seeds: int = 3,
    ) -> None:
        if not isinstance(ik, MultiHypothesisIK):
            raise TypeError(f"ik must be a MultiHypothesisIK, got {type(ik)}")
        if not isinstance(fallback, IKSolver):
            raise TypeError(f"fallback must be an ikml_gym IKSolver, got {type(fallback)}")
        self.arm = ik.arm
        _check_same_arm("fallback", fallback, self.arm.name, self.arm.urdf_hash)
        if classifier is not None:
            if not isinstance(classifier, FeasibilityClassifier):
                raise TypeError(
                    f"classifier must be a FeasibilityClassifier, got {type(classifier)}"
                )
            if classifier.arm.urdf_hash != self.arm.urdf_hash:
                raise ValueError(
                    f"classifier is for arm {classifier.arm.name!r}, the IK for {self.arm.name!r}"
                )
        self.ik = ik
        self.fallback = fallback
        self.classifier = classifier
        self.confidence = real_number(confidence, "confidence", low=0.0, high=1.0)
        self.tol = (
            real_number(tol[0], "tol[0] (metres)", low=0.0, low_open=True),
            real_number(tol[1], "tol[1] (radians)", low=0.0, low_open=True),
        )
        self.fallback_seeds = whole_number(fallback_seeds, "fallback_seeds")

    def solvers(self) -> tuple[IKSolver, ...]:
        """The solvers this sampler calls (for call accounting and reseeding)."""
        return (self.ik, self.fallback)

    @property
    def calls(self) -> int:
        """Numerical IK calls made so far (the fallback's)."""
        return total_calls(self.solvers())

    def refuses(self, f: np.ndarray) -> bool:
        """Whether the screen refuses validated features (1, feature_dim): sure-unreachable."""
        if self.classifier is None:
            return False
        p_reachable = float(self.classifier.evaluate(f).p_reachable[0])
        return 1.0 - p_reachable > self.confidence

    def __call__(self, pose: object, is_valid: Validity = _all_valid) -> GoalSamples:
        """Goal samples of one pose (feature_dim,)."""
        f, _ = self.arm.check_features(pose, "pose")
        if self.refuses(f):
            return GoalSamples(np.zeros((0, self.arm.dof)), refused=True)
        heads = self.ik.propose(f)[0]  # (K, dof)
        pos_err, rot_err = self.arm.pose_error(heads, np.repeat(f, len(heads), axis=0))
        score = pos_err / self.tol[0] + rot_err / self.tol[1]
        passing = heads[(pos_err < self.tol[0]) & (rot_err < self.tol[1])]
        passing = passing[is_valid(passing)] if len(passing) else passing
        if len(passing):
            return GoalSamples(passing, from_learned=len(passing))
        return GoalSamples(self._numerical(f, heads[np.argsort(score)], is_valid))

    def _numerical(self, f: np.ndarray, seeds: np.ndarray, is_valid: Validity) -> np.ndarray:
        """The fallback from the best heads, one call per seed, until a valid sample."""
        for seed in seeds[: self.fallback_seeds]:
            res = self.fallback.solve_checked(f, seed[None])
            within = res.pos_err[0] < self.tol[0] and res.rot_err[0] < self.tol[1]
            if within and is_valid(res.q)[0]:
                return res.q
        return np.zeros((0, self.arm.dof))
