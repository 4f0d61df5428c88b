"""The learned IK and the classifier inside OMPL (the ``ompl`` extra).

::

    from ikml_gym.planning.ompl_plugin import JointSpacePlanner, TaskSpacePlanner

    sampler = LearnedGoalSampler(load_ik("arm6"), PyBulletIK(arm), load_classifier("arm6"))
    planner = JointSpacePlanner(sampler, is_valid=scene.is_valid, time_limit=1.0)
    result = planner.plan(q_start, pose)          # PlanResult: success, status, path (M, dof)

* :class:`JointSpacePlanner` -- RRTConnect (or another geometric planner) in joint space
  to an end-effector pose goal. Its goal region serves the joint-space goal samples of a
  goal sampler (:mod:`.goal_sampling`): the plug-in's :class:`LearnedGoalSampler` or the
  MoveIt-style :class:`NumericalGoalSampler`; a pose the sampler refuses costs no planner
  time. States are checked by ``is_valid`` (e.g. :meth:`Scene.is_valid`).
* :class:`TaskSpacePlanner` -- planning over end-effector poses (SE(3), pose7 arms): a
  pose is valid where a :class:`~ikml_gym.learned.feasibility.FeasibilityFilter` says
  reachable (and, optionally, not near-singular). With ``batched=True`` a motion
  validator answers every interpolated pose of a motion in one filter call instead of
  one call per pose.

A planning failure is reported by ``PlanResult.success = False`` and its ``status``.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import kinematics as kin
from .._extras import require
from .._validation import as_batch, real_number
from ..arms import POSE4
from ..errors import InvalidInputError
from ..labels import NEAR_SINGULAR
from ..learned.feasibility import FeasibilityFilter
from ..solvers import total_calls
from .goal_sampling import LearnedGoalSampler, NumericalGoalSampler
from .scene import Scene, within_limits

#: geometric planners a planner can be built with, by name
PLANNERS = ("RRTConnect", "RRT", "RRTstar")
#: PlanResult.status values
EXACT, REFUSED, NO_GOAL_SAMPLE, INVALID_START, INVALID_GOAL, NOT_SOLVED = (
    "exact solution",
    "refused (sure unreachable)",
    "no valid goal sample",
    "invalid start",
    "invalid goal",
    "not solved",
)


def _ompl() -> tuple[Any, Any]:
    """OMPL's ``base`` and ``geometric`` modules, or DependencyNotInstalled naming the extra."""
    require("ompl", "ompl")
    from ompl import base, geometric

    return base, geometric


def quiet_ompl() -> None:
    """Silence OMPL's console log (its per-solve info lines); failures stay in PlanResult."""
    require("ompl", "ompl")
    from ompl import util

    util.setLogLevel(util.LogLevel.LOG_NONE)


def seed_ompl(seed: int) -> None:
    """Seed OMPL's random generators (call it before the first planner is made, for
    repeatable plans)."""
    require("ompl", "ompl")
    from ompl import util

    util.RNG.setSeed(int(seed))


@dataclass
class PlanResult:
    """The outcome of one planning query.

    Attributes:
        success: True only for an exact solution.
        status: one of the module's status strings (``EXACT``, ``REFUSED``, ...).
        path: (M, dim) states of the solution path (joints radians, or pose7 features),
            (0, dim) on failure.
        time_s: seconds spent on the query (goal sampling and planning).
        calls: numerical IK calls spent on the query.
        goal_samples: joint-space goal samples the planner was given.
    """

    success: bool
    status: str
    path: np.ndarray
    time_s: float
    calls: int = 0
    goal_samples: int = 0


def _time_limit(value: object) -> float:
    return real_number(value, "time_limit (seconds)", low=0.0, low_open=True)


