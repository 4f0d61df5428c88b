"""Gymnasium environments: every registered id through the checkers, determinism, pickling,
rendering, reward vectorisation, plug-ins (ee IK, IK prior, goal filters, penalty), wrappers,
client hygiene and vectorised / HER use."""

from __future__ import annotations

import gc
import pickle
import subprocess
import sys
import warnings

import gymnasium as gym
import numpy as np
import pybullet
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from gymnasium.utils.env_checker import data_equivalence
from gymnasium.utils.passive_env_checker import env_render_passive_checker

import ikml_gym
from ikml_gym import ENV_IDS
from ikml_gym.data import ReachabilityOracle
from ikml_gym.envs.registration import ENTRY_POINT, MAX_EPISODE_STEPS
from ikml_gym.errors import InvalidInputError, ModelFileError
from ikml_gym.labels import label_from_kinv
from ikml_gym.learned.mh_ik import MultiHypothesisIK
from ikml_gym.solvers import AnalyticIK, HybridIK, PyBulletIK

# ----------------------------------------------------------------------------- helpers


def make(env_id: str, **kwargs):
    """``gymnasium.make``; IKPrior ids fall back to the closed-form prior while no pretrained
    learned IK ships (``test_ikprior_default_is_the_pretrained_learned_ik`` reports that)."""
    try:
        return gym.make(env_id, **kwargs)
    except ModelFileError:
        if "IKPrior" not in env_id or "ik_prior" in kwargs:
            raise
        return gym.make(env_id, ik_prior="analytic", **kwargs)


class OracleClassifier:
    """Stand-in for ``FeasibilityClassifier``: exact classes from the closed-form oracle
    (``ikml_gym.data``), thresholds at the 20 / 80 percentiles of kinv over FK poses."""

    def __init__(self, arm: ikml_gym.Arm, seed: int = 0) -> None:
        self.arm = arm
        self.oracle = ReachabilityOracle(arm)
        q = arm.random_q(2000, np.random.default_rng(seed))
        _, kinv = self.oracle(arm.fk_features(q))
        self.thresholds = np.percentile(kinv, [20.0, 80.0])
        self.n_predicted = 0

    def predict(self, features):
        f, _ = self.arm.check_features(features)
        self.n_predicted += len(f)
        reachable, kinv = self.oracle(f)
        return label_from_kinv(reachable, kinv, self.thresholds)


@pytest.fixture(scope="module")
def oracle4(arm4):
    return OracleClassifier(arm4)


@pytest.fixture(scope="module")
def oracle6(arm6):
    return OracleClassifier(arm6)


def rollout(env, seed: int, n: int = 20):
    """(obs, reward, terminated, truncated, info) of a seeded rollout with seeded actions."""
    out = [env.reset(seed=seed)]
    env.action_space.seed(seed)
    for _ in range(n):
        step = env.step(env.action_space.sample())
        assert env.observation_space.contains(step[0]), step[0]
        out.append(step)
        if step[2] or step[3]:
            out.append(env.reset())
    return out


def assert_same(a, b) -> None:
    assert data_equivalence(a, b, exact=True), (a, b)


def connected_clients() -> list[int]:
    gc.collect()  # envs dropped without close() by earlier (failed) tests
    return [i for i in range(512) if pybullet.getConnectionInfo(i)["isConnected"]]


# -------------------------------------------------------------------------- registration


def test_id_grid_and_specs():
    assert "ikml_gym/Reach4DOF-v0" in ENV_IDS and "ikml_gym/Reach6DOF-v0" in ENV_IDS
    for extra in ("Reach4DOFIKPrior-v0", "Reach4DOFEE-v0", "Reach6DOFEEDense-v0"):
        assert f"ikml_gym/{extra}" in ENV_IDS
    for prior in ("Reach6DOFIKPrior-v0", "Reach6DOFIKPriorDense-v0"):
        assert f"ikml_gym/{prior}" in ENV_IDS
    local = [e for e in ENV_IDS if "Local" in e]
    assert len(set(ENV_IDS)) == len(ENV_IDS) == 18 and len(local) == 6
    for env_id in local:  # the panda-gym-like ids: box goals, sparse reward
        assert gym.spec(env_id).kwargs["goal_region"] == "box"
        assert gym.spec(env_id).kwargs["reward_type"] == "sparse"
    for env_id in ENV_IDS:
        spec = gym.spec(env_id)
        assert spec.entry_point == ENTRY_POINT and isinstance(spec.entry_point, str)
        assert spec.max_episode_steps == MAX_EPISODE_STEPS
    ikml_gym.envs.register_envs()  # idempotent, no "overriding" warning
    assert ikml_gym.ENV_IDS is ENV_IDS


