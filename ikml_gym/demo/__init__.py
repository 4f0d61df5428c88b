"""The demo: how many numerical IK calls the learned parts save, with the shipped weights.

* :mod:`.stacks` -- the two IK stacks compared (:func:`baseline_stack`, :func:`plugin_stack`,
  each a :class:`ReachStack` of env keywords);
* :mod:`.reaching` -- scripted ee reaching on both arms, baseline vs plug-in stack
  (:func:`reach_ik_calls`, :func:`reach_table`);
* :mod:`.trajectories` -- arm6 trajectory screening, classifier vs IK on every waypoint
  (:func:`trajectory_filter`, :func:`trajectory_table`, :func:`plot_trajectories`);
* :mod:`.run` -- both parts, printed and summed up (:func:`run_demo`, what ``ikml-gym demo`` runs).
"""

from .reaching import reach_ik_calls, reach_table
from .run import run_demo
from .stacks import ReachStack, baseline_stack, plugin_stack
from .trajectories import plot_trajectories, trajectory_filter, trajectory_table

__all__ = [
    "ReachStack",
    "baseline_stack",
    "plot_trajectories",
    "plugin_stack",
    "reach_ik_calls",
    "reach_table",
    "run_demo",
    "trajectory_filter",
    "trajectory_table",
]