def _one_pose(arm: Any, pose: object, name: str) -> np.ndarray:
    """Validated features (1, feature_dim) of one pose of ``arm``.

    Raises:
        InvalidInputError: NaN / inf, not one pose, or another arm's feature size.
    """
    width = np.shape(pose)[-1] if np.ndim(pose) else 0
    if width != arm.feature_dim:
        raise InvalidInputError(
            f"{name} has {width} numbers, but arm {arm.name!r} takes {arm.feature_kind} poses "
            f"of {arm.feature_dim} (a goal for another arm?)"
        )
    f, _ = arm.check_features(pose, name)
    if len(f) != 1:
        raise InvalidInputError(f"{name} must be one pose ({arm.feature_dim},), got {len(f)}")
    return f


def _make_planner(og: Any, name: str, si: Any) -> Any:
    """OMPL's geometric planner ``name`` (checked against :data:`PLANNERS` by the caller)."""
    return getattr(og, name)(si)


def _values(state: Any, dim: int) -> np.ndarray:
    return np.array([state[i] for i in range(dim)])


def _status(solved: Any, ob: Any) -> tuple[bool, str]:
    exact = solved.getStatus() == ob.PlannerStatus.EXACT_SOLUTION
    return bool(exact), EXACT if exact else NOT_SOLVED


class JointSpacePlanner:
    """A geometric OMPL planner in joint space, aimed at end-effector pose goals.

    Args:
        sampler: a :class:`LearnedGoalSampler` or :class:`NumericalGoalSampler`; its
            tolerance is the goal region's.
        is_valid: joints (N, dof) radians -> (N,) bool, e.g. :meth:`Scene.is_valid`;
            default: every configuration within the limits is valid.
        time_limit: seconds the planner may run per query (> 0).
        planner: one of :data:`PLANNERS`.
        resolution: OMPL's state validity checking resolution (fraction of the space's
            extent).

    Raises:
        DependencyNotInstalled: OMPL is missing (``pip install "ikml_gym[ompl]"``).
        TypeError: ``sampler`` of the wrong type.
        InvalidInputError: ``time_limit`` not a positive number.
        ValueError: an unknown planner, or a ``Scene.is_valid`` of another arm.
    """

    def __init__(
        self,
        sampler: LearnedGoalSampler | NumericalGoalSampler,
        is_valid: Callable[[np.ndarray], np.ndarray] | None = None,
        time_limit: float = 1.0,
        planner: str = "RRTConnect",
        resolution: float = 0.01,
    ) -> None:
        ob, og = _ompl()
        if not isinstance(sampler, (LearnedGoalSampler, NumericalGoalSampler)):
            raise TypeError(f"sampler must be a goal sampler, got {type(sampler)}")
        if planner not in PLANNERS:
            raise ValueError(f"planner must be one of {PLANNERS}, got {planner!r}")
        scene = getattr(is_valid, "__self__", None)
        if isinstance(scene, Scene) and scene.arm.urdf_hash != sampler.arm.urdf_hash:
            raise ValueError(
                f"is_valid checks arm {scene.arm.name!r}, the sampler is for {sampler.arm.name!r}"
            )
        self.sampler = sampler
        self.arm = sampler.arm
        self.is_valid = is_valid if is_valid is not None else self._within_limits
        self.time_limit = _time_limit(time_limit)
        self.planner = planner
        self.resolution = real_number(resolution, "resolution", low=0.0, low_open=True, high=1.0)
        self._ob, self._og = ob, og

    def solvers(self) -> tuple[Any, ...]:
        """The sampler, whose solvers this planner calls (for call accounting)."""
        return (self.sampler,)

    @property
    def calls(self) -> int:
        """Numerical IK calls spent so far."""
        return total_calls(self.solvers())

    def _within_limits(self, q: np.ndarray) -> np.ndarray:
        return within_limits(self.arm, q)

    def _setup(self) -> tuple[Any, Any, Any]:
        ob, og, dof = self._ob, self._og, self.arm.dof
        space = ob.RealVectorStateSpace(dof)
        bounds = ob.RealVectorBounds(dof)
        for i, (lo, hi) in enumerate(self.arm.joint_limits):
            bounds.setLow(i, float(lo))
            bounds.setHigh(i, float(hi))
        space.setBounds(bounds)
        ss = og.SimpleSetup(space)
        ss.setStateValidityChecker(lambda s: bool(self.is_valid(_values(s, dof)[None])[0]))
        si = ss.getSpaceInformation()
        si.setStateValidityCheckingResolution(self.resolution)
        return space, ss, si

    def plan(self, q_start: object, pose: object, time_limit: float | None = None) -> PlanResult:
        """Plan from joints ``q_start`` (dof,) radians to end-effector ``pose`` (feature_dim,).

        Raises:
            InvalidInputError: a NaN / wrongly shaped ``q_start`` or ``pose`` (a pose of
                another arm's feature size included), or a non-positive ``time_limit``.
        """
        q0, _ = as_batch(q_start, self.arm.dof, "q_start")
        if len(q0) != 1:
            raise InvalidInputError(f"q_start must be one configuration (dof,), got {len(q0)}")
        f = _one_pose(self.arm, pose, "pose")
        limit = self.time_limit if time_limit is None else _time_limit(time_limit)
        t0, calls0 = time.perf_counter(), self.calls
        empty = np.zeros((0, self.arm.dof))

        def done(success: bool, status: str, path: np.ndarray = empty, n: int = 0) -> PlanResult:
            return PlanResult(
                success, status, path, time.perf_counter() - t0, self.calls - calls0, n
            )

        if not self.is_valid(q0)[0]:
            return done(False, INVALID_START)
        samples = self.sampler(f[0], self.is_valid)
        if samples.refused:
            return done(False, REFUSED)
        if len(samples) == 0:
            return done(False, NO_GOAL_SAMPLE)
        space, ss, si = self._setup()
        goal = _pose_goal_region(self._ob)(si, samples.q, self.arm, f, self.sampler.tol)
        start = space.allocState()
        for i, v in enumerate(q0[0]):
            start[i] = float(v)
        ss.setStartState(start)
        ss.setGoal(goal)
        ss.setPlanner(_make_planner(self._og, self.planner, si))
        success, status = _status(ss.solve(limit), self._ob)
        path = empty
        if success:
            states = ss.getSolutionPath().getStates()
            path = np.array([_values(s, self.arm.dof) for s in states])
        return done(success, status, path, len(samples))


