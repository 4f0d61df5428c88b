"""Env speed and per-step IK of the registered ids, beside panda-gym, in one run.

    python benchmarks/envs.py [--quick] [--episodes 60] [--json benchmarks/results/envs.json]

Two tables, every env made with ``gymnasium.make`` and its defaults, as a user makes it:

1. **Random actions**: env steps per second (resets included) of ``PandaReach-v3`` and
   ``PandaReachJoints-v3`` (panda-gym, if installed) and of our ids. Interleaved
   rounds, best kept: a busy machine slows every row alike, so compare ratios.
2. **Goal-directed policy** (the end-effector stepped straight at the goal, orientation
   held: ``action[:3] = clip((goal - achieved) / ee_step, -1, 1)``; classifier goal
   filter; the same seeded episodes for every row): success rate, median final
   distance, numerical IK calls per step and steps/s for every ``ik_solver`` of the
   ``EE`` ids, and ``PandaReach-v3`` under the same policy (its ee step is 5 cm).

panda-gym is an optional benchmark dependency: ``pip install --no-deps panda-gym==3.0.7``
(it pins an older gymnasium, but runs with gymnasium 1.4; ``--no-deps`` keeps ours).
Without it its rows are left out. Prints Markdown tables; writes JSON and the tables
(``.md``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

import ikml_gym
from ikml_gym.io import atomic_write_json, atomic_write_text
from ikml_gym.tables import markdown_table

HERE = Path(__file__).resolve().parent

RANDOM_ROWS: list[tuple[str, dict[str, Any]]] = [
    ("PandaReach-v3", {}),
    ("PandaReachJoints-v3", {}),
    ("ikml_gym/Reach4DOF-v0", {}),
    ("ikml_gym/Reach6DOF-v0", {}),
    ("ikml_gym/Reach4DOFIKPrior-v0", {}),
    ("ikml_gym/Reach6DOFIKPrior-v0", {}),
    ("ikml_gym/Reach4DOFEE-v0", {"ik_solver": "pybullet"}),
    ("ikml_gym/Reach4DOFEE-v0", {"ik_solver": "hybrid"}),
    ("ikml_gym/Reach6DOFEE-v0", {"ik_solver": "pybullet"}),
    ("ikml_gym/Reach6DOFEE-v0", {"ik_solver": "hybrid"}),
]
POLICY_ROWS: list[tuple[str, dict[str, Any]]] = [
    ("PandaReach-v3", {}),
    *(("ikml_gym/Reach4DOFEE-v0", {"ik_solver": s}) for s in ("pybullet", "hybrid", "learned", "dls", "analytic")),
    *(("ikml_gym/Reach6DOFEE-v0", {"ik_solver": s}) for s in ("pybullet", "hybrid", "learned", "dls", "analytic")),
]  # fmt: skip
PANDA_EE_STEP = 0.05  # metres per action unit of PandaReach-v3


def have_panda_gym() -> bool:
    try:
        import panda_gym  # noqa: F401  (registers the Panda ids)
    except ImportError:
        return False
    return True


def make(env_id: str, kwargs: dict[str, Any], goal_filter: bool) -> gym.Env:
    if env_id.startswith("ikml_gym/") and goal_filter:
        kwargs = {"goal_filter": "classifier", **kwargs}
    return gym.make(env_id, **kwargs)


def label(env_id: str, kwargs: dict[str, Any]) -> str:
    extra = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
    return f"{env_id}" + (f" ({extra})" if extra else "")


def random_steps_per_s(env: gym.Env, steps: int, seed: int) -> float:
    env.action_space.seed(seed)
    env.reset(seed=seed)
    t = time.perf_counter()
    for _ in range(steps):
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        if terminated or truncated:
            env.reset()
    return steps / (time.perf_counter() - t)


def goal_directed(env: gym.Env, episodes: range) -> dict[str, Any]:
    """Run the seeded episodes; -> successes, final distances, steps, IK calls, seconds."""
    base = env.unwrapped
    ikml = hasattr(base, "ik_calls_total")
    step = base.robot.controller.ee_step if ikml else PANDA_EE_STEP
    calls0 = base.ik_calls_total if ikml else 0
    wins, dists, steps = 0, [], 0
    t = time.perf_counter()
    for ep in episodes:
        obs, info = env.reset(seed=ep)
        done = False
        while not done:
            action = np.zeros(env.action_space.shape, dtype=np.float32)
            action[:3] = np.clip((obs["desired_goal"] - obs["achieved_goal"])[:3] / step, -1, 1)
            obs, _, terminated, truncated, info = env.step(action)
            done, steps = terminated or truncated, steps + 1
        wins += bool(info["is_success"])
        dists.append(float(np.linalg.norm(obs["desired_goal"][:3] - obs["achieved_goal"][:3])))
    return {
        "episodes": len(episodes),
        "successes": wins,
        "distances": dists,
        "steps": steps,
        "ik_calls": int(base.ik_calls_total - calls0) if ikml else None,
        "seconds": time.perf_counter() - t,
    }


def run_random(rows: list[tuple[str, dict]], steps: int, rounds: int) -> list[dict[str, Any]]:
    envs = [make(eid, kw, goal_filter=False) for eid, kw in rows]
    rates: list[list[float]] = [[] for _ in rows]
    try:
        for r in range(rounds):
            for env, got in zip(envs, rates):
                got.append(random_steps_per_s(env, steps, seed=r))
            print(f"random actions: round {r + 1}/{rounds}", file=sys.stderr)
    finally:
        for env in envs:
            env.close()
    return [
        {"env": label(eid, kw), "steps_per_s": max(got), "rounds": got}
        for (eid, kw), got in zip(rows, rates)
    ]


def run_policy(rows: list[tuple[str, dict]], episodes: int, rounds: int) -> list[dict[str, Any]]:
    """Every row runs the same seeded episodes, split into interleaved rounds."""
    envs = [make(eid, kw, goal_filter=True) for eid, kw in rows]
    parts = np.array_split(np.arange(episodes), rounds)
    runs: list[list[dict]] = [[] for _ in rows]
    try:
        for r, part in enumerate(parts):
            for env, got in zip(envs, runs):
                got.append(goal_directed(env, range(int(part[0]), int(part[-1]) + 1)))
            print(f"goal-directed policy: round {r + 1}/{rounds}", file=sys.stderr)
    finally:
        for env in envs:
            env.close()
    out = []
    for (eid, kw), got in zip(rows, runs):
        steps = sum(g["steps"] for g in got)
        calls = None if got[0]["ik_calls"] is None else sum(g["ik_calls"] for g in got)
        out.append({
            "env": label(eid, kw),
            "episodes": episodes,
            "success_rate": sum(g["successes"] for g in got) / episodes,
            "median_final_distance_mm": 1000 * float(np.median([d for g in got for d in g["distances"]])),
            "steps": steps,
            "numerical_ik_calls": calls,
            "calls_per_step": None if calls is None else calls / steps,
            "steps_per_s": steps / sum(g["seconds"] for g in got),
        })  # fmt: skip
    return out


def tables(random_rows: list[dict], policy_rows: list[dict]) -> str:
    """The two Markdown tables: random-action speed, then the goal-directed policy."""
    random_table = markdown_table(
        ["env (random actions)", "steps/s"],
        [[r["env"], f"{r['steps_per_s']:,.0f}"] for r in random_rows],
        align="lr",
    )
    policy_cells = []
    for r in policy_rows:
        calls = "-" if r["calls_per_step"] is None else f"{r['calls_per_step']:.3f}"
        policy_cells.append([
            r["env"], r["episodes"], f"{100 * r['success_rate']:.1f}%",
            f"{r['median_final_distance_mm']:.1f}", calls, f"{r['steps_per_s']:,.0f}",
        ])  # fmt: skip
    policy_table = markdown_table(
        ["env (goal-directed policy)", "episodes", "success", "median final dist (mm)",
         "numerical IK calls / step", "steps/s"],
        policy_cells,
        align="lrrrrr",
    )  # fmt: skip
    return f"{random_table}\n\n{policy_table}\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="500 random steps, 12 episodes")
    ap.add_argument("--episodes", type=int, default=60, help="goal-directed episodes per row")
    ap.add_argument("--steps", type=int, default=2000, help="random-action steps per row and round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", type=Path, default=HERE / "results" / "envs.json")
    args = ap.parse_args(argv)
    if min(args.episodes, args.steps, args.rounds) < 1:
        ap.error("--episodes, --steps and --rounds must be >= 1")
    if args.quick:
        args.steps, args.episodes = 500, 12
    panda = have_panda_gym()
    if not panda:
        print("panda-gym not installed: its rows are left out", file=sys.stderr)
    keep = [(e, k) for e, k in RANDOM_ROWS if panda or e.startswith("ikml_gym/")]
    keep_policy = [(e, k) for e, k in POLICY_ROWS if panda or e.startswith("ikml_gym/")]
    random_rows = run_random(keep, args.steps, args.rounds)
    policy_rows = run_policy(keep_policy, args.episodes, min(args.rounds, args.episodes))
    text = tables(random_rows, policy_rows)
    print(text)
    atomic_write_json(
        args.json,
        {
            "command": " ".join(["python benchmarks/envs.py", *(argv or sys.argv[1:])]),
            "ikml_gym": ikml_gym.__version__,
            "gymnasium": gym.__version__,
            "panda_gym": panda,
            "random_actions": random_rows,
            "goal_directed": policy_rows,
        },
    )
    atomic_write_text(args.json.with_suffix(".md"), text)
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