@pytest.mark.parametrize("arm", ["arm4", "arm6"])
def test_local_goals_lie_in_a_cube_about_the_start_pose(arm):
    """``goal_region="box"``: goal positions uniform in a cube of side 0.35 x reach centred on
    the end-effector at the start configuration (panda-gym's region, scaled), all of them
    inside the observation box; the ball ids keep their whole-workspace goals."""
    tag = {"arm4": "4DOF", "arm6": "6DOF"}[arm]
    env = gym.make(f"ikml_gym/Reach{tag}Local-v0")
    base = env.unwrapped
    start = env.reset(seed=0)[0]["achieved_goal"]
    side = 0.35 * base.arm.reach
    assert base.config.goal_range == 0.35
    goals = np.array([env.reset(seed=k)[0]["desired_goal"] for k in range(200)])
    offset = goals - start
    assert np.abs(offset).max() <= side / 2 + 1e-3
    assert np.abs(offset).max(axis=0).min() > 0.4 * side  # it spans the cube on every axis
    assert np.all(goals >= base.observation_space["desired_goal"].low)
    assert np.all(goals <= base.observation_space["desired_goal"].high)
    env.close()
    ball = gym.make(f"ikml_gym/Reach{tag}-v0")
    far = [ball.reset(seed=k)[0]["desired_goal"] for k in range(200)]
    assert np.abs(np.array(far) - start).max() > side  # the ball reaches far beyond the cube
    ball.close()


def test_goal_region_is_checked_and_sizes_its_default():
    with pytest.raises(ValueError, match="goal_region"):
        gym.make("ikml_gym/Reach4DOF-v0", goal_region="sphere")
    env = gym.make("ikml_gym/Reach4DOF-v0", goal_region="box", goal_range=0.2)
    assert env.unwrapped.config.goal_range == 0.2
    env.close()


def test_module_prefix_make_in_fresh_interpreter():
    code = (
        "import sys, gymnasium as gym\n"
        "assert 'ikml_gym' not in sys.modules\n"
        "env = gym.make('ikml_gym:ikml_gym/Reach4DOF-v0')\n"
        "env.reset(seed=0); env.step(env.action_space.sample()); env.close()\n"
        "assert not any(m in sys.modules for m in ('torch', 'matplotlib'))\n"
        "print('ok')\n"
    )
    res = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert res.returncode == 0, res.stderr
    assert "ok" in res.stdout


def test_import_is_light():
    code = "import sys, ikml_gym; print(sorted(m for m in ('torch', 'matplotlib', 'pybullet') if m in sys.modules))"
    res = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "[]"


# ------------------------------------------------------------------------- every id


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_gymnasium_check_env(env_id):
    env = make(env_id, render_mode="rgb_array")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # "human" needs a display; rgb_array frames are checked in test_rgb_array_frame
        gym_check_env(env.unwrapped, skip_render_check=True)
        env_render_passive_checker(env.unwrapped)
    env.close()
    assert [str(w.message) for w in caught] == []


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_sb3_check_env(env_id):
    from stable_baselines3.common.env_checker import check_env

    env = make(env_id)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env.unwrapped, warn=True)  # Gymnasium 1.x wrappers hide compute_reward
    env.close()
    assert [str(w.message) for w in caught] == []


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_seeded_rollouts_are_identical(env_id):
    env_a, env_b = make(env_id), make(env_id)
    a, b = rollout(env_a, seed=7), rollout(env_b, seed=7)
    # the same env reseeded replays itself too (solver restart generators are reseeded)
    c = rollout(env_a, seed=7)
    env_a.close()
    env_b.close()
    assert_same(a, b)
    assert_same(a, c)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_pickle_round_trip(env_id):
    env = make(env_id)
    env.reset(seed=3)
    env.action_space.seed(3)
    for _ in range(3):
        env.step(env.action_space.sample())
    clone = pickle.loads(pickle.dumps(env))
    action = env.action_space.sample()
    assert_same(env.step(action), clone.step(action))
    assert_same(env.reset(), clone.reset())
    env.close()
    clone.close()


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_rgb_array_frame(env_id):
    env = make(env_id, render_mode="rgb_array", render_width=320, render_height=240)
    env.reset(seed=0)
    frame = env.render()
    env.close()
    assert frame.shape == (240, 320, 3) and frame.dtype == np.uint8
    assert frame.std() > 5.0  # not blank
    green = (frame[:, :, 1] > 120) & (frame[:, :, 0] < 100) & (frame[:, :, 2] < 100)
    assert green.sum() > 10  # the goal marker is in view


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_compute_reward_matches_step_rewards(env_id):
    env = make(env_id)
    steps = [s for s in rollout(env, seed=11, n=30) if len(s) == 5]
    base = env.unwrapped
    ag = np.stack([s[0]["achieved_goal"] for s in steps])
    dg = np.stack([s[0]["desired_goal"] for s in steps])
    infos = np.array([s[4] for s in steps], dtype=object)
    rewards = np.array([s[1] for s in steps])
    batch = base.compute_reward(ag, dg, infos)
    assert batch.dtype == np.float32 and batch.shape == (len(steps),)
    np.testing.assert_array_equal(batch, rewards.astype(np.float32))
    single = base.compute_reward(ag[0], dg[0], steps[0][4])
    assert single.shape == () and single.dtype == np.float32 and float(single) == steps[0][1]
    assert all(s[4]["is_success"] == (s[1] == 0.0) for s in steps) or "Dense" in env_id
    env.close()


