"""Gymnasium environments (panda-gym style: a sim, a robot, a task).

``import ikml_gym`` registers the ids (:data:`ENV_IDS`); the env classes load on
first use, so importing the package stays light::

    import gymnasium, ikml_gym
    env = gymnasium.make("ikml_gym/Reach4DOF-v0")

Parts: :mod:`.sim` (PyBullet client), :mod:`.robot` (arm + controllers),
:mod:`.task` (goals, goal checks, reward), :mod:`.core` (``ArmTaskEnv``),
:mod:`.config` (``ReachConfig``: the keywords, validated once), :mod:`.factories`
(the parts from a ``ReachConfig``), :mod:`.reach` (``ArmReachEnv``),
:mod:`.wrappers` (the plug-ins as wrappers).
"""

from __future__ import annotations

from typing import Any

from .registration import ENV_IDS, MAX_EPISODE_STEPS, register_envs

__all__ = ["ENV_IDS", "MAX_EPISODE_STEPS", "ArmReachEnv", "ArmTaskEnv", "register_envs"]


def __getattr__(name: str) -> Any:
    if name == "ArmReachEnv":
        from .reach import ArmReachEnv

        return ArmReachEnv
    if name == "ArmTaskEnv":
        from .core import ArmTaskEnv

        return ArmTaskEnv
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
