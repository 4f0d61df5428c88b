"""``ArmTaskEnv``: a goal-conditioned Gymnasium env assembled from a sim, a robot and a task.

The panda-gym split: :class:`~ikml_gym.envs.sim.BulletSim` owns the PyBullet
client, :class:`~ikml_gym.envs.robot.ArmRobot` turns actions into joint targets
(through its controller), :class:`~ikml_gym.envs.task.ReachTask` samples goals and
scores them. This class only sequences them and builds observations and infos.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from ..errors import InvalidInputError
from ..solvers.base import reseed, seeded_solvers
from .config import RENDER_HEIGHT, RENDER_MODES, RENDER_WIDTH, check_render_options
from .robot import ArmRobot, Controller, RobotState
from .sim import BulletSim
from .task import UNKNOWN_CLASS, FeasibilityPenaltyTerm, GoalCheck, ReachTask, predict_classes

#: joint speeds in the observation are clipped to this, rad/s
MAX_JOINT_SPEED = 50.0
#: measured joint angles in the observation may exceed the limits by up to this, rad
JOINT_MARGIN = 0.5
#: camera of the images and of the GUI: distance (x reach), yaw and pitch (degrees)
CAMERA_DISTANCE_FRACTION = 2.0
CAMERA_YAW = 45.0
CAMERA_PITCH = -25.0


class ArmTaskEnv(gym.Env):
    """Goal-conditioned env from parts (see :class:`~ikml_gym.envs.reach.ArmReachEnv` for
    the spaces, reward and info keys).

    Args:
        sim: the simulator (owned: closed by :meth:`close`).
        robot: the robot in ``sim``.
        task: the task.
        classifier: optional feasibility classifier (``predict``) used to report
            ``info["goal_class"]`` when the goal filter does not give it.
        render_mode: ``None``, ``"rgb_array"`` or ``"human"``.
        render_width, render_height: ``rgb_array`` image size, pixels.
        owned: objects with ``close()`` made for this env (IK solvers), closed with it.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": list(RENDER_MODES), "render_fps": 25}

    def __init__(
        self,
        sim: BulletSim,
        robot: ArmRobot,
        task: ReachTask,
        classifier: Any = None,
        render_mode: str | None = None,
        render_width: int = RENDER_WIDTH,
        render_height: int = RENDER_HEIGHT,
        owned: list[Any] | None = None,
    ) -> None:
        render_mode, render_width, render_height = check_render_options(
            render_mode, render_width, render_height
        )
        self.sim = sim
        self.robot = robot
        self.task = task
        self.arm = robot.arm
        self.classifier = classifier
        self.render_mode = render_mode
        self.render_width = render_width
        self.render_height = render_height
        self._owned = list(owned or [])
        self.metadata = {**type(self).metadata, "render_fps": round(1.0 / sim.dt)}

        self._make_spaces()

        self._marker = sim.create_marker(max(task.distance_threshold, 0.01), (0.1, 0.8, 0.2, 1.0))
        sim.create_floor(1.1 * self.arm.reach, (0.82, 0.84, 0.86, 1.0))
        self._goal_features = self.task.candidates(1, np.random.default_rng(0))[0]
        self._goal_class = UNKNOWN_CLASS
        self._state: RobotState | None = None
        self._episode_calls = 0
        self.ik_calls_total = 0
        self._last_render = time.perf_counter()

    def _make_spaces(self) -> None:
        arm = self.arm
        # every pose the arm or the goal sampler can produce lies in this box
        radius = 1.05 * max(arm.reach, self.task.goal_extent)
        self._position_box = (arm.reach_center - radius, arm.reach_center + radius)
        pose_lo = np.concatenate([arm.reach_center - radius, np.full(arm.feature_dim - 3, -np.pi)])
        pose_hi = np.concatenate([arm.reach_center + radius, np.full(arm.feature_dim - 3, np.pi)])
        if arm.feature_dim == 7:
            pose_lo[3:], pose_hi[3:] = -1.0, 1.0
        lim_lo, lim_hi = arm.joint_limits[:, 0], arm.joint_limits[:, 1]
        vel = np.full(arm.dof, MAX_JOINT_SPEED)
        extra = self.robot.controller.extra_obs_dim  # q_prior of ik_prior: joint limits
        # measured joints can overshoot a limit a little under position control
        lo = np.concatenate([lim_lo - JOINT_MARGIN, -vel, pose_lo, lim_lo[:extra]])
        hi = np.concatenate([lim_hi + JOINT_MARGIN, vel, pose_hi, lim_hi[:extra]])
        g = self.task.goal_dim
        goal = spaces.Box(
            pose_lo[:g].astype(np.float32), pose_hi[:g].astype(np.float32), dtype=np.float32
        )
        self.observation_space = spaces.Dict(
            {
                "observation": spaces.Box(
                    lo.astype(np.float32), hi.astype(np.float32), dtype=np.float32
                ),
                "achieved_goal": goal,
                "desired_goal": goal,
            }
        )
        self.action_space = spaces.Box(-1.0, 1.0, shape=(self.robot.action_dim,), dtype=np.float32)

    # ------------------------------------------------------------- plug-ins
    def set_controller(self, controller: Controller) -> None:
        """Replace the controller (used by :class:`~ikml_gym.envs.wrappers.IKPriorWrapper`);
        the action and observation spaces follow it. Call ``reset`` afterwards."""
        controller.bind(self.arm, self.task.goal_type)
        self.robot.controller = controller
        self._make_spaces()
        self._state = None

    def adopt(self, part: Any) -> None:
        """Close ``part`` (e.g. a solver a wrapper made) together with this env."""
        self._owned.append(part)

    @property
    def goal_filter(self) -> GoalCheck:
        return self.task.goal_filter

    def set_goal_filter(self, goal_filter: GoalCheck) -> None:
        """Replace the goal check (used by :class:`~ikml_gym.envs.wrappers.GoalFilterWrapper`)."""
        self.task.goal_filter = goal_filter

    def set_penalty(self, penalty: FeasibilityPenaltyTerm | None) -> None:
        """Replace the feasibility penalty (used by :class:`~ikml_gym.envs.wrappers.FeasibilityPenaltyWrapper`)."""
        self.task.penalty = penalty

    def _solvers(self) -> list[Any]:
        return self.robot.controller.solvers() + self.task.goal_filter.solvers()

    # -------------------------------------------------------------- episode
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Start an episode.

        ``options={"goal": pose}`` sets the goal pose (feature_dim,) instead of sampling
        one (no filter applied).

        Raises:
            InvalidInputError: ``options`` is not a dict, has a key other than ``"goal"``, or
                its goal is not one finite pose (feature_dim,) whose position lies inside the
                observation space. The env is unchanged then.
        """
        goal = self._check_options(options)
        super().reset(seed=seed)
        self._reseed_solvers()
        state = self.robot.reset()
        if goal is None:
            sample = self.task.sample_goal(self.np_random)
            features, accepted, tries, calls, cls = (
                sample.features,
                sample.accepted,
                sample.tries,
                sample.ik_calls,
                sample.goal_class,
            )
        else:
            features, accepted, tries, calls, cls = goal, True, 0, 0, UNKNOWN_CLASS
        if cls == UNKNOWN_CLASS and self.classifier is not None:
            cls = int(predict_classes(self.classifier, features[None, :])[0])
        self._goal_features = np.asarray(features, dtype=np.float64)
        self._goal_class = cls
        calls += self.robot.controller.reset(state, self._goal_features)
        self._episode_calls = calls
        self.ik_calls_total += calls
        self.sim.set_base_position(self._marker, self._goal_features[:3])
        self._state = state
        obs = self._obs(state)
        info = self._info(obs, state, calls, ik_success=True, penalty=0.0)
        info["goal_accepted"] = bool(accepted)
        info["goal_tries"] = int(tries)
        info.update(self.robot.controller.reset_info())
        if self.render_mode == "human":
            self.render()
        return obs, info

    def _check_options(self, options: Any) -> np.ndarray | None:
        """The goal pose (feature_dim,) of ``reset``'s options, or None to sample one."""
        if options is None:
            return None
        if not isinstance(options, Mapping):
            raise InvalidInputError(
                f"options must be a dict (or None), got {type(options).__name__}: {options!r}"
            )
        unknown = sorted(repr(k) for k in options if k != "goal")
        if unknown:
            raise InvalidInputError(
                f"options has unknown key(s) {', '.join(unknown)}; the only option is 'goal' "
                f"(a pose ({self.arm.feature_dim},))"
            )
        goal = options.get("goal")
        if goal is None:
            return None
        features, _ = self.arm.check_features(goal, "options['goal']")
        if features.shape[0] != 1:
            raise InvalidInputError(
                f"options['goal'] must be one pose ({self.arm.feature_dim},), got {np.shape(goal)}"
            )
        lo, hi = self._position_box
        pos = features[0, :3]
        if not np.all((pos >= lo) & (pos <= hi)):
            raise InvalidInputError(
                f"options['goal'] position {pos.tolist()} lies outside the observation box "
                f"[{lo.tolist()}, {hi.tolist()}] (within {hi[0] - self.arm.reach_center[0]:.4g} m "
                "of the first joint on each axis)"
            )
        return features[0]

    def step(
        self, action: np.ndarray
    ) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        """Apply an action in [-1, 1] (out-of-range entries are clipped) for one control step.

        Raises:
            InvalidInputError: wrong shape, non-numeric, NaN or inf.
        """
        if self._state is None:
            raise RuntimeError("call reset() before step()")
        a = self._check_action(action)
        cmd = self.robot.apply(a, self._state)
        self.sim.step()
        state = self.robot.state()
        penalty = 0.0
        if self.task.penalty is not None and self.task.penalty.weight > 0:
            target = cmd.target_features
            if target is None:
                target = self.arm.fk_features(cmd.q_target)
            penalty = self.task.penalty.flag(target)
        self._episode_calls += cmd.ik_calls
        self.ik_calls_total += cmd.ik_calls
        self._state = state
        obs = self._obs(state)
        info = self._info(obs, state, cmd.ik_calls, cmd.ik_success, penalty)
        reward = float(self.compute_reward(obs["achieved_goal"], obs["desired_goal"], info))
        terminated = bool(info["is_success"])
        if self.render_mode == "human":
            self.render()
        return obs, reward, terminated, False, info

    def compute_reward(
        self, achieved_goal: np.ndarray, desired_goal: np.ndarray, info: Any
    ) -> np.ndarray:
        """Reward of goals (goal_dim,) -> float32 0-d array, or (B, goal_dim) -> float32 (B,).

        ``info``: one info dict or B of them (only ``feasibility_penalty`` is read).
        Equal, bit for bit, to the reward ``step`` returned for the same goals.
        """
        return self.task.compute_reward(achieved_goal, desired_goal, info)

    def compute_terminated(
        self, achieved_goal: np.ndarray, desired_goal: np.ndarray, info: Any
    ) -> np.ndarray:
        """Success of goals (batched like :meth:`compute_reward`): episodes end on success."""
        return self.task.is_success(achieved_goal, desired_goal)

    def compute_truncated(
        self, achieved_goal: np.ndarray, desired_goal: np.ndarray, info: Any
    ) -> np.ndarray:
        """Never truncated by the env itself (the ``TimeLimit`` of ``gymnasium.make`` does that)."""
        return np.zeros(np.shape(achieved_goal)[:-1], dtype=bool)

    # -------------------------------------------------------------- helpers
    def _check_action(self, action: Any) -> np.ndarray:
        try:
            raw = np.asarray(action)
            if raw.dtype.kind not in "biufO":  # strings, complex, dates: not actions
                raise TypeError(f"dtype {raw.dtype} is not a real number type")
            a = raw.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(
                f"action must be numeric with shape {self.action_space.shape}: {exc}"
            ) from exc
        if a.shape != self.action_space.shape:
            raise InvalidInputError(
                f"action must have shape {self.action_space.shape}, got {a.shape}"
            )
        if not np.all(np.isfinite(a)):
            raise InvalidInputError(f"action contains NaN or inf: {a}")
        return np.clip(a, -1.0, 1.0)

    def _reseed_solvers(self) -> None:
        """Reseed every solver with its own generator, however deeply nested, from
        ``self.np_random`` (one draw per controller / goal-filter solver that holds any),
        so seeded resets make ee rollouts and IK goal filtering reproducible."""
        for part in self._solvers():
            if seeded_solvers([part]):
                reseed([part], int(self.np_random.integers(2**63)))

    def _obs(self, state: RobotState) -> dict[str, np.ndarray]:
        extra = self.robot.controller.extra_obs()
        lim = self.arm.joint_limits
        q = np.clip(state.q, lim[:, 0] - JOINT_MARGIN, lim[:, 1] + JOINT_MARGIN)
        qdot = np.clip(state.qdot, -MAX_JOINT_SPEED, MAX_JOINT_SPEED)
        observation = np.concatenate([q, qdot, state.features, extra]).astype(np.float32)
        return {
            "observation": observation,
            "achieved_goal": self.task.goal_of(state.features),
            "desired_goal": self.task.goal_of(self._goal_features),
        }

    def _info(
        self,
        obs: dict[str, np.ndarray],
        state: RobotState,
        calls: int,
        ik_success: bool,
        penalty: float,
    ) -> dict[str, Any]:
        d_pos, d_rot = self.task.distances(obs["achieved_goal"], obs["desired_goal"])
        success = (d_pos < self.task.distance_threshold) & (d_rot < self.task.angle_threshold)
        return {
            "is_success": bool(success),
            "distance": float(d_pos),
            "angle_error": float(d_rot),
            "ik_calls": int(calls),
            "ik_calls_episode": int(self._episode_calls),
            "ik_success": bool(ik_success),
            "goal_class": int(self._goal_class),
            "kinv": float(state.kinv),
            "feasibility_penalty": float(penalty),
        }

    @property
    def goal_pose(self) -> np.ndarray:
        """The episode's full goal pose (feature_dim,): the desired goal plus, for position
        goals, the orientation sampled with it."""
        return self._goal_features.copy()

    # -------------------------------------------------------------- render
    def render(self) -> np.ndarray | None:
        """``rgb_array``: an (render_height, render_width, 3) uint8 image of the arm and the
        goal marker (green sphere of radius ``distance_threshold``); ``human``: paces the
        GUI to real time and returns None."""
        if self.render_mode == "rgb_array":
            return self.sim.render(
                self.render_width,
                self.render_height,
                target=self._camera_target(),
                distance=CAMERA_DISTANCE_FRACTION * self.arm.reach,
                yaw=CAMERA_YAW,
                pitch=CAMERA_PITCH,
            )
        if self.render_mode == "human":
            now = time.perf_counter()
            wait = self.sim.dt - (now - self._last_render)
            if wait > 0:
                time.sleep(wait)
            self._last_render = time.perf_counter()
        return None

    def _camera_target(self) -> np.ndarray:
        return self.arm.reach_center + np.array([0.0, 0.0, 0.3 * self.arm.reach])

    def _aim_gui_camera(self) -> None:
        """Point the GUI's camera (``render_mode="human"``) as the ``rgb_array`` images are framed."""
        import pybullet

        pybullet.resetDebugVisualizerCamera(
            CAMERA_DISTANCE_FRACTION * self.arm.reach,
            CAMERA_YAW,
            CAMERA_PITCH,
            self._camera_target().tolist(),
            physicsClientId=self.sim.client,
        )

    def close(self) -> None:
        """Disconnect the PyBullet client and close the solvers this env made (idempotent)."""
        for part in self._owned:
            close = getattr(part, "close", None)
            if close is not None:
                close()
        self._owned = []
        self.sim.close()