VARIANTS = [
    ("ikml_gym/Reach6DOF-v0", {"goal_type": "pose"}),
    ("ikml_gym/Reach4DOFEEDense-v0", {"goal_type": "pose"}),
    ("ikml_gym/Reach6DOFEE-v0", {"goal_type": "pose", "goal_filter": "ik"}),
    ("ikml_gym/Reach4DOFIKPrior-v0", {"goal_type": "pose", "ik_prior": "analytic"}),
    ("ikml_gym/Reach6DOF-v0", {"control_type": "ik_prior", "ik_prior": "analytic"}),
    ("ikml_gym/Reach4DOF-v0", {"goal_filter": "classifier", "singularity_penalty": 0.3}),
]


@pytest.mark.parametrize(("env_id", "kwargs"), VARIANTS, ids=lambda v: str(v))
def test_checkers_on_keyword_variants(env_id, kwargs, oracle4):
    from stable_baselines3.common.env_checker import check_env

    if kwargs.get("goal_filter") == "classifier":
        kwargs = {**kwargs, "classifier": oracle4}
    env = make(env_id, **kwargs)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gym_check_env(env.unwrapped, skip_render_check=True)
        check_env(env.unwrapped, warn=True)
    assert [str(w.message) for w in caught] == []
    a, b = rollout(env, seed=4, n=15), rollout(env, seed=4, n=15)
    assert_same(a, b)
    env.close()


# ---------------------------------------------------------------------- actions, render


def test_bad_actions_raise_and_out_of_range_is_clipped():
    env_a, env_b = make("ikml_gym/Reach4DOF-v0"), make("ikml_gym/Reach4DOF-v0")
    env_a.reset(seed=0)
    env_b.reset(seed=0)
    with pytest.raises(InvalidInputError, match="NaN"):
        env_a.unwrapped.step(np.array([np.nan, 0, 0, 0], dtype=np.float32))
    with pytest.raises(InvalidInputError, match="shape"):
        env_a.unwrapped.step(np.zeros(3, dtype=np.float32))
    with pytest.raises(InvalidInputError):
        env_a.unwrapped.step("left")
    big = np.array([5.0, -7.0, 0.5, 2.0])
    assert_same(env_a.unwrapped.step(big), env_b.unwrapped.step(np.clip(big, -1, 1)))
    env_a.close()
    env_b.close()


def test_human_render_without_display_is_a_clear_error(monkeypatch):
    from ikml_gym.envs.sim import DisplayNotAvailableError

    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setattr(sys, "platform", "linux")
    before = connected_clients()
    with pytest.raises(DisplayNotAvailableError, match="display"):
        gym.make("ikml_gym/Reach4DOFEE-v0", render_mode="human")
    assert connected_clients() == before  # the EE solver made before the sim was closed


def test_invalid_options_are_rejected():
    before = connected_clients()
    for bad in (
        {"control_type": "torque"},
        {"goal_type": "orientation"},
        {"reward_type": "x"},
        {"goal_filter": "maybe"},
        {"ik_solver": "magic", "control_type": "ee"},
        {"singularity_penalty": -1.0},
        {"render_mode": "ascii"},
    ):
        with pytest.raises((ValueError, TypeError)), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # gymnasium's own render_mode warning
            gym.make("ikml_gym/Reach4DOF-v0", **bad)
    assert connected_clients() == before


# ----------------------------------------------------------------------- goals, reward


@pytest.mark.parametrize("arm_name", ["arm4", "arm6"])
def test_pose_goals(arm_name):
    env = make(f"ikml_gym/Reach{arm_name[-1]}DOF-v0", goal_type="pose")
    obs, _ = env.reset(seed=0)
    dim = 4 if arm_name == "arm4" else 7
    assert obs["desired_goal"].shape == obs["achieved_goal"].shape == (dim,)
    base = env.unwrapped
    pose = base.goal_pose
    # the achieved pose reaches the goal exactly when the joints are a solution
    q = AnalyticIK(base.arm).solve_all(pose)[0][0]
    feats = base.arm.fk_features(q[0]).astype(np.float32)
    d = base.task.distances(feats, obs["desired_goal"])
    if np.isfinite(q).all() and d[0] < 1e-4:
        assert base.compute_reward(feats, obs["desired_goal"], {}) == 0.0
    rot_only = obs["desired_goal"].copy()
    rot_only[:3] = obs["achieved_goal"][:3]
    assert base.task.distances(obs["achieved_goal"], rot_only)[0] < 1e-6
    env.close()


