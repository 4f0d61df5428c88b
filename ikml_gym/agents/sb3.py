"""stable-baselines3 helpers: SAC + HER on an ``ikml_gym/Reach*`` id, with IK-call logging.

::

    from ikml_gym.agents.sb3 import train_sac_her, evaluate_policy_ik
    model, log = train_sac_her("ikml_gym/Reach4DOFIKPrior-v0", total_steps=20_000, seed=0)
    stats = evaluate_policy_ik(model, "ikml_gym/Reach4DOFIKPrior-v0", episodes=50)

For the ``ik_prior`` envs ``residual=True`` trains the policy as a residual on the
prior the way residual policy learning does it (Silver et al. 2018; Johannink et al.
2019): the actor's mean layer starts at zero, so the policy's action starts at exactly
zero (the prior's own behaviour); exploration is a small Gaussian around it (no
uniform-random warm-up actions); and the critic trains alone for ``critic_warmup``
gradient steps on that behaviour before the actor moves.

stable-baselines3 (and with it torch) is imported only inside :func:`train_sac_her`, so
``import ikml_gym`` does not need it; without it that function raises
:class:`~ikml_gym.errors.DependencyNotInstalled` naming ``pip install "ikml_gym[sb3]"``.
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
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
    #: ``None`` for envs that count no IK calls (e.g. panda-gym's)
    ik_calls_per_episode: list[float | None] = field(default_factory=list)
    #: how the run was made: the command line and the settings (kept with the curve)
    meta: dict[str, Any] = field(default_factory=dict)

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
            ik_calls_per_episode=[
                None if c is None else float(c) for c in data["ik_calls_per_episode"]
            ],
            meta=dict(data.get("meta", {})),
        )

    def steps_to(self, level: float) -> int | None:
        """First logged env step at which the success rate reached ``level``; ``None`` if never."""
        for s, r in zip(self.steps, self.success_rate):
            if r >= level:
                return s
        return None

    def steps_to_stay(self, level: float) -> int | None:
        """First logged env step from which every checkpoint reached ``level`` (learned and
        kept it to the end of the run); ``None`` if the last one did not."""
        first = None
        for s, r in zip(self.steps, self.success_rate):
            if r < level:
                first = None
            elif first is None:
                first = s
        return first


def evaluate_policy_ik(
    model: Any, env: str | gym.Env, episodes: int = 20, seed: int = 10_000, **make_kwargs: Any
) -> dict[str, float]:
    """Deterministic rollouts -> ``{"success_rate", "ik_calls_per_episode", "mean_return"}``.

    ``ik_calls_per_episode`` is ``None`` for an env without an ``ik_calls_total`` counter
    (any goal env works, e.g. panda-gym's).
    """
    own = isinstance(env, str)
    env = gym.make(env, **make_kwargs) if own else env
    try:
        base = env.unwrapped
        calls0 = getattr(base, "ik_calls_total", None)
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
            "ik_calls_per_episode": (
                None if calls0 is None else (base.ik_calls_total - calls0) / episodes
            ),
            "mean_return": float(np.mean(returns)),
        }
    finally:
        if own:
            env.close()


@dataclass(frozen=True)
class SacSettings:
    """SAC + HER hyperparameters (the fields of stable-baselines3's ``SAC`` of the same name).

    Two presets: :data:`SB3_DEFAULTS` (stable-baselines3's own defaults) and
    :data:`RL_ZOO_REACH` (the RL Baselines3 Zoo's settings for goal-conditioned reaching
    with HER: discount 0.95, learning rate 1e-3, soft update 0.05, 64-64 networks, batch
    256). HER always relabels with the ``future`` strategy, 4 goals per transition.
    """

    gamma: float = 0.99
    learning_rate: float = 3e-4
    batch_size: int = 256
    tau: float = 0.005
    buffer_size: int = 1_000_000
    learning_starts: int = 1_000
    net_arch: tuple[int, ...] = (256, 256)


#: stable-baselines3's SAC defaults (the action-prior runs before the tuned baseline)
SB3_DEFAULTS = SacSettings()
#: the RL Zoo's HER reaching settings (FetchReach / Panda: gamma 0.95, lr 1e-3, tau 0.05)
RL_ZOO_REACH = SacSettings(gamma=0.95, learning_rate=1e-3, tau=0.05, net_arch=(64, 64))
#: the presets by name (the example's ``--hyperparams``)
SAC_PRESETS: dict[str, SacSettings] = {"sb3": SB3_DEFAULTS, "zoo": RL_ZOO_REACH}


@dataclass(frozen=True)
class Residual:
    """How a residual policy starts (see the module docstring).

    Attributes:
        critic_warmup: gradient steps in which only the critic (and the entropy
            coefficient) learn; the actor is frozen.
        initial_std: the exploration noise's standard deviation at the start, in units of
            the action (before the tanh squashing; the ``ik_prior`` action is scaled by the
            env's ``residual_scale``).
    """

    critic_warmup: int = 2_000
    initial_std: float = 0.1


def _residual_sac(sac_class: Any, residual: Residual) -> Any:
    """A subclass of stable-baselines3's SAC that learns a residual policy."""
    import math

    class ResidualSAC(sac_class):  # type: ignore[misc, valid-type]
        def _setup_model(self) -> None:
            super()._setup_model()
            actor = self.policy.actor
            for layer in (actor.mu, actor.log_std):
                layer.weight.data.zero_()
                layer.bias.data.zero_()
            actor.log_std.bias.data.fill_(math.log(residual.initial_std))

        def _sample_action(self, learning_starts: int, action_noise: Any = None, n_envs: int = 1):
            # never the uniform-random warm-up: the prior's behaviour, with the policy's noise
            return super()._sample_action(0, action_noise, n_envs)

        def train(self, gradient_steps: int, batch_size: int = 64) -> None:
            learning = self._n_updates >= residual.critic_warmup
            for p in self.actor.parameters():
                p.requires_grad_(learning)
            super().train(gradient_steps, batch_size)

    return ResidualSAC


class _Checkpoint:
    """A resumable SAC run in a folder: ``step_<N>/`` holds ``model.zip``,
    ``replay_buffer.pkl`` and ``log.json`` of env step N; the file ``latest`` names the
    newest complete one and is replaced atomically after it is written, so a run killed
    while writing leaves the previous checkpoint in force."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.latest = folder / "latest"

    def exists(self) -> bool:
        return self.latest.is_file()

    def write(self, model: Any, log: TrainingLog) -> None:
        step = self.folder / f"step_{int(model.num_timesteps)}"
        step.mkdir(parents=True, exist_ok=True)
        model.save(step / "model.zip")
        model.save_replay_buffer(step / "replay_buffer.pkl")
        log.save(step / "log.json")
        previous = self.latest.read_text().strip() if self.exists() else None
        tmp = self.folder / "latest.tmp"
        tmp.write_text(step.name + "\n")
        os.replace(tmp, self.latest)
        if previous and previous != step.name:
            shutil.rmtree(self.folder / previous, ignore_errors=True)

    def read(self, algo: Any, env: gym.Env, log: TrainingLog) -> Any:
        """The saved model bound to ``env``, its buffer loaded; ``log`` takes the saved curve."""
        step = self.folder / self.latest.read_text().strip()
        model = algo.load(step / "model.zip", env=env, device="cpu")
        with warnings.catch_warnings():
            # the episode running at the save ends there: the resumed run starts a new one
            warnings.filterwarnings("ignore", "The last trajectory in the replay buffer")
            model.load_replay_buffer(step / "replay_buffer.pkl", truncate_last_traj=True)
        saved = TrainingLog.load(step / "log.json")
        log.steps, log.success_rate = saved.steps, saved.success_rate
        log.ik_calls_per_episode = saved.ik_calls_per_episode
        log.meta = {**saved.meta, "resumed_at": [*saved.meta.get("resumed_at", []),
                                                 int(model.num_timesteps)]}  # fmt: skip
        return model


def train_sac_her(
    env_id: str,
    total_steps: int,
    seed: int = 0,
    eval_every: int = 2_000,
    eval_episodes: int = 20,
    settings: SacSettings = SB3_DEFAULTS,
    verbose: int = 0,
    torch_threads: int = 1,
    log_path: str | Path | None = None,
    residual: Residual | None = None,
    eval_at_start: bool = False,
    meta: dict[str, Any] | None = None,
    checkpoint: str | Path | None = None,
    checkpoint_every: int = 10_000,
    **make_kwargs: Any,
) -> tuple[Any, TrainingLog]:
    """Train SAC with ``HerReplayBuffer`` (future strategy, 4 goals) on ``env_id``.

    Every ``eval_every`` env steps a callback evaluates the deterministic policy on
    a separate env and logs success rate and numerical IK calls per episode
    (``eval_at_start``: also at step 0, before any training).

    ``residual``: learn a residual policy on an ``ik_prior`` env (:class:`Residual`, the
    module docstring); ``settings.learning_starts`` then only delays the first gradient step.
    ``settings``: the hyperparameters (:class:`SacSettings`; a preset of :data:`SAC_PRESETS`).
    ``meta``: kept in the log (e.g. the command line that started the run).

    ``log_path``: where to write the :class:`TrainingLog` as JSON after every
    evaluation, so a long run killed midway keeps its curve so far.

    ``checkpoint``: a folder for resuming. Every ``checkpoint_every`` env steps (a multiple
    of ``eval_every``) the model, its replay buffer and the log so far are written there
    (a new checkpoint takes over only once complete; the one before is then deleted). A
    call that finds a checkpoint there continues from it up to ``total_steps`` instead of
    starting again; the model's settings come from the checkpoint, and a resumed run is
    not bit-identical to an uninterrupted one (the random streams restart). A checkpoint
    holds the whole replay buffer (about 200 MB at the default size).

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
    if checkpoint is not None and checkpoint_every % eval_every:
        raise ValueError(
            f"checkpoint_every ({checkpoint_every}) must be a multiple of eval_every ({eval_every})"
        )
    saved = None if checkpoint is None else _Checkpoint(Path(checkpoint))
    env = gym.make(env_id, **make_kwargs)
    eval_env = gym.make(env_id, **make_kwargs)
    log = TrainingLog(meta={**(meta or {}), "env_id": env_id, "make_kwargs": make_kwargs,
                            "residual": None if residual is None else asdict(residual),
                            "settings": asdict(settings)})  # fmt: skip
    resuming = saved is not None and saved.exists()

    class _Eval(BaseCallback):
        def _record(self) -> None:
            stats = evaluate_policy_ik(self.model, eval_env, eval_episodes, seed=10_000)
            log.steps.append(int(self.num_timesteps))
            log.success_rate.append(stats["success_rate"])
            log.ik_calls_per_episode.append(stats["ik_calls_per_episode"])
            if log_path is not None:
                log.save(log_path)

        def _on_training_start(self) -> None:
            if eval_at_start and not resuming:
                self._record()

        def _on_step(self) -> bool:
            if self.num_timesteps % eval_every == 0:
                self._record()
            if saved is not None and self.num_timesteps % checkpoint_every == 0:
                saved.write(self.model, log)
            return True

    algo = SAC if residual is None else _residual_sac(SAC, residual)
    try:
        if resuming:
            model = saved.read(algo, env, log)
        else:
            model = algo(
                "MultiInputPolicy",
                env,
                replay_buffer_class=HerReplayBuffer,
                replay_buffer_kwargs={"n_sampled_goal": 4, "goal_selection_strategy": "future"},
                learning_starts=min(settings.learning_starts, max(total_steps // 2, 1)),
                gamma=settings.gamma,
                learning_rate=settings.learning_rate,
                batch_size=settings.batch_size,
                tau=settings.tau,
                buffer_size=settings.buffer_size,
                policy_kwargs={"net_arch": list(settings.net_arch)},
                seed=seed,
                verbose=verbose,
            )
        remaining = total_steps - model.num_timesteps
        if remaining > 0:
            model.learn(total_timesteps=remaining, callback=_Eval(), reset_num_timesteps=False)
    finally:
        env.close()
        eval_env.close()
    return model, log
