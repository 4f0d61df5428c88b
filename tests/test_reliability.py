"""Reliability: long runs leak nothing, dropped envs release their PyBullet clients, vector-env
workers report errors and shut down, and seeded results are identical across processes.

``tests/test_envs.py`` covers make/close cycles, pickling and in-process seeded rollouts;
this file adds the resource probes of ``tests/leak_probes.py`` (shared with
``benchmarks/soak.py``, the 100,000-step version), envs dropped without ``close()``,
worker errors in ``AsyncVectorEnv`` and determinism across two interpreters.
"""

from __future__ import annotations

import gc
import json
import os
import pickle
import subprocess
import sys
import tracemalloc
import warnings

import gymnasium as gym
import numpy as np
import pybullet
import pytest
from leak_probes import (
    cycle_envs,
    leak_free,
    live_pybullet_clients,
    open_fds,
    rss_mb,
    snapshot,
)

from ikml_gym import ENV_IDS
from ikml_gym.errors import InvalidInputError
from ikml_gym.solvers import PyBulletIK

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))

# ------------------------------------------------------------------------------ probes


def test_probes_see_clients_fds_and_memory():
    before = snapshot()
    client = pybullet.connect(pybullet.DIRECT)
    try:
        assert client in live_pybullet_clients()
        assert len(live_pybullet_clients()) == before["clients"] + 1
        with open(__file__, "rb"):
            assert open_fds() == before["fds"] + 1
        block = np.ones(64 * 2**20 // 8)  # 64 MB, touched
        assert rss_mb() - before["rss_mb"] > 32.0
        del block
    finally:
        pybullet.disconnect(client)
    after = snapshot()
    assert (after["clients"], after["fds"]) == (before["clients"], before["fds"])
    assert client not in live_pybullet_clients()


# ------------------------------------------------------------------------- short soak


SOAKS = {
    "arm4-ee": "ikml_gym/Reach4DOFEE-v0",
    "arm4-ik_prior": "ikml_gym/Reach4DOFIKPrior-v0",
    "arm6-ik_prior": "ikml_gym/Reach6DOFIKPrior-v0",
}

_SOAK_SCRIPT = """
import json, sys
import gymnasium as gym
import ikml_gym  # registers the ids
from leak_probes import soak_env
res = soak_env(lambda: gym.make(sys.argv[1]), steps=2000, warmup=500, seed=1, sample_every=500)
print(json.dumps(res))
"""


def _soak_in_fresh_interpreter(env_id: str) -> dict:
    """``soak_env`` in a new Python process: the RSS of this test process carries the
    allocator state of every test before it (a one-off 6 MB step after the warm-up was seen
    here once, never in a fresh process), so a leak is measured where only the env runs."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([TESTS_DIR, *sys.path])}
    out = subprocess.run(
        [sys.executable, "-c", _SOAK_SCRIPT, env_id],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("name", list(SOAKS))
def test_short_soak_leaks_nothing(name):
    """2,000 steps (resets included) in a fresh interpreter: after 500 warm-up steps the RSS
    grows by under 5 MB (a leaked PyBullet client is ~30 MB; the 100,000-step soak measures
    ~0), fds and clients stay put, and closing gives every client back."""
    res = _soak_in_fresh_interpreter(SOAKS[name])
    assert res["episodes"] >= 2000 // 50  # the TimeLimit (or success) ended episodes
    assert res["start"]["clients"] > res["baseline"]["clients"]  # the env's own clients
    assert res["end"]["clients"] == res["start"]["clients"]
    assert res["end"]["fds"] == res["start"]["fds"]
    assert res["closed"]["clients"] == res["baseline"]["clients"]
    assert res["closed"]["fds"] == res["baseline"]["fds"]
    assert res["rss_peak_growth_mb"] < 5.0, res["rss_series"]
    assert leak_free(res, max_rss_growth_mb=5.0)


def test_steps_and_resets_keep_no_python_objects():
    """tracemalloc: 200 ee steps with the hybrid learned IK (4 episodes) after a warm-up leave
    < 64 KB of new Python allocations alive (measured: ~5 KB; an info dict or observation
    kept per step would be ~200 KB)."""
    env = gym.make("ikml_gym/Reach4DOFEE-v0", ik_solver="hybrid")
    env.action_space.seed(0)
    env.reset(seed=0)

    def run(n: int) -> None:
        for _ in range(n):
            _, _, terminated, truncated, _ = env.step(env.action_space.sample())
            if terminated or truncated:
                env.reset()

    tracemalloc.start()
    try:
        run(100)
        gc.collect()
        start = tracemalloc.get_traced_memory()[0]
        run(200)
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - start
    finally:
        tracemalloc.stop()
        env.close()
    assert grown < 64 * 1024, f"{grown / 1024:.0f} KB still allocated"


# ------------------------------------------------------------ dropped without close()


def _dropped_variants(arm4):
    """Envs and solvers in every configuration that owns PyBullet clients or model files."""
    from ikml_gym.envs.wrappers import GoalFilterWrapper

    yield from (gym.make(env_id) for env_id in ENV_IDS)
    yield gym.make("ikml_gym/Reach4DOFEE-v0", ik_solver="hybrid", goal_filter="ik")
    yield gym.make("ikml_gym/Reach6DOFEE-v0", goal_filter="classifier", singularity_penalty=0.2)
    yield GoalFilterWrapper(gym.make("ikml_gym/Reach4DOF-v0"), "ik")  # adopted solver
    env = gym.make("ikml_gym/Reach4DOFEE-v0", goal_filter="ik")
    env.reset(seed=0)
    yield pickle.loads(pickle.dumps(env))  # the clone, and then the original
    yield env
    yield PyBulletIK(arm4)


def test_envs_dropped_without_close_release_clients_and_fds(arm4):
    before = snapshot()
    made = 0
    for i, obj in enumerate(_dropped_variants(arm4)):
        if isinstance(obj, PyBulletIK):
            obj.solve(arm4.fk_features(np.zeros(4)))
        elif i % 2:  # half of them mid-episode, half never reset
            obj.reset(seed=i)
            obj.step(obj.action_space.sample())
        assert len(live_pybullet_clients()) > before["clients"]
        made += 1
        del obj
    after = snapshot()  # gc.collect() first: the finalizers ran
    assert made == len(ENV_IDS) + 6
    assert after["clients"] == before["clients"]
    assert after["fds"] == before["fds"]


def test_dropped_env_cycles_leak_nothing():
    res = cycle_envs(lambda i: gym.make(ENV_IDS[i % len(ENV_IDS)]), 40, close=False, warmup=5)
    assert res["end"]["clients"] == res["start"]["clients"]
    assert res["end"]["fds"] == res["start"]["fds"]
    assert res["rss_growth_mb"] < 20.0


@pytest.mark.slow
def test_thousand_dropped_envs_leak_nothing():
    """The reliability criterion for dropped envs (the soak benchmark's make/drop row)."""
    res = cycle_envs(lambda i: gym.make(ENV_IDS[i % len(ENV_IDS)]), 1000, close=False)
    assert res["end"]["clients"] == res["start"]["clients"]
    assert res["end"]["fds"] == res["start"]["fds"]
    assert leak_free(res, max_rss_growth_mb=50.0)


# ------------------------------------------------------------------------ vector envs


@pytest.mark.timeout(120)
def test_async_vector_env_worker_error_reaches_the_caller_and_closes():
    before = snapshot()
    envs = gym.make_vec(
        "ikml_gym/Reach4DOF-v0",
        num_envs=2,
        vectorization_mode="async",
        vector_kwargs={"context": "spawn"},
    )
    processes = list(envs.processes)
    try:
        envs.reset(seed=0)
        envs.step(envs.action_space.sample())  # both workers healthy
        actions = envs.action_space.sample()
        actions[1, 2] = np.nan  # worker 1's env raises InvalidInputError
        with (
            warnings.catch_warnings(record=True) as logged,  # gymnasium logs through warnings
            pytest.raises(InvalidInputError, match="action contains NaN or inf") as err,
        ):
            warnings.simplefilter("always")
            envs.step(actions)
        assert "nan" in str(err.value).lower()
        assert any("error from Worker-1" in str(w.message) for w in logged)
    finally:
        envs.close()  # must return: the failed worker is gone, the healthy one closes
    assert envs.closed
    for proc in processes:
        proc.join(timeout=30)
        assert not proc.is_alive()
        assert proc.exitcode == 0  # the worker caught the error, closed its env, returned
    assert snapshot()["clients"] == before["clients"]  # the parent's space-probing env too


# ----------------------------------------------------------- determinism across processes

_DETERMINISM_SCRIPT = r"""
import hashlib, json, os, sys
import numpy as np
import gymnasium as gym
import ikml_gym
from ikml_gym.data import make_classifier_dataset, make_ik_dataset, unreachable_candidates
from ikml_gym.io import save_dataset, sha256_file

order, out_dir = sys.argv[1].split(","), sys.argv[2]


def digest(*arrays):
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def datasets():
    arm4, arm6 = ikml_gym.load_arm("arm4"), ikml_gym.load_arm("arm6")
    made = {
        "ik_arm4": make_ik_dataset(arm4, 400, seed=3, progress=False),
        "ik_arm6": make_ik_dataset(arm6, 400, seed=3, progress=False),
        "cls_arm4": make_classifier_dataset(arm4, 300, 100, seed=3, progress=False),
        "cls_arm6": make_classifier_dataset(arm6, 300, 100, seed=3, progress=False),
    }
    res = {}
    for name, (arrays, header) in made.items():
        path = os.path.join(out_dir, name + ".npz")
        save_dataset(path, arrays, header)
        res[name] = sha256_file(path)
    return res


def rollouts():
    res, stats = {}, {}
    cases = {
        "arm4_ee_hybrid": ("ikml_gym/Reach4DOFEE-v0", {"ik_solver": "hybrid"}),
        "arm6_ee_classifier": ("ikml_gym/Reach6DOFEE-v0", {"goal_filter": "classifier"}),
    }
    for name, (env_id, kwargs) in cases.items():
        env = gym.make(env_id, **kwargs)
        obs, info = env.reset(seed=5)
        env.action_space.seed(5)
        obs_log, rewards, calls, ends = [obs], [], [info["ik_calls"]], []
        for _ in range(120):
            obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
            obs_log.append(obs)
            rewards.append(reward)
            calls.append(info["ik_calls"])
            ends.append((terminated, truncated))
            if terminated or truncated:
                obs, info = env.reset()
                obs_log.append(obs)
                calls.append(info["ik_calls"])
        env.close()
        keys = ("observation", "achieved_goal", "desired_goal")
        res[name] = digest(
            *[np.stack([o[k] for o in obs_log]) for k in keys],
            np.array(rewards, dtype=np.float64),
            np.array(calls, dtype=np.int64),
            np.array(ends, dtype=bool),
        )
        stats[name] = {"episodes": int(np.array(ends).any(axis=1).sum()), "ik_calls": int(sum(calls))}
    res["stats"] = stats
    return res


def predictions():
    ik, clf = ikml_gym.load_ik("arm4"), ikml_gym.load_classifier("arm6")
    rng = np.random.default_rng(11)
    f4 = ik.arm.fk_features(ik.arm.random_q(256, rng))
    sol = ik.solve(f4)
    f6 = np.concatenate(
        [clf.arm.fk_features(clf.arm.random_q(20_000, rng)), unreachable_candidates(clf.arm, 256, rng)]
    )  # 20,000+ rows: the multi-threaded BLAS path too
    return {
        "ik_arm4": digest(ik.propose(f4), sol.q, sol.success, sol.pos_err, sol.rot_err),
        "classifier_arm6": digest(clf.predict_proba(f6), clf.predict(f6), clf.predict_proba(f6[:64])),
    }


parts = {"datasets": datasets, "rollouts": rollouts, "predictions": predictions}
print(json.dumps({name: parts[name]() for name in order}))
"""


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """The script run by two interpreters at once, with other hash seeds and the parts in
    opposite orders (a result depending on global state or on what ran before would differ)."""
    orders = ["datasets,rollouts,predictions", "predictions,rollouts,datasets"]
    procs = []
    for i, order in enumerate(orders):
        out = tmp_path_factory.mktemp(f"run{i}")
        env = {**os.environ, "PYTHONHASHSEED": str(i + 1)}
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", _DETERMINISM_SCRIPT, order, str(out)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
            )
        )
    runs = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, stderr
        runs.append(json.loads(stdout.strip().splitlines()[-1]))
    return runs


def test_datasets_are_byte_identical_across_processes(two_runs):
    a, b = (run["datasets"] for run in two_runs)
    assert set(a) == {"ik_arm4", "ik_arm6", "cls_arm4", "cls_arm6"}
    assert a == b


def test_seeded_rollouts_are_identical_across_processes(two_runs):
    a, b = (run["rollouts"] for run in two_runs)
    assert a == b
    stats = a["stats"]
    # both rollouts crossed episode boundaries (seeded resets, goal filter, solver reseeding)
    assert all(s["episodes"] >= 2 for s in stats.values()), stats


def test_model_predictions_are_identical_across_processes(two_runs):
    a, b = (run["predictions"] for run in two_runs)
    assert set(a) == {"ik_arm4", "classifier_arm6"}
    assert a == b