def test_dense_reward_is_negative_distance():
    env = make("ikml_gym/Reach6DOFDense-v0")
    env.reset(seed=2)
    _, reward, _, _, info = env.step(np.zeros(6, dtype=np.float32))
    assert reward == pytest.approx(-info["distance"], rel=1e-6)
    env.close()


def test_info_carries_calls_class_and_kinv(oracle4):
    env = make("ikml_gym/Reach4DOF-v0", classifier=oracle4)
    obs, info = env.reset(seed=0)
    for key in (
        "is_success",
        "ik_calls",
        "ik_calls_episode",
        "goal_class",
        "kinv",
        "feasibility_penalty",
        "goal_accepted",
        "goal_tries",
    ):
        assert key in info
    assert info["goal_class"] in (0, 1, 2, 3)
    _, _, _, _, info = env.step(env.action_space.sample())
    q = obs["observation"][:4]
    assert info["kinv"] == pytest.approx(float(env.unwrapped.arm.kinv(env.unwrapped._state.q)))
    assert info["ik_calls"] == 0 and q.shape == (4,)
    env.close()


def test_env_config_holds_the_validated_options_with_the_arm_defaults():
    import dataclasses

    from ikml_gym.envs.reach import ArmReachEnv

    env = ArmReachEnv(arm="arm6", control_type="ee")
    try:
        cfg, reach = env.config, env.arm.reach
        assert cfg.arm is env.arm and cfg.control_type == "ee"
        assert cfg.distance_threshold == pytest.approx(0.05 * reach)
        assert cfg.ee_step == pytest.approx(0.06 * reach)
        assert cfg.ik_tolerance == pytest.approx((cfg.distance_threshold / 3, np.deg2rad(3.0)))
        np.testing.assert_array_equal(cfg.home_q, env.robot.home_q)
        with pytest.raises(dataclasses.FrozenInstanceError):
            cfg.goal_range = 2.0
    finally:
        env.close()


def test_a_bad_keyword_fails_before_any_model_loads_or_client_opens(monkeypatch):
    from ikml_gym.envs import factories
    from ikml_gym.envs.reach import ArmReachEnv

    def forbidden(*args, **kwargs):
        raise AssertionError("a part was built before the keywords were checked")

    monkeypatch.setattr(factories, "make_classifier", forbidden)
    monkeypatch.setattr(factories, "BulletSim", forbidden)
    with pytest.raises(InvalidInputError, match="home_q"):
        ArmReachEnv(goal_filter="classifier", home_q=[9.0] * 4)
    with pytest.raises(InvalidInputError, match="render_height"):
        ArmReachEnv(singularity_penalty=0.1, render_height=0)


# --------------------------------------------------------------------- goal filters


@pytest.mark.parametrize("arm_name", ["arm4", "arm6"])
def test_unfiltered_goals_are_often_unreachable_so_filters_matter(arm_name):
    env = make(f"ikml_gym/Reach{arm_name[-1]}DOF-v0")
    task = env.unwrapped.task
    cand = task.candidates(400, np.random.default_rng(0))
    reachable, _ = ReachabilityOracle(env.unwrapped.arm)(cand)
    env.close()
    assert 0.1 < reachable.mean() < 0.9


def test_ik_goal_filter_counts_calls_and_keeps_reachable_goals(arm4):
    env = make("ikml_gym/Reach4DOF-v0", goal_filter="ik")
    oracle = ReachabilityOracle(arm4)
    tries = []
    for seed in range(8):
        _, info = env.reset(seed=seed)
        assert info["goal_accepted"]
        assert info["ik_calls"] == info["goal_tries"] == info["ik_calls_episode"]
        assert oracle(env.unwrapped.goal_pose[None])[0][0]
        tries.append(info["goal_tries"])
    env.close()
    assert max(tries) > 1  # some candidates were rejected


@pytest.mark.parametrize("exclude", [False, True])
def test_classifier_goal_filter(oracle6, exclude):
    env = make(
        "ikml_gym/Reach6DOF-v0",
        goal_filter="classifier",
        classifier=oracle6,
        exclude_near_singular=exclude,
    )
    for seed in range(6):
        _, info = env.reset(seed=seed)
        assert info["ik_calls"] == 0 and info["goal_accepted"]
        cls = int(oracle6.predict(env.unwrapped.goal_pose[None])[0])
        assert cls == info["goal_class"]
        assert cls >= (2 if exclude else 1)
    env.close()


def test_goal_filter_gives_up_after_max_tries(arm4):
    class Never:
        arm = arm4

        def predict(self, features):
            return np.zeros(len(features), dtype=int)

    env = make(
        "ikml_gym/Reach4DOF-v0", goal_filter="classifier", classifier=Never(), max_goal_tries=40
    )
    _, info = env.reset(seed=0)
    assert not info["goal_accepted"] and info["goal_tries"] == 40
    env.close()


