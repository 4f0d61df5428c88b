"""The env plug-ins as wrappers, for users who compose their own stacks.

Each wrapper installs the same part the keyword arguments of
:class:`~ikml_gym.envs.reach.ArmReachEnv` install (one implementation, two ways
in), on the :class:`~ikml_gym.envs.core.ArmTaskEnv` under it::

    env = gymnasium.make("ikml_gym/Reach6DOF-v0")
    env = ClassifierGoalWrapper(env, classifier="pretrained", exclude_near_singular=True)
    env = FeasibilityPenaltyWrapper(env, weight=0.2)

is the same env as ``gymnasium.make("ikml_gym/Reach6DOF-v0", goal_filter="classifier",
exclude_near_singular=True, singularity_penalty=0.2)``. Because the parts live in
the base env, wrapping modifies it (wrap a fresh env; do not share it), and the
new part takes effect at the next ``reset``.

Gymnasium 1.x wrappers do not forward ``compute_reward``; these do, and
``env.unwrapped.compute_reward`` always works (what stable-baselines3's HER uses).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from ..pretrained import has_shipped_model
from .core import ArmTaskEnv
from .factories import goal_check_of, make_classifier, make_solver
from .orientation import OrientationChooser
from .robot import RESIDUAL_SCALE, IKPriorControl
from .task import FeasibilityPenaltyTerm, GoalCheck


def _base(env: gym.Env) -> ArmTaskEnv:
    base = env.unwrapped
    if not isinstance(base, ArmTaskEnv):
        raise TypeError(f"ikml_gym wrappers need an ikml_gym ArmTaskEnv, got {type(base).__name__}")
    return base


class _PartWrapper(gym.Wrapper):
    def compute_reward(
        self, achieved_goal: np.ndarray, desired_goal: np.ndarray, info: Any
    ) -> np.ndarray:
        """See :meth:`ArmTaskEnv.compute_reward`."""
        return self.env.unwrapped.compute_reward(achieved_goal, desired_goal, info)


class IKPriorWrapper(_PartWrapper):
    """Action prior: joint target = ``prior`` IK solution of the goal + ``residual_scale`` x action.

    Same as ``control_type="ik_prior"``. The action space becomes (dof,) and the
    observation gains ``q_prior`` (dof,). For position goals the orientation is
    chosen with the env's classifier, else the arm's shipped one (see
    :mod:`~ikml_gym.envs.orientation`).

    Args:
        env: an ikml_gym env.
        prior: ``"learned"`` (``ikml_gym.load_ik``), ``"analytic"`` or a solver instance.
        residual_scale: radians per unit action.
    """

    def __init__(
        self, env: gym.Env, prior: Any = "learned", residual_scale: float = RESIDUAL_SCALE
    ) -> None:
        super().__init__(env)
        base = _base(env)
        owned: list[Any] = []
        solver = make_solver(prior, base.arm, owned, "prior")
        for part in owned:
            base.adopt(part)
        chooser = OrientationChooser(base.arm, _chooser_classifier(base))
        base.set_controller(IKPriorControl(solver, residual_scale, chooser))
        self.prior = solver


def _chooser_classifier(base: ArmTaskEnv) -> Any:
    """The classifier that rates the prior's orientation candidates: the env's, else the
    arm's shipped one (position goals only), else None."""
    if base.classifier is not None or base.task.goal_type != "position":
        return base.classifier
    if has_shipped_model(base.arm.name, "classifier"):
        return make_classifier("pretrained", base.arm)
    return None


class GoalFilterWrapper(_PartWrapper):
    """Goal feasibility filter: ``"classifier"``, ``"ik"`` (numerical baseline), ``"none"`` or a
    :class:`~ikml_gym.envs.task.GoalCheck`; same as the ``goal_filter`` keyword.

    Args:
        env: an ikml_gym env.
        goal_filter: which filter.
        classifier: for ``"classifier"``: ``"pretrained"`` or an object with ``predict``.
        solver: for ``"ik"``: ``"pybullet"`` (default) or a solver instance.
        exclude_near_singular: the classifier filter also rejects near-singular goals.
    """

    def __init__(
        self,
        env: gym.Env,
        goal_filter: str | GoalCheck = "classifier",
        classifier: Any = "pretrained",
        solver: Any = "pybullet",
        exclude_near_singular: bool = False,
    ) -> None:
        super().__init__(env)
        base = _base(env)
        clf = None
        if not isinstance(goal_filter, GoalCheck) and goal_filter == "classifier":
            clf = make_classifier(classifier, base.arm)
            base.classifier = clf
        owned: list[Any] = []
        part = goal_check_of(
            goal_filter,
            base.arm,
            owned,
            classifier=clf,
            solver=solver,
            solver_name="solver",
            exclude_near_singular=exclude_near_singular,
        )
        for p in owned:
            base.adopt(p)
        base.set_goal_filter(part)


class ClassifierGoalWrapper(GoalFilterWrapper):
    """Keep only goals the classifier calls reachable (optionally: not near-singular)."""

    def __init__(
        self, env: gym.Env, classifier: Any = "pretrained", exclude_near_singular: bool = False
    ) -> None:
        super().__init__(
            env, "classifier", classifier=classifier, exclude_near_singular=exclude_near_singular
        )


class FeasibilityPenaltyWrapper(_PartWrapper):
    """Reward term: ``-weight`` on steps whose commanded target the classifier calls
    unreachable or near-singular; same as the ``singularity_penalty`` keyword.

    The flag goes into ``info["feasibility_penalty"]`` and the base env's
    ``compute_reward`` reads it, so HER relabelling stays exact.
    """

    def __init__(self, env: gym.Env, weight: float = 0.1, classifier: Any = "pretrained") -> None:
        super().__init__(env)
        base = _base(env)
        clf = make_classifier(classifier, base.arm)
        if base.classifier is None:
            base.classifier = clf
        base.set_penalty(FeasibilityPenaltyTerm(clf, weight))
