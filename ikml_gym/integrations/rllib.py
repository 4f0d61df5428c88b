"""Ray RLlib integration (``pip install "ikml_gym[rllib]"``; RLlib 2.x, new API stack).

Gymnasium's registry does not reach RLlib's remote env runners, so the ids are
registered with ``ray.tune.registry.register_env`` under their own names::

    from ikml_gym.integrations.rllib import ppo_config, register_rllib_envs

    register_rllib_envs()                       # every id of ikml_gym.ENV_IDS
    config = ppo_config("ikml_gym/Reach4DOFDense-v0", num_env_runners=2,
                        env_config={"seed": 0, "goal_range": 0.5})
    algo = config.build_algo()
    result = algo.train()
    result["env_runners"]["ikml/success_rate"]  # from info["is_success"]

Each env runner calls :func:`rllib_env_creator` once per env. The env is
:func:`ikml_gym.integrations.envs.make_env`: ``env_config`` minus ``"seed"`` as
``gymnasium.make`` keywords, the goal dict flattened to ``[observation,
achieved_goal, desired_goal]`` for RLlib's default MLP encoders, its own PyBullet
client, and a seed distinct per (seed, ``worker_index``, env within the runner).
Leave RLlib's own ``config.debugging(seed=...)`` unset: it reseeds the envs at their
first reset with ``seed + worker_index`` (+ the env's index within the runner), so
runner 1's second env and runner 2's first share a seed.

:class:`GoalMetricsCallback` reports per episode, from the env infos and
``compute_reward``: ``ikml/success_rate`` (``is_success`` of the last step),
``ikml/ik_calls_per_episode`` (``ik_calls_episode`` of the last step) and
``ikml/reward_recompute_error`` (largest ``|reward - compute_reward(goals of the flat
observation, info)|`` of the episode's steps: 0 when the flattening kept the goals).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from ..envs.registration import ENV_IDS
from ..errors import DependencyNotInstalled
from .envs import EnvCallError, check_env_id, make_env, split_env_config

try:
    from ray.rllib.callbacks.callbacks import RLlibCallback
    from ray.rllib.env.single_agent_env_runner import SingleAgentEnvRunner
    from ray.tune.registry import register_env
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise DependencyNotInstalled(
        'ikml_gym.integrations.rllib needs Ray RLlib: pip install "ikml_gym[rllib]" '
        "(RLlib pins gymnasium 1.2.x; `make test` keeps it in .venv-rllib)"
    ) from exc

#: metric keys the callback logs (under ``result["env_runners"]``)
SUCCESS_RATE = "ikml/success_rate"
IK_CALLS_PER_EPISODE = "ikml/ik_calls_per_episode"
REWARD_RECOMPUTE_ERROR = "ikml/reward_recompute_error"
#: episodes each reported metric averages over
METRICS_WINDOW = 100


def rllib_env_creator(env_id: str, env_context: Mapping[str, Any]) -> Any:
    """The env of one RLlib env runner: ``make_env(env_id, env_context)``; the
    ``EnvContext`` supplies ``worker_index`` and ``vector_index``."""
    return make_env(env_id, env_context)


def register_rllib_envs(env_ids: Iterable[str] = ENV_IDS) -> tuple[str, ...]:
    """Register ``env_ids`` (default: every id of :data:`ikml_gym.ENV_IDS`) with RLlib
    under the same names; returns them. Idempotent; call it in the driver before
    building an algorithm (the creators travel to the env runners with the config).

    Raises:
        InvalidInputError: an id that is not one of :data:`ikml_gym.ENV_IDS`.
    """
    ids = tuple(check_env_id(env_id) for env_id in env_ids)
    for env_id in ids:
        register_env(env_id, functools.partial(rllib_env_creator, env_id))
    return ids


def find_env_call_error(exc: BaseException) -> EnvCallError | None:
    """The :class:`EnvCallError` in ``exc``'s chain of causes, if any (RLlib wraps env
    errors in a bare ``RuntimeError``)."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, EnvCallError):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


