"""Agents: a scripted end-effector reacher, the IK solver stacks it compares, SB3 helpers.

* :mod:`.scripted` -- :class:`ScriptedReacher` and :func:`run_episodes` (what the demo runs);
* :mod:`.stack` -- the baseline and plug-in IK stacks (:func:`baseline_stack`,
  :func:`plugin_stack`); :class:`~ikml_gym.solvers.ScreenedIK` is re-exported here;
* :mod:`.sb3` -- SAC + HER training / evaluation helpers (imports stable-baselines3 lazily).
"""

from .scripted import EpisodeStats, ScriptedReacher, run_episodes, run_side_by_side
from .stack import ReachStack, ScreenedIK, baseline_stack, plugin_stack

__all__ = [
    "EpisodeStats",
    "ReachStack",
    "ScreenedIK",
    "ScriptedReacher",
    "baseline_stack",
    "plugin_stack",
    "run_episodes",
    "run_side_by_side",
]
