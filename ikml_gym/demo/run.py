"""The whole demo in one call: the reaching run on both arms, the trajectory run on
arm6, their tables printed, and one JSON-ready summary (what ``ikml-gym demo`` writes).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .reaching import reach_ik_calls, reach_table
from .trajectories import trajectory_filter, trajectory_table

DEMO_ARMS = ("arm4", "arm6")


def run_demo(
    episodes: int = 200,
    trajectories: int = 1000,
    seed: int = 0,
    out: str | Path = "ikml_gym_demo",
    echo: Callable[[str], Any] = print,
) -> dict[str, Any]:
    """Run both demo parts, print their tables through ``echo``, return the summary.

    Args:
        episodes: reaching episodes per arm and stack.
        trajectories: arm6 candidate trajectories (50 waypoints each).
        seed: seeds the goals, the trajectories and the solvers.
        out: folder for the picture ``trajectories.png`` (created if missing).

    Returns:
        ``{"reach4": ..., "reach6": ..., "traj6": ..., "seconds": ...}``: per part the
        numerical IK calls, success rates and wall times (seconds) of both methods.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    echo(f"ikml_gym demo: outputs go to {out.resolve()}\n")
    reach = _reaching_part(episodes, seed, echo)
    traj = _trajectory_part(trajectories, seed, out, echo)
    r4, r6 = reach
    summary = {
        "reach4": _reach_summary(r4),
        "reach6": _reach_summary(r6),
        "traj6": {
            "ik_calls_baseline": traj["ik_calls_baseline"],
            "ik_calls_plugin": traj["ik_calls_filter"],
            "wall_s_baseline": traj["seconds_baseline"],
            "wall_s_plugin": traj["seconds_filter"],
            **traj,
        },
        "seconds": time.perf_counter() - t0,
    }
    echo(
        f"Numerical IK calls saved: reaching arm4 {100 * r4['reduction']:.1f}%, "
        f"arm6 {100 * r6['reduction']:.1f}%; trajectories {100 * traj['reduction']:.1f}% "
        f"({summary['seconds']:.0f} s)"
    )
    return summary


def _reaching_part(episodes: int, seed: int, echo: Callable[[str], Any]) -> list[dict[str, Any]]:
    """Part 1: :func:`~ikml_gym.demo.reaching.reach_ik_calls` on both arms, printed."""
    echo(f"1. Reaching, scripted ee agent, position goals, {episodes} episodes per arm and method")
    reach = [reach_ik_calls(arm, episodes, seed=seed) for arm in DEMO_ARMS]
    echo(reach_table(reach))
    for r in reach:
        b, p = r["baseline"], r["plugin"]
        echo(
            f"   {r['arm']}: the plug-in stack spent {p['ik_calls']} numerical IK calls to the "
            f"baseline's {b['ik_calls']} ({100 * r['reduction']:.1f}% fewer), success "
            f"{100 * p['success_rate']:.1f}% vs {100 * b['success_rate']:.1f}%, wall time "
            f"{p['wall_time_s']:.1f} s vs {b['wall_time_s']:.1f} s "
            f"({p['wall_time_s'] / b['wall_time_s']:.2f}x)."
        )
    echo(
        "   Both stacks accept an IK answer within 1/3 of the success distance and 3 degrees\n"
        "   (the registered envs' own rule, keyword ik_tolerance).\n"
    )
    return reach


def _trajectory_part(
    trajectories: int, seed: int, out: Path, echo: Callable[[str], Any]
) -> dict[str, Any]:
    """Part 2: :func:`~ikml_gym.demo.trajectories.trajectory_filter` on arm6, printed."""
    echo(f"2. Trajectory filtering, arm6, {trajectories} trajectories x 50 waypoints")
    traj = trajectory_filter(trajectories, seed=seed, plot_dir=out)
    echo(trajectory_table(traj))
    echo(
        f"   {traj['ik_calls_filter']} numerical IK calls instead of {traj['ik_calls_baseline']} "
        f"({100 * traj['reduction']:.1f}% fewer), wall time {traj['seconds_filter']:.1f} s vs "
        f"{traj['seconds_baseline']:.1f} s "
        f"({traj['seconds_filter'] / max(traj['seconds_baseline'], 1e-9):.2f}x)"
    )
    echo(f"   picture: {traj['plot']}\n")
    return traj


def _reach_summary(r: dict[str, Any]) -> dict[str, Any]:
    """The headline numbers of one arm's reaching run, with the full result as ``details``."""
    return {
        "ik_calls_baseline": r["baseline"]["ik_calls"],
        "ik_calls_plugin": r["plugin"]["ik_calls"],
        "success_baseline": r["baseline"]["success_rate"],
        "success_plugin": r["plugin"]["success_rate"],
        "wall_s_baseline": r["baseline"]["wall_time_s"],
        "wall_s_plugin": r["plugin"]["wall_time_s"],
        "reduction": r["reduction"],
        "details": r,
    }
