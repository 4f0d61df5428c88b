"""``ikml-gym bench``: kinematics and IK solver speed, measured side by side in one run.

Rows (every rate is the best of ``repeats`` interleaved rounds, wall clock):

* FK: batched numpy FK vs a PyBullet loop (``resetJointState`` + ``getLinkState``);
* AnalyticIK poses/s (closed form, every branch FK-checked);
* DLSIK (batched) vs PyBulletIK tuned vs PyBulletIK with PyBullet's defaults, on
  the same random reachable targets, with success rates (1 mm / 1 degree);
* DLSIK vs PyBulletIK tuned on unreachable targets (1.2-1.5 reach away): the cost
  of giving up, which is what a feasibility check by numerical IK pays.

``benchmarks/kinematics.py`` runs the same function; the README table comes from it.
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

from ..bullet import load_in_bullet
from .arguments import output_file

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


def _best_rate(fn: Callable[[], Any], n: int, repeats: int) -> tuple[float, Any]:
    best, out = np.inf, None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return n / best, out


def _pybullet_fk_loop(arm: Any, q: np.ndarray) -> Callable[[], np.ndarray]:
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


def _unreachable(arm: Any, n: int, rng: np.random.Generator) -> np.ndarray:
    """Features of n poses 1.2-1.5 reach from the reach centre, random orientations."""
    from scipy.spatial.transform import Rotation

    d = rng.normal(size=(n, 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    pos = arm.reach_center + d * arm.reach * rng.uniform(1.2, 1.5, (n, 1))
    return arm.features(pos, Rotation.random(n, random_state=rng).as_quat())


def run_benchmark(
    quick: bool = False, seed: int = 0, log: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """Run every row; returns ``{"rows": [...], "targets": ..., "machine": ...}``."""
    import pybullet as p

    from ..arms import load_arm
    from ..solvers import DLSIK, AnalyticIK, PyBulletIK

    size = SIZES["quick" if quick else "full"]
    reps = size["repeats"]
    rows: list[dict[str, Any]] = []
    say = log or (lambda s: None)

    def row(
        arm: str,
        task: str,
        method: str,
        n: int,
        rate: float,
        success: float | None,
        baseline: str | None = None,
        speedup: float | None = None,
    ) -> None:
        rows.append(
            {
                "arm": arm,
                "task": task,
                "method": method,
                "n": n,
                "per_s": round(rate, 1),
                "success": None if success is None else round(float(success), 4),
                "vs": baseline,
                "speedup": None if speedup is None else round(speedup, 2),
            }
        )
        say(f"  {arm} {task:14s} {method:32s} {rate:12,.0f}/s")

    for name in ("arm4", "arm6"):
        arm = load_arm(name)
        rng = np.random.default_rng(seed + 1000)  # targets: a seed unlike any solver's
        # ---- forward kinematics
        say(f"{name}: forward kinematics")
        q = arm.random_q(size["fk"], rng)
        loop = _pybullet_fk_loop(arm, q[: size["fk_pybullet"]])
        try:
            pb_rate, pb_pos = 0.0, None
            np_rate = 0.0
            for _ in range(reps):  # interleaved rounds
                r, pb_pos = _best_rate(loop, size["fk_pybullet"], 1)
                pb_rate = max(pb_rate, r)
                r, _ = _best_rate(lambda a=arm, x=q: a.fk(x), len(q), 1)
                np_rate = max(np_rate, r)
        finally:
            p.disconnect(loop.client)
        agree = float(np.max(np.abs(arm.fk(q[: size["fk_pybullet"]])[0] - pb_pos)))
        row(name, "FK", "PyBullet loop", size["fk_pybullet"], pb_rate, None)
        row(
            name,
            "FK",
            "ikml_gym batched",
            len(q),
            np_rate,
            None,
            "PyBullet loop",
            np_rate / pb_rate,
        )
        rows[-1]["max_abs_diff_m"] = agree

        # ---- closed form
        say(f"{name}: analytic IK")
        feats = arm.fk_features(arm.random_q(size["analytic"], rng))
        analytic = AnalyticIK(arm)
        rate, res = _best_rate(lambda s=analytic, f=feats: s.solve(f), len(feats), reps)
        row(name, "IK", "AnalyticIK (closed form)", len(feats), rate, res.success.mean())

        # ---- numerical IK, side by side on the same targets
        say(f"{name}: numerical IK")
        feats = arm.fk_features(arm.random_q(size["dls"], rng))
        few = feats[: size["pybullet"]]
        tuned = PyBulletIK(arm, seed=seed)
        defaults = PyBulletIK.pybullet_defaults(arm, seed=seed)
        dls = DLSIK(arm, seed=seed)
        settings = {
            f"{key}_settings": {k: getattr(obj, k) for k in keys}
            for key, obj, keys in (
                (
                    "dls",
                    dls,
                    (
                        "max_iters",
                        "restarts",
                        "damping",
                        "max_step",
                        "seed_pool",
                        "restart_seeds",
                        "chunk",
                    ),
                ),
                ("pybullet_tuned", tuned, ("damping", "max_iters", "residual", "restarts")),
                ("pybullet_defaults", defaults, ("damping", "max_iters", "residual", "restarts")),
            )
        }
        # unreachable targets (what a goal filter asks about): the cost of giving up
        far = _unreachable(arm, size["unreachable"], rng)
        far_few = far[: size["pybullet_unreachable"]]
        rates: dict[str, float] = {}
        results: dict[str, Any] = {}
        try:
            for _ in range(reps):
                for key, solver, f in (
                    ("tuned", tuned, few),
                    ("defaults", defaults, few),
                    ("dls", dls, feats),
                    ("tuned_far", tuned, far_few),
                    ("dls_far", dls, far),
                ):
                    r, results[key] = _best_rate(lambda s=solver, f=f: s.solve(f), len(f), 1)
                    rates[key] = max(rates.get(key, 0.0), r)
        finally:
            tuned.close()
            defaults.close()
        row(
            name,
            "IK",
            "PyBulletIK defaults (0.1, 20 it)",
            len(few),
            rates["defaults"],
            results["defaults"].success.mean(),
        )
        row(
            name,
            "IK",
            "PyBulletIK tuned",
            len(few),
            rates["tuned"],
            results["tuned"].success.mean(),
        )
        row(
            name,
            "IK",
            "DLSIK batched",
            len(feats),
            rates["dls"],
            results["dls"].success.mean(),
            "PyBulletIK tuned",
            rates["dls"] / rates["tuned"],
        )
        row(
            name,
            "IK unreachable",
            "PyBulletIK tuned",
            len(far_few),
            rates["tuned_far"],
            results["tuned_far"].success.mean(),
        )
        row(
            name,
            "IK unreachable",
            "DLSIK batched",
            len(far),
            rates["dls_far"],
            results["dls_far"].success.mean(),
            "PyBulletIK tuned",
            rates["dls_far"] / rates["tuned_far"],
        )

    return {
        "rows": rows,
        "targets": TARGETS,
        "settings": {"quick": quick, "seed": seed, **size, **settings},
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "numpy": np.__version__,
            "cpus": os.cpu_count(),
            "load_avg": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        },
    }


def format_table(result: dict[str, Any]) -> str:
    """A Markdown table of the rows."""
    lines = [
        "| arm | task | method | n | per second | success | speed-up |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for r in result["rows"]:
        succ = "" if r["success"] is None else f"{100 * r['success']:.2f}%"
        up = "" if r["speedup"] is None else f"{r['speedup']:.1f}x vs {r['vs']}"
        lines.append(
            f"| {r['arm']} | {r['task']} | {r['method']} | {r['n']:,} | "
            f"{r['per_s']:,.0f} | {succ} | {up} |"
        )
    return "\n".join(lines)


def _bench(args: argparse.Namespace) -> int:
    from ..io import atomic_write_json, atomic_write_text

    log = None if args.quiet else (lambda s: print(s, file=sys.stderr, flush=True))
    result = run_benchmark(quick=args.quick, seed=args.seed, log=log)
    result["command"] = (
        " ".join(["ikml-gym", *sys.argv[1:]]) if args.command_line is None else args.command_line
    )
    print(format_table(result))
    if args.json:
        path = Path(args.json)
        atomic_write_json(path, result)
        md = path.with_suffix(".md")
        atomic_write_text(md, f"`{result['command']}`\n\n{format_table(result)}\n")
        print(f"wrote {path} and {md}", file=sys.stderr)
    return 0


def add_arguments(p: argparse.ArgumentParser, default_json: str | None) -> None:
    """The benchmark's options (shared by ``ikml-gym bench`` and ``benchmarks/kinematics.py``)."""
    p.add_argument("--quick", action="store_true", help="tiny sizes, one round (a smoke test)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--json",
        type=output_file,
        default=default_json,
        help=f"write the results as JSON here, and the table as .md beside it (default: {default_json})",
    )
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    p.set_defaults(command_line=None)


def register_cli(groups: dict[str, argparse._SubParsersAction]) -> None:
    p = groups["top"].add_parser(
        "bench",
        help="FK / IK speed: ikml_gym vs PyBullet, side by side",
        description="Kinematics and IK solver speed: ikml_gym vs PyBullet, side by side in one run.",
    )
    add_arguments(p, default_json=None)
    p.set_defaults(handler=_bench)
