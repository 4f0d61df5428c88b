"""Soak test: long random-action runs and make/close cycles leak no memory, fds or PyBullet clients.

    python benchmarks/soak.py [--steps 100000] [--envs arm4-ee,arm6-ee] [--cycles 1000]
                              [--json benchmarks/results/soak.json]

For each env (``--envs``, default all of :data:`CASES`): ``--steps`` steps with
random actions from the seeded action space, reset whenever an episode ends
(success or the registered ``TimeLimit`` of 50 steps). After ``--warmup`` steps
the resident memory (VmRSS), open file descriptors and live PyBullet clients are
measured, and again after the last step and after ``close()``. Then ``--cycles``
envs are made, reset, stepped once and closed, and as many again dropped without
``close()`` (garbage-collected once at the end), cycling over every registered id.

Pass (the criteria of docs/reliability.md): RSS growth after the warm-up at most
``--max-growth-mb`` (50 MB), no more open fds or PyBullet clients at the end than
at the start, and none left once the env is closed.

Prints a Markdown table; writes JSON (default ``benchmarks/results/soak.json``) and
the table next to it (``.md``). The probes are ``tests/leak_probes.py``, shared
with ``tests/test_reliability.py``.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym

import ikml_gym
from ikml_gym import ENV_IDS
from ikml_gym.io import atomic_write_json, atomic_write_text
from ikml_gym.tables import markdown_table

# The leak probes are test harness, not package code: they live in tests/ (their main
# user) and this benchmark imports them from there.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from leak_probes import cycle_envs, leak_free, soak_env

DEFAULT_JSON = Path(__file__).resolve().parent / "results" / "soak.json"


#: name -> (description, env factory)
CASES: dict[str, tuple[str, Callable[[], gym.Env]]] = {
    "arm4-ee": ("Reach4DOFEE-v0 (PyBulletIK)", lambda: gym.make("ikml_gym/Reach4DOFEE-v0")),
    "arm4-ik_prior": (
        "Reach4DOFIKPrior-v0 (learned IK)",
        lambda: gym.make("ikml_gym/Reach4DOFIKPrior-v0"),
    ),
    "arm6-ee": ("Reach6DOFEE-v0 (PyBulletIK)", lambda: gym.make("ikml_gym/Reach6DOFEE-v0")),
    "arm6-ik_prior": (
        "Reach6DOFIKPrior-v0 (learned IK)",
        lambda: gym.make("ikml_gym/Reach6DOFIKPrior-v0"),
    ),
}


def _make_id(i: int) -> gym.Env:
    return gym.make(ENV_IDS[i % len(ENV_IDS)])


def _row(name: str, res: dict[str, Any], max_growth: float) -> dict[str, Any]:
    start, end = res["start"], res["end"]
    cycles = "cycles" in res
    row = {
        "env": name,
        "steps": res["cycles"] if cycles else res["steps"],
        "episodes": res["cycles"] if cycles else res["episodes"],
        "wall_s": round(res["wall_s"], 1),
        "rss_start_mb": round(start["rss_mb"], 1),
        "rss_growth_mb": round(res["rss_growth_mb"], 2),
        "fds": f"{start['fds']}/{end['fds']}",
        "clients": f"{start['clients']}/{end['clients']}",
        "pass": leak_free(res, max_growth),
    }
    if not cycles:
        row["clients"] += f" ({res['closed']['clients']} closed)"
    return row


def format_table(rows: list[dict[str, Any]]) -> str:
    """The markdown table of the soak rows (one per env or cycle run)."""
    headers = [
        "env", "steps", "episodes", "wall s", "RSS after warm-up MB", "RSS growth MB",
        "fds start/end", "clients start/end", "pass",
    ]  # fmt: skip
    cells = [
        [r["env"], f"{r['steps']:,}", f"{r['episodes']:,}", f"{r['wall_s']:.1f}",
         f"{r['rss_start_mb']:.1f}", f"{r['rss_growth_mb']:+.2f}", r["fds"], r["clients"],
         "yes" if r["pass"] else "NO"]
        for r in rows
    ]  # fmt: skip
    return markdown_table(headers, cells)


def _parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, list[str]]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=100_000, help="steps per env, warm-up included")
    ap.add_argument(
        "--envs",
        default=",".join(CASES),
        help=f"comma-separated, from {', '.join(CASES)} ('none' for cycles only)",
    )
    ap.add_argument("--warmup", type=int, default=2000, help="steps before the first measurement")
    ap.add_argument("--cycles", type=int, default=1000, help="make/close and make/drop cycles")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-growth-mb", type=float, default=50.0)
    ap.add_argument("--json", default=str(DEFAULT_JSON), help="output JSON path")
    args = ap.parse_args(argv)
    names = [] if args.envs == "none" else [n.strip() for n in args.envs.split(",") if n.strip()]
    unknown = [n for n in names if n not in CASES]
    if unknown:
        ap.error(f"unknown --envs {unknown}; choose from {list(CASES)}")
    return args, names


def _run(args: argparse.Namespace, names: list[str]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The soak of every named env, then the make/close and make/drop cycles."""
    results: dict[str, Any] = {}
    rows: list[dict[str, Any]] = []
    for name in names:
        desc, factory = CASES[name]
        print(f"[soak] {name}: {desc}, {args.steps:,} steps", flush=True)
        res = soak_env(
            factory,
            args.steps,
            warmup=args.warmup,
            seed=args.seed,
            progress=lambda i: print(f"  {i:,} steps", flush=True) if i % 20_000 == 0 else None,
        )
        res["description"] = desc
        results[name] = res
        rows.append(_row(name, res, args.max_growth_mb))
    if args.cycles > 0:
        for close in (True, False):
            name = f"make/{'close' if close else 'drop+gc'} x{args.cycles}"
            print(f"[soak] {name} over {len(ENV_IDS)} ids", flush=True)
            res = cycle_envs(_make_id, args.cycles, close=close)
            results[name] = res
            rows.append(_row(name, res, args.max_growth_mb))
    return results, rows


def main(argv: list[str] | None = None) -> int:
    args, names = _parse_args(argv)
    t_all = time.perf_counter()
    results, rows = _run(args, names)
    table = format_table(rows)
    print(table)
    command = " ".join(["python benchmarks/soak.py", *(sys.argv[1:] if argv is None else argv)])
    out = {
        "command": command,
        "criteria": {
            "max_rss_growth_mb": args.max_growth_mb,
            "warmup_steps": args.warmup,
            "fds": "end <= start, and <= baseline after close()",
            "pybullet_clients": "end <= start, and <= baseline after close()",
        },
        "rows": rows,
        "results": results,
        "all_pass": all(r["pass"] for r in rows),
        "total_wall_s": round(time.perf_counter() - t_all, 1),
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpu_count": os.cpu_count(),
            "load_average_at_end": list(os.getloadavg()),
        },
        "versions": {
            "ikml_gym": ikml_gym.__version__,
            "gymnasium": gym.__version__,
            "pybullet": _pybullet_version(),
        },
    }
    path = Path(args.json)
    atomic_write_json(path, out)
    atomic_write_text(path.with_suffix(".md"), f"`{command}`\n\n{table}\n")
    print(f"wrote {path}")
    return 0 if out["all_pass"] else 1


def _pybullet_version() -> str:
    from importlib.metadata import version

    return version("pybullet")


if __name__ == "__main__":
    sys.exit(main())
