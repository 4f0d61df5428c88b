"""Benchmark of the learned IK of arm4: accuracy table, speed, data generation.

Writes ``benchmarks/results/learned_ik.json`` (and ``learned_ik.md``, the table)
next to this file, plus PNGs under ``benchmarks/results/plots/``::

    python benchmarks/learned_ik.py [--n-test 10000] [--kmeans data/arm4_ik_kmeans]

Measured:

* the evaluation table of ``ikml-gym eval ik`` (see :mod:`ikml_gym.learned.ik_eval`);
* batched inference throughput (poses/s, best of 3 on 100,000 targets, no polish)
  and single-pose latency (median of 500 calls of ``solve(pose)``);
* the time to generate the 500,000-sample training set;
* if a KMeans-clustered model is given (``ikml-gym train ik --clustering kmeans``),
  its raw accuracy next to the branch-clustered one on the same targets;
* each target, met or not.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

import ikml_gym
from ikml_gym.data import make_ik_dataset
from ikml_gym.io import atomic_write_json, atomic_write_text
from ikml_gym.learned.ik import load_ik
from ikml_gym.learned.ik_eval import evaluate_ik, format_table, plot_eval

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


def throughput(model, n: int = 100_000, repeats: int = 3) -> dict[str, float]:
    """Batched poses/s (best of ``repeats``) and single-pose latency (median, ms)."""
    feats = make_ik_dataset(model.arm, n, seed=777, progress=False)[0]["features"]
    raw = model.with_refine(0)
    raw.solve(feats[:1000])  # warm-up
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        raw.solve(feats)
        best = min(best, time.perf_counter() - t0)
    lat = []
    for i in range(500):
        t0 = time.perf_counter()
        raw.solve(feats[i])
        lat.append(time.perf_counter() - t0)
    return {
        "batch_n": n,
        "batch_seconds": best,
        "poses_per_s": n / best,
        "single_pose_ms_median": 1e3 * float(np.median(lat)),
        "single_pose_ms_p90": 1e3 * float(np.percentile(lat, 90)),
    }


def data_time(arm, n: int = 500_000) -> float:
    t0 = time.perf_counter()
    make_ik_dataset(arm, n, seed=0, progress=False)
    return time.perf_counter() - t0


def raw_accuracy(model, feats: np.ndarray, pitch_closure: bool = False) -> dict[str, float]:
    res = model.with_refine(0, pitch_closure=pitch_closure).solve(feats)
    return {
        "pos_err_mean_m": float(res.pos_err.mean()),
        "pos_err_median_m": float(np.median(res.pos_err)),
        "pos_err_p99_m": float(np.percentile(res.pos_err, 99)),
        "pitch_err_mean_deg": float(np.degrees(res.rot_err.mean())),
        "success_rate": float(res.success.mean()),
    }


def targets_check(rows: dict, speed: dict) -> dict[str, dict]:
    learned = next(r for k, r in rows.items() if k.startswith("learned ("))
    polished = next(r for k, r in rows.items() if k.startswith("learned + polish"))
    hybrid = rows["HybridIK (learned -> PyBulletIK tuned)"]
    hybrid_p = rows["HybridIK (learned + polish -> PyBulletIK tuned)"]
    pyb = rows["PyBulletIK tuned"]
    pyb_calls_per_pose = pyb["numerical_calls"] / pyb["n"]

    def item(value, goal, ok):
        return {"value": value, "target": goal, "met": bool(ok)}

    return {
        "learned mean EE error (m)": item(
            learned["pos_err_mean_m"], "<= 0.005", learned["pos_err_mean_m"] <= 0.005
        ),
        "learned median EE error (m)": item(
            learned["pos_err_median_m"], "<= 0.003", learned["pos_err_median_m"] <= 0.003
        ),
        "learned + <=3 polish success": item(
            polished["success_rate"], ">= 0.995", polished["success_rate"] >= 0.995
        ),
        "batched poses/s": item(speed["poses_per_s"], ">= 100000", speed["poses_per_s"] >= 1e5),
        "single pose (ms)": item(
            speed["single_pose_ms_median"], "<= 0.5", speed["single_pose_ms_median"] <= 0.5
        ),
        "HybridIK numerical calls / PyBulletIK alone": item(
            hybrid["numerical_calls"] / (hybrid["n"] * pyb_calls_per_pose),
            "<= 0.05",
            hybrid["numerical_calls"] <= 0.05 * hybrid["n"] * pyb_calls_per_pose,
        ),
        "HybridIK success >= PyBulletIK": item(
            [hybrid["success_rate"], pyb["success_rate"]],
            ">=",
            hybrid["success_rate"] >= pyb["success_rate"],
        ),
        "HybridIK(polished) numerical calls / PyBulletIK alone": item(
            hybrid_p["numerical_calls"] / (hybrid_p["n"] * pyb_calls_per_pose),
            "<= 0.05 (polish counted as calls)",
            hybrid_p["numerical_calls"] <= 0.05 * hybrid_p["n"] * pyb_calls_per_pose,
        ),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="arm4", help="model (default: the pretrained arm4)")
    parser.add_argument("--kmeans", help="a KMeans-clustered model to compare (optional)")
    parser.add_argument("--n-test", type=int, default=10_000)
    parser.add_argument("--n-numerical", type=int, default=10_000)
    parser.add_argument("--out", default=str(RESULTS / "learned_ik.json"))
    args = parser.parse_args()

    model = load_ik(args.model)
    result = evaluate_ik(model, n_test=args.n_test, n_numerical=args.n_numerical, progress=True)
    table = format_table(result)
    print(table)
    plots = plot_eval(result, RESULTS / "plots")
    rows = {r["method"]: r for r in result["summary"]["rows"]}
    speed = throughput(model)
    print(json.dumps(speed, indent=1))
    gen = data_time(model.arm)
    print(f"500,000-sample IK data: {gen:.2f} s")
    comparison = {
        "branch": raw_accuracy(model, result["features"]),
        "branch + pitch closure": raw_accuracy(model, result["features"], True),
    }
    comparison["branch"]["training"] = model.info
    if args.kmeans:
        km = load_ik(args.kmeans)
        comparison["kmeans"] = raw_accuracy(km, result["features"])
        comparison["kmeans + pitch closure"] = raw_accuracy(km, result["features"], True)
        comparison["kmeans"]["training"] = km.info
    for name, c in comparison.items():
        print(
            f"{name:>24}: mean {1e3 * c['pos_err_mean_m']:.2f} mm, median "
            f"{1e3 * c['pos_err_median_m']:.2f} mm, p99 {1e3 * c['pos_err_p99_m']:.1f} mm, "
            f"pitch {c['pitch_err_mean_deg']:.2f} deg, success {100 * c['success_rate']:.2f}%"
        )
    checks = targets_check(rows, speed)
    for name, c in checks.items():
        print(f"{'MET ' if c['met'] else 'MISS'} {name}: {c['value']} (target {c['target']})")
    out = {
        "command": "python benchmarks/learned_ik.py "
        + (f"--kmeans {args.kmeans} " if args.kmeans else "")
        + f"--n-test {args.n_test} --n-numerical {args.n_numerical}",
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor(),
            "cpu_count": os.cpu_count(),
            "note": "2 CPU cores shared with other work while measured",
        },
        "ikml_gym_version": ikml_gym.__version__,
        "table": result["summary"],
        "speed": speed,
        "data_generation_500k_s": gen,
        "clustering_comparison": comparison,
        "targets": checks,
        "plots": [str(p.relative_to(HERE.parent)) for p in plots],
    }
    atomic_write_json(args.out, out)
    atomic_write_text(Path(args.out).with_suffix(".md"), table + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
