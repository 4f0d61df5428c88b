"""Benchmark of the learned IK models of one shipped arm: accuracy, speed, the targets.

Writes ``benchmarks/results/learned_ik_<arm>.json`` and ``learned_ik_<arm>.md`` (the table,
what it was measured on, the command) plus the error heatmap and histogram PNGs under
``benchmarks/results/plots/``, and prints the table and each target as MET / MISS::

    python benchmarks/learned_ik.py --arm arm4 [--kmeans PATH] [--branch-sklearn PATH]
        [--v2 PATH] [--v2-wta PATH] [--v2-branch PATH] [--n-test 10000] [--n-numerical N]
    python benchmarks/learned_ik.py --arm arm6 ...

Rows (:mod:`ikml_gym.learned.ik_eval`): each learned model raw and + polish, HybridIK of
the shipped model at 1 mm / 1 degree, PyBulletIK tuned and defaults, DLSIK, AnalyticIK.
The models: the shipped v2 multi-hypothesis model (``load_ik(arm)``; its row names how its
heads were trained, read from its header), the other v2 variants (winner-take-all and
branch-supervised heads), the branch-clustered sklearn model and the reference study's
KMeans-clustered sklearn model (defaults: ``benchmarks/models/<arm>_ik_v2_wta``,
``<arm>_ik_v2_branch``, ``<arm>_ik_branch_sklearn``, ``<arm>_ik_kmeans_sklearn``). A model
whose file is missing is left out with a note, never replaced by another.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys
from pathlib import Path
from typing import Any

import numpy as np

import ikml_gym
from ikml_gym.arms import POSE7, Arm, load_arm
from ikml_gym.envs.task import default_distance_threshold, task_ik_tolerance
from ikml_gym.errors import ModelFileError
from ikml_gym.io import atomic_write_json, atomic_write_text, model_kind
from ikml_gym.kinematics import wrap_angle
from ikml_gym.learned.ik import load_ik, pretrained_path
from ikml_gym.learned.ik_eval import evaluate_ik, format_table, plot_eval
from ikml_gym.learned.mh_ik_file import KIND as MH_KIND
from ikml_gym.solvers import IKSolver

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
MODELS = HERE / "models"

V2_WTA = "v2 winner-take-all"
V2_BRANCH = "v2 branch-supervised"
#: the shipped model's row: "v2 shipped: <how its heads were trained>"
V2_SHIPPED = "v2 shipped"
BRANCH_SKLEARN = "branch sklearn"
KMEANS_SKLEARN = "KMeans sklearn (reference study)"
#: the targets: arm4 raw v2 share within 1 mm & 1 deg, mean error (m), one pose (us),
#: HybridIK fallback share; arm6 raw v2 medians (m, deg), loose share, speed-up over PyBulletIK
ARM4_WITHIN, ARM4_MEAN_M, ARM4_ONE_POSE_US, HYBRID_FALLBACK = 0.95, 0.5e-3, 40.0, 0.05
ARM6_MEDIAN_M, ARM6_MEDIAN_DEG, ARM6_LOOSE, ARM6_SPEEDUP = 2e-3, 1.0, 0.99, 5.0


def _file_exists(stem: Path) -> bool:
    return stem.with_name(stem.name + ".json").is_file()


def load_models(arm: Arm, args: argparse.Namespace) -> tuple[dict[str, IKSolver], list[str]]:
    """The models to compare (v2 first: the HybridIK row's and the plots'), and one note per
    model left out. A path not given is the default: the shipped model for v2, else
    ``benchmarks/models/<arm>_ik_<suffix>``. Raises ``ArmMismatchError`` for a model of
    another arm."""
    wanted = [  # row, --flag's value, default stem, flag, whether it must be a v2 file
        (V2_SHIPPED, args.v2, pretrained_path(arm.name), "--v2", True),
        (V2_WTA, args.v2_wta, MODELS / f"{arm.name}_ik_v2_wta", "--v2-wta", True),
        (V2_BRANCH, args.v2_branch, MODELS / f"{arm.name}_ik_v2_branch", "--v2-branch", True),
        (BRANCH_SKLEARN, args.branch_sklearn, MODELS / f"{arm.name}_ik_branch_sklearn",
         "--branch-sklearn", False),
        (KMEANS_SKLEARN, args.kmeans, MODELS / f"{arm.name}_ik_kmeans_sklearn", "--kmeans", False),
    ]  # fmt: skip
    models, notes = {}, []
    for name, given, default, flag, must_be_v2 in wanted:
        stem = Path(given) if given else default
        if not _file_exists(stem):
            notes.append(f"row {name!r} left out: no model file at {stem} ({flag} PATH)")
        elif must_be_v2 and model_kind(stem) != MH_KIND:
            notes.append(f"row {name!r} left out: {stem} is not a multi-hypothesis model")
        else:
            model = load_ik(stem, arm=arm)
            if name == V2_SHIPPED:
                name = f"{V2_SHIPPED}: {_supervision(model)}"
            models[name] = model
    return models, notes


def _supervision(model: IKSolver) -> str:
    """How a v2 model's heads were trained, from its header (the row names of the others)."""
    config = model.info.get("config", {})
    return V2_BRANCH[3:] if config.get("supervision") == "branch" else V2_WTA[3:]


