"""Env creation for distributed samplers, without any engine dependency.

:func:`make_env` builds one env for one sampling worker::

    env = make_env("ikml_gym/Reach4DOFDense-v0", {"seed": 7, "goal_range": 0.5},
                   worker_index=2, vector_index=0)

It is ``gymnasium.make(env_id, goal_range=0.5)`` wrapped twice:

1. :class:`FlattenGoalObservation`: the goal dict becomes one float32 vector
   ``[observation, achieved_goal, desired_goal]`` (the order is fixed, see
   :attr:`FlattenGoalObservation.layout`), which the default MLP encoders of RLlib
   and other engines take as is. ``compute_reward`` is forwarded, and
   :meth:`FlattenGoalObservation.unflatten` gives the goals back from flat vectors,
   so rewards can be recomputed (HER-style) from what the engine stored. Infos
   (``is_success``, ``ik_calls``, ``ik_calls_episode``, ...) pass through unchanged.
2. :class:`EnvErrorContext`: an exception in ``reset`` or ``step`` is re-raised as
   :class:`EnvCallError` naming the env id, the worker and the input (the action),
   chained to the original, so a failure deep in a remote worker reads as what it is.

Each env is seeded once at creation from :func:`env_seed` (``reset(seed=...)`` and
``action_space.seed``): distinct for every (base seed, worker, vector index,
instance), so no two envs of a run share a goal sequence. Each env opens its own
PyBullet ``DIRECT`` client (``ArmReachEnv`` always does), so envs in one process
never share physics state.
"""

from __future__ import annotations

import difflib
import inspect
import itertools
from collections.abc import Mapping
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from ..envs.registration import ENTRY_POINT, ENV_IDS
from ..errors import IkmlGymError, InvalidInputError

#: keys of ``env_config`` that are not ``gymnasium.make`` keywords
RESERVED_KEYS = ("seed",)
#: the goal-dict keys in the order :class:`FlattenGoalObservation` concatenates them
FLAT_ORDER = ("observation", "achieved_goal", "desired_goal")
#: every field of :func:`env_seed` must be below this
SEED_FIELD_LIMIT = 2**32

#: per-process count of envs made for one (base seed, worker, vector index)
_INSTANCES: dict[tuple[int, int, int], itertools.count] = {}


class EnvCallError(IkmlGymError, RuntimeError):
    """``reset`` or ``step`` of an env inside a sampling worker raised; the message names
    the env id, the worker, the vector index and the input. The original exception is
    ``__cause__``."""


# ------------------------------------------------------------------ seeding
def env_seed(base_seed: int, worker_index: int, vector_index: int, instance: int = 0) -> int:
    """The seed of one env: ``base_seed``, ``worker_index``, ``vector_index`` and
    ``instance`` packed as 32-bit digits of one integer.

    Distinct for distinct arguments (each must be an integer in [0, 2**32)), so no
    two envs of a run share a seed whatever the number of workers or envs per worker.

    Raises:
        InvalidInputError: an argument that is not an integer in [0, 2**32).
    """
    seed = 0
    for name, value in (
        ("base_seed", base_seed),
        ("worker_index", worker_index),
        ("vector_index", vector_index),
        ("instance", instance),
    ):
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            raise InvalidInputError(f"{name} must be an integer, got {value!r}")
        if not 0 <= int(value) < SEED_FIELD_LIMIT:
            raise InvalidInputError(f"{name} must be in [0, 2**32), got {value}")
        seed = seed * SEED_FIELD_LIMIT + int(value)
    return seed


def next_instance(base_seed: int, worker_index: int, vector_index: int) -> int:
    """0, 1, 2, ... for successive envs made in this process for the same
    (base seed, worker, vector index).

    RLlib's env runners build all ``num_envs_per_env_runner`` envs of a runner from
    one ``EnvContext`` whose ``vector_index`` is 0, and rebuild them after a failed
    step; this count keeps their seeds apart.
    """
    key = (base_seed, worker_index, vector_index)
    return next(_INSTANCES.setdefault(key, itertools.count()))


