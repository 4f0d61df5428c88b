"""Ray RLlib: registration, PPO on a local cluster, a killed env runner, a raising env.

Needs ``ikml_gym[rllib]`` (RLlib pins gymnasium 1.2.x): ``make test`` runs this file
in ``.venv-rllib`` with ``IKML_REQUIRE_RLLIB=1``, where a missing Ray fails instead
of skipping. The slow tests share one cluster started here with ``ray start --head
--block`` (driver on 127.0.0.1, a temporary ``--temp-dir``, token auth off) and
stopped at the end whatever happens: SIGTERM to that process (it stops what it
started), then SIGKILL to its process group if anything is left.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

if os.environ.get("IKML_REQUIRE_RLLIB"):
    import ray
ray = pytest.importorskip("ray")

from ray.rllib.env.env_context import EnvContext
from ray.tune.registry import ENV_CREATOR, _global_registry, register_env

import ikml_gym
from ikml_gym.errors import InvalidInputError
from ikml_gym.integrations.envs import EnvCallError, make_env
from ikml_gym.integrations.rllib import (
    IK_CALLS_PER_EPISODE,
    REWARD_RECOMPUTE_ERROR,
    SUCCESS_RATE,
    ppo_config,
    register_rllib_envs,
)

DENSE = "ikml_gym/Reach4DOFDense-v0"
#: env steps per PPO iteration in these tests (2 runners x 200)
BATCH = 400


# ------------------------------------------------------------------ cluster
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(head: subprocess.Popen) -> None:
    """SIGTERM the blocking ``ray start`` (it stops its processes), then SIGKILL its group."""
    if head.poll() is None:
        head.send_signal(signal.SIGTERM)
        try:
            head.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(head.pid, signal.SIGKILL)  # its own session: only what it started
    except ProcessLookupError:
        pass
    head.wait(timeout=10)


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """The address of a one-node Ray cluster (2 CPUs) this module started; the driver is
    connected to it for the duration of the module."""
    temp_dir = Path(tempfile.mkdtemp(prefix="ikml-ray-"))  # short: Ray's socket paths
    port = _free_port()
    address = f"127.0.0.1:{port}"
    saved = os.environ.get("RAY_AUTH_MODE")
    os.environ["RAY_AUTH_MODE"] = "disabled"  # no token written to ~/.ray for a test
    ray_cli = Path(sys.executable).with_name("ray")
    log = open(temp_dir / "ray-start.log", "w")  # noqa: SIM115 - closed below
    head = subprocess.Popen(
        [
            str(ray_cli),
            "start",
            "--head",
            "--block",
            "--node-ip-address=127.0.0.1",
            f"--port={port}",
            # its fixed default (52365) would collide with another test cluster
            f"--dashboard-agent-listen-port={_free_port()}",
            f"--temp-dir={temp_dir}",
            "--num-cpus=2",
            "--include-dashboard=false",
            "--disable-usage-stats",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"},
    )
    try:
        started = temp_dir / "ray-start.log"
        deadline = time.monotonic() + 120
        while "Ray runtime started." not in started.read_text():
            if head.poll() is not None:
                raise RuntimeError(f"ray start exited {head.returncode}: {started.read_text()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"ray start not up after 120 s: {started.read_text()}")
            time.sleep(1)
        ray.init(address=address, log_to_driver=False)
        assert ray.cluster_resources()["CPU"] == 2
        yield address
    finally:
        ray.shutdown()
        _stop(head)
        log.close()
        shutil.rmtree(temp_dir, ignore_errors=True)
        if saved is None:
            os.environ.pop("RAY_AUTH_MODE", None)
        else:
            os.environ["RAY_AUTH_MODE"] = saved


def _pids(algo) -> list[int]:
    return sorted(
        algo.env_runner_group.foreach_env_runner(lambda r: os.getpid(), local_env_runner=False)
    )


# ------------------------------------------------------------------ fast
def test_register_round_trip_every_id():
    ids = register_rllib_envs()
    assert ids == ikml_gym.ENV_IDS
    for i, env_id in enumerate(ids):
        creator = _global_registry.get(ENV_CREATOR, env_id)
        env = creator(EnvContext({"seed": 3}, worker_index=i + 1, vector_index=0))
        try:
            assert env.spec.id == env_id
            flat, info = env.reset()
            assert env.observation_space.contains(flat)
            assert "is_success" in info
        finally:
            env.close()


def test_register_rejects_an_unknown_id():
    with pytest.raises(InvalidInputError, match="did you mean ikml_gym/Reach4DOF-v0"):
        register_rllib_envs(["ikml_gym/Reach4DF-v0"])


def test_config_errors_are_raised_before_any_actor():
    with pytest.raises(InvalidInputError, match="'ik_solvr' \\(did you mean 'ik_solver'\\?\\)"):
        ppo_config("ikml_gym/Reach4DOFEE-v0", env_config={"ik_solvr": "hybrid"})
    with pytest.raises(InvalidInputError, match="unknown env id"):
        ppo_config("Reach4DOF-v0")


# ------------------------------------------------------------------ slow
@pytest.mark.slow
@pytest.mark.timeout(300)
def test_ppo_two_iterations_two_env_runners(cluster):
    algo = ppo_config(DENSE, num_env_runners=2, env_config={"seed": 1}, train_batch_size=BATCH)
    algo = algo.build_algo()
    try:
        for _ in range(2):
            result = algo.train()
        runners = result["env_runners"]
        assert result["training_iteration"] == 2
        assert runners["num_env_steps_sampled_lifetime"] >= 2 * BATCH
        assert 0.0 <= runners[SUCCESS_RATE] <= 1.0
        assert runners[IK_CALLS_PER_EPISODE] == 0.0  # joint control calls no IK
        assert runners[REWARD_RECOMPUTE_ERROR] < 1e-5  # compute_reward from flat obs
        seeds = algo.env_runner_group.foreach_env_runner(
            lambda r: r.env.unwrapped.envs[0].unwrapped.np_random_seed, local_env_runner=False
        )
        assert len(set(seeds)) == 2, seeds
        assert len(set(_pids(algo))) == 2
    finally:
        algo.stop()


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_killed_env_runner_is_replaced_and_training_goes_on(cluster):
    algo = ppo_config(DENSE, num_env_runners=2, train_batch_size=BATCH).build_algo()
    try:
        algo.train()
        before = _pids(algo)
        os.kill(before[0], signal.SIGKILL)
        for _ in range(3):
            result = algo.train()
        assert result["training_iteration"] == 4
        deadline = time.monotonic() + 60
        while algo.env_runner_group.num_healthy_remote_workers() < 2:
            assert time.monotonic() < deadline, "the killed runner was not restored"
            algo.train()
        after = _pids(algo)
        assert before[0] not in after and before[1] in after
        assert algo.env_runner_group.num_remote_worker_restarts() >= 1
    finally:
        algo.stop()


class NaNAfter(gym.ActionWrapper):
    """Turns every action after the first ``n`` into NaN (a policy gone bad)."""

    def __init__(self, env: gym.Env, n: int) -> None:
        super().__init__(env)
        self.n = n

    def action(self, action: np.ndarray) -> np.ndarray:
        self.n -= 1
        return np.full_like(action, np.nan) if self.n < 0 else action


def nan_after_30(env_context: EnvContext) -> gym.Env:
    return NaNAfter(make_env(DENSE, env_context), 30)


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("fault_tolerant", [True, False], ids=["fault-tolerant", "plain"])
def test_env_raising_in_a_runner_is_a_clear_error_not_a_hang(cluster, fault_tolerant):
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # this file's creator
    register_env("nan-after-30", nan_after_30)
    config = ppo_config(
        DENSE, num_env_runners=2, train_batch_size=BATCH, fault_tolerant=fault_tolerant
    )
    algo = config.environment("nan-after-30").build_algo()
    try:
        start = time.monotonic()
        with pytest.raises(EnvCallError) as info:
            for _ in range(3):
                algo.train()
        assert time.monotonic() - start < 60
        message = str(info.value)
        assert DENSE in message and "(worker " in message
        assert "step(action=[nan nan nan nan]) raised InvalidInputError" in message
    finally:
        algo.stop()


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_train_rllib_example_joins_the_cluster_and_writes_its_table(cluster, tmp_path):
    out = tmp_path / "ppo.json"
    example = Path(__file__).resolve().parent.parent / "examples" / "train_rllib.py"
    args = ["--address", cluster, "--env-runners", "2", "--iterations", "2", "--batch", "200"]
    proc = subprocess.run(
        [sys.executable, str(example), *args, "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    assert sum(line.startswith("iter ") for line in lines) == 2
    rows = [
        [c.strip() for c in line.strip("|").split("|")] for line in lines if line.startswith("|")
    ]
    assert any(r[:4] == ["ppo", "ikml_gym/Reach4DOFIKPriorDense-v0", "2", "2"] for r in rows)
    report = json.loads(out.read_text())
    assert report["env_steps"] >= 400 and len(report["curve"]) == 2
    assert 0.0 <= report["success_rate"] <= 1.0
    assert report["ik_calls_per_episode"] == 0.0
