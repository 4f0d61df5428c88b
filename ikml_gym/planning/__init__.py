"""Planning helpers: candidate trajectories and their feasibility verdicts.

:mod:`.trajectories` -- :func:`sample_trajectories` (lines and arcs of end-effector
poses) and :class:`TrajectoryChecker` (per-waypoint and per-trajectory verdicts from
any waypoint answerer, e.g. :class:`IKGroundTruth`).
:mod:`.scene` -- :class:`Scene` (box obstacles in a private PyBullet client) and the
arm's collision check against them.
:mod:`.goal_sampling` -- joint-space goal samples of a pose goal: :class:`LearnedGoalSampler`
(classifier screen, learned IK heads, numerical IK only where none passes) and the
MoveIt-style :class:`NumericalGoalSampler`.
:mod:`.ompl_plugin` -- OMPL planners using them (the ``ompl`` extra; import it explicitly).
"""

from .goal_sampling import GoalSamples, LearnedGoalSampler, NumericalGoalSampler
from .scene import Box, Scene
from .trajectories import (
    BADLY_CONDITIONED,
    FEASIBLE,
    INFEASIBLE,
    TRAJECTORY_STATUS,
    Answerer,
    IKGroundTruth,
    TrajectoryChecker,
    TrajectoryReport,
    WaypointVerdict,
    sample_trajectories,
)

__all__ = [
    "BADLY_CONDITIONED",
    "FEASIBLE",
    "INFEASIBLE",
    "TRAJECTORY_STATUS",
    "Answerer",
    "Box",
    "GoalSamples",
    "IKGroundTruth",
    "LearnedGoalSampler",
    "NumericalGoalSampler",
    "Scene",
    "TrajectoryChecker",
    "TrajectoryReport",
    "WaypointVerdict",
    "sample_trajectories",
]
