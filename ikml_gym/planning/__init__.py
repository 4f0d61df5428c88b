"""Planning helpers: candidate trajectories and their feasibility verdicts.

:mod:`.trajectories` -- :func:`sample_trajectories` (lines and arcs of end-effector
poses) and :class:`TrajectoryChecker` (per-waypoint and per-trajectory verdicts from
any waypoint answerer, e.g. :class:`IKGroundTruth`).
"""

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
    "IKGroundTruth",
    "TrajectoryChecker",
    "TrajectoryReport",
    "WaypointVerdict",
    "sample_trajectories",
]
