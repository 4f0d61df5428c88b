"""Kinematics and IK solver speed vs PyBullet, side by side in one run.

    python benchmarks/kinematics.py [--quick] [--json PATH]

Prints a Markdown table and writes JSON (default ``benchmarks/results/kinematics.json``)
and the table beside it (``.md``); the README table comes from it.

Rows (every rate is the best of ``repeats`` interleaved rounds, wall clock):

* FK: batched numpy FK vs a PyBullet loop (``resetJointState`` + ``getLinkState``);
* AnalyticIK poses/s (closed form, every branch FK-checked);
* DLSIK (batched) vs PyBulletIK tuned vs PyBulletIK with PyBullet's defaults, on
  the same random reachable targets, with success rates (1 mm / 1 degree);
* DLSIK vs PyBulletIK tuned on unreachable targets (1.2-1.5 reach away): the cost
  of giving up, which is what a feasibility check by numerical IK pays.
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

import numpy as np

from ikml_gym.arms import Arm, load_arm
from ikml_gym.bullet import load_in_bullet
from ikml_gym.cli.arguments import output_file
from ikml_gym.io import atomic_write_json, atomic_write_text
from ikml_gym.solvers import DLSIK, AnalyticIK, PyBulletIK
from ikml_gym.tables import markdown_table

DEFAULT_JSON = Path(__file__).resolve().parent / "results" / "kinematics.json"

#: sizes of the full run and of ``--quick`` (a smoke test)
SIZES = {
    "full": {
        "fk": 100_000,
        "fk_pybullet": 3_000,
        "analytic": 50_000,
        "dls": 10_000,
        "unreachable": 2_000,
        "pybullet_unreachable": 60,
        "pybullet": 400,
        "repeats": 3,
    },
    "quick": {
        "fk": 2_000,
        "fk_pybullet": 200,
        "analytic": 2_000,
        "dls": 200,
        "unreachable": 20,
        "pybullet_unreachable": 5,
        "pybullet": 20,
        "repeats": 1,
    },
}
TARGETS = {"fk_speedup_arm6": 20.0, "analytic_per_s": 100_000.0, "dls_speedup": 10.0}
#: the solver attributes recorded with the results
SETTING_KEYS = {
    "dls": ("max_iters", "restarts", "damping", "max_step", "seed_pool", "restart_seeds", "chunk"),
    "pybullet": ("damping", "max_iters", "residual", "restarts"),
}


def _best_rate(fn: Callable[[], Any], n: int, repeats: int) -> tuple[float, Any]:
    """Items per second of the fastest of ``repeats`` calls of ``fn`` (n items each), and its output."""
    best, out = np.inf, None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return n / best, out


def _pybullet_fk_loop(arm: Arm, q: np.ndarray) -> Callable[[], np.ndarray]:
    """A function computing the ee positions (N, 3), metres, of ``q`` (N, dof) one by one in PyBullet."""
    import pybullet as p

    client = p.connect(p.DIRECT)
    loaded = load_in_bullet(p, arm, client)
    body, joints, ee = loaded.body, loaded.joints, loaded.ee

    def run() -> np.ndarray:
        out = np.empty((len(q), 3))
        for i, row in enumerate(q):
            for j, v in zip(joints, row):
                p.resetJointState(body, j, float(v), physicsClientId=client)
            out[i] = p.getLinkState(
                body, ee, computeForwardKinematics=True, physicsClientId=client
            )[4]
        return out

    run.client = client  # type: ignore[attr-defined]
    return run


def _unreachable(arm: Arm, n: int, rng: np.random.Generator) -> np.ndarray:
    """Features of n poses 1.2-1.5 reach from the reach centre, random orientations."""
    from scipy.spatial.transform import Rotation

    d = rng.normal(size=(n, 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    pos = arm.reach_center + d * arm.reach * rng.uniform(1.2, 1.5, (n, 1))
    return arm.features(pos, Rotation.random(n, random_state=rng).as_quat())


class _Rows:
    """The result rows, each also logged as a progress line."""

    def __init__(self, say: Callable[[str], None]) -> None:
        self.rows: list[dict[str, Any]] = []
        self.say = say

    def add(
        self,
        arm: str,
        task: str,
        method: str,
        n: int,
        rate: float,
        success: float | None,
        baseline: str | None = None,
        speedup: float | None = None,
    ) -> dict[str, Any]:
        row = {
            "arm": arm,
            "task": task,
            "method": method,
            "n": n,
            "per_s": round(rate, 1),
            "success": None if success is None else round(float(success), 4),
            "vs": baseline,
            "speedup": None if speedup is None else round(speedup, 2),
        }
        self.rows.append(row)
        self.say(f"  {arm} {task:14s} {method:32s} {rate:12,.0f}/s")
        return row


def _fk_rows(rows: _Rows, arm: Arm, q: np.ndarray, size: dict[str, int]) -> None:
    """Batched numpy FK vs a PyBullet loop, rounds interleaved; checks they agree."""
    import pybullet as p

    rows.say(f"{arm.name}: forward kinematics")
    loop = _pybullet_fk_loop(arm, q[: size["fk_pybullet"]])
    try:
        pb_rate, pb_pos = 0.0, None
        np_rate = 0.0
        for _ in range(size["repeats"]):  # interleaved rounds
            r, pb_pos = _best_rate(loop, size["fk_pybullet"], 1)
            pb_rate = max(pb_rate, r)
            r, _ = _best_rate(lambda a=arm, x=q: a.fk(x), len(q), 1)
            np_rate = max(np_rate, r)
    finally:
        p.disconnect(loop.client)
    agree = float(np.max(np.abs(arm.fk(q[: size["fk_pybullet"]])[0] - pb_pos)))
    rows.add(arm.name, "FK", "PyBullet loop", size["fk_pybullet"], pb_rate, None)
    row = rows.add(
        arm.name,
        "FK",
        "ikml_gym batched",
        len(q),
        np_rate,
        None,
        "PyBullet loop",
        np_rate / pb_rate,
    )
    row["max_abs_diff_m"] = agree


def _analytic_row(rows: _Rows, arm: Arm, feats: np.ndarray, repeats: int) -> None:
    """Closed-form IK poses per second on ``feats`` (N, feature_dim)."""
    rows.say(f"{arm.name}: analytic IK")
    analytic = AnalyticIK(arm)
    rate, res = _best_rate(lambda s=analytic, f=feats: s.solve(f), len(feats), repeats)
    rows.add(arm.name, "IK", "AnalyticIK (closed form)", len(feats), rate, res.success.mean())


def _time_solvers(
    jobs: tuple[tuple[str, Any, np.ndarray], ...], repeats: int
) -> tuple[dict[str, float], dict[str, Any]]:
    """Best rate and last result of each ``(key, solver, features)`` job, rounds interleaved."""
    rates: dict[str, float] = {}
    results: dict[str, Any] = {}
    for _ in range(repeats):
        for key, solver, f in jobs:
            r, results[key] = _best_rate(lambda s=solver, f=f: s.solve(f), len(f), 1)
            rates[key] = max(rates.get(key, 0.0), r)
    return rates, results


def _numerical_rows(
    rows: _Rows,
    arm: Arm,
    feats: np.ndarray,
    far: np.ndarray,
    size: dict[str, int],
    seed: int,
) -> dict[str, Any]:
    """DLSIK vs PyBulletIK (tuned and defaults) on the same reachable targets ``feats`` and
    unreachable targets ``far`` (N, feature_dim); returns the solvers' settings."""
    rows.say(f"{arm.name}: numerical IK")
    few, far_few = feats[: size["pybullet"]], far[: size["pybullet_unreachable"]]
    tuned = PyBulletIK(arm, seed=seed)
    defaults = PyBulletIK.pybullet_defaults(arm, seed=seed)
    dls = DLSIK(arm, seed=seed)
    settings = {
        f"{key}_settings": {k: getattr(obj, k) for k in SETTING_KEYS[kind]}
        for key, obj, kind in (
            ("dls", dls, "dls"),
            ("pybullet_tuned", tuned, "pybullet"),
            ("pybullet_defaults", defaults, "pybullet"),
        )
    }
    jobs = (
        ("tuned", tuned, few),
        ("defaults", defaults, few),
        ("dls", dls, feats),
        ("tuned_far", tuned, far_few),
        ("dls_far", dls, far),
    )
    try:
        rates, res = _time_solvers(jobs, size["repeats"])
    finally:
        tuned.close()
        defaults.close()
    name, tuned_name = arm.name, "PyBulletIK tuned"
    ok = {key: r.success.mean() for key, r in res.items()}
    rows.add(name, "IK", "PyBulletIK defaults (0.1, 20 it)", len(few), rates["defaults"], ok["defaults"])  # fmt: skip
    rows.add(name, "IK", tuned_name, len(few), rates["tuned"], ok["tuned"])
    rows.add(name, "IK", "DLSIK batched", len(feats), rates["dls"], ok["dls"], tuned_name,
             rates["dls"] / rates["tuned"])  # fmt: skip
    rows.add(name, "IK unreachable", tuned_name, len(far_few), rates["tuned_far"], ok["tuned_far"])
    rows.add(name, "IK unreachable", "DLSIK batched", len(far), rates["dls_far"], ok["dls_far"],
             tuned_name, rates["dls_far"] / rates["tuned_far"])  # fmt: skip
    return settings