def test_classifier_for_another_arm_is_rejected(oracle6):
    from ikml_gym.errors import ArmMismatchError

    with pytest.raises(ArmMismatchError):
        gym.make("ikml_gym/Reach4DOF-v0", goal_filter="classifier", classifier=oracle6)


# ------------------------------------------------------------------------- penalty


def test_singularity_penalty_survives_relabelling(oracle4, arm4):
    env = make("ikml_gym/Reach4DOF-v0", classifier=oracle4, singularity_penalty=0.5)
    base = env.unwrapped
    env.reset(seed=0)
    flags, steps = [], []
    # drive toward the stretched-out (singular) configuration q = 0
    for _ in range(25):
        a = np.clip(-base._state.q / base.robot.controller.joint_step, -1, 1).astype(np.float32)
        step = env.step(a)
        steps.append(step)
        flags.append(step[4]["feasibility_penalty"])
        if step[2]:
            break
    assert 1.0 in flags
    ag = np.stack([s[0]["achieved_goal"] for s in steps])
    infos = np.array([s[4] for s in steps], dtype=object)
    # relabel with the achieved goal: success, so only the penalty remains
    relabelled = base.compute_reward(ag, ag, infos)
    np.testing.assert_array_equal(relabelled, (-0.5 * np.array(flags)).astype(np.float32))
    env.close()


def test_penalty_needs_the_infos(oracle4):
    env = make("ikml_gym/Reach4DOF-v0", classifier=oracle4, singularity_penalty=0.5)
    obs, info = env.reset(seed=0)
    ag = np.stack([obs["achieved_goal"]] * 3)
    with pytest.raises(InvalidInputError, match="copy_info_dict"):
        env.unwrapped.compute_reward(ag, ag, [{}, {}, {}])  # SB3 HER without copy_info_dict
    with pytest.raises(InvalidInputError, match="infos"):
        env.unwrapped.compute_reward(ag, ag, [info, info])
    env.close()
    env = make("ikml_gym/Reach4DOF-v0")  # no penalty: infos are not read
    np.testing.assert_array_equal(env.unwrapped.compute_reward(ag, ag, [{}, {}, {}]), np.zeros(3))
    env.close()


# ------------------------------------------------------------------------- controllers


def test_ee_control_counts_pybullet_calls():
    env = make("ikml_gym/Reach4DOFEE-v0")
    _, info = env.reset(seed=0)
    assert info["ik_calls"] == 0
    for total in range(1, 11):
        _, _, term, trunc, info = env.step(env.action_space.sample())
        assert info["ik_calls"] == 1  # one pose per step; restarts live inside that call
        assert info["ik_calls_episode"] == total
        if term or trunc:
            break
    env.close()


def test_ee_control_with_hybrid_ik_spends_fewer_calls(arm6):
    fallback = PyBulletIK(arm6)
    hybrid = HybridIK(AnalyticIK(arm6), fallback)  # closed form stands in for the learned IK
    env = make("ikml_gym/Reach6DOFEE-v0", ik_solver=hybrid)
    env.reset(seed=1)
    env.action_space.seed(1)
    calls = 0
    for _ in range(20):
        _, _, term, trunc, info = env.step(env.action_space.sample() * 0.3)
        calls += info["ik_calls"]
        if term or trunc:
            env.reset()
    env.close()
    assert calls == fallback.calls and calls < 5
    assert fallback._client is not None  # injected solvers are not closed by the env
    fallback.close()


def test_ee_target_moves_the_end_effector():
    env = make("ikml_gym/Reach6DOFEE-v0")
    obs, _ = env.reset(seed=0)
    start = obs["achieved_goal"].copy()
    action = np.array([1, 0, 0, 0, 0, 0], dtype=np.float32)
    for _ in range(5):
        obs, _, _, _, info = env.step(action)
        assert info["ik_success"]
    moved = obs["achieved_goal"] - start
    step = env.unwrapped.robot.controller.ee_step
    assert 0.6 * 5 * step < moved[0] < 1.1 * 5 * step and abs(moved[1]) < 0.2 * 5 * step
    env.close()


@pytest.mark.parametrize("goal_type", ["position", "pose"])
def test_ik_prior_zero_action_reaches_the_goal(arm4, goal_type):
    env = make(
        "ikml_gym/Reach4DOFIKPrior-v0",
        ik_prior=AnalyticIK(arm4),
        goal_filter="ik",
        goal_type=goal_type,
    )
    successes = 0
    for seed in range(5):
        obs, info = env.reset(seed=seed)
        assert obs["observation"].shape == (4 + 4 + 4 + 4,)
        for _ in range(MAX_EPISODE_STEPS):
            obs, _, term, trunc, info = env.step(np.zeros(4, dtype=np.float32))
            if term or trunc:
                break
        successes += info["is_success"]
    env.close()
    assert successes == 5