_REGION_CLASS: list[type] = []


def _pose_goal_region(ob: Any) -> type:
    """The goal region class (a subclass of OMPL's ``GoalSampleableRegion``), made once."""
    if _REGION_CLASS:
        return _REGION_CLASS[0]

    class PoseGoalRegion(ob.GoalSampleableRegion):
        """Joint configurations whose end-effector pose is within ``tol`` of the target;
        sampled from precomputed goal samples (M, dof) in turn."""

        def __init__(self, si: Any, samples: np.ndarray, arm: Any, f: np.ndarray, tol: Any):
            super().__init__(si)
            self.samples, self.arm, self.f, self.tol = samples, arm, f, tol
            self.next = 0
            self.setThreshold(1.0)  # distanceGoal is the error in tolerance units

        def sampleGoal(self, state: Any) -> None:
            q = self.samples[self.next % len(self.samples)]
            self.next += 1
            for i, v in enumerate(q):
                state[i] = float(v)

        def maxSampleCount(self) -> int:
            return len(self.samples)

        def distanceGoal(self, state: Any) -> float:
            q = _values(state, self.arm.dof)[None]
            pos_err, rot_err = self.arm.pose_error(q, self.f)
            return float(max(pos_err[0] / self.tol[0], rot_err[0] / self.tol[1]))

    _REGION_CLASS.append(PoseGoalRegion)
    return PoseGoalRegion