def _machine() -> dict[str, Any]:
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "cpus": os.cpu_count(),
        "load_avg": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }


def run_benchmark(
    quick: bool = False, seed: int = 0, log: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """Run every row; returns ``{"rows": [...], "targets": ..., "settings": ..., "machine": ...}``."""
    size = SIZES["quick" if quick else "full"]
    rows = _Rows(log or (lambda s: None))
    settings: dict[str, Any] = {}
    for name in ("arm4", "arm6"):
        arm = load_arm(name)
        rng = np.random.default_rng(seed + 1000)  # targets: a seed unlike any solver's
        _fk_rows(rows, arm, arm.random_q(size["fk"], rng), size)
        _analytic_row(rows, arm, arm.fk_features(arm.random_q(size["analytic"], rng)), size["repeats"])  # fmt: skip
        feats = arm.fk_features(arm.random_q(size["dls"], rng))
        far = _unreachable(arm, size["unreachable"], rng)
        settings = _numerical_rows(rows, arm, feats, far, size, seed)
    return {
        "rows": rows.rows,
        "targets": TARGETS,
        "settings": {"quick": quick, "seed": seed, **size, **settings},
        "machine": _machine(),
    }


def format_table(result: dict[str, Any]) -> str:
    """The Markdown table of the rows (numbers right-aligned, as in the README)."""
    cells = []
    for r in result["rows"]:
        succ = "" if r["success"] is None else f"{100 * r['success']:.2f}%"
        up = "" if r["speedup"] is None else f"{r['speedup']:.1f}x vs {r['vs']}"
        cells.append(
            [r["arm"], r["task"], r["method"], f"{r['n']:,}", f"{r['per_s']:,.0f}", succ, up]
        )
    return markdown_table(
        ["arm", "task", "method", "n", "per second", "success", "speed-up"],
        cells,
        align=["l", "l", "l", "r", "r", "r", "r"],
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one round (a smoke test)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--json",
        type=output_file,
        default=str(DEFAULT_JSON),
        help="write the results as JSON here, and the table as .md beside it "
        f"(default: {DEFAULT_JSON})",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    args = parser.parse_args(argv)
    log = None if args.quiet else (lambda s: print(s, file=sys.stderr, flush=True))
    result = run_benchmark(quick=args.quick, seed=args.seed, log=log)
    result["command"] = " ".join(["python benchmarks/kinematics.py", *(argv or sys.argv[1:])])
    table = format_table(result)
    print(table)
    path = Path(args.json)
    atomic_write_json(path, result)
    md = path.with_suffix(".md")
    atomic_write_text(md, f"`{result['command']}`\n\n{table}\n")
    print(f"wrote {path} and {md}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