@pytest.mark.parametrize(
    "env_id", ["ikml_gym/Reach6DOFIKPrior-v0", "ikml_gym/Reach6DOFIKPriorDense-v0"]
)
def test_arm6_ik_prior_ids_zero_action_gets_near_the_goal(env_id):
    """The shipped learned IK as the prior: a zero action ends near the goal."""
    env = gym.make(env_id, goal_filter="classifier")
    try:
        assert isinstance(env.unwrapped.robot.controller.prior, MultiHypothesisIK)
        threshold = env.unwrapped.task.distance_threshold
        distances = []
        for seed in range(5):
            obs, _ = env.reset(seed=seed)
            assert obs["observation"].shape == (6 + 6 + 7 + 6,)
            for _ in range(MAX_EPISODE_STEPS):
                obs, reward, term, trunc, info = env.step(np.zeros(6, dtype=np.float32))
                assert np.isfinite(reward)
                if term or trunc:
                    break
            distances.append(info["distance"])
    finally:
        env.close()
    assert np.median(distances) < threshold, distances


def test_ikprior_default_is_the_pretrained_learned_ik():
    env = gym.make("ikml_gym/Reach4DOFIKPrior-v0")
    assert env.unwrapped.robot.controller.prior.numerical is False
    env.close()


# ------------------------------------------------------------------------- wrappers


def test_wrappers_equal_the_keyword_arguments(oracle4, arm4):
    from ikml_gym.envs.wrappers import (
        ClassifierGoalWrapper,
        FeasibilityPenaltyWrapper,
        IKPriorWrapper,
    )

    kw = make(
        "ikml_gym/Reach4DOF-v0",
        control_type="ik_prior",
        ik_prior=AnalyticIK(arm4),
        goal_filter="classifier",
        classifier=oracle4,
        singularity_penalty=0.3,
    )
    wrapped = make("ikml_gym/Reach4DOF-v0")
    wrapped = IKPriorWrapper(wrapped, prior=AnalyticIK(arm4))
    wrapped = ClassifierGoalWrapper(wrapped, classifier=oracle4)
    wrapped = FeasibilityPenaltyWrapper(wrapped, weight=0.3, classifier=oracle4)
    assert wrapped.action_space == kw.action_space
    assert wrapped.observation_space == kw.observation_space
    assert_same(rollout(kw, seed=5, n=10), rollout(wrapped, seed=5, n=10))
    obs, _ = wrapped.reset(seed=1)
    r = wrapped.compute_reward(
        obs["achieved_goal"], obs["desired_goal"], {"feasibility_penalty": 1.0}
    )
    assert r == pytest.approx(-1.3) or r == pytest.approx(-0.3)
    kw.close()
    wrapped.close()


def test_ik_goal_filter_wrapper_owns_its_solver():
    from ikml_gym.envs.wrappers import GoalFilterWrapper

    before = connected_clients()
    env = GoalFilterWrapper(make("ikml_gym/Reach4DOF-v0"), "ik")
    _, info = env.reset(seed=0)
    assert info["ik_calls"] == info["goal_tries"]
    env.close()
    assert connected_clients() == before


# ------------------------------------------------------------------- client hygiene


def test_close_disconnects_and_gc_releases_clients():
    before = connected_clients()
    env = make("ikml_gym/Reach4DOFEE-v0", goal_filter="ik")  # sim + 2 solver clients
    env.reset(seed=0)
    assert len(connected_clients()) == len(before) + 3
    env.close()
    env.close()  # idempotent
    assert connected_clients() == before
    for _ in range(5):
        env = make("ikml_gym/Reach6DOFEE-v0")
        env.reset(seed=0)
        del env
    gc.collect()
    assert connected_clients() == before


def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


@pytest.mark.parametrize(
    "n", [pytest.param(60, id="60"), pytest.param(1000, id="1000", marks=pytest.mark.slow)]
)
def test_make_close_cycles_leak_nothing(n):
    before = connected_clients()
    for i in range(10):  # warm up caches before measuring memory
        env = gym.make(ENV_IDS[i % 2 * 6])
        env.reset(seed=i)
        env.close()
    gc.collect()
    rss = _rss_mb()
    for i in range(n):
        env = gym.make(ENV_IDS[i % 2 * 6])
        env.reset(seed=i)
        env.step(env.action_space.sample())
        env.close()
    gc.collect()
    assert connected_clients() == before
    assert _rss_mb() - rss < 50.0


# --------------------------------------------------------------- vectorised, SB3, HER


