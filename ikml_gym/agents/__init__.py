"""Agents: a scripted end-effector reacher and SB3 helpers.

* :mod:`.scripted` -- :class:`ScriptedReacher` and :func:`run_episodes` (what the demo runs);
* :mod:`.sb3` -- SAC + HER training / evaluation helpers (imports stable-baselines3 lazily).

The IK stacks the demo compares live in :mod:`ikml_gym.demo`.
"""

from .scripted import EpisodeStats, ScriptedReacher, run_episodes, run_side_by_side

__all__ = [
    "EpisodeStats",
    "ScriptedReacher",
    "run_episodes",
    "run_side_by_side",
]
