"""Agents and IK stacks: calls are counted by the solvers, the plug-in stack spends fewer."""

import dataclasses

import gymnasium as gym
import numpy as np
import pytest

import ikml_gym
from ikml_gym.agents import ScriptedReacher, run_episodes, run_side_by_side
from ikml_gym.demo import baseline_stack, plugin_stack
from ikml_gym.solvers import DLSIK, HybridIK, ScreenedIK


@pytest.fixture(scope="module")
def arm4():
    return ikml_gym.load_arm("arm4")


REACH_EE = {"arm4": "ikml_gym/Reach4DOFEE-v0", "arm6": "ikml_gym/Reach6DOFEE-v0"}


def _run(arm, make_stack, episodes=4, goal_type="pose"):
    stack = make_stack(arm)
    env = gym.make(REACH_EE[arm.name], goal_type=goal_type, **stack.env_kwargs)
    try:
        solver = stack.env_kwargs["ik_solver"]
        stats = run_episodes(env, episodes, seed=3)
        return stats, solver
    finally:
        env.close()
        stack.close()


def test_baseline_counts_every_step_and_goal(arm4):
    stats, solver = _run(arm4, baseline_stack)
    assert stats.episodes == 4
    assert 0.0 <= stats.success_rate <= 1.0
    # one PyBullet call per control step, plus at least one per goal candidate
    assert stats.ik_calls >= solver.calls + stats.episodes
    assert stats.calls_per_episode == pytest.approx(stats.ik_calls / 4)


def test_plugin_stack_spends_far_fewer_calls_on_the_same_goals(arm4):
    base, _ = _run(arm4, baseline_stack)
    plug, _ = _run(arm4, plugin_stack)
    assert plug.ik_calls <= 0.2 * base.ik_calls
    assert plug.success_rate >= base.success_rate - 0.25


def test_plugin_stack_on_arm6_spends_far_fewer_calls_on_the_same_goals():
    """The same plug-in stack as arm4 (learned IK + FK check + classifier), position goals
    as in the demo."""
    arm6 = ikml_gym.load_arm("arm6")
    base, _ = _run(arm6, baseline_stack, goal_type="position")
    plug, solver = _run(arm6, plugin_stack, goal_type="position")
    assert isinstance(solver.solver, HybridIK)  # ScreenedIK over HybridIK
    assert plug.ik_calls <= 0.2 * base.ik_calls
    assert plug.success_rate >= base.success_rate - 0.25


def test_screened_ik_refuses_clearly_unreachable_targets_without_a_call(arm4):
    clf = ikml_gym.load_classifier("arm4")
    screened = ScreenedIK(DLSIK(arm4), clf)
    far = np.array([[3 * arm4.reach, 0.0, 0.0, 0.0], [0.0, 3 * arm4.reach, 0.5, 1.0]])
    res = screened.solve(far)
    assert not res.success.any()
    assert screened.calls == 0 and screened.screened == 2
    near = arm4.fk_features(arm4.random_q(5, np.random.default_rng(0)))
    res = screened.solve(near)
    assert screened.calls == 5 - int(np.count_nonzero(
        clf.predict_proba(near)[:, 0] > screened.confidence))  # fmt: skip
    assert res.success.mean() >= 0.8


def test_scripted_reacher_needs_ee_control():
    env = gym.make("ikml_gym/Reach4DOF-v0")
    try:
        with pytest.raises(ValueError, match="ee"):
            ScriptedReacher(env)
    finally:
        env.close()


def test_run_episodes_rejects_zero_episodes(arm4):
    stack = baseline_stack(arm4)
    env = gym.make("ikml_gym/Reach4DOFEE-v0", **stack.env_kwargs)
    try:
        with pytest.raises(ValueError):
            run_episodes(env, 0)
    finally:
        env.close()
        stack.close()


def test_side_by_side_runs_count_and_succeed_as_separate_runs(arm4):
    """Interleaving the stacks' episodes (for comparable wall times) changes no result."""
    separate = {
        name: _run(arm4, make)[0] for name, make in (("b", baseline_stack), ("p", plugin_stack))
    }
    stacks = {"b": baseline_stack(arm4), "p": plugin_stack(arm4)}
    envs = {
        name: gym.make("ikml_gym/Reach4DOFEE-v0", goal_type="pose", **stack.env_kwargs)
        for name, stack in stacks.items()
    }
    try:
        together = run_side_by_side(envs, 4, seed=3)
    finally:
        for name, env in envs.items():
            env.close()
            stacks[name].close()
    for name, stats in together.items():
        assert (stats.ik_calls, stats.success_rate, stats.goals_rejected) == (
            separate[name].ik_calls,
            separate[name].success_rate,
            separate[name].goals_rejected,
        )
        assert stats.mean_final_distance_mm == pytest.approx(separate[name].mean_final_distance_mm)
        assert stats.wall_time_s > 0


