"""The env's one IK accept rule (``ik_tolerance``) and the ``hybrid`` solver it makes."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import ikml_gym
from ikml_gym.demo import plugin_stack
from ikml_gym.envs.task import default_distance_threshold, task_ik_tolerance
from ikml_gym.learned.mh_ik import MultiHypothesisIK
from ikml_gym.solvers import DLSIK, HybridIK, IKResult, IKSolver

REACH_EE = {"arm4": "ikml_gym/Reach4DOFEE-v0", "arm6": "ikml_gym/Reach6DOFEE-v0"}


def _solvers(env):
    solver = env.unwrapped.robot.controller.solver
    return [solver, getattr(solver, "learned", None), getattr(solver, "fallback", None)]


@pytest.mark.parametrize("name", ["pybullet", "hybrid", "dls", "analytic"])
@pytest.mark.parametrize("arm_name", ["arm4", "arm6"])
def test_every_solver_the_env_makes_uses_the_task_tolerance(name, arm_name):
    arm = ikml_gym.load_arm(arm_name)
    env = gym.make(REACH_EE[arm_name], ik_solver=name)
    try:
        pos, rot = task_ik_tolerance(default_distance_threshold(arm))
        assert pos == pytest.approx(0.05 * arm.reach / 3) and rot == pytest.approx(np.deg2rad(3))
        for s in filter(None, _solvers(env)):
            assert (s.pos_tol, s.rot_tol) == pytest.approx((pos, rot)), s
    finally:
        env.close()


def test_ik_tolerance_keyword_and_distance_threshold_set_the_rule():
    env = gym.make(
        "ikml_gym/Reach4DOFEE-v0", ik_solver="hybrid", goal_filter="ik", ik_tolerance=(2e-3, 0.05)
    )
    try:
        goal_solver = env.unwrapped.task.goal_filter.solver
        for s in [*filter(None, _solvers(env)), goal_solver]:
            assert (s.pos_tol, s.rot_tol) == pytest.approx((2e-3, 0.05))
    finally:
        env.close()
    env = gym.make("ikml_gym/Reach4DOFEE-v0", distance_threshold=0.03)
    try:
        assert env.unwrapped.robot.controller.solver.pos_tol == pytest.approx(0.01)
    finally:
        env.close()


@pytest.mark.parametrize("bad", [0.01, (0.01,), (0.0, 0.1), (0.01, -1.0), (np.nan, 0.1), "ab"])
def test_bad_ik_tolerance_is_refused_before_anything_is_built(bad):
    with pytest.raises(ikml_gym.InvalidInputError, match="ik_tolerance"):
        gym.make("ikml_gym/Reach4DOFEE-v0", ik_tolerance=bad)


@pytest.mark.parametrize("arm_name", ["arm4", "arm6"])
def test_the_demo_plugin_stack_uses_the_same_rule(arm_name):
    arm = ikml_gym.load_arm(arm_name)
    stack = plugin_stack(arm)
    try:
        solver = stack.env_kwargs["ik_solver"]
        expected = task_ik_tolerance(default_distance_threshold(arm))
        assert (solver.pos_tol, solver.rot_tol) == pytest.approx(expected)
    finally:
        stack.close()


class _Recorder(IKSolver):
    """A 'numerical' solver that records the seeds it was given and answers with them."""

    def __init__(self, arm):
        super().__init__(arm)
        self.seeds: list[np.ndarray] = []

    def _solve(self, features, q0):
        self.seeds.append(q0.copy())
        return self.evaluate(q0, features)


class _Wrong(IKSolver):
    """A free solver whose answers are always far off (a learned IK that missed)."""

    numerical = False

    def _solve(self, features, q0):
        q = np.full((len(features), self.arm.dof), 2.5)
        return IKResult(q, np.zeros(len(q), bool), np.ones(len(q)), np.ones(len(q)))


def test_hybrid_seeds_its_fallback_with_the_callers_joints(arm4, rng):
    fallback = _Recorder(arm4)
    hybrid = HybridIK(_Wrong(arm4), fallback)
    q0 = arm4.random_q(3, rng)
    hybrid.solve(arm4.fk_features(q0 + 0.01), q0=q0)
    np.testing.assert_array_equal(fallback.seeds[0], q0)  # tracking: the arm's own branch
    hybrid.solve(arm4.fk_features(q0))
    np.testing.assert_array_equal(fallback.seeds[1], np.full((3, 4), 2.5))  # else the guess
    assert hybrid.calls == 6


def _goal_directed(env, episodes):
    """Step straight toward the goal position, pitch held; -> (success, calls per step)."""
    base = env.unwrapped
    step = base.robot.controller.ee_step
    wins, steps = 0, 0
    calls0 = base.ik_calls_total
    for ep in range(episodes):
        obs, info = env.reset(seed=ep)
        done = False
        while not done:
            action = np.zeros(env.action_space.shape, np.float32)
            action[:3] = np.clip((obs["desired_goal"] - obs["achieved_goal"]) / step, -1, 1)
            obs, _, terminated, truncated, info = env.step(action)
            done, steps = terminated or truncated, steps + 1
        wins += bool(info["is_success"])
    return wins / episodes, (base.ik_calls_total - calls0) / steps


def test_hybrid_on_arm6_counts_its_calls_and_meets_the_env_tolerance(rng):
    """``ik_solver="hybrid"`` on arm6: the shipped learned IK answers, FK-checked;
    every numerical call is the fallback's, and every accepted answer is within the
    env's tolerance."""
    env = gym.make("ikml_gym/Reach6DOFEE-v0", ik_solver="hybrid", goal_filter="classifier")
    try:
        hybrid = env.unwrapped.robot.controller.solver
        assert isinstance(hybrid, HybridIK) and isinstance(hybrid.learned, MultiHypothesisIK)
        _goal_directed(env, 2)
        assert env.unwrapped.ik_calls_total == hybrid.calls == hybrid.fallback.calls
        arm = hybrid.arm
        res = hybrid.solve(arm.fk_features(arm.random_q(40, rng)))
        pos, rot = task_ik_tolerance(default_distance_threshold(arm))
        assert res.success.mean() >= 0.9
        assert np.all(res.pos_err[res.success] <= pos) and np.all(res.rot_err[res.success] <= rot)
    finally:
        env.close()


@pytest.mark.slow
def test_hybrid_env_saves_calls_and_keeps_success():
    """What a user gets from gym.make: the learned IK answers nearly every step."""
    results = {}
    for name in ("pybullet", "hybrid"):
        env = gym.make("ikml_gym/Reach4DOFEE-v0", ik_solver=name, goal_filter="classifier")
        try:
            results[name] = _goal_directed(env, 40)
        finally:
            env.close()
    (success_pb, calls_pb), (success_hy, calls_hy) = results["pybullet"], results["hybrid"]
    assert calls_pb == pytest.approx(1.0)
    assert calls_hy <= 0.08
    assert success_hy >= success_pb - 0.075


def test_dls_fallback_in_hybrid_counts_per_pose(arm4, rng):
    hybrid = HybridIK(_Wrong(arm4), DLSIK(arm4))
    q = arm4.random_q(5, rng)
    res = hybrid.solve(arm4.fk_features(q), q0=q)
    assert res.success.all() and hybrid.calls == 5