# ------------------------------------------------------------------ config
def _allowed_keywords() -> set[str]:
    """``gymnasium.make`` keywords and those of the registered entry point."""
    from ..envs.reach import ArmReachEnv

    assert ENTRY_POINT.endswith(":ArmReachEnv")
    names = set(inspect.signature(ArmReachEnv.__init__).parameters) - {"self"}
    names |= set(inspect.signature(gym.make).parameters) - {"id", "kwargs"}
    return names


def check_env_id(env_id: Any) -> str:
    """``env_id`` if it is one of :data:`ikml_gym.ENV_IDS`.

    Raises:
        InvalidInputError: anything else; the message lists the closest ids.
    """
    if isinstance(env_id, str) and env_id in ENV_IDS:
        return env_id
    close = difflib.get_close_matches(str(env_id), ENV_IDS, n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise InvalidInputError(
        f"unknown env id {env_id!r}: expected one of ikml_gym.ENV_IDS "
        f"(`ikml-gym envs` lists them){hint}"
    )


def split_env_config(env_config: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
    """``(base_seed, gymnasium.make keywords)`` of an ``env_config``.

    ``env_config["seed"]`` (default 0) is the base seed of :func:`env_seed`; every
    other key is a keyword of ``gymnasium.make`` (``max_episode_steps``, ...) or of
    :class:`~ikml_gym.envs.reach.ArmReachEnv` (``goal_filter``, ``ik_solver``, ...).
    The values are checked by the env itself when it is made.

    Raises:
        InvalidInputError: ``env_config`` is not a mapping, has a key that is neither,
            or a seed that is not an integer in [0, 2**32).
    """
    if not isinstance(env_config, Mapping):
        raise InvalidInputError(
            f"env_config must be a dict of gymnasium.make keywords, got "
            f"{type(env_config).__name__}: {env_config!r}"
        )
    allowed = _allowed_keywords()
    unknown = [k for k in env_config if k not in allowed and k not in RESERVED_KEYS]
    if unknown:
        hints = []
        for key in unknown:
            close = difflib.get_close_matches(str(key), sorted(allowed | set(RESERVED_KEYS)), n=1)
            hints.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise InvalidInputError(
            f"env_config has unknown key(s) {', '.join(hints)}: keys are 'seed' (base seed) "
            "or keywords of gymnasium.make / ikml_gym ArmReachEnv (see docs/envs.md)"
        )
    kwargs = {k: v for k, v in env_config.items() if k not in RESERVED_KEYS}
    base_seed = env_config.get("seed", 0)
    env_seed(base_seed, 0, 0)  # checks it
    return int(base_seed), kwargs


# ------------------------------------------------------------------ wrappers
class FlattenGoalObservation(gym.ObservationWrapper):
    """Goal-dict observation -> one float32 vector ``[observation, achieved_goal,
    desired_goal]`` (``Box``, bounds concatenated from the dict's boxes).

    ``layout`` maps each key to its ``slice`` of the flat vector; :meth:`unflatten`
    inverts the flattening for one vector (D,) or a batch (..., D). ``compute_reward``
    is forwarded to the base env, so ``compute_reward(**goals_of(flat), info)``
    equals the step reward.

    Raises:
        TypeError: the env's observation space is not a Dict of Boxes with the three keys.
    """

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        space = env.observation_space
        if not (
            isinstance(space, spaces.Dict)
            and set(space.spaces) == set(FLAT_ORDER)
            and all(isinstance(space[k], spaces.Box) for k in FLAT_ORDER)
        ):
            raise TypeError(
                "FlattenGoalObservation needs a Dict observation space of Boxes with keys "
                f"{list(FLAT_ORDER)}, got {space}"
            )
        self.layout: dict[str, slice] = {}
        start = 0
        for key in FLAT_ORDER:
            size = int(np.prod(space[key].shape))
            self.layout[key] = slice(start, start + size)
            start += size
        low = np.concatenate([space[k].low.ravel() for k in FLAT_ORDER]).astype(np.float32)
        high = np.concatenate([space[k].high.ravel() for k in FLAT_ORDER]).astype(np.float32)
        self.observation_space = spaces.Box(low, high, dtype=np.float32)

    def observation(self, observation: dict[str, np.ndarray]) -> np.ndarray:
        """The flat (D,) float32 vector of one goal-dict observation."""
        return np.concatenate(
            [np.asarray(observation[k], dtype=np.float32).ravel() for k in FLAT_ORDER]
        )

    def unflatten(self, flat: Any) -> dict[str, np.ndarray]:
        """The goal dict of flat observations (D,) or (..., D): views, last axis split.

        Raises:
            InvalidInputError: the last axis is not D long.
        """
        arr = np.asarray(flat)
        size = self.observation_space.shape[0]
        if arr.ndim == 0 or arr.shape[-1] != size:
            raise InvalidInputError(
                f"flat observation must have shape ({size},) or (..., {size}), got {arr.shape}"
            )
        return {k: arr[..., s] for k, s in self.layout.items()}

    def compute_reward(
        self, achieved_goal: np.ndarray, desired_goal: np.ndarray, info: Any
    ) -> np.ndarray:
        """See :meth:`ikml_gym.envs.core.ArmTaskEnv.compute_reward`."""
        return self.env.unwrapped.compute_reward(achieved_goal, desired_goal, info)


class EnvErrorContext(gym.Wrapper):
    """Re-raise an exception of ``reset`` / ``step`` as :class:`EnvCallError` whose message
    names ``env_id``, the worker, the vector index and the input.

    Args:
        env: the env.
        env_id: its registered id (for the message).
        worker_index, vector_index: where it runs (for the message).
    """

    def __init__(self, env: gym.Env, env_id: str, worker_index: int, vector_index: int) -> None:
        super().__init__(env)
        self.where = f"{env_id} (worker {worker_index}, vector index {vector_index})"

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        try:
            return self.env.reset(seed=seed, options=options)
        except Exception as exc:
            raise EnvCallError(
                f"{self.where}: reset(seed={seed!r}, options={options!r}) raised "
                f"{type(exc).__name__}: {exc}"
            ) from exc

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        try:
            return self.env.step(action)
        except Exception as exc:
            shown = np.array2string(np.asarray(action), precision=4, threshold=20)
            raise EnvCallError(
                f"{self.where}: step(action={shown}) raised {type(exc).__name__}: {exc}"
            ) from exc

    def compute_reward(
        self, achieved_goal: np.ndarray, desired_goal: np.ndarray, info: Any
    ) -> np.ndarray:
        """See :meth:`ikml_gym.envs.core.ArmTaskEnv.compute_reward`."""
        return self.env.unwrapped.compute_reward(achieved_goal, desired_goal, info)


# ------------------------------------------------------------------ creator
def make_env(
    env_id: str,
    env_config: Mapping[str, Any] | None = None,
    worker_index: int | None = None,
    vector_index: int | None = None,
) -> gym.Env:
    """One seeded, flattened env for one sampling worker (see the module docstring).

    Args:
        env_id: one of :data:`ikml_gym.ENV_IDS`.
        env_config: ``{"seed": base seed (default 0), **gymnasium.make keywords}``. An
            RLlib ``EnvContext`` works as is: its ``worker_index`` / ``vector_index``
            are used when the arguments below are None.
        worker_index: the sampling worker (RLlib: 0 = local runner, 1.. remote).
        vector_index: the env's index within its worker.

    Returns:
        ``EnvErrorContext(FlattenGoalObservation(gymnasium.make(env_id, **kwargs)))``,
        already reset once with its seed.

    Raises:
        InvalidInputError: an unknown env id, an unknown ``env_config`` key or a bad seed
            (before anything is built); the env's own errors for bad keyword values.
    """
    env_id = check_env_id(env_id)
    config = {} if env_config is None else env_config
    base_seed, kwargs = split_env_config(config)
    if worker_index is None:
        worker_index = int(getattr(config, "worker_index", 0) or 0)
    if vector_index is None:
        vector_index = int(getattr(config, "vector_index", 0) or 0)
    env_seed(base_seed, worker_index, vector_index)  # checks the indices first
    instance = next_instance(base_seed, worker_index, vector_index)
    seed = env_seed(base_seed, worker_index, vector_index, instance)
    env = gym.make(env_id, **kwargs)
    try:
        env = EnvErrorContext(FlattenGoalObservation(env), env_id, worker_index, vector_index)
        env.reset(seed=seed)
        env.action_space.seed(seed)
    except BaseException:
        env.close()
        raise
    return env
