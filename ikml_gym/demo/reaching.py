"""The demo's reaching run: numerical IK calls the baseline and plug-in stacks spend
reaching the same position goals with the scripted ee agent (plain, JSON-ready numbers)
and its markdown table. The counting rule is the one of :mod:`ikml_gym.demo.stacks`.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from ..agents.scripted import run_side_by_side
from ..arms import load_arm
from ..tables import markdown_table
from .stacks import baseline_stack, plugin_stack

GOAL_TYPE = "position"
REACH_ENV = {"arm4": "ikml_gym/Reach4DOFEE-v0", "arm6": "ikml_gym/Reach6DOFEE-v0"}


# --------------------------------------------------------------------------- reaching
def reach_ik_calls(arm_name: str, episodes: int = 200, seed: int = 0) -> dict[str, Any]:
    """Scripted ee reaching with position goals: baseline stack vs plug-in stack, same seeds.

    Returns ``{"baseline": EpisodeStats dict, "plugin": ..., "reduction": fraction of
    numerical calls the plug-in stack saved, "note": ...}``.
    """
    arm = load_arm(arm_name)
    out: dict[str, Any] = {"arm": arm_name, "episodes": episodes, "env_id": REACH_ENV[arm_name]}
    stacks = [("baseline", baseline_stack), ("plugin", plugin_stack)]
    made = {key: make_stack(arm) for key, make_stack in stacks}
    envs = {}
    try:
        for key, stack in made.items():
            envs[key] = gym.make(REACH_ENV[arm_name], goal_type=GOAL_TYPE, **stack.env_kwargs)
        # episode k of every stack in turn: the wall times see the same machine load
        results = run_side_by_side(envs, episodes, seed=seed)
    finally:
        for env in envs.values():
            env.close()
        for stack in made.values():
            stack.close()
    base = results["baseline"].ik_calls
    for key, stats in results.items():
        out[key] = stats.as_dict() | {
            "method": made[key].name,
            "reduction": 1.0 - stats.ik_calls / base if base else 0.0,
        }
    out["note"] = made["plugin"].note
    out["reduction"] = out["plugin"]["reduction"]
    return out


def reach_table(results: list[dict[str, Any]]) -> str:
    """The markdown table of :func:`reach_ik_calls` results: one row per arm and stack."""
    rows = []
    for r in results:
        for key in ("baseline", "plugin"):
            s = r[key]
            rows.append([
                r["arm"], s["method"], f"{100 * s['success_rate']:.1f}%",
                s["mean_final_distance_mm"], s["ik_calls"], s["calls_per_episode"],
                f"{s['wall_time_s']:.1f}",
                f"-{100 * s['reduction']:.1f}% calls" if key != "baseline" else "",
            ])  # fmt: skip
    return markdown_table(
        ["arm", "method", "success", "final dist (mm)", "numerical IK calls", "calls/episode",
         "wall (s)", "saving"],
        rows,
    )  # fmt: skip