# ---------------------------------------------------------------------- task space
class TaskSpacePlanner:
    """A geometric OMPL planner over end-effector poses (SE(3)) of a pose7 arm.

    Args:
        feasibility: the arm's :class:`FeasibilityFilter`; a pose is valid where it says
            reachable.
        avoid_near_singular: also refuse poses labelled near-singular (class 1).
        batched: check the interpolated poses of each motion in one filter call (a
            motion validator) rather than one call per pose.
        time_limit: seconds per query (> 0).
        planner: one of :data:`PLANNERS`.
        resolution: checking resolution, fraction of the space's extent.

    Attributes:
        checker_calls: filter calls made so far; ``poses_checked``: poses they answered.

    Raises:
        DependencyNotInstalled: OMPL is missing.
        TypeError: ``feasibility`` is not a FeasibilityFilter.
        ValueError: a pose4 arm, an unknown planner.
        InvalidInputError: ``time_limit`` not a positive number.
    """

    def __init__(
        self,
        feasibility: FeasibilityFilter,
        avoid_near_singular: bool = False,
        batched: bool = True,
        time_limit: float = 1.0,
        planner: str = "RRTConnect",
        resolution: float = 0.01,
    ) -> None:
        ob, og = _ompl()
        if not isinstance(feasibility, FeasibilityFilter):
            raise TypeError(f"feasibility must be a FeasibilityFilter, got {type(feasibility)}")
        if feasibility.arm.feature_kind == POSE4:
            raise ValueError(
                f"task-space planning needs a pose7 arm, {feasibility.arm.name!r} is pose4"
            )
        if planner not in PLANNERS:
            raise ValueError(f"planner must be one of {PLANNERS}, got {planner!r}")
        self.feasibility = feasibility
        self.arm = feasibility.arm
        self.avoid_near_singular = bool(avoid_near_singular)
        self.batched = bool(batched)
        self.time_limit = _time_limit(time_limit)
        self.planner = planner
        self.resolution = real_number(resolution, "resolution", low=0.0, low_open=True, high=1.0)
        self.checker_calls = 0
        self.poses_checked = 0
        self._ob, self._og = ob, og

    def solvers(self) -> tuple[Any, ...]:
        """The filter, whose fallback solver this planner calls (for call accounting)."""
        return (self.feasibility,)

    @property
    def calls(self) -> int:
        """Numerical IK calls spent so far (the filter's fallback)."""
        return total_calls(self.solvers())

    def valid_poses(self, features: np.ndarray) -> np.ndarray:
        """(N,) bool for pose7 features (N, 7): reachable (and not near-singular if asked)."""
        self.checker_calls += 1
        self.poses_checked += len(features)
        res = self.feasibility.query(features)
        ok = res.reachable
        if self.avoid_near_singular:
            ok = ok & (res.label != NEAR_SINGULAR)
        return ok

    def _setup(self) -> tuple[Any, Any, Any]:
        ob, og = self._ob, self._og
        space = ob.SE3StateSpace()
        bounds = ob.RealVectorBounds(3)
        for i in range(3):
            bounds.setLow(i, float(self.arm.reach_center[i] - self.arm.reach))
            bounds.setHigh(i, float(self.arm.reach_center[i] + self.arm.reach))
        space.setBounds(bounds)
        ss = og.SimpleSetup(space)
        ss.setStateValidityChecker(lambda s: bool(self.valid_poses(_pose_of(s)[None])[0]))
        si = ss.getSpaceInformation()
        si.setStateValidityCheckingResolution(self.resolution)
        if self.batched:
            validator = _batch_motion_validator(ob)(si, space, self)
            si.setMotionValidator(validator)
            self._validator = validator  # kept alive with the setup
        return space, ss, si

    def plan(
        self, start_pose: object, goal_pose: object, time_limit: float | None = None
    ) -> PlanResult:
        """Plan from pose7 ``start_pose`` to ``goal_pose`` (7,) -> PlanResult whose path is
        (M, 7) pose7 features.

        Raises:
            InvalidInputError: NaN or wrongly shaped poses, a non-positive ``time_limit``.
        """
        fs = _one_pose(self.arm, start_pose, "start_pose")
        fg = _one_pose(self.arm, goal_pose, "goal_pose")
        limit = self.time_limit if time_limit is None else _time_limit(time_limit)
        t0, calls0 = time.perf_counter(), self.calls
        empty = np.zeros((0, 7))

        def done(success: bool, status: str, path: np.ndarray = empty) -> PlanResult:
            return PlanResult(success, status, path, time.perf_counter() - t0, self.calls - calls0)

        ends = self.valid_poses(np.concatenate([fs, fg]))
        if not ends[0]:
            return done(False, INVALID_START)
        if not ends[1]:
            return done(False, INVALID_GOAL)
        space, ss, si = self._setup()
        start, goal = space.allocState(), space.allocState()
        _set_pose(start, fs[0])
        _set_pose(goal, fg[0])
        ss.setStartAndGoalStates(start, goal, 1e-6)
        ss.setPlanner(_make_planner(self._og, self.planner, si))
        success, status = _status(ss.solve(limit), self._ob)
        path = empty
        if success:
            path = np.array([_pose_of(s) for s in ss.getSolutionPath().getStates()])
        return done(success, status, path)


