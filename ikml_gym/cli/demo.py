"""``ikml-gym demo``: the project's point in two tables (and a picture), with the shipped weights.

1. Reaching (4-DOF and 6-DOF, scripted ee agent, same seeds): numerical IK calls of
   the baseline stack vs the plug-in stack, and their success rates.
2. Trajectory filtering (6-DOF): FeasibilityFilter vs IK on every waypoint.

The runs live in :mod:`ikml_gym.demo`; this module only parses the command line.
"""

from __future__ import annotations

import argparse
import json

from ..io import atomic_write_json
from .arguments import output_file, output_folder, positive_int


def _demo(args: argparse.Namespace) -> int:
    from ..demo import run_demo

    summary = run_demo(args.episodes, args.trajectories, seed=args.seed, out=args.out)
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
