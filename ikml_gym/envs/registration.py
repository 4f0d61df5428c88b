"""Registration of the ``ikml_gym/Reach*`` ids from one grid (run on ``import ikml_gym``).

Gymnasium 1.x has no entry-point plug-in group, so the ids exist after
``import ikml_gym``; ``gymnasium.make("ikml_gym:ikml_gym/Reach4DOF-v0")`` imports
the package itself first.
"""

from __future__ import annotations

from typing import Any

from ..pretrained import has_shipped_model

#: string entry point of every id (nothing heavy is imported until ``make``)
ENTRY_POINT = "ikml_gym.envs.reach:ArmReachEnv"
MAX_EPISODE_STEPS = 50

_ARMS = {"4DOF": "arm4", "6DOF": "arm6"}
_CONTROLS = {"": "joints", "EE": "ee", "IKPrior": "ik_prior"}
_REWARDS = {"": "sparse", "Dense": "dense"}
#: region tag -> (goal_region, the rewards registered with it): the ``Local`` (box) ids
#: are panda-gym's difficulty for HER baselines, registered with the sparse reward only
_REGIONS = {"": ("ball", ("", "Dense")), "Local": ("box", ("",))}


def _grid() -> dict[str, dict[str, Any]]:
    grid: dict[str, dict[str, Any]] = {}
    for arm_tag, arm in _ARMS.items():
        for region_tag, (region, reward_tags) in _REGIONS.items():
            for control_tag, control in _CONTROLS.items():
                if control == "ik_prior" and not has_shipped_model(arm, "ik"):
                    continue  # the prior is the shipped learned IK; other arms pass ik_prior=<solver>
                for reward_tag in reward_tags:
                    env_id = f"ikml_gym/Reach{arm_tag}{region_tag}{control_tag}{reward_tag}-v0"
                    grid[env_id] = {"arm": arm, "control_type": control,
                                    "reward_type": _REWARDS[reward_tag]}  # fmt: skip
                    if region != "ball":
                        grid[env_id]["goal_region"] = region
    return grid


#: id -> keyword arguments of :class:`~ikml_gym.envs.reach.ArmReachEnv`
ENV_SPECS: dict[str, dict[str, Any]] = _grid()
#: every registered id
ENV_IDS: tuple[str, ...] = tuple(ENV_SPECS)


def register_envs() -> None:
    """Register every id in :data:`ENV_IDS` (idempotent)."""
    from gymnasium.envs.registration import register, registry

    for env_id, kwargs in ENV_SPECS.items():
        if env_id not in registry:
            register(
                id=env_id,
                entry_point=ENTRY_POINT,
                kwargs=dict(kwargs),
                max_episode_steps=MAX_EPISODE_STEPS,
            )