def _pose_of(state: Any) -> np.ndarray:
    """pose7 features (7,) of an SE(3) state (qw >= 0)."""
    r = state.rotation()
    quat = np.array([r.x, r.y, r.z, r.w])
    quat = quat / np.linalg.norm(quat)
    if quat[3] < 0:
        quat = -quat
    return np.array([state.getX(), state.getY(), state.getZ(), *quat])


def _set_pose(state: Any, f: np.ndarray) -> None:
    state.setXYZ(float(f[0]), float(f[1]), float(f[2]))
    r = state.rotation()
    r.x, r.y, r.z, r.w = (float(v) for v in f[3:7])


def interpolate_poses(path: np.ndarray, step: float) -> np.ndarray:
    """Waypoints (W, 7) along a pose7 path (M, 7): positions linear, orientations slerped,
    segments cut into pieces of at most ``step`` metres + radians."""
    path = np.asarray(path, dtype=np.float64)
    out = [path[:1]]
    for a, b in itertools.pairwise(path):
        angle = float(kin.quat_angle(a[None, 3:], b[None, 3:])[0])
        n = max(1, int(np.ceil((np.linalg.norm(b[:3] - a[:3]) + angle) / step)))
        out.append(_interpolate(a, b, np.linspace(0.0, 1.0, n + 1)[1:]))
    return np.concatenate(out)


def _interpolate(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """pose7 features (len(t), 7) between poses a and b (7,) at fractions t (as OMPL's
    SE(3) interpolation: position linear, orientation slerped)."""
    pos = a[:3] + t[:, None] * (b[:3] - a[:3])
    return np.concatenate([pos, _slerp(a[3:], b[3:], t)], axis=1)


def _slerp(qa: np.ndarray, qb: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Unit quaternions (len(t), 4) xyzw from qa to qb, shortest way, qw >= 0."""
    d = float(np.dot(qa, qb))
    if d < 0:
        qb, d = -qb, -d
    theta = np.arccos(min(1.0, d))
    if theta < 1e-9:
        q = np.repeat(qa[None], len(t), axis=0)
    else:
        q = (np.sin((1 - t) * theta)[:, None] * qa + np.sin(t * theta)[:, None] * qb) / np.sin(
            theta
        )
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    return np.where(q[:, 3:4] < 0, -q, q)


_VALIDATOR_CLASS: list[type] = []


def _batch_motion_validator(ob: Any) -> type:
    """The batched motion validator class (a subclass of OMPL's ``MotionValidator``)."""
    if _VALIDATOR_CLASS:
        return _VALIDATOR_CLASS[0]

    class BatchMotionValidator(ob.MotionValidator):
        """Checks the interpolated poses of a motion (end state included) in one call."""

        def __init__(self, si: Any, space: Any, planner: TaskSpacePlanner):
            super().__init__(si)
            self.space, self.planner = space, planner

        def checkMotion(self, s1: Any, s2: Any, *last_valid: Any) -> bool:
            n = max(1, int(self.space.validSegmentCount(s1, s2)))
            poses = _interpolate(_pose_of(s1), _pose_of(s2), np.arange(1, n + 1) / n)
            return bool(np.all(self.planner.valid_poses(poses)))

    _VALIDATOR_CLASS.append(BatchMotionValidator)
    return BatchMotionValidator
