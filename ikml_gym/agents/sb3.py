"""stable-baselines3 helpers: SAC + HER on an ``ikml_gym/Reach*`` id, with IK-call logging.

::

    from ikml_gym.agents.sb3 import train_sac_her, evaluate_policy_ik
    model, log = train_sac_her("ikml_gym/Reach4DOFIKPrior-v0", total_steps=20_000, seed=0)
    stats = evaluate_policy_ik(model, "ikml_gym/Reach4DOFIKPrior-v0", episodes=50)

stable-baselines3 (and with it torch) is imported only inside :func:`train_sac_her`, so
``import ikml_gym`` does not need it; without it that function raises
:class:`~ikml_gym.errors.DependencyNotInstalled` naming ``pip install "ikml_gym[sb3]"``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from .._extras import require


@dataclass
class TrainingLog:
    """Evaluation points recorded during training."""

    steps: list[int] = field(default_factory=list)
    success_rate: list[float] = field(default_factory=list)
    ik_calls_per_episode: list[float] = field(default_factory=list)

    def save(self, path: str | Path) -> None:
        """Write the log as JSON (atomically: a killed run leaves the previous file)."""
        from ..io import atomic_write_json

        atomic_write_json(path, asdict(self))

    @classmethod
    def load(cls, path: str | Path) -> TrainingLog:
        """Read a log written by :meth:`save`."""
        data = json.loads(Path(path).read_text())
        return cls(
            steps=[int(s) for s in data["steps"]],
            success_rate=[float(r) for r in data["success_rate"]],
            ik_calls_per_episode=[float(c) for c in data["ik_calls_per_episode"]],
        )

    def steps_to(self, level: float) -> int | None:
        """First logged env step at which the success rate reached ``level``; ``None`` if never."""
        for s, r in zip(self.steps, self.success_rate):
            if r >= level:
                return s
        return None


def evaluate_policy_ik(
    model: Any, env: str | gym.Env, episodes: int = 20, seed: int = 10_000, **make_kwargs: Any
) -> dict[str, float]:
    """Deterministic rollouts -> ``{"success_rate", "ik_calls_per_episode", "mean_return"}``."""
    own = isinstance(env, str)
    env = gym.make(env, **make_kwargs) if own else env
    try:
        base = env.unwrapped
        calls0 = base.ik_calls_total
        successes, returns = 0, []
        for k in range(episodes):
            obs, _ = env.reset(seed=seed + k)
            done, total = False, 0.0
            while not done:
                action, _ = model.predict(obs, deterministic=True)
                obs, reward, terminated, truncated, info = env.step(action)
                total += float(reward)
                done = terminated or truncated
            successes += bool(info["is_success"])
            returns.append(total)
        return {
            "success_rate": successes / episodes,
            "ik_calls_per_episode": (base.ik_calls_total - calls0) / episodes,
            "mean_return": float(np.mean(returns)),
        }
    finally:
        if own:
            env.close()


def train_sac_her(
    env_id: str,
    total_steps: int,
    seed: int = 0,
    eval_every: int = 2_000,
    eval_episodes: int = 20,
    net_arch: tuple[int, ...] = (256, 256),
    learning_starts: int = 1_000,
    verbose: int = 0,
    torch_threads: int = 1,
    log_path: str | Path | None = None,
    **make_kwargs: Any,
) -> tuple[Any, TrainingLog]:
    """Train SAC with ``HerReplayBuffer`` (future strategy, 4 goals) on ``env_id``.

    Every ``eval_every`` env steps a callback evaluates the deterministic policy on
    a separate env and logs success rate and numerical IK calls per episode.

    ``log_path``: where to write the :class:`TrainingLog` as JSON after every
    evaluation, so a long run killed midway keeps its curve so far.

    ``torch_threads``: torch CPU threads. One is the default: SAC's small batches
    gain nothing from more, and on a machine with few cores more threads slow each
    gradient step down.

    Raises:
        DependencyNotInstalled: stable-baselines3 is missing (``pip install "ikml_gym[sb3]"``).

    Returns:
        (the SAC model, :class:`TrainingLog`).
    """
    require("sb3", "torch", "stable_baselines3")
    import torch
    from stable_baselines3 import SAC, HerReplayBuffer
    from stable_baselines3.common.callbacks import BaseCallback

    if torch_threads > 0:
        torch.set_num_threads(torch_threads)
    env = gym.make(env_id, **make_kwargs)
    eval_env = gym.make(env_id, **make_kwargs)
    log = TrainingLog()

    class _Eval(BaseCallback):
        def _on_step(self) -> bool:
            if self.num_timesteps % eval_every == 0:
                stats = evaluate_policy_ik(self.model, eval_env, eval_episodes, seed=10_000)
                log.steps.append(int(self.num_timesteps))
                log.success_rate.append(stats["success_rate"])
                log.ik_calls_per_episode.append(stats["ik_calls_per_episode"])
                if log_path is not None:
                    log.save(log_path)
            return True

    try:
        model = SAC(
            "MultiInputPolicy",
            env,
            replay_buffer_class=HerReplayBuffer,
            replay_buffer_kwargs={"n_sampled_goal": 4, "goal_selection_strategy": "future"},
            learning_starts=min(learning_starts, max(total_steps // 2, 1)),
            policy_kwargs={"net_arch": list(net_arch)},
            seed=seed,
            verbose=verbose,
        )
        model.learn(total_timesteps=total_steps, callback=_Eval())
    finally:
        env.close()
        eval_env.close()
    return model, log
