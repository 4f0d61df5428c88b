"""The task part of an env: goal sampling (with feasibility filters), success and reward.

Goal sampling. Every episode samples a full goal *pose* (the arm's task features:
``[x, y, z, psi]`` for arm4, ``[x, y, z, qx, qy, qz, qw]`` xyzw for arm6): the
position uniform in the goal region, the orientation uniform (psi in (-pi, pi], or a
uniform quaternion). Goal regions (``goal_region``):

* ``"ball"``: a ball of ``goal_range * reach`` around ``arm.reach_center`` (the whole
  workspace, any direction: the hard task);
* ``"box"``: an axis-aligned cube of side ``goal_range * reach`` centred on the
  end-effector at the start configuration (panda-gym's reach tasks: a 0.3 m cube about
  the gripper's start, 0.35 x the Panda's reach).

Positions in the region are nearly all reachable, but a random orientation at them
often is not, so a goal filter decides which poses are kept:

* :class:`NoGoalCheck` (``goal_filter="none"``): the first candidate.
* :class:`IKGoalCheck` (``"ik"``, the baseline): candidates one at a time until the
  numerical solver reaches one; every candidate costs one counted call.
* :class:`ClassifierGoalCheck` (``"classifier"``): the first of a batch of candidates
  the classifier calls reachable (optionally: and not near-singular); no IK calls.

With ``goal_type="position"`` the desired goal is the position of that pose (the
orientation is a candidate for the ``ik_prior`` controller, which chooses the one it
solves, see :mod:`.orientation`);
with ``"pose"`` the goal is the whole pose.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import kinematics as kin
from ..arms import POSE4, Arm
from ..errors import InvalidInputError
from ..labels import NEAR_SINGULAR, UNKNOWN_CLASS, UNREACHABLE
from ..solvers.base import MeteredPart

#: default success radius as a fraction of the arm's reach
DISTANCE_FRACTION = 0.05
#: default success angle of pose goals, radians
ANGLE_THRESHOLD = 0.1
#: default radius of the goal ball as a fraction of the arm's reach
GOAL_RANGE = 0.9
#: default side of the goal box as a fraction of the arm's reach (panda-gym: 0.3 m / 0.855 m)
BOX_GOAL_RANGE = 0.35
#: the goal regions: ``goal_region`` -> default ``goal_range``
GOAL_REGIONS = {"ball": GOAL_RANGE, "box": BOX_GOAL_RANGE}
#: default number of candidates a goal check judges before the last one is taken anyway
MAX_GOAL_TRIES = 200
#: an IK answer the env's solvers accept is within this fraction of the success radius ...
IK_TOLERANCE_FRACTION = 1.0 / 3.0
#: ... and this many radians of the target orientation (3 degrees)
IK_TOLERANCE_ANGLE = float(np.deg2rad(3.0))


def default_distance_threshold(arm: Arm) -> float:
    """The success radius of a reach task on ``arm`` unless set: 5% of its reach, metres."""
    return DISTANCE_FRACTION * arm.reach


def task_ik_tolerance(distance_threshold: float) -> tuple[float, float]:
    """``(position m, orientation rad)`` within which the env's IK solvers accept an answer.

    A third of the success radius and 3 degrees (6.3 mm for arm4, 17 mm for arm6 at
    the default radius). In ``ee`` control every step is planned again from the
    measured pose, so a few millimetres of IK error cost nothing, while asking for
    1 mm / 1 degree would send most learned answers to the numerical fallback; the
    goal filter's solver uses the same rule, so "reachable" means the same for both.
    """
    return IK_TOLERANCE_FRACTION * float(distance_threshold), IK_TOLERANCE_ANGLE


def predict_classes(classifier: Any, features: np.ndarray) -> np.ndarray:
    """(N,) int classes of (N, feature_dim) poses from a classifier (``predict``) or a
    ``FeasibilityFilter`` (``query(...).label``)."""
    if callable(getattr(classifier, "predict", None)):
        out = classifier.predict(features)
    elif callable(getattr(classifier, "query", None)):
        out = classifier.query(features).label
    else:
        raise TypeError(f"{classifier!r} has neither predict() nor query()")
    return np.asarray(out).astype(np.int64).reshape(len(features))


# ------------------------------------------------------------------------ filters
class GoalCheck(ABC):
    """Decides which candidate goal poses an env may use."""

    name: str = ""
    #: candidates judged per call of :meth:`accept`
    batch_size: int = 1

    @abstractmethod
    def accept(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, int]:
        """Judge (N, feature_dim) poses -> (keep (N,) bool, classes (N,) or None, IK calls)."""

    def solvers(self) -> list[Any]:
        """Solvers (or owners of solvers) this filter calls, for call accounting and
        reseeding (see :func:`ikml_gym.solvers.walk_solvers`)."""
        return []


class NoGoalCheck(GoalCheck):
    """Keep every candidate."""

    name = "none"

    def accept(self, features: np.ndarray) -> tuple[np.ndarray, None, int]:
        return np.ones(len(features), dtype=bool), None, 0


class IKGoalCheck(GoalCheck):
    """Keep a candidate when the numerical ``solver`` reaches it (the baseline filter).

    One candidate per call, so the calls counted are exactly what sampling a
    reachable goal this way costs.
    """

    name = "ik"
    solver = MeteredPart()
    batch_size = 1

    def __init__(self, solver: Any) -> None:
        self.solver = solver

    def accept(self, features: np.ndarray) -> tuple[np.ndarray, None, int]:
        before = self._calls()
        res = self.solver.solve(features)
        return np.atleast_1d(np.asarray(res.success, dtype=bool)), None, self._calls() - before

    def solvers(self) -> list[Any]:
        return [self.solver]


class ClassifierGoalCheck(GoalCheck):
    """Keep a candidate the classifier calls reachable (class >= 1), or, with
    ``exclude_near_singular``, well conditioned (class >= 2).

    ``classifier`` is a ``FeasibilityClassifier`` or anything with
    ``predict((N, feature_dim)) -> (N,)`` int classes, or a ``FeasibilityFilter``
    (``query``); the numerical calls of a filter's fallback are counted.
    """

    name = "classifier"
    classifier = MeteredPart()

    def __init__(
        self, classifier: Any, exclude_near_singular: bool = False, batch_size: int = 32
    ) -> None:
        self.classifier = classifier
        self.exclude_near_singular = bool(exclude_near_singular)
        self.batch_size = int(batch_size)

    def accept(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
        before = self._calls()
        classes = predict_classes(self.classifier, features)
        lowest = NEAR_SINGULAR + 1 if self.exclude_near_singular else NEAR_SINGULAR
        return classes >= lowest, classes, self._calls() - before

    def solvers(self) -> list[Any]:
        return [self.classifier]  # a FeasibilityFilter owns a solver; a classifier none


class FeasibilityPenaltyTerm:
    """Reward term: ``weight`` per step whose commanded target the classifier puts in
    ``classes`` (default: unreachable or near-singular).

    The flag is stored in ``info["feasibility_penalty"]`` (0.0 or 1.0) and
    ``compute_reward`` subtracts ``weight * flag``; the flag does not depend on the
    goal, so HER relabelling keeps it correct.
    """

    def __init__(
        self, classifier: Any, weight: float, classes: Sequence[int] = (UNREACHABLE, NEAR_SINGULAR)
    ) -> None:
        if not weight >= 0:
            raise ValueError(f"penalty weight must be >= 0, got {weight}")
        self.classifier = classifier
        self.weight = float(weight)
        self.classes = tuple(int(c) for c in classes)

    def flag(self, features: np.ndarray) -> float:
        """1.0 if the (feature_dim,) commanded pose is in a penalised class, else 0.0."""
        cls = int(predict_classes(self.classifier, features[None, :])[0])
        return 1.0 if cls in self.classes else 0.0


# --------------------------------------------------------------------------- task
@dataclass
class GoalSample:
    """A sampled goal pose and what choosing it cost."""

    features: np.ndarray
    accepted: bool
    tries: int
    ik_calls: int
    goal_class: int


class ReachTask:
    """Reach a goal pose: sampling, achieved/desired goal vectors, success, reward.

    Args:
        arm: the arm.
        goal_type: ``"position"`` (goal (3,), metres) or ``"pose"`` (the arm's features:
            (4,) ``[x, y, z, psi]`` or (7,) ``[x, y, z, qx, qy, qz, qw]`` xyzw).
        reward_type: ``"sparse"`` (-1 until success, 0 at success) or ``"dense"``
            (``-(d_pos + (distance_threshold / angle_threshold) * d_rot)``).
        distance_threshold: success radius, metres.
        angle_threshold: success angle (pose goals), radians.
        goal_range: size of the goal region as a fraction of the reach: the ball's radius
            or the box's side.
        goal_region: ``"ball"`` (about ``arm.reach_center``) or ``"box"`` (about
            ``goal_center``).
        goal_center: (3,) metres, centre of the box (the end-effector position at the start
            configuration); default ``arm.reach_center``.
        goal_filter: a :class:`GoalCheck`.
        max_goal_tries: candidates tried before the last one is taken anyway
            (``info["goal_accepted"]`` is then False).
        penalty: an optional :class:`FeasibilityPenaltyTerm`.

    The arguments are taken as given: build them through
    :class:`~ikml_gym.envs.config.ReachConfig` (what ``ArmReachEnv`` does), which
    validates them (thresholds and ``goal_range`` finite and > 0, ``max_goal_tries`` an
    integer >= 1, the two types among their choices).
    """

    def __init__(
        self,
        arm: Arm,
        goal_type: str = "position",
        reward_type: str = "sparse",
        distance_threshold: float = 0.02,
        angle_threshold: float = ANGLE_THRESHOLD,
        goal_range: float = GOAL_RANGE,
        goal_filter: GoalCheck | None = None,
        max_goal_tries: int = MAX_GOAL_TRIES,
        penalty: FeasibilityPenaltyTerm | None = None,
        goal_region: str = "ball",
        goal_center: np.ndarray | None = None,
    ) -> None:
        self.arm = arm
        self.goal_type = goal_type
        self.reward_type = reward_type
        self.distance_threshold = float(distance_threshold)
        self.angle_threshold = float(angle_threshold)
        self.goal_range = float(goal_range)
        self.goal_region = goal_region
        center = arm.reach_center if goal_center is None else goal_center
        self.goal_center = np.array(center, dtype=np.float64)
        self.goal_filter = goal_filter if goal_filter is not None else NoGoalCheck()
        self.max_goal_tries = int(max_goal_tries)
        self.penalty = penalty
        self.goal_dim = 3 if goal_type == "position" else arm.feature_dim

    # ---------------------------------------------------------------- goals
    @property
    def goal_extent(self) -> float:
        """Farthest a goal position can lie from ``arm.reach_center``, metres."""
        size = self.goal_range * self.arm.reach
        half = size if self.goal_region == "ball" else size * np.sqrt(3.0) / 2.0
        return float(np.linalg.norm(self.goal_center - self.arm.reach_center)) + half

    def goal_positions(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """(n, 3) positions uniform in the goal region, metres."""
        size = self.goal_range * self.arm.reach
        if self.goal_region == "box":
            return self.goal_center + rng.uniform(-size / 2.0, size / 2.0, (n, 3))
        direction = rng.normal(size=(n, 3))
        direction /= np.maximum(np.linalg.norm(direction, axis=1, keepdims=True), 1e-12)
        radius = size * np.cbrt(rng.random(n))
        return self.goal_center + direction * radius[:, None]

    def candidates(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """(n, feature_dim) poses: positions uniform in the goal region, orientations uniform."""
        pos = self.goal_positions(n, rng)
        if self.arm.feature_kind == POSE4:
            return np.column_stack([pos, rng.uniform(-np.pi, np.pi, n)])
        quat = rng.normal(size=(n, 4))
        quat /= np.maximum(np.linalg.norm(quat, axis=1, keepdims=True), 1e-12)
        return np.column_stack([pos, kin.canonical_quat(quat)])

    def sample_goal(self, rng: np.random.Generator) -> GoalSample:
        """Draw candidates until the goal filter keeps one (at most ``max_goal_tries``)."""
        tries, calls = 0, 0
        cand = None
        while tries < self.max_goal_tries:
            n = min(self.goal_filter.batch_size, self.max_goal_tries - tries)
            cand = self.candidates(n, rng)
            keep, classes, c = self.goal_filter.accept(cand)
            calls += c
            hits = np.flatnonzero(keep)
            if len(hits):
                i = int(hits[0])
                cls = UNKNOWN_CLASS if classes is None else int(classes[i])
                return GoalSample(cand[i], True, tries + i + 1, calls, cls)
            tries += n
        cls = UNKNOWN_CLASS if classes is None else int(classes[-1])
        return GoalSample(cand[-1], False, tries, calls, cls)

    def goal_of(self, features: np.ndarray) -> np.ndarray:
        """The goal vector (goal_dim,) float32 of a pose (feature_dim,)."""
        return np.asarray(features[: self.goal_dim], dtype=np.float32)

    # --------------------------------------------------------------- reward
    def distances(self, achieved: np.ndarray, desired: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Position error (metres) and orientation error (radians; 0 for position goals),
        for goals (..., goal_dim); computed in float64."""
        a = np.asarray(achieved, dtype=np.float64)
        d = np.asarray(desired, dtype=np.float64)
        if a.shape[-1] != self.goal_dim or d.shape[-1] != self.goal_dim:
            raise ValueError(
                f"goals must have a last dimension of {self.goal_dim}, got {a.shape} and {d.shape}"
            )
        d_pos = np.linalg.norm(a[..., :3] - d[..., :3], axis=-1)
        if self.goal_type == "position":
            return d_pos, np.zeros_like(d_pos)
        if self.arm.feature_kind == POSE4:
            return d_pos, np.abs(kin.wrap_angle(a[..., 3] - d[..., 3]))
        qa, qd = a[..., 3:], d[..., 3:]
        dot = np.abs(np.sum(qa * qd, axis=-1)) / np.maximum(
            np.linalg.norm(qa, axis=-1) * np.linalg.norm(qd, axis=-1), 1e-12
        )
        return d_pos, 2.0 * np.arccos(np.clip(dot, 0.0, 1.0))

    def is_success(self, achieved: np.ndarray, desired: np.ndarray) -> np.ndarray:
        """bool, shape of the goals' batch dimensions."""
        d_pos, d_rot = self.distances(achieved, desired)
        return (d_pos < self.distance_threshold) & (d_rot < self.angle_threshold)

    def compute_reward(self, achieved: np.ndarray, desired: np.ndarray, info: Any) -> np.ndarray:
        """Vectorised reward: goals (goal_dim,) -> float32 scalar array; (B, goal_dim) -> (B,).

        ``info`` is one info dict, or a sequence / object array of B dicts (what
        stable-baselines3's ``HerReplayBuffer`` passes); it is only read for the
        feasibility penalty flag, and then must hold it (with SB3's HER: pass
        ``replay_buffer_kwargs={"copy_info_dict": True}``; empty dicts raise).
        """
        d_pos, d_rot = self.distances(achieved, desired)
        if self.reward_type == "sparse":
            success = (d_pos < self.distance_threshold) & (d_rot < self.angle_threshold)
            reward = -(~success).astype(np.float64)
        else:
            reward = -(d_pos + (self.distance_threshold / self.angle_threshold) * d_rot)
        if self.penalty is not None and self.penalty.weight > 0:
            reward = reward - self.penalty.weight * _penalty_flags(info, reward.shape)
        return np.asarray(reward, dtype=np.float32)


def _flag(info: Any) -> float:
    try:
        return float(info["feasibility_penalty"])
    except (KeyError, TypeError, IndexError):
        raise InvalidInputError(
            "with a feasibility penalty, compute_reward needs the step infos (their "
            "'feasibility_penalty' flags); stable-baselines3's HerReplayBuffer passes empty "
            "dicts unless replay_buffer_kwargs={'copy_info_dict': True}"
        ) from None


def _penalty_flags(info: Any, shape: tuple[int, ...]) -> np.ndarray:
    """``feasibility_penalty`` flags from one info dict or a batch of them."""
    if isinstance(info, Mapping):
        return np.broadcast_to(_flag(info), shape)
    flags = np.array([_flag(i) for i in np.ravel(np.asarray(info, dtype=object))], dtype=np.float64)
    if flags.size != int(np.prod(shape)):
        raise InvalidInputError(f"got {flags.size} infos for goals of batch shape {shape}")
    return flags.reshape(shape)
