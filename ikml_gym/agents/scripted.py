"""A scripted reaching agent for ``control_type="ee"`` envs, and an episode runner.

The agent steps the end-effector straight toward the goal: the position part of
the action is ``(goal - ee) / ee_step`` and the orientation part turns the tool
toward the goal orientation (pose goals) or holds it (position goals), each
part scaled into [-1, 1]. With a position goal, when the last step's IK failed
(the held orientation makes the target unreachable, typically high up or at the
edge of the workspace) the tool turns toward the orientation of the env's goal
pose, which the goal filter found reachable with that position (read from
``env.unwrapped.goal_pose``: privileged, as scripted agents are). Steering there
all the time succeeds less often: the sweep crosses more singular configurations
(see benchmarks/results/design_choices.md). Whatever IK solver the env was built with turns those
targets into joint targets, so the same agent measures any IK stack.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

import gymnasium as gym
import numpy as np
from scipy.spatial.transform import Rotation

from .. import kinematics as kin
from ..arms import POSE4


class ScriptedReacher:
    """Greedy straight-line reaching policy for an ``ee``-controlled :class:`ArmReachEnv`."""

    def __init__(self, env: gym.Env) -> None:
        base = env.unwrapped
        if getattr(base, "control_type", None) != "ee":
            raise ValueError("ScriptedReacher drives control_type='ee' envs")
        self.arm = base.arm
        self.controller = base.robot.controller
        self.goal_type = base.goal_type
        self.base = base
        self.action_dim = int(np.prod(env.action_space.shape))

    def __call__(self, obs: dict[str, np.ndarray], info: dict | None = None) -> np.ndarray:
        """Action (action_dim,) float32 in [-1, 1] for an observation (and the last info)."""
        ee = obs["observation"][2 * self.arm.dof : 2 * self.arm.dof + self.arm.feature_dim]
        goal = obs["desired_goal"].astype(np.float64)
        action = np.zeros(self.action_dim)
        action[:3] = (goal[:3] - ee[:3]) / self.controller.ee_step
        stuck = info is not None and not info.get("ik_success", True)
        if self.goal_type == "position" and stuck:
            goal = np.asarray(self.base.goal_pose, dtype=np.float64)
        if self.goal_type == "pose" or stuck:
            if self.arm.feature_kind == POSE4:
                action[3] = kin.wrap_angle(np.array(goal[3] - ee[3])) / self.controller.rot_step
            else:
                turn = Rotation.from_quat(goal[3:]) * Rotation.from_quat(ee[3:]).inv()
                action[3:6] = turn.as_rotvec() / self.controller.rot_step
        # scale each part as a whole, so the direction is kept
        for part in (slice(0, 3), slice(3, self.action_dim)):
            peak = np.max(np.abs(action[part])) if action[part].size else 0.0
            if peak > 1.0:
                action[part] /= peak
        return action.astype(np.float32)


@dataclass
class EpisodeStats:
    """What ``run_episodes`` measured."""

    episodes: int
    success_rate: float
    mean_final_distance_mm: float
    ik_calls: int
    calls_per_episode: float
    goals_rejected: int
    wall_time_s: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _episode(env: gym.Env, seed: int, policy: Any) -> tuple[bool, float, int, float]:
    """One seeded episode -> (success, final distance m, goals rejected, seconds)."""
    t0 = time.perf_counter()
    obs, info = env.reset(seed=seed)
    rejected = int(info.get("goal_tries", 1)) - 1
    terminated = truncated = False
    while not (terminated or truncated):
        obs, _, terminated, truncated, info = env.step(policy(obs, info))
    return bool(info["is_success"]), float(info["distance"]), rejected, time.perf_counter() - t0


def run_episodes(env: gym.Env, episodes: int, seed: int = 0, policy: Any = None) -> EpisodeStats:
    """Run ``episodes`` seeded episodes (seed, seed+1, ...) and total the numerical IK calls.

    ``policy(obs, info)`` gets the last info too (the reset's, then each step's).

    Calls are read from the env's ``ik_calls_total`` (the sum of its solvers'
    ``calls`` counters over goal filtering and control), never computed.
    """
    return run_side_by_side({"env": env}, episodes, seed, {"env": policy})["env"]


def run_side_by_side(
    envs: dict[str, gym.Env],
    episodes: int,
    seed: int = 0,
    policies: dict[str, Any] | None = None,
) -> dict[str, EpisodeStats]:
    """:func:`run_episodes` for several envs at once, episode k of every env in turn.

    Every env runs the same seeded episodes, so calls and success are what separate
    runs give; interleaving them makes the wall times comparable on a machine whose
    load changes (each env's ``wall_time_s`` is the sum of its own episodes).
    """
    if episodes <= 0:
        raise ValueError(f"episodes must be positive, got {episodes}")
    policies = dict(policies or {})
    for name, env in envs.items():
        if policies.get(name) is None:
            policies[name] = ScriptedReacher(env)
    calls0 = {name: env.unwrapped.ik_calls_total for name, env in envs.items()}
    runs: dict[str, list[tuple[bool, float, int, float]]] = {name: [] for name in envs}
    for k in range(episodes):
        for name, env in envs.items():
            runs[name].append(_episode(env, seed + k, policies[name]))
    out = {}
    for name, env in envs.items():
        success, distance, rejected, seconds = zip(*runs[name])
        calls = int(env.unwrapped.ik_calls_total - calls0[name])
        out[name] = EpisodeStats(
            episodes=episodes,
            success_rate=sum(success) / episodes,
            mean_final_distance_mm=1000.0 * float(np.mean(distance)),
            ik_calls=calls,
            calls_per_episode=calls / episodes,
            goals_rejected=sum(rejected),
            wall_time_s=sum(seconds),
        )
    return out
