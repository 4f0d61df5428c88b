"""``ikml-gym envs``: list the registered Gymnasium ids."""

from __future__ import annotations

import argparse
import json

from ..envs.registration import ENTRY_POINT, ENV_SPECS, MAX_EPISODE_STEPS


def _envs(args: argparse.Namespace) -> int:
    rows = [
        {"id": env_id, **kwargs, "max_episode_steps": MAX_EPISODE_STEPS, "entry_point": ENTRY_POINT}
        for env_id, kwargs in ENV_SPECS.items()
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    width = max(len(r["id"]) for r in rows)
    print(f"{'id':<{width}}  arm   control   reward  steps")
    for r in rows:
        print(
            f"{r['id']:<{width}}  {r['arm']:<5} {r['control_type']:<9} {r['reward_type']:<7} "
            f"{r['max_episode_steps']}"
        )
    print(
        "\nimport ikml_gym, gymnasium; gymnasium.make(ID, **kwargs)  "
        "(or gymnasium.make('ikml_gym:' + ID)); options: goal_type, goal_filter, ik_solver, "
        "ik_prior, classifier, singularity_penalty, ... see docs/envs.md"
    )
    return 0


def register_cli(groups: dict[str, argparse._SubParsersAction]) -> None:
    p = groups["top"].add_parser(
        "envs",
        help="list the Gymnasium environment ids",
        description="List the registered env ids.",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(handler=_envs)
