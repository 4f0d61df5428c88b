"""The engine-free env creator of ``ikml_gym.integrations.envs`` (no Ray needed).

Runs in the main virtualenv (gymnasium 1.4) and in the RLlib one (gymnasium 1.2),
so the creator, the seeding and the flat observation are checked on both.
"""

from __future__ import annotations

import itertools

import gymnasium as gym
import numpy as np
import pytest

import ikml_gym
from ikml_gym.errors import InvalidInputError
from ikml_gym.integrations import envs as integ
from ikml_gym.integrations.envs import (
    FLAT_ORDER,
    EnvCallError,
    FlattenGoalObservation,
    env_seed,
    make_env,
    split_env_config,
)

DENSE = "ikml_gym/Reach4DOFDense-v0"


class FakeContext(dict):
    """What RLlib's ``EnvContext`` looks like to a creator: a dict with indices."""

    def __init__(self, config: dict, worker_index: int, vector_index: int = 0) -> None:
        super().__init__(config)
        self.worker_index = worker_index
        self.vector_index = vector_index


@pytest.fixture
def made():
    """``make(...)`` -> a :func:`make_env` env, closed after the test."""
    opened: list[gym.Env] = []

    def make(*args, **kwargs) -> gym.Env:
        env = make_env(*args, **kwargs)
        opened.append(env)
        return env

    yield make
    for env in opened:
        env.close()


def test_env_seed_is_injective_and_checked():
    fields = [0, 1, 2, 2**32 - 1]
    seeds = {env_seed(*args) for args in itertools.product(fields, repeat=4)}
    assert len(seeds) == len(fields) ** 4
    for bad in (-1, 2**32, 1.0, True, "3"):
        with pytest.raises(InvalidInputError, match="worker_index"):
            env_seed(0, bad, 0)


def test_envs_of_a_run_get_distinct_seeds_and_goals(made):
    # what RLlib does: every env of a runner from the same context (vector_index 0)
    envs = [
        made(DENSE, FakeContext({"seed": 5}, worker_index=w))
        for w in (0, 1, 1, 2, 2)  # runner 1 and 2 step two envs each
    ]
    seeds = [env.unwrapped.np_random_seed for env in envs]
    assert len(set(seeds)) == len(seeds)
    goals = [env.reset()[0][-3:] for env in envs]
    assert len({g.tobytes() for g in goals}) == len(goals)
    # each env has its own PyBullet client
    clients = [env.unwrapped.sim.client for env in envs]
    assert len(set(clients)) == len(clients)


def test_same_seed_and_indices_reproduce_the_goal_sequence(made):
    a = made(DENSE, {"seed": 11}, worker_index=3, vector_index=1)
    integ._INSTANCES.clear()  # a fresh process counts instances from 0 again
    b = made(DENSE, {"seed": 11}, worker_index=3, vector_index=1)
    assert a.unwrapped.np_random_seed == b.unwrapped.np_random_seed
    for _ in range(3):
        np.testing.assert_array_equal(a.reset()[0], b.reset()[0])


def test_flat_observation_layout_and_reward_recompute(made):
    env = made(DENSE, {"seed": 0})
    base = env.unwrapped
    obs_dim = base.observation_space["observation"].shape[0]
    goal_dim = base.observation_space["desired_goal"].shape[0]
    assert env.observation_space.shape == (obs_dim + 2 * goal_dim,)
    assert env.observation_space.dtype == np.float32
    flat, info = env.reset()
    assert env.observation_space.contains(flat)
    parts = env.get_wrapper_attr("unflatten")(flat)
    assert list(parts) == list(FLAT_ORDER)
    np.testing.assert_array_equal(parts["desired_goal"], base._obs(base._state)["desired_goal"])
    rewards, observations, infos = [], [], []
    for _ in range(10):
        flat, reward, _, _, info = env.step(env.action_space.sample())
        rewards.append(reward)
        observations.append(flat)
        infos.append(info)
        assert {"is_success", "ik_calls", "ik_calls_episode"} <= set(info)
    goals = env.get_wrapper_attr("unflatten")(np.stack(observations))
    recomputed = env.compute_reward(goals["achieved_goal"], goals["desired_goal"], infos)
    np.testing.assert_allclose(recomputed, rewards, rtol=0, atol=1e-6)
    with pytest.raises(InvalidInputError, match=r"\(18,\)"):
        env.get_wrapper_attr("unflatten")(np.zeros(17))


def test_flatten_rejects_a_non_goal_env():
    env = gym.make("CartPole-v1")
    with pytest.raises(TypeError, match="Dict observation space"):
        FlattenGoalObservation(env)
    env.close()


def test_env_config_becomes_make_keywords(made):
    env = made("ikml_gym/Reach4DOFEE-v0", {"ik_solver": "hybrid", "max_episode_steps": 7})
    assert type(env.unwrapped.robot.controller.solver).__name__ == "HybridIK"
    env.reset()
    for step in range(1, 8):
        *_, terminated, truncated, _ = env.step(np.zeros(4, dtype=np.float32))
        if terminated:
            break
    assert terminated or (truncated and step == 7)


@pytest.mark.parametrize(
    ("env_id", "config", "match"),
    [
        ("ikml_gym/Reach4DOFDnse-v0", {}, "did you mean ikml_gym/Reach4DOFDense-v0"),
        ("CartPole-v1", {}, "unknown env id 'CartPole-v1'"),
        (DENSE, {"goal_rang": 0.5}, "'goal_rang' \\(did you mean 'goal_range'\\?\\)"),
        (DENSE, {"seed": -1}, "base_seed must be in"),
        (DENSE, {"seed": "0"}, "base_seed must be an integer"),
        (DENSE, [("goal_range", 0.5)], "env_config must be a dict"),
    ],
)
def test_bad_id_or_config_is_named_before_anything_is_built(env_id, config, match):
    from leak_probes import live_pybullet_clients

    before = live_pybullet_clients()
    with pytest.raises(InvalidInputError, match=match):
        make_env(env_id, config)
    assert live_pybullet_clients() == before


def test_bad_keyword_value_is_the_envs_own_error():
    with pytest.raises(InvalidInputError, match="goal_range"):
        make_env(DENSE, {"goal_range": -1.0})


def test_split_env_config_keeps_make_keywords():
    seed, kwargs = split_env_config(
        {"seed": 4, "goal_filter": "classifier", "max_episode_steps": 9}
    )
    assert seed == 4
    assert kwargs == {"goal_filter": "classifier", "max_episode_steps": 9}


def test_step_error_names_env_id_worker_and_action(made):
    env = made("ikml_gym/Reach4DOFIKPrior-v0", FakeContext({}, worker_index=2, vector_index=1))
    env.reset()
    with pytest.raises(EnvCallError) as info:
        env.step(np.array([0.1, np.nan, 0.0, 0.0]))
    message = str(info.value)
    assert "ikml_gym/Reach4DOFIKPrior-v0 (worker 2, vector index 1)" in message
    assert "step(action=[0.1 nan 0.  0. ])" in message
    assert "InvalidInputError: action contains NaN" in message
    assert isinstance(info.value.__cause__, InvalidInputError)
    with pytest.raises(EnvCallError, match=r"reset\(seed=None, options=\{'bad': 1\}\)"):
        env.reset(options={"bad": 1})


def test_every_registered_id_makes_a_flat_env(made):
    for env_id in ikml_gym.ENV_IDS:
        env = made(env_id)
        flat, _ = env.reset()
        assert flat.ndim == 1 and env.observation_space.contains(flat), env_id