# ------------------------------------------------------------------ residual SAC
@pytest.mark.slow
def test_residual_sac_starts_at_the_prior_and_keeps_the_actor_still_while_the_critic_warms_up():
    """Residual policy learning: the mean layer starts at zero, so the deterministic action
    is exactly zero (the prior's own behaviour); during the critic-only warm-up the actor
    does not move although gradient steps run; after it, it does."""
    pytest.importorskip("stable_baselines3")
    from ikml_gym.agents.sb3 import SB3_DEFAULTS, Residual, train_sac_her

    env_id = "ikml_gym/Reach4DOFIKPrior-v0"
    quick = dataclasses.replace(SB3_DEFAULTS, learning_starts=50)
    frozen, log = train_sac_her(env_id, 300, seed=0, eval_every=300, eval_episodes=3,
                                settings=quick, residual=Residual(critic_warmup=10**6),
                                eval_at_start=True)  # fmt: skip
    assert frozen._n_updates > 0  # the critic learned
    env = gym.make(env_id)
    obs, _ = env.reset(seed=0)
    action, _ = frozen.predict(obs, deterministic=True)
    np.testing.assert_array_equal(action, np.zeros(env.action_space.shape))
    assert log.steps == [0, 300] and log.success_rate[0] == log.success_rate[1]
    moving, _ = train_sac_her(env_id, 300, seed=0, eval_every=300, eval_episodes=1,
                              settings=quick, residual=Residual(critic_warmup=0))  # fmt: skip
    assert float(moving.actor.mu.weight.detach().abs().max()) > 0.0
    env.close()


def test_training_log_steps_to_a_level_and_round_trip(tmp_path):
    """Steps to 90%: the first checkpoint at the level, and the first from which every
    later one stays there; a log without IK counts (panda-gym) survives a save/load."""
    from ikml_gym.agents.sb3 import TrainingLog

    log = TrainingLog(steps=[0, 1000, 2000, 3000, 4000], success_rate=[0.2, 0.9, 0.8, 0.95, 1.0],
                      ik_calls_per_episode=[None] * 5, meta={"command": "x"})  # fmt: skip
    assert log.steps_to(0.9) == 1000 and log.steps_to_stay(0.9) == 3000
    assert log.steps_to(0.99) == 4000 and log.steps_to_stay(0.99) == 4000
    dropped = TrainingLog(steps=[0, 1000], success_rate=[1.0, 0.5], ik_calls_per_episode=[0, 0])
    assert dropped.steps_to(0.9) == 0 and dropped.steps_to_stay(0.9) is None
    log.save(tmp_path / "log.json")
    assert TrainingLog.load(tmp_path / "log.json") == log


def test_rl_zoo_settings_reach_sac(monkeypatch):
    """The preset's hyperparameters are the ones SAC is built with."""
    pytest.importorskip("stable_baselines3")
    from ikml_gym.agents.sb3 import RL_ZOO_REACH, train_sac_her

    quick = dataclasses.replace(RL_ZOO_REACH, learning_starts=60, batch_size=32)
    model, log = train_sac_her("ikml_gym/Reach4DOFLocal-v0", 120, eval_every=120, eval_episodes=1,
                               settings=quick)  # fmt: skip
    assert (model.gamma, model.tau, model.batch_size) == (0.95, 0.05, 32)
    assert model.learning_rate == 1e-3 and model.policy.net_arch == [64, 64]
    assert log.meta["settings"]["gamma"] == 0.95 and log.steps == [120]


def test_a_run_resumes_from_its_checkpoint(tmp_path):
    """A run stopped at 200 steps continues from its checkpoint to 300 (model, replay
    buffer and curve carried over, the step-0 evaluation not repeated)."""
    pytest.importorskip("stable_baselines3")
    from ikml_gym.agents.sb3 import RL_ZOO_REACH, train_sac_her

    quick = dataclasses.replace(RL_ZOO_REACH, learning_starts=60, batch_size=16, buffer_size=2000)
    kw = {"eval_every": 100, "eval_episodes": 1, "settings": quick, "eval_at_start": True,
          "checkpoint": tmp_path / "ckpt", "checkpoint_every": 100}  # fmt: skip
    first, log = train_sac_her("ikml_gym/Reach4DOFLocal-v0", 200, **kw)
    assert log.steps == [0, 100, 200] and (tmp_path / "ckpt" / "latest").read_text() == "step_200\n"
    assert [p.name for p in (tmp_path / "ckpt").glob("step_*")] == ["step_200"]
    buffered = first.replay_buffer.size()
    again, log = train_sac_her("ikml_gym/Reach4DOFLocal-v0", 300, **kw)
    assert log.steps == [0, 100, 200, 300] and log.meta["resumed_at"] == [200]
    # the buffer keeps what it had (the episode cut by the save ends there) and grows
    assert again.num_timesteps == 300 and buffered < again.replay_buffer.size() <= buffered + 100
    with pytest.raises(ValueError, match="multiple of eval_every"):
        train_sac_her("ikml_gym/Reach4DOFLocal-v0", 300, **{**kw, "checkpoint_every": 150})
