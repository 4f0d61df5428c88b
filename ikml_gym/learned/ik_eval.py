"""Evaluation of the learned IK against the numerical solvers and the exact closed form.

:func:`evaluate_ik` builds the reference study's table on a held-out test set
(Latin hypercube joint samples drawn with a seed other than the training seed):

Method | Joint MAE (rad) | EE position error mean / median / p99 (m) | pitch error (deg) |
success (< 1 mm, < 1 deg) | total time (s) | time per sample (ms) | numerical calls

* Joint MAE is measured to the *nearest* exact solution (closed form, every
  branch, wrapped angle difference), so a correct answer on another branch
  than the sampled one is not penalised.
* The learned, polished, hybrid and analytic rows use every test target; the
  PyBullet and DLS rows use the first ``n_numerical`` of them (they are slow,
  one pose at a time); the ``n`` column says which.
* "pitch closure" rows set the last joint to ``psi - (q_2 + q_3)`` after the
  network (exact algebra for yaw-pitch-pitch-pitch arms, see ``LearnedIK``);
  they show how much of the raw error is the pitch error of the last joint.
* Numerical calls are read from the solvers' ``calls`` counters (a learned
  model's DLS polish included), never computed by formula.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from .. import kinematics as kin
from .._extras import require
from ..data import make_ik_dataset
from ..plots import pyplot
from ..solvers import DLSIK, AnalyticIK, HybridIK, IKSolver, PyBulletIK
from ..tables import markdown_table
from .ik import LearnedIK

COLUMNS = (
    "method", "n", "joint_mae_rad", "pos_err_mean_m", "pos_err_median_m", "pos_err_p99_m",
    "pitch_err_mean_deg", "success_rate", "total_time_s", "time_per_sample_ms", "numerical_calls",
)  # fmt: skip


def nearest_exact_mae(analytic: AnalyticIK, q: np.ndarray, features: np.ndarray) -> np.ndarray:
    """(N,) mean |wrapped joint difference| (rad) from each ``q`` to its nearest exact solution."""
    q_all, valid = analytic.solve_all(features)
    d = np.abs(kin.wrap_angle(q_all - q[:, None, :])).mean(axis=2)
    return np.where(valid, d, np.inf).min(axis=1)


def _row(
    name: str, solver: IKSolver, features: np.ndarray, analytic: AnalyticIK
) -> tuple[dict[str, Any], np.ndarray]:
    t0 = time.perf_counter()
    res = solver.solve(features)
    dt = time.perf_counter() - t0
    n = len(features)
    mae = nearest_exact_mae(analytic, res.q, features)
    row = {
        "method": name,
        "n": n,
        "joint_mae_rad": float(np.mean(mae)),
        "pos_err_mean_m": float(np.mean(res.pos_err)),
        "pos_err_median_m": float(np.median(res.pos_err)),
        "pos_err_p99_m": float(np.percentile(res.pos_err, 99)),
        "pitch_err_mean_deg": float(np.degrees(np.mean(res.rot_err))),
        "success_rate": float(np.mean(res.success)),
        "total_time_s": dt,
        "time_per_sample_ms": 1e3 * dt / n,
        "numerical_calls": int(solver.calls),
    }
    return row, res.pos_err


def evaluate_ik(
    model: LearnedIK,
    n_test: int = 10_000,
    n_numerical: int = 1000,
    seed: int = 12345,
    refine_steps: int = 3,
    progress: bool = True,
) -> dict[str, Any]:
    """Run every row of the table.

    Args:
        model: the learned IK (its ``refine_steps`` is ignored; rows set their own).
        n_test: held-out targets (learned, polished, hybrid, analytic rows).
        n_numerical: targets for PyBullet / DLS rows (the first ones of the test set).
        seed: test-set seed (keep it away from the training seed).
        refine_steps: DLS polish steps of the "learned + polish" row.
        progress: progress bar over the rows.

    Returns:
        ``{"summary": JSON-ready dict with "rows" and "meta", "errors": {method: pos_err},
        "features": test features, "learned_pos_err": ...}``.
    """
    arm = model.arm
    data, _ = make_ik_dataset(arm, n_test, seed=seed, progress=False)
    feats = data["features"]
    sub = feats[: min(n_numerical, n_test)]
    analytic = AnalyticIK(arm)
    raw = model.with_refine(0)
    polished = model.with_refine(refine_steps)
    hyb_learned = model.with_refine(0)
    hyb_fallback = PyBulletIK(arm)
    hybrid = HybridIK(hyb_learned, hyb_fallback)
    hybp_learned = model.with_refine(refine_steps)
    hybp_fallback = PyBulletIK(arm)
    hybrid_polish = HybridIK(hybp_learned, hybp_fallback)
    closed = model.with_refine(0, pitch_closure=True)
    hybc_learned = model.with_refine(0, pitch_closure=True)
    hybc_fallback = PyBulletIK(arm)
    hybrid_closed = HybridIK(hybc_learned, hybc_fallback)
    pb_tuned = PyBulletIK(arm)
    pb_default = PyBulletIK.pybullet_defaults(arm)
    dls = DLSIK(arm)
    k = model.n_clusters
    plan = [
        (f"learned (clustered, {k})", raw, feats),
        (f"learned + polish (<= {refine_steps} DLS steps)", polished, feats),
        (f"learned + pitch closure (clustered, {k})", closed, feats),
        ("HybridIK (learned -> PyBulletIK tuned)", hybrid, feats),
        ("HybridIK (learned + polish -> PyBulletIK tuned)", hybrid_polish, feats),
        ("HybridIK (learned + pitch closure -> PyBulletIK tuned)", hybrid_closed, feats),
        ("PyBulletIK tuned", pb_tuned, sub),
        ("PyBulletIK defaults", pb_default, sub),
        ("DLSIK", dls, sub),
        ("AnalyticIK (exact reference)", analytic, feats),
    ]  # fmt: skip
    try:
        rows, errors = _run_plan(plan, analytic, progress)
    finally:
        for s in (hyb_fallback, hybp_fallback, hybc_fallback, pb_tuned, pb_default):
            s.close()
    meta = _meta(model, n_test, len(sub), seed, refine_steps)
    return {
        "summary": {"meta": meta, "rows": rows},
        "errors": errors,
        "features": feats,
        "learned_pos_err": errors[plan[0][0]],
    }


def _run_plan(
    plan: list[tuple[str, IKSolver, np.ndarray]], analytic: AnalyticIK, progress: bool
) -> tuple[list[dict[str, Any]], dict[str, np.ndarray]]:
    """Every row of the plan in order -> (rows, {method: (n,) position errors in m})."""
    if progress:
        require("train", "tqdm")
        from tqdm.auto import tqdm

        plan = tqdm(plan, desc="eval ik", unit="row")
    rows, errors = [], {}
    for name, solver, f in plan:
        row, err = _row(name, solver, f, analytic)
        rows.append(row)
        errors[name] = err
    return rows, errors


def _meta(
    model: LearnedIK, n_test: int, n_numerical: int, seed: int, refine_steps: int
) -> dict[str, Any]:
    """What the table was measured on (the summary's ``meta``)."""
    return {
        "arm": model.arm.name,
        "urdf_hash": model.arm.urdf_hash,
        "clustering": model.clustering,
        "n_test": int(n_test),
        "n_numerical": n_numerical,
        "test_seed": int(seed),
        "refine_steps": int(refine_steps),
        "pos_tol_m": model.pos_tol,
        "rot_tol_deg": float(np.degrees(model.rot_tol)),
        "training": model.info,
        "note": (
            "joint MAE to the nearest exact (closed-form) solution; PyBullet/DLS rows on the "
            "first n_numerical test targets; numerical calls from the solvers' counters "
            "(a DLS polish of one pose counts as one call)"
        ),
    }


#: the table's column titles (the order of :data:`COLUMNS`, the three errors in one cell)
TABLE_HEADERS = (
    "Method", "n", "Joint MAE (rad)", "EE pos err mean / median / p99 (m)", "pitch err (deg)",
    "success (<1 mm, <1 deg)", "total time (s)", "time/sample (ms)", "numerical calls",
)  # fmt: skip


def format_table(result: dict[str, Any]) -> str:
    """The summary as a Markdown table, then one line saying what it was measured on."""
    meta, rows = result["summary"]["meta"], result["summary"]["rows"]
    cells = [
        [
            r["method"],
            str(r["n"]),
            f"{r['joint_mae_rad']:.4f}",
            f"{r['pos_err_mean_m']:.5f} / {r['pos_err_median_m']:.5f} / {r['pos_err_p99_m']:.5f}",
            f"{r['pitch_err_mean_deg']:.3f}",
            f"{100 * r['success_rate']:.2f}%",
            f"{r['total_time_s']:.3f}",
            f"{r['time_per_sample_ms']:.4f}",
            str(r["numerical_calls"]),
        ]
        for r in rows
    ]
    table = markdown_table(TABLE_HEADERS, cells, align=["l"] + ["r"] * (len(TABLE_HEADERS) - 1))
    return table + (
        f"\n\narm {meta['arm']}, {meta['clustering']} clustering, {meta['n_test']} held-out "
        f"targets (seed {meta['test_seed']}); PyBullet/DLS rows on the first {meta['n_numerical']}."
    )


def plot_eval(result: dict[str, Any], folder: str | Path) -> list[Path]:
    """Workspace error heatmap (learned, no polish) and error histogram PNGs."""
    plt = pyplot()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    arm = result["summary"]["meta"]["arm"]
    feats, err = result["features"], result["learned_pos_err"]
    r = np.hypot(feats[:, 0], feats[:, 1])
    z = feats[:, 2]
    bins = 40
    total, xe, ye = np.histogram2d(r, z, bins=bins, weights=err)
    count, _, _ = np.histogram2d(r, z, bins=[xe, ye])
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / count
    fig, ax = plt.subplots(figsize=(5, 6.5))
    im = ax.imshow(
        1e3 * mean.T, origin="lower", extent=[xe[0], xe[-1], ye[0], ye[-1]],
        aspect="equal", cmap="viridis",
    )  # fmt: skip
    fig.colorbar(im, ax=ax, label="mean EE position error (mm)")
    ax.set_xlabel("radial distance hypot(x, y) (m)")
    ax.set_ylabel("z (m)")
    ax.set_title(f"LearnedIK {arm}, no polish: error over the workspace")
    fig.tight_layout()
    heat = folder / f"{arm}_ik_error_heatmap.png"
    fig.savefig(heat, dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 4.5))
    edges = np.logspace(-9, 0, 73)
    for name, e in result["errors"].items():
        if name.startswith("AnalyticIK"):
            continue
        ax.hist(np.clip(e, edges[0], edges[-1]), bins=edges, histtype="step", density=False,
                weights=np.full(len(e), 1.0 / len(e)), label=name)  # fmt: skip
    ax.axvline(1e-3, color="k", ls=":", lw=1)
    ax.set_xscale("log")
    ax.set_xlabel("EE position error (m)   (dotted: 1 mm)")
    ax.set_ylabel("fraction of targets")
    ax.set_title(f"IK position error, {arm}")
    ax.legend(fontsize=7)
    fig.tight_layout()
    hist = folder / f"{arm}_ik_error_hist.png"
    fig.savefig(hist, dpi=120)
    plt.close(fig)
    return [heat, hist]
