"""``ikml-gym demo``: the project's point in two tables (and a picture), with the shipped weights.

1. Reaching (4-DOF and 6-DOF, scripted ee agent, same seeds): numerical IK calls of
   the baseline stack vs the plug-in stack, and their success rates.
2. Trajectory filtering (6-DOF): FeasibilityFilter vs IK on every waypoint.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from ..io import atomic_write_json
from .arguments import output_file, output_folder, positive_int


def _demo(args: argparse.Namespace) -> int:
    from .. import experiments as ex

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    print(f"ikml_gym demo: outputs go to {out.resolve()}\n")

    print(
        f"1. Reaching, scripted ee agent, position goals, {args.episodes} episodes per arm and method"
    )
    reach = [ex.reach_ik_calls(arm, args.episodes, seed=args.seed) for arm in ("arm4", "arm6")]
    print(ex.reach_table(reach))
    for r in reach:
        b, p = r["baseline"], r["plugin"]
        print(
            f"   {r['arm']}: the plug-in stack spent {p['ik_calls']} numerical IK calls to the "
            f"baseline's {b['ik_calls']} ({100 * r['reduction']:.1f}% fewer), success "
            f"{100 * p['success_rate']:.1f}% vs {100 * b['success_rate']:.1f}%, wall time "
            f"{p['wall_time_s']:.1f} s vs {b['wall_time_s']:.1f} s "
            f"({p['wall_time_s'] / b['wall_time_s']:.2f}x)."
        )
    print(
        "   Both stacks accept an IK answer within 1/3 of the success distance and 3 degrees\n"
        "   (the registered envs' own rule, keyword ik_tolerance).\n"
    )

    print(f"2. Trajectory filtering, arm6, {args.trajectories} trajectories x 50 waypoints")
    traj = ex.trajectory_filter(args.trajectories, seed=args.seed, plot_dir=out)
    print(ex.trajectory_table(traj))
    print(
        f"   {traj['ik_calls_filter']} numerical IK calls instead of {traj['ik_calls_baseline']} "
        f"({100 * traj['reduction']:.1f}% fewer), wall time {traj['seconds_filter']:.1f} s vs "
        f"{traj['seconds_baseline']:.1f} s "
        f"({traj['seconds_filter'] / max(traj['seconds_baseline'], 1e-9):.2f}x)"
    )
    print(f"   picture: {traj['plot']}\n")

    def reach_summary(r: dict) -> dict:
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

    r4, r6 = reach
    summary = {
        "reach4": reach_summary(r4),
        "reach6": reach_summary(r6),
        "traj6": {
            "ik_calls_baseline": traj["ik_calls_baseline"],
            "ik_calls_plugin": traj["ik_calls_filter"],
            "wall_s_baseline": traj["seconds_baseline"],
            "wall_s_plugin": traj["seconds_filter"],
            **traj,
        },
        "seconds": time.perf_counter() - t0,
    }
    print(
        f"Numerical IK calls saved: reaching arm4 {100 * r4['reduction']:.1f}%, "
        f"arm6 {100 * r6['reduction']:.1f}%; trajectories {100 * traj['reduction']:.1f}% "
        f"({summary['seconds']:.0f} s)"
    )
    if args.json:
        atomic_write_json(args.json, summary)
        print(f"numbers: {args.json}")
    else:
        print(json.dumps({k: summary[k]["ik_calls_plugin"] for k in ("reach4", "reach6", "traj6")}))
    return 0


def register_cli(groups: dict[str, argparse._SubParsersAction]) -> None:
    p = groups["top"].add_parser(
        "demo", help="IK calls saved in reaching and trajectory filtering (about a minute)",
        description=__doc__,
    )  # fmt: skip
    p.add_argument(
        "--episodes", type=positive_int, default=200, help="reaching episodes per arm/method"
    )
    p.add_argument(
        "--trajectories", type=positive_int, default=1000, help="arm6 candidate trajectories"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--out",
        type=output_folder,
        default="ikml_gym_demo",
        help="folder for PNGs (default ./ikml_gym_demo)",
    )
    p.add_argument("--json", type=output_file, help="write the numbers to this JSON file")
    p.set_defaults(handler=_demo)
