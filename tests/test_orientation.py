"""The ik_prior controller chooses the orientation a position goal leaves free."""

import gymnasium as gym
import numpy as np
import pytest

import ikml_gym  # noqa: F401  (registers the env ids)
from ikml_gym import kinematics as kin
from ikml_gym.envs.orientation import (
    N_PITCHES,
    N_ROTATIONS,
    OrientationChooser,
    best_answer,
    spread_quaternions,
)
from ikml_gym.envs.registration import MAX_EPISODE_STEPS
from ikml_gym.solvers import AnalyticIK, PyBulletIK


class FixedClasses:
    """A classifier stand-in: the classes of the candidates, in order."""

    def __init__(self, classes):
        self.classes = np.asarray(classes)

    def predict(self, features):
        assert len(features) == len(self.classes)
        return self.classes


def test_arm4_candidates_are_the_goal_pitch_then_a_pitch_grid(arm4):
    goal = np.array([0.1, 0.05, 0.2, 0.3])
    cands = OrientationChooser(arm4).candidates(goal)
    assert cands.shape == (1 + N_PITCHES, 4)
    np.testing.assert_array_equal(cands[:, :3], np.broadcast_to(goal[:3], (1 + N_PITCHES, 3)))
    assert cands[0, 3] == goal[3]
    grid = cands[1:, 3]
    assert np.all((grid > -np.pi) & (grid <= np.pi + 1e-12))
    np.testing.assert_allclose(np.diff(np.sort(grid)), 2 * np.pi / N_PITCHES)


def test_arm6_candidates_cover_the_rotations(arm6):
    quats = spread_quaternions(N_ROTATIONS)
    np.testing.assert_allclose(np.linalg.norm(quats, axis=1), 1.0)
    np.testing.assert_array_equal(quats, spread_quaternions(N_ROTATIONS))  # deterministic
    rng = np.random.default_rng(0)
    probe = kin.canonical_quat(rng.normal(size=(500, 4)))
    probe /= np.linalg.norm(probe, axis=1, keepdims=True)
    dots = np.abs(probe @ quats.T)
    nearest = 2 * np.arccos(np.clip(dots.max(axis=1), 0.0, 1.0))
    # 32 spread rotations leave no probe further than 80 degrees from one (a random set of
    # 32 leaves some near 85-90 degrees) and 40 degrees on average
    assert nearest.max() < np.deg2rad(80), np.rad2deg(nearest.max())
    assert nearest.mean() < np.deg2rad(40), np.rad2deg(nearest.mean())
    goal = np.array([0.3, 0.0, 0.4, 0.0, 0.0, 0.0, 1.0])
    cands = OrientationChooser(arm6).candidates(goal)
    assert cands.shape == (1 + N_ROTATIONS, 7)
    np.testing.assert_array_equal(cands[0], goal)


def test_best_answer_prefers_within_tolerance_then_class_then_position_error():
    pos_err = np.array([0.001, 0.002, 0.0005, 0.5])
    classes = np.array([2, 3, 1, 3])
    assert best_answer(pos_err, classes, pos_tol=0.01) == 1  # best class within the tolerance
    assert best_answer(pos_err, np.array([2, 2, 2, 3]), pos_tol=0.01) == 2  # smallest error
    assert best_answer(np.array([0.3, 0.2, 0.4]), np.array([3, 1, 3]), pos_tol=0.01) == 1


def test_a_numerical_prior_solves_one_candidate_the_first_of_the_best_class(arm4):
    n = 1 + N_PITCHES
    classes = np.zeros(n, dtype=int)
    classes[[3, 7, 9]] = [2, 3, 3]
    chooser = OrientationChooser(arm4, FixedClasses(classes))
    goal = np.array([0.15, 0.0, 0.2, 0.0])
    cands = chooser.candidates(goal)
    prior = PyBulletIK(arm4)
    try:
        choice = chooser.solve(prior, goal, np.zeros(arm4.dof))
        assert prior.calls == 1
    finally:
        prior.close()
    np.testing.assert_array_equal(choice.pose, cands[7])
    assert choice.pose_class == 3


def test_a_free_prior_keeps_the_reachable_answer_nearest_the_position(arm4):
    """Analytic IK is free: every candidate is solved, and the kept answer reaches the goal."""
    goal = np.array([0.15, 0.0, 0.2, 0.0])
    classes = np.full(1 + N_PITCHES, 2)
    choice = OrientationChooser(arm4, FixedClasses(classes)).solve(
        AnalyticIK(arm4), goal, np.zeros(arm4.dof)
    )
    reached = arm4.features_and_kinv(choice.q)[0]
    assert np.linalg.norm(reached[:3] - goal[:3]) < 1e-3
    assert choice.success


@pytest.mark.parametrize("env_id", ["ikml_gym/Reach4DOFIKPrior-v0", "ikml_gym/Reach6DOFIKPrior-v0"])
def test_prior_pose_is_at_the_goal_position_and_the_goal_stays_a_position(env_id):
    env = gym.make(env_id)
    try:
        obs, info = env.reset(seed=3)
        assert obs["desired_goal"].shape == (3,)
        np.testing.assert_allclose(info["prior_pose"][:3], obs["desired_goal"], atol=1e-6)
        ctrl = env.unwrapped.robot.controller
        np.testing.assert_array_equal(ctrl.prior_pose, info["prior_pose"])
        np.testing.assert_array_equal(obs["observation"][-len(ctrl.q_prior) :], ctrl.q_prior)
        _, info = env.reset(seed=3)
        np.testing.assert_array_equal(info["prior_pose"], ctrl.prior_pose)
    finally:
        env.close()


def test_pose_goals_are_solved_as_they_are():
    env = gym.make("ikml_gym/Reach4DOFIKPrior-v0", goal_type="pose")
    try:
        _, info = env.reset(seed=2)
        np.testing.assert_array_equal(info["prior_pose"], env.unwrapped.goal_pose)
    finally:
        env.close()


@pytest.mark.parametrize(
    "env_id",
    [
        f"ikml_gym/Reach{arm}{region}IKPrior-v0"
        for region in ("", "Local")
        for arm in ("4DOF", "6DOF")
    ],
)
def test_zero_action_succeeds_in_98_percent_of_seeded_episodes(env_id):
    """The default prior envs (whole workspace and Local): the untrained (zero) action
    reaches >= 98% of 200 seeded goals."""
    env = gym.make(env_id)
    successes = 0
    try:
        zero = np.zeros(env.action_space.shape, dtype=np.float32)
        for seed in range(200):
            env.reset(seed=seed)
            for _ in range(MAX_EPISODE_STEPS):
                _, _, term, trunc, info = env.step(zero)
                if term or trunc:
                    break
            successes += bool(info["is_success"])
    finally:
        env.close()
    assert successes >= 196, successes