@pytest.mark.slow
def test_make_vec_async_spawn_and_subproc_vec_env():
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import SubprocVecEnv

    envs = gym.make_vec(
        "ikml_gym/Reach4DOF-v0",
        num_envs=2,
        vectorization_mode="async",
        vector_kwargs={"context": "spawn"},
    )
    obs, _ = envs.reset(seed=0)
    assert obs["observation"].shape == (2, 12)
    _, rew, _, _, _ = envs.step(envs.action_space.sample())
    assert rew.shape == (2,)
    envs.close()

    # spawned workers re-import nothing: the "ikml_gym:" prefix makes gym.make import the package
    venv = make_vec_env(
        "ikml_gym:ikml_gym/Reach6DOFEE-v0",
        n_envs=2,
        vec_env_cls=SubprocVecEnv,
        vec_env_kwargs={"start_method": "spawn"},
    )
    venv.seed(0)
    obs = venv.reset()
    obs, rew, _, infos = venv.step(np.stack([venv.action_space.sample() for _ in range(2)]))
    assert rew.shape == (2,) and "ik_calls" in infos[0]
    ag = obs["achieved_goal"]
    r = venv.env_method("compute_reward", ag, obs["desired_goal"], np.array(infos), indices=[0])[0]
    assert r.shape == (2,)
    venv.close()


@pytest.mark.slow  # ~6 s, mostly importing torch
def test_sac_her_smoke():
    import torch
    from stable_baselines3 import SAC, HerReplayBuffer

    torch.set_num_threads(1)
    env = make("ikml_gym/Reach4DOF-v0")
    model = SAC(
        "MultiInputPolicy",
        env,
        replay_buffer_class=HerReplayBuffer,
        replay_buffer_kwargs={"n_sampled_goal": 4, "goal_selection_strategy": "future"},
        learning_starts=MAX_EPISODE_STEPS + 10,  # HER needs one finished episode first
        batch_size=32,
        policy_kwargs={"net_arch": [16]},
        seed=0,
        device="cpu",
    )
    model.learn(200)
    assert model.num_timesteps == 200
    env.close()


@pytest.mark.slow
def test_sac_her_with_penalty_relabels_with_the_flags(oracle4):
    import torch
    from stable_baselines3 import SAC, HerReplayBuffer

    torch.set_num_threads(1)
    env = make("ikml_gym/Reach4DOF-v0", classifier=oracle4, singularity_penalty=0.5)
    model = SAC(
        "MultiInputPolicy",
        env,
        replay_buffer_class=HerReplayBuffer,
        replay_buffer_kwargs={"copy_info_dict": True},  # the flags must reach compute_reward
        learning_starts=MAX_EPISODE_STEPS + 10,
        batch_size=32,
        policy_kwargs={"net_arch": [16]},
        seed=0,
        device="cpu",
    )
    model.learn(120)
    batch = model.replay_buffer.sample(64, env=None)
    flags = np.array(
        [i["feasibility_penalty"] for i in model.replay_buffer.infos[: model.replay_buffer.pos, 0]]
    )
    assert batch.rewards.shape == (64, 1) and set(np.unique(flags)) <= {0.0, 1.0}
    env.close()


# ---------------------------------------------------------------------------- CLI


