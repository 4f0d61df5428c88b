"""Trajectory feasibility filtering.

A trajectory is a sequence of W end-effector poses (task features, see
:meth:`ikml_gym.Arm.features`). :func:`sample_trajectories` makes candidate
lines and arcs (orientation slerped along the way); :class:`TrajectoryChecker`
marks every waypoint reachable / near-singular with any answerer that maps
(N, feature_dim) features to a :class:`WaypointVerdict` -- the
:class:`~ikml_gym.learned.feasibility.FeasibilityFilter` (classifier first,
numerical IK only where unsure) or :class:`IKGroundTruth` (numerical IK on
every waypoint, the baseline) -- and rolls the waypoints up per trajectory:

* ``infeasible``: some waypoint is unreachable;
* ``badly_conditioned``: all reachable, but at least ``bad_fraction`` of the
  waypoints are near-singular (class 1);
* ``feasible``: otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
from scipy.spatial.transform import Rotation, Slerp

from .. import kinematics as kin
from ..arms import POSE4, Arm
from ..labels import NEAR_SINGULAR, UNREACHABLE, label_from_kinv
from ..solvers import IKSolver, total_calls

FEASIBLE, BADLY_CONDITIONED, INFEASIBLE = 0, 1, 2
TRAJECTORY_STATUS = ("feasible", "badly conditioned", "infeasible")


@dataclass
class WaypointVerdict:
    """Per-waypoint answers: ``reachable`` (N,) bool and ``label`` (N,) class 0-3."""

    reachable: np.ndarray
    label: np.ndarray


class Answerer(Protocol):
    def __call__(self, features: np.ndarray) -> WaypointVerdict: ...


def sample_trajectories(
    arm: Arm,
    n: int,
    waypoints: int = 50,
    seed: int = 0,
    arc_fraction: float = 0.5,
    radius_scale: float = 0.7,
) -> np.ndarray:
    """Candidate trajectories (n, waypoints, feature_dim): straight lines and circular arcs.

    Endpoints are uniform in a ball of ``radius_scale`` x reach around the arm's
    reach centre, so some trajectories leave the workspace; many pass near the
    base axis or the workspace boundary, where the arm is near-singular.
    Orientations are slerped between two uniform random orientations (pose7) or
    linearly interpolated tool pitch (pose4).
    """
    rng = np.random.default_rng(seed)
    r = radius_scale * arm.reach

    def ball(m: int) -> np.ndarray:
        d = rng.normal(size=(m, 3))
        d /= np.linalg.norm(d, axis=1, keepdims=True)
        return arm.reach_center + d * (r * np.cbrt(rng.random(m)))[:, None]

    start, end, via = ball(n), ball(n), ball(n)
    s = np.linspace(0.0, 1.0, waypoints)
    pos = start[:, None] + s[None, :, None] * (end - start)[:, None]  # lines
    arcs = rng.random(n) < arc_fraction
    if np.any(arcs):
        pos[arcs] = _arcs(start[arcs], via[arcs], end[arcs], s)
    if arm.feature_kind == POSE4:
        a, b = rng.uniform(-np.pi, np.pi, n), rng.uniform(-np.pi, np.pi, n)
        psi = kin.wrap_angle(a[:, None] + s[None] * kin.wrap_angle(b - a)[:, None])
        return np.concatenate([pos, psi[..., None]], axis=2)
    rots = Rotation.random(2 * n, random_state=rng)
    quat = np.empty((n, waypoints, 4))
    for i in range(n):  # n Slerp objects; each interpolates all waypoints at once
        quat[i] = Slerp([0.0, 1.0], rots[[2 * i, 2 * i + 1]])(s).as_quat()
    quat = kin.canonical_quat(quat.reshape(-1, 4)).reshape(n, waypoints, 4)
    return np.concatenate([pos, quat], axis=2)


def _arcs(a: np.ndarray, b: np.ndarray, c: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Points (m, len(s), 3) on the circle through a -> b -> c, from a to c via b."""
    ab, ac = b - a, c - a
    normal = np.cross(ab, ac)
    nn = np.einsum("ij,ij->i", normal, normal)[:, None]
    # circumcentre of the triangle (a, b, c)
    center = a + (
        np.cross(normal, ab) * np.einsum("ij,ij->i", ac, ac)[:, None]
        + np.cross(ac, normal) * np.einsum("ij,ij->i", ab, ab)[:, None]
    ) / (2 * np.maximum(nn, 1e-300))
    u = a - center
    radius = np.linalg.norm(u, axis=1, keepdims=True)
    e1 = u / radius
    e2 = np.cross(normal / np.sqrt(np.maximum(nn, 1e-300)), e1)

    def angle(p: np.ndarray) -> np.ndarray:
        d = p - center
        return np.mod(
            np.arctan2(np.einsum("ij,ij->i", d, e2), np.einsum("ij,ij->i", d, e1)), 2 * np.pi
        )

    theta_b, theta_c = angle(b), angle(c)
    # go the way round that passes through b
    total = np.where(theta_b <= theta_c, theta_c, theta_c - 2 * np.pi)
    t = s[None, :] * total[:, None]
    pts = center[:, None] + radius[:, None] * (
        np.cos(t)[..., None] * e1[:, None] + np.sin(t)[..., None] * e2[:, None]
    )
    degenerate = nn[:, 0] < 1e-12
    if np.any(degenerate):  # collinear points: fall back to the line a -> c
        pts[degenerate] = a[degenerate, None] + s[None, :, None] * ac[degenerate, None]
    return pts