#: a proposal this close (max over joints, wrapped, rad) to a configuration offers its branch
OWN_BRANCH_RAD = 0.1


def own_branch_offered(arm: Arm, models: dict[str, IKSolver], n: int = 5000) -> dict[str, float]:
    """Per multi-hypothesis model, the share of ``n`` random configurations ``q`` for which
    some head proposes a joint vector within :data:`OWN_BRANCH_RAD` of ``q`` itself: how often
    the model offers the branch the arm is on, which tracking with ``q0`` needs (seed 7)."""
    q = arm.random_q(n, np.random.default_rng(7))
    features = arm.fk_features(q)
    out = {}
    for name, model in models.items():
        if hasattr(model, "propose"):
            gap = np.abs(wrap_angle(model.propose(features) - q[:, None, :])).max(axis=2)
            out[name] = float(np.mean(gap.min(axis=1) < OWN_BRANCH_RAD))
    return out


def _item(value: float | None, goal: str, met: bool) -> dict[str, Any]:
    return {"value": value, "target": goal, "met": bool(met)}


def targets_check(arm: Arm, rows: dict[str, dict]) -> dict[str, dict]:
    """The accuracy and speed targets for ``arm`` -> {name: {value, target, met}} (MISS without a v2 row)."""
    raw = next((r for k, r in rows.items() if k.startswith(V2_SHIPPED)), None)
    hybrid = next((r for k, r in rows.items() if k.startswith(f"HybridIK ({V2_SHIPPED}")), None)
    if raw is None:
        return {"v2 model present": _item(None, "a v2 multi-hypothesis model", False)}
    if arm.name == "arm4":
        share = hybrid["numerical_calls"] / hybrid["n"]
        return {
            "arm4 raw v2 within 1 mm & 1 deg": _item(
                raw["within_1mm_1deg"], f">= {ARM4_WITHIN}", raw["within_1mm_1deg"] >= ARM4_WITHIN
            ),
            "arm4 raw v2 mean position error (m)": _item(
                raw["pos_err_mean_m"], f"<= {ARM4_MEAN_M}", raw["pos_err_mean_m"] <= ARM4_MEAN_M
            ),
            "arm4 v2 one pose (us)": _item(
                raw["one_pose_us"],
                f"<= {ARM4_ONE_POSE_US}",
                (raw["one_pose_us"] or np.inf) <= ARM4_ONE_POSE_US,
            ),
            "arm4 HybridIK (1 mm / 1 deg) fallback share of targets": _item(
                share, f"<= {HYBRID_FALLBACK}", share <= HYBRID_FALLBACK
            ),
        }
    pybullet_us = rows["PyBulletIK tuned"]["one_pose_us"]  # None with --n-latency 0
    speedup = pybullet_us / raw["one_pose_us"] if pybullet_us else 0.0
    return {
        f"{arm.name} raw v2 median position error (m)": _item(
            raw["pos_err_median_m"], f"<= {ARM6_MEDIAN_M}", raw["pos_err_median_m"] <= ARM6_MEDIAN_M
        ),
        f"{arm.name} raw v2 median rotation error (deg)": _item(
            raw["rot_err_median_deg"],
            f"<= {ARM6_MEDIAN_DEG}",
            raw["rot_err_median_deg"] <= ARM6_MEDIAN_DEG,
        ),
        f"{arm.name} raw v2 within the env's IK tolerance": _item(
            raw["within_loose"], f">= {ARM6_LOOSE}", (raw["within_loose"] or 0.0) >= ARM6_LOOSE
        ),
        f"{arm.name} one pose: warm PyBulletIK time / v2 time": _item(
            speedup, f">= {ARM6_SPEEDUP}", speedup >= ARM6_SPEEDUP
        ),
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arm", choices=("arm4", "arm6"), default="arm4")
    parser.add_argument("--v2", help="v2 multi-hypothesis model (default: the shipped one)")
    parser.add_argument(
        "--v2-wta", help="winner-take-all v2 (default benchmarks/models/<arm>_ik_v2_wta)"
    )
    parser.add_argument(
        "--v2-branch", help="branch-supervised v2 (default benchmarks/models/<arm>_ik_v2_branch)"
    )
    parser.add_argument(
        "--branch-sklearn",
        help="branch-clustered sklearn model (default benchmarks/models/<arm>_ik_branch_sklearn)",
    )
    parser.add_argument(
        "--kmeans",
        help="KMeans-clustered sklearn model (default benchmarks/models/<arm>_ik_kmeans_sklearn)",
    )
    parser.add_argument("--n-test", type=int, default=10_000, help="held-out targets")
    parser.add_argument("--n-numerical", type=int, default=10_000, help="PyBullet/DLS targets")
    parser.add_argument("--n-latency", type=int, default=500, help="single-pose calls per row")
    parser.add_argument("--out-dir", default=str(RESULTS), help="folder of the results")
    return parser.parse_args(argv)


def _machine() -> dict[str, Any]:
    return {
        "platform": platform.platform(),
        "processor": platform.processor(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    arm = load_arm(args.arm)
    models, notes = load_models(arm, args)
    for note in notes:
        print(f"note: {note}")
    if not models:
        raise ModelFileError(f"no learned IK model of {arm.name} found; pass --v2 PATH")
    loose = (
        task_ik_tolerance(default_distance_threshold(arm)) if arm.feature_kind == POSE7 else None
    )
    result = evaluate_ik(
        arm, models, n_test=args.n_test, n_numerical=args.n_numerical,
        n_latency=args.n_latency, loose_tol=loose, progress=True,
    )  # fmt: skip
    command = "python benchmarks/learned_ik.py " + shlex.join(
        sys.argv[1:] if argv is None else argv
    )
    table = format_table(result)
    print(table)
    rows = {r["method"]: r for r in result["summary"]["rows"]}
    offered = own_branch_offered(arm, models)
    for name, share in offered.items():
        print(f"{name}: a head within {OWN_BRANCH_RAD} rad of the configuration for {share:.1%}")
    checks = targets_check(arm, rows)
    for name, c in checks.items():
        print(f"{'MET ' if c['met'] else 'MISS'} {name}: {c['value']} (target {c['target']})")
    out_dir = Path(args.out_dir)
    plots = plot_eval(result, out_dir / "plots")
    out = {
        "command": command,
        "machine": _machine(),
        "ikml_gym_version": ikml_gym.__version__,
        "notes": notes,
        "table": result["summary"],
        "targets": checks,
        "plots": [p.name for p in plots],
        "own_branch_offered": offered,
    }
    stem = out_dir / f"learned_ik_{arm.name}"
    atomic_write_json(stem.with_suffix(".json"), out)
    atomic_write_text(stem.with_suffix(".md"), f"`{command.strip()}`\n\n{table}\n")
    print(f"wrote {stem}.json, {stem}.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