def test_cli_envs_lists_the_ids(capsys):
    import json

    from ikml_gym.cli import main

    assert main(["envs"]) == 0
    out = capsys.readouterr().out
    assert all(env_id in out for env_id in ENV_IDS)
    assert main(["envs", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["id"] for r in rows] == list(ENV_IDS)


# ------------------------------------------------------- real learned parts (tiny models)


@pytest.fixture(scope="module")
def tiny_classifier4(arm4):
    """A real FeasibilityClassifier with small random weights (numpy inference, no training)."""
    from ikml_gym.learned.classifier import FeasibilityClassifier, input_features, input_spec

    spec = input_spec(arm4)
    d = input_features(arm4.fk_features(arm4.random_q(4, np.random.default_rng(0))), spec).shape[1]
    rng = np.random.default_rng(0)
    layers = [
        (rng.normal(size=(d, 16)), rng.normal(size=16)),
        (rng.normal(size=(16, 4)), rng.normal(size=4)),
    ]
    return FeasibilityClassifier(arm4, layers, np.zeros(d), np.ones(d), np.array([0.05, 0.2]), spec)


def test_real_classifier_and_feasibility_filter_as_goal_filter(arm4, tiny_classifier4):
    from ikml_gym.learned.feasibility import FeasibilityFilter
    from ikml_gym.solvers import DLSIK

    env = make(
        "ikml_gym/Reach4DOF-v0",
        goal_filter="classifier",
        classifier=tiny_classifier4,
        singularity_penalty=0.1,
    )
    _, info = env.reset(seed=0)
    assert info["ik_calls"] == 0
    assert (
        info["goal_class"] == int(tiny_classifier4.predict(env.unwrapped.goal_pose[None])[0]) >= 1
    )
    _, _, _, _, info = env.step(env.action_space.sample())
    assert info["feasibility_penalty"] in (0.0, 1.0)
    env.close()

    # a FeasibilityFilter asks its fallback where the classifier is unsure: those calls count
    filt = FeasibilityFilter(tiny_classifier4, DLSIK(arm4), confidence=1.0)  # always unsure
    env = make("ikml_gym/Reach4DOF-v0", goal_filter="classifier", classifier=filt)
    _, info = env.reset(seed=0)
    assert info["ik_calls"] == filt.calls > 0 and info["goal_accepted"]
    env.close()


def test_polish_steps_of_a_learned_solver_count_as_numerical_calls(arm4):
    from ikml_gym.solvers import total_calls

    class Polishing(AnalyticIK):
        """A learned-IK stand-in that runs one counted polish step per pose (like LearnedIK)."""

        free = False  # it polishes: the prior solves one orientation of a position goal

        @property
        def polish_calls(self):
            return self.own_calls

        def _solve(self, features, q0):
            self._count(len(features))
            return super()._solve(features, q0)

    prior = Polishing(arm4)
    env = make("ikml_gym/Reach4DOFIKPrior-v0", ik_prior=prior)
    _, info = env.reset(seed=0)
    assert info["ik_calls"] == 1
    env.close()
    fallback = PyBulletIK(arm4)
    hybrid = HybridIK(Polishing(arm4), fallback)
    env = make("ikml_gym/Reach4DOFEE-v0", ik_solver=hybrid)
    env.reset(seed=0)
    _, _, _, _, info = env.step(np.zeros(4, dtype=np.float32))
    assert info["ik_calls"] == 1 + fallback.calls
    assert total_calls([hybrid]) == hybrid.learned.polish_calls + fallback.calls
    assert hybrid.calls == hybrid.learned.polish_calls + fallback.calls
    env.close()
    fallback.close()


def test_reset_with_a_given_goal(arm4):
    env = make("ikml_gym/Reach4DOF-v0", goal_type="pose")
    pose = arm4.fk_features(np.array([0.3, 0.2, 0.5, 0.4]))
    obs, info = env.reset(seed=0, options={"goal": pose})
    np.testing.assert_allclose(obs["desired_goal"], pose.astype(np.float32))
    assert info["goal_tries"] == 0 and info["ik_calls"] == 0
    with pytest.raises(InvalidInputError):
        env.reset(options={"goal": pose[:3]})
    env.close()


def test_ee_control_at_the_workspace_edge_moves_without_jumping():
    env = make("ikml_gym/Reach4DOFEE-v0")
    obs, _ = env.reset(seed=0)
    base = env.unwrapped
    action = np.array([1, 0, 0, 0], dtype=np.float32)  # keep pushing out along +x
    failures, q_prev = 0, base.robot.q_target.copy()
    for _ in range(30):
        obs, _, _, _, info = env.unwrapped.step(action)
        failures += not info["ik_success"]
        assert np.max(np.abs(base.robot.q_target - q_prev)) <= 0.5 + 1e-9
        q_prev = base.robot.q_target.copy()
    reach = np.linalg.norm(obs["achieved_goal"] - base.arm.reach_center)
    assert failures > 0 and reach > 0.8 * base.arm.reach
    env.close()


def test_joint_control_can_reach_its_goals_within_the_episode():
    """Reach4DOF-v0 is solvable under joint control: a proportional joint-space controller
    toward the nearest analytic IK solution (any tool pitch: the goal is a position)
    succeeds on every classifier-filtered goal, well within the 50-step limit. So when
    RL on this id learns slowly, the task is not the reason."""
    env = gym.make("ikml_gym/Reach4DOF-v0", goal_filter="classifier")
    base = env.unwrapped
    ik = AnalyticIK(base.arm)
    pitches = np.linspace(-np.pi, np.pi, 73)
    successes, lengths = 0, []
    try:
        for episode in range(20):
            obs, _ = env.reset(seed=10_000 + episode)
            q = obs["observation"][: base.arm.dof].astype(float)
            targets = np.column_stack(
                [np.repeat(obs["desired_goal"][None].astype(float), len(pitches), 0), pitches]
            )
            q_all, valid = ik.solve_all(targets)  # (pitches, branches, dof)
            travel = np.where(valid, np.abs(q_all - q).max(axis=2), np.inf)
            q_goal = q_all[np.unravel_index(np.argmin(travel), travel.shape)]
            for step in range(1, MAX_EPISODE_STEPS + 1):
                q = obs["observation"][: base.arm.dof]
                action = np.clip((q_goal - q) / base.robot.controller.joint_step, -1, 1)
                obs, _, terminated, truncated, info = env.step(action.astype(np.float32))
                if terminated or truncated:
                    break
            successes += bool(info["is_success"])
            lengths.append(step)
    finally:
        env.close()
    assert successes == 20
    assert np.mean(lengths) < 25
