"""PPO (or SAC) from Ray RLlib on an ikml_gym env, sampled by N env runner processes.

    python examples/train_rllib.py --env ikml_gym/Reach4DOFIKPriorDense-v0 \\
        --env-runners 2 --iterations 20
    python examples/train_rllib.py --algo sac --iterations 40
    # on a cluster (``ray start --head`` on one machine, ``ray start --address=HEAD:6379``
    # on the others, see docs/scaling.md), from any of its machines:
    RAY_AUTH_MODE=token python examples/train_rllib.py --address HEAD:6379 --env-runners 64

Needs the RLlib virtualenv (``make setup-rllib``; RLlib pins gymnasium 1.2.x). Every
id of ``ikml_gym.ENV_IDS`` is registered with RLlib under its own name; the goal
dict is flattened for RLlib's default encoders. Each iteration prints one line
(env steps, steps/s, mean return, success rate, IK calls per episode); the end
prints a table and, with ``--json``, writes it.

Fault tolerance is on (``--no-fault-tolerance`` turns it off): an env runner whose
process dies is restarted and training goes on; an env that raises stops training
with an ``EnvCallError`` naming the env id and the action.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import ikml_gym
from ikml_gym.integrations.envs import split_env_config
from ikml_gym.tables import markdown_table


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--algo", choices=["ppo", "sac"], default="ppo")
    p.add_argument("--env", default="ikml_gym/Reach4DOFIKPriorDense-v0", choices=ikml_gym.ENV_IDS)
    p.add_argument("--env-config", default="{}", help='JSON: {"seed": 0, gymnasium.make keywords}')
    p.add_argument("--env-runners", type=int, default=2, help="env runner processes (0: driver)")
    p.add_argument("--envs-per-runner", type=int, default=1)
    p.add_argument("--iterations", type=int, default=10)
    p.add_argument("--batch", type=int, default=2000, help="PPO: env steps per iteration")
    p.add_argument("--address", default=None, help="join a running cluster (host:port)")
    p.add_argument("--no-fault-tolerance", action="store_true")
    p.add_argument("--json", type=Path, default=None, help="write the final table here")
    args = p.parse_args(argv)
    for name in ("env_runners", "envs_per_runner", "iterations", "batch"):
        low = 0 if name == "env_runners" else 1
        if getattr(args, name) < low:
            p.error(f"--{name.replace('_', '-')} must be >= {low}")
    try:
        args.env_config = json.loads(args.env_config)
        split_env_config(args.env_config)
    except (json.JSONDecodeError, ValueError) as exc:
        p.error(f"--env-config: {exc}")
    return args


def build(args: argparse.Namespace) -> Any:
    from ikml_gym.integrations.rllib import ppo_config, sac_config

    common = {
        "num_env_runners": args.env_runners,
        "num_envs_per_env_runner": args.envs_per_runner,
        "env_config": args.env_config,
        "fault_tolerant": not args.no_fault_tolerance,
    }
    if args.algo == "ppo":
        return ppo_config(args.env, train_batch_size=args.batch, **common).build_algo()
    return sac_config(args.env, **common).build_algo()


def row(result: dict[str, Any], wall_s: float) -> dict[str, Any]:
    """The numbers of one iteration's result (cumulative where it says so)."""
    from ikml_gym.integrations.rllib import IK_CALLS_PER_EPISODE, SUCCESS_RATE

    runners = result.get("env_runners", {})
    steps = int(runners.get("num_env_steps_sampled_lifetime", 0))
    return {
        "iteration": int(result["training_iteration"]),
        "env_steps": steps,
        "wall_s": round(wall_s, 1),
        "steps_per_s": round(steps / wall_s, 1) if wall_s > 0 else None,
        "return_mean": _num(runners.get("episode_return_mean")),
        "success_rate": _num(runners.get(SUCCESS_RATE)),
        "ik_calls_per_episode": _num(runners.get(IK_CALLS_PER_EPISODE)),
        "episodes": int(runners.get("num_episodes_lifetime", 0)),
    }


def _num(value: Any) -> float | None:
    return None if value is None else round(float(value), 3)


def _fmt(value: Any) -> str:
    return "-" if value is None else str(value)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import ray

    if args.address:
        try:
            ray.init(address=args.address, log_to_driver=False)
        except ConnectionError as exc:
            sys.exit(
                f"cannot join the cluster at {args.address}: {exc}. Clusters started with "
                "`ray start` use token authentication in Ray 2.60: run with RAY_AUTH_MODE=token "
                "and the cluster's token (docs/scaling.md, 'Many machines')"
            )
    else:
        ray.init(log_to_driver=False)
    cpus = ray.cluster_resources().get("CPU", 0)
    if args.env_runners > cpus:
        ray.shutdown()
        sys.exit(
            f"--env-runners {args.env_runners} needs {args.env_runners} CPUs (one per runner); "
            f"the cluster has {cpus:g}: add machines (docs/scaling.md) or use fewer runners"
        )
    algo = build(args)
    start = time.perf_counter()
    rows = []
    try:
        for _ in range(args.iterations):
            r = row(algo.train(), time.perf_counter() - start)
            rows.append(r)
            print(
                f"iter {r['iteration']:3d}  env steps {r['env_steps']:7d}  "
                f"{_fmt(r['steps_per_s']):>7} steps/s  return {_fmt(r['return_mean']):>8}  "
                f"success {_fmt(r['success_rate']):>5}  IK calls/ep "
                f"{_fmt(r['ik_calls_per_episode'])}",
                flush=True,
            )
    finally:
        algo.stop()
        ray.shutdown()
    final = {
        "algo": args.algo,
        "env": args.env,
        "env_config": args.env_config,
        "env_runners": args.env_runners,
        "envs_per_runner": args.envs_per_runner,
        "batch": args.batch if args.algo == "ppo" else None,
        "ray": ray.__version__,
        **rows[-1],
        "curve": rows,
    }
    print()
    headers = [
        "algo", "env", "runners", "iterations", "env steps", "wall s",
        "env steps/s (incl. learning)", "success rate (last 100 ep)", "IK calls / episode",
    ]  # fmt: skip
    final_row = [
        args.algo, args.env, args.env_runners, final["iteration"], final["env_steps"],
        final["wall_s"], _fmt(final["steps_per_s"]), _fmt(final["success_rate"]),
        _fmt(final["ik_calls_per_episode"]),
    ]  # fmt: skip
    print(markdown_table(headers, [[str(v) for v in final_row]]))
    if args.json is not None:
        from ikml_gym.io import atomic_write_json

        atomic_write_json(args.json, final)
        print(f"written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