class IKGroundTruth:
    """The baseline answerer: a numerical IK call on every waypoint.

    Reachable = the solver succeeds; the class comes from the kinv of the
    solution it found with the given thresholds (t_low, t_high).
    """

    def __init__(self, solver: IKSolver, thresholds: np.ndarray) -> None:
        self.solver = solver
        self.thresholds = np.asarray(thresholds, dtype=np.float64)

    def solvers(self) -> tuple[IKSolver, ...]:
        """The solver this answerer calls (for call accounting and reseeding)."""
        return (self.solver,)

    @property
    def calls(self) -> int:
        """Numerical calls made so far."""
        return total_calls(self.solvers())

    def __call__(self, features: np.ndarray) -> WaypointVerdict:
        res = self.solver.solve(features)
        kinv = np.where(res.success, self.solver.arm.kinv(res.q), 0.0)
        return WaypointVerdict(res.success, label_from_kinv(res.success, kinv, self.thresholds))


@dataclass
class TrajectoryReport:
    """Per-waypoint and per-trajectory verdicts of a batch of T trajectories of W waypoints."""

    reachable: np.ndarray  # (T, W) bool
    label: np.ndarray  # (T, W) class 0-3
    status: np.ndarray  # (T,) FEASIBLE / BADLY_CONDITIONED / INFEASIBLE


class TrajectoryChecker:
    """Marks each waypoint and each trajectory with a waypoint answerer (see module doc)."""

    def __init__(self, answerer: Answerer, bad_fraction: float = 0.1) -> None:
        if not 0.0 < bad_fraction <= 1.0:
            raise ValueError(f"bad_fraction must be in (0, 1], got {bad_fraction}")
        self.answerer = answerer
        self.bad_fraction = bad_fraction

    def __call__(self, trajectories: np.ndarray) -> TrajectoryReport:
        """trajectories: (T, W, feature_dim) -> TrajectoryReport."""
        traj = np.asarray(trajectories, dtype=np.float64)
        if traj.ndim != 3:
            raise ValueError(f"trajectories must have shape (T, W, feature_dim), got {traj.shape}")
        t, w, d = traj.shape
        verdict = self.answerer(traj.reshape(t * w, d))
        reachable = np.asarray(verdict.reachable).reshape(t, w)
        label = np.asarray(verdict.label).reshape(t, w)
        status = np.full(t, FEASIBLE)
        near = np.mean(label == NEAR_SINGULAR, axis=1) >= self.bad_fraction
        status[near] = BADLY_CONDITIONED
        status[np.any(label == UNREACHABLE, axis=1) | ~reachable.all(axis=1)] = INFEASIBLE
        return TrajectoryReport(reachable, label, status)