class GoalEnvRunner(SingleAgentEnvRunner):
    """RLlib's single-agent env runner, except that an env that raises does not take the
    runner's process down.

    RLlib ends the process of a runner on any exception (``sys.exit(1)``): the driver
    sees only "the actor died" and, with ``restart_failed_env_runners``, restarts it
    and samples the same broken env again. Here an error whose cause is an
    :class:`EnvCallError` is kept (:meth:`take_env_errors`) and raised as the remote
    call's exception, so the driver gets the env id and the input, and
    :class:`GoalMetricsCallback` stops training with it. Any other error keeps RLlib's
    handling (a dying runner is restarted under fault tolerance).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.env_errors: list[str] = []

    def apply(self, func: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return func(self, *args, **kwargs)
        except Exception as exc:
            error = find_env_call_error(exc)
            if error is None:  # RLlib's handling: log, end the process (restarted if asked)
                return super().apply(_reraise, exc)
            self.env_errors.append(str(error))
            raise EnvCallError(str(error)) from exc

    def take_env_errors(self) -> list[str]:
        """The env errors since the last call (and forget them)."""
        errors, self.env_errors = self.env_errors, []
        return errors


def _reraise(runner: Any, exc: BaseException) -> None:
    raise exc


def _take_env_errors(runner: Any) -> list[str]:
    take = getattr(runner, "take_env_errors", None)
    return take() if take is not None else []


class GoalMetricsCallback(RLlibCallback):
    """Logs success rate, IK calls per episode and the reward recompute error at the end
    of every episode (mean over the last :data:`METRICS_WINDOW` episodes); at the end of
    every training iteration raises the first env error of any :class:`GoalEnvRunner`
    (also of those fault tolerance has taken out of service)."""

    def on_train_result(self, *, algorithm: Any, result: dict, **kwargs: Any) -> None:
        errors = [
            message
            for messages in algorithm.env_runner_group.foreach_env_runner(
                _take_env_errors, healthy_only=False, timeout_seconds=30.0
            )
            for message in messages
        ]
        if errors:
            more = f" (and {len(errors) - 1} more env errors)" if len(errors) > 1 else ""
            raise EnvCallError(errors[0] + more)

    def on_episode_end(
        self,
        *,
        episode: Any,
        env_runner: Any = None,
        metrics_logger: Any = None,
        env: Any = None,
        env_index: int,
        **kwargs: Any,
    ) -> None:
        if metrics_logger is None:
            return
        infos = episode.get_infos()
        last = infos[-1]
        metrics_logger.log_value(
            SUCCESS_RATE, float(last["is_success"]), reduce="mean", window=METRICS_WINDOW
        )
        metrics_logger.log_value(
            IK_CALLS_PER_EPISODE,
            float(last["ik_calls_episode"]),
            reduce="mean",
            window=METRICS_WINDOW,
        )
        sub_envs = getattr(env, "envs", None)  # sync vectorization: the envs themselves
        if sub_envs is not None and len(infos) > 1:
            error = reward_recompute_error(
                sub_envs[env_index], episode.get_observations(), episode.get_rewards(), infos
            )
            metrics_logger.log_value(
                REWARD_RECOMPUTE_ERROR, error, reduce="mean", window=METRICS_WINDOW
            )


def reward_recompute_error(env: Any, observations: Any, rewards: Any, infos: list[dict]) -> float:
    """Largest ``|rewards[t] - compute_reward(goals of observations[t + 1], infos[t + 1])|``.

    Args:
        env: a :func:`~ikml_gym.integrations.envs.make_env` env (has ``unflatten``).
        observations: (T + 1, D) flat observations of an episode (chunk).
        rewards: (T,) its rewards.
        infos: its T + 1 infos.
    """
    goals = env.get_wrapper_attr("unflatten")(np.asarray(observations)[1:])
    recomputed = env.get_wrapper_attr("compute_reward")(
        goals["achieved_goal"], goals["desired_goal"], list(infos[1:])
    )
    return float(np.max(np.abs(np.asarray(rewards, dtype=np.float64) - recomputed)))


def ppo_config(
    env_id: str,
    num_env_runners: int = 2,
    num_envs_per_env_runner: int = 1,
    env_config: Mapping[str, Any] | None = None,
    train_batch_size: int = 1000,
    fault_tolerant: bool = True,
) -> Any:
    """A ``PPOConfig`` for ``env_id`` on the new API stack, with :class:`GoalMetricsCallback`.

    Args:
        env_id: one of :data:`ikml_gym.ENV_IDS` (registered here if it is not yet).
        num_env_runners: remote env runner actors (0 = sample in the driver).
        num_envs_per_env_runner: envs each runner steps (sync vectorization).
        env_config: see :func:`ikml_gym.integrations.envs.split_env_config`.
        train_batch_size: env steps per training iteration.
        fault_tolerant: restart env runners whose process dies
            (``restart_failed_env_runners``). An env that raises stops training with an
            :class:`EnvCallError` either way (see :class:`GoalEnvRunner`).

    Raises:
        InvalidInputError: an unknown id or ``env_config`` key (checked here, before Ray
            starts any actor).
    """
    from ray.rllib.algorithms.ppo import PPOConfig

    return _configure(
        PPOConfig().training(
            train_batch_size_per_learner=train_batch_size,
            minibatch_size=min(256, train_batch_size),
            num_epochs=5,
            lr=3e-4,
        ),
        env_id,
        num_env_runners,
        num_envs_per_env_runner,
        env_config,
        fault_tolerant,
    )


def sac_config(
    env_id: str,
    num_env_runners: int = 2,
    num_envs_per_env_runner: int = 1,
    env_config: Mapping[str, Any] | None = None,
    learning_starts: int = 1000,
    fault_tolerant: bool = True,
) -> Any:
    """A ``SACConfig`` like :func:`ppo_config` (RLlib's SAC runs on the new API stack with
    continuous actions); ``learning_starts`` env steps are sampled before the first
    update. No HER: RLlib has none, so this is SAC on the dense reward.

    Raises:
        InvalidInputError: as :func:`ppo_config`.
    """
    from ray.rllib.algorithms.sac import SACConfig

    return _configure(
        SACConfig().training(
            num_steps_sampled_before_learning_starts=learning_starts,
            train_batch_size_per_learner=256,
            replay_buffer_config={"type": "EpisodeReplayBuffer", "capacity": 100_000},
        ),
        env_id,
        num_env_runners,
        num_envs_per_env_runner,
        env_config,
        fault_tolerant,
    )


def _configure(
    config: Any,
    env_id: str,
    num_env_runners: int,
    num_envs_per_env_runner: int,
    env_config: Mapping[str, Any] | None,
    fault_tolerant: bool,
) -> Any:
    env_id = check_env_id(env_id)
    split_env_config({} if env_config is None else env_config)  # fail here, not in an actor
    register_rllib_envs([env_id])
    return (
        config.environment(env_id, env_config=dict(env_config or {}))
        .framework("torch")
        .env_runners(
            env_runner_cls=GoalEnvRunner,
            num_env_runners=num_env_runners,
            num_envs_per_env_runner=num_envs_per_env_runner,
            num_cpus_per_env_runner=1,
        )
        .fault_tolerance(restart_failed_env_runners=fault_tolerant)
        .callbacks(GoalMetricsCallback)
    )
