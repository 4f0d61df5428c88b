"""Evaluation of learned IK models against the numerical solvers and, where one exists, the closed form.

:func:`evaluate_ik` measures any arm (shipped or a user's URDF) and any number of named
learned models (``numerical = False`` solvers: :class:`~ikml_gym.learned.ik.LearnedIK`,
:class:`~ikml_gym.learned.mh_ik.MultiHypothesisIK`) on one held-out test set: Latin
hypercube joint samples mapped through FK (every target is reachable), drawn with a
seed other than the training seeds. Rows, in order:

* per model, its raw answer (the network alone, no numerical step) and the same answer
  polished by at most ``refine_steps`` DLS iterations on the poses that miss 1 mm / 1
  degree (:class:`~ikml_gym.solvers.PolishedIK`; every polished pose is a numerical call);
* ``HybridIK`` of the first model with the tuned ``PyBulletIK`` as its fallback, at the
  strict 1 mm / 1 degree tolerance (the share of targets sent to the fallback is its
  ``numerical calls / n``);
* ``PyBulletIK`` tuned and with PyBullet's defaults, ``DLSIK`` (the first
  ``n_numerical`` targets only: they are slow, one pose at a time);
* ``AnalyticIK``, the exact reference, on arms with a closed form only.

Columns: joint MAE to the *nearest* exact solution (closed form, every branch, wrapped
angle difference; ``None`` without a closed form), position error mean / median / p99
(m), orientation error mean / median (rad in the answers; the pitch psi for pose4 arms,
the geodesic angle for pose7 arms), the share within 1 mm and 1 degree, optionally the
share within a looser ``loose_tol`` (a Reach env's IK tolerance), batch time, numerical
calls (read from the solvers' counters, never computed by formula) and the one-pose
latency: the median of ``n_latency`` single-pose ``solve(pose, q0)`` calls, ``q0`` a
small step (:data:`LATENCY_Q0_NOISE`) from the target's own solution, as an env step
calls a solver (warm-started numerical solvers, tracking learned ones). Errors are
measured by the package's FK (:meth:`ikml_gym.Arm.pose_error`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import kinematics as kin
from .._extras import require
from ..arms import Arm
from ..closed_form import closed_form_for
from ..data import latin_hypercube_q
from ..errors import ArmMismatchError
from ..plots import pyplot
from ..solvers import (
    DEFAULT_POS_TOL,
    DEFAULT_ROT_TOL,
    DLSIK,
    AnalyticIK,
    HybridIK,
    IKResult,
    IKSolver,
    PolishedIK,
    PyBulletIK,
)
from ..tables import markdown_table

#: test-set seed: neither the training seed (0) nor the trainer's held-out seed (12345)
TEST_SEED = 20_261_201

COLUMNS = (
    "method", "n", "joint_mae_rad", "pos_err_mean_m", "pos_err_median_m", "pos_err_p99_m",
    "rot_err_mean_deg", "rot_err_median_deg", "within_1mm_1deg", "within_loose",
    "success_rate", "total_time_s", "time_per_sample_ms", "one_pose_us", "numerical_calls",
)  # fmt: skip


@dataclass
class EvalRow:
    """One row to measure: its name, its solver and the (n, feature_dim) targets it gets."""

    name: str
    solver: IKSolver
    features: np.ndarray


def model_label(model: IKSolver) -> str:
    """A short row name for a learned model: its kind and size."""
    if hasattr(model, "n_heads"):
        return f"v2 multi-hypothesis ({model.n_heads} heads)"
    if hasattr(model, "clustering"):
        return f"sklearn {model.clustering}-clustered ({len(model.nets)})"
    return type(model).__name__


def nearest_exact_mae(analytic: AnalyticIK, q: np.ndarray, features: np.ndarray) -> np.ndarray:
    """(N,) mean |wrapped joint difference| (rad) from each ``q`` to its nearest exact solution."""
    q_all, valid = analytic.solve_all(features)
    d = np.abs(kin.wrap_angle(q_all - q[:, None, :])).mean(axis=2)
    return np.where(valid, d, np.inf).min(axis=1)


def check_models(arm: Arm, models: Mapping[str, IKSolver]) -> None:
    """Raise unless ``models`` is a non-empty mapping of raw learned solvers of ``arm``.

    Raises:
        ValueError: no model, a numerical solver, or a model that spends numerical calls
            itself (``refine_steps`` > 0, a ``PolishedIK``, a ``HybridIK``: the evaluation
            adds its own polish and fallback rows).
        ArmMismatchError: a model made for another arm or another URDF.
    """
    if not models:
        raise ValueError("give at least one learned model to evaluate")
    for name, model in models.items():
        if not isinstance(model, IKSolver) or model.numerical:
            raise ValueError(f"{name!r} is not a learned (numerical = False) IK solver")
        if model.arm.urdf_hash != arm.urdf_hash:
            raise ArmMismatchError(
                f"model {name!r} was made for arm {model.arm.name!r} (URDF hash "
                f"{model.arm.urdf_hash[:12]}), not for {arm.name!r} ({arm.urdf_hash[:12]})"
            )
        if not model.free:  # a polish or a fallback somewhere in it
            raise ValueError(
                f"model {name!r} spends numerical calls (a polish or a fallback); pass the raw "
                "model (refine_steps=0): the evaluation adds its own polish and HybridIK rows"
            )


def _plan(
    arm: Arm, models: Mapping[str, IKSolver], features: np.ndarray, n_numerical: int, steps: int
) -> tuple[list[EvalRow], list[PyBulletIK]]:
    """The rows of :func:`evaluate_ik`, and the PyBullet solvers to close afterwards."""
    sub = features[:n_numerical]
    rows = []
    for name, model in models.items():
        polished = PolishedIK(model, steps)
        rows.append(EvalRow(name, model, features))
        rows.append(EvalRow(f"{name} + polish (<= {steps} DLS steps)", polished, features))
    first = next(iter(models))
    strict = (DEFAULT_POS_TOL, DEFAULT_ROT_TOL)
    fallback, tuned, default = PyBulletIK(arm), PyBulletIK(arm), PyBulletIK.pybullet_defaults(arm)
    hybrid = HybridIK(models[first], fallback, strict)
    rows.append(EvalRow(f"HybridIK ({first} -> PyBulletIK tuned)", hybrid, features))
    rows += [
        EvalRow("PyBulletIK tuned", tuned, sub),
        EvalRow("PyBulletIK defaults", default, sub),
        EvalRow("DLSIK", DLSIK(arm), sub),
    ]
    if closed_form_for(arm) is not None:
        rows.append(EvalRow("AnalyticIK (exact reference)", AnalyticIK(arm), features))
    return rows, [fallback, tuned, default]


#: joint-space distance (rad, per joint, normal) of the latency calls' ``q0`` from a solution
LATENCY_Q0_NOISE = 0.05


def latency_starts(arm: Arm, q_solution: np.ndarray, seed: int = TEST_SEED) -> np.ndarray:
    """(n, dof) ``q0`` for the one-pose latency: each target's own solution moved by
    :data:`LATENCY_Q0_NOISE` rad per joint (within the limits), what an env step passes
    (the arm a small step away from the commanded pose)."""
    rng = np.random.default_rng(seed + 1)
    q0 = q_solution + rng.normal(0.0, LATENCY_Q0_NOISE, q_solution.shape)
    return np.clip(q0, arm.joint_limits[:, 0], arm.joint_limits[:, 1])


def one_pose_latency_us(solver: IKSolver, features: np.ndarray, q0: np.ndarray) -> float:
    """Median microseconds of ``solve(pose, q0)`` over the (n, feature_dim) ``features``
    and their (n, dof) ``q0`` (:func:`latency_starts`), one pose at a time: every row,
    learned or numerical, is called as an env step calls it."""
    solver.solve(features[0], q0[0])  # warm-up: first-call caches
    times = np.empty(len(features))
    for i, (f, q) in enumerate(zip(features, q0)):
        t0 = time.perf_counter()
        solver.solve(f, q)
        times[i] = time.perf_counter() - t0
    return 1e6 * float(np.median(times))


def _within(res: IKResult, tol: tuple[float, float] | None) -> float | None:
    """Share of answers with position error < tol[0] (m) and orientation error < tol[1] (rad)."""
    if tol is None:
        return None
    return float(np.mean((res.pos_err < tol[0]) & (res.rot_err < tol[1])))


def _measure(
    row: EvalRow,
    analytic: AnalyticIK | None,
    loose_tol: tuple[float, float] | None,
    latency_features: np.ndarray,
    latency_q0: np.ndarray,
) -> tuple[dict[str, Any], IKResult]:
    """One row of the table and the solver's answers; the one-pose latency is timed on
    ``latency_features`` from ``latency_q0`` (the same for every row; none: no latency)."""
    t0 = time.perf_counter()
    res = row.solver.solve(row.features)
    dt = time.perf_counter() - t0
    calls = int(row.solver.calls)  # read before the latency calls add to it
    n = len(row.features)
    mae = None
    if analytic is not None:
        mae = float(np.mean(nearest_exact_mae(analytic, res.q, row.features)))
    latency = None
    if len(latency_features):
        latency = one_pose_latency_us(row.solver, latency_features, latency_q0)
    rot_deg = np.degrees(res.rot_err)
    stats = {
        "method": row.name,
        "n": n,
        "joint_mae_rad": mae,
        "pos_err_mean_m": float(np.mean(res.pos_err)),
        "pos_err_median_m": float(np.median(res.pos_err)),
        "pos_err_p99_m": float(np.percentile(res.pos_err, 99)),
        "rot_err_mean_deg": float(np.mean(rot_deg)),
        "rot_err_median_deg": float(np.median(rot_deg)),
        "within_1mm_1deg": _within(res, (DEFAULT_POS_TOL, DEFAULT_ROT_TOL)),
        "within_loose": _within(res, loose_tol),
        "success_rate": float(np.mean(res.success)),
        "total_time_s": dt,
        "time_per_sample_ms": 1e3 * dt / n,
        "one_pose_us": latency,
        "numerical_calls": calls,
    }
    return stats, res


def evaluate_ik(
    arm: Arm,
    models: Mapping[str, IKSolver],
    n_test: int = 10_000,
    n_numerical: int = 1000,
    seed: int = TEST_SEED,
    refine_steps: int = 3,
    n_latency: int = 500,
    loose_tol: tuple[float, float] | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Run every row of the table (see the module docstring) on one held-out test set.

    Args:
        arm: the arm every model belongs to.
        models: name -> raw learned solver (``refine_steps`` 0); the first one is also
            the ``HybridIK`` row's guess and the plots' model.
        n_test: held-out targets (learned, polished, hybrid, analytic rows).
        n_numerical: targets for the PyBullet / DLS rows (the first ones of the test set).
        seed: test-set seed (keep it away from the training seeds).
        refine_steps: DLS iterations at most of the "+ polish" rows.
        n_latency: single-pose calls timed per row (0: no latency column).
        loose_tol: ``(position m, orientation rad)`` of the extra "within" column (a Reach
            env's IK tolerance), or None for none.
        progress: progress bar over the rows.

    Returns:
        ``{"summary": {"meta": ..., "rows": [...]}`` (JSON-ready), ``"answers"``:
        ``{method: IKResult}``, ``"features"``: the (n_test, feature_dim) targets,
        ``"headline"``: the first model's name}.

    Raises:
        ValueError, ArmMismatchError: see :func:`check_models`.
    """
    check_models(arm, models)
    q_src = latin_hypercube_q(arm, n_test, seed)  # reachable targets: FK of these joints
    feats = arm.fk_features(q_src)
    q0 = latency_starts(arm, q_src[:n_latency], seed)
    analytic = AnalyticIK(arm) if closed_form_for(arm) is not None else None
    plan, to_close = _plan(arm, models, feats, min(n_numerical, n_test), refine_steps)
    if progress:
        require("train", "tqdm")
        from tqdm.auto import tqdm

        plan = tqdm(plan, desc="eval ik", unit="row")
    rows, answers = [], {}
    try:
        for row in plan:
            stats, answers[row.name] = _measure(row, analytic, loose_tol, feats[:n_latency], q0)
            rows.append(stats)
    finally:
        for s in to_close:
            s.close()
    n_latency = min(n_latency, n_test)
    meta = _meta(arm, models, n_test, min(n_numerical, n_test), seed, refine_steps, n_latency)
    if loose_tol is not None:  # (m, deg)
        meta["loose_tol"] = [float(loose_tol[0]), float(np.degrees(loose_tol[1]))]
    return {
        "summary": {"meta": meta, "rows": rows},
        "answers": answers,
        "features": feats,
        "headline": next(iter(models)),
    }


def _meta(
    arm: Arm,
    models: Mapping[str, IKSolver],
    n_test: int,
    n_numerical: int,
    seed: int,
    refine_steps: int,
    n_latency: int,
) -> dict[str, Any]:
    """What the table was measured on (the summary's ``meta``)."""
    return {
        "arm": arm.name,
        "feature_kind": arm.feature_kind,
        "urdf_hash": arm.urdf_hash,
        "closed_form": closed_form_for(arm) is not None,
        "models": {
            name: {"class": type(m).__name__, "training": getattr(m, "info", {})}
            for name, m in models.items()
        },
        "n_test": int(n_test),
        "n_numerical": int(n_numerical),
        "n_latency": int(n_latency),
        "test_seed": int(seed),
        "refine_steps": int(refine_steps),
        "loose_tol": None,
        "note": (
            "errors by the package FK; joint MAE to the nearest exact (closed-form) solution; "
            "PyBullet/DLS rows on the first n_numerical test targets; numerical calls from "
            "the solvers' counters (a DLS polish of one pose counts as one call); one pose: "
            "median of n_latency solve(pose, q0) calls, q0 a normal 0.05 rad per joint from "
            "the target's own solution (an env step's call)"
        ),
    }


def _mm3(r: dict[str, Any]) -> str:
    return " / ".join(
        f"{1e3 * r[k]:.3f}" for k in ("pos_err_mean_m", "pos_err_median_m", "pos_err_p99_m")
    )


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.2f}%"


def format_table(result: dict[str, Any]) -> str:
    """The summary as a Markdown table, then one line saying what it was measured on."""
    meta, rows = result["summary"]["meta"], result["summary"]["rows"]
    loose = meta.get("loose_tol")
    headers = [
        "Method", "n", "Joint MAE (rad)", "EE pos err mean / median / p99 (mm)",
        "orient. err mean / median (deg)", "within 1 mm & 1 deg",
    ]  # fmt: skip
    if loose:
        headers.append(f"within {1e3 * loose[0]:.0f} mm & {loose[1]:.0f} deg")
    headers += ["total time (s)", "time/sample (ms)", "one pose (us)", "numerical calls"]
    cells = []
    for r in rows:
        line = [
            r["method"],
            str(r["n"]),
            "n/a" if r["joint_mae_rad"] is None else f"{r['joint_mae_rad']:.4f}",
            _mm3(r),
            f"{r['rot_err_mean_deg']:.3f} / {r['rot_err_median_deg']:.3f}",
            _pct(r["within_1mm_1deg"]),
        ]
        if loose:
            line.append(_pct(r["within_loose"]))
        line += [
            f"{r['total_time_s']:.3f}",
            f"{r['time_per_sample_ms']:.4f}",
            "n/a" if r["one_pose_us"] is None else f"{r['one_pose_us']:.0f}",
            str(r["numerical_calls"]),
        ]
        cells.append(line)
    table = markdown_table(headers, cells, align=["l"] + ["r"] * (len(headers) - 1))
    orient = "pitch psi" if meta["feature_kind"] == "pose4" else "full orientation"
    return table + (
        f"\n\narm {meta['arm']} ({meta['feature_kind']}; orientation error = {orient}), "
        f"{meta['n_test']} held-out reachable targets (seed {meta['test_seed']}); "
        f"PyBullet/DLS rows on the first {meta['n_numerical']}; one pose: median of "
        f"{meta['n_latency']} solve(pose, q0) calls, q0 ~0.05 rad per joint from a solution."
    )


def plot_eval(result: dict[str, Any], folder: str | Path) -> list[Path]:
    """Workspace error heatmap (the first model, raw) and error histogram PNGs -> their paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    arm = result["summary"]["meta"]["arm"]
    heat = _heatmap(result, folder / f"{arm}_ik_error_heatmap.png")
    return [heat, _histogram(result, folder / f"{arm}_ik_error_hist.png")]


def _heatmap(result: dict[str, Any], path: Path) -> Path:
    """Mean raw position error of the first model over (radial distance, z) bins."""
    plt = pyplot()
    name, feats = result["headline"], result["features"]
    err = result["answers"][name].pos_err
    r, z = np.hypot(feats[:, 0], feats[:, 1]), feats[:, 2]
    total, xe, ye = np.histogram2d(r, z, bins=40, weights=err)
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
    ax.set_title(f"{name}, {result['summary']['meta']['arm']}, raw: error over the workspace")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _histogram(result: dict[str, Any], path: Path) -> Path:
    """Position-error histogram of every row but the exact reference."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    edges = np.logspace(-9, 0, 73)
    for name, res in result["answers"].items():
        if name.startswith("AnalyticIK"):
            continue
        e = res.pos_err
        ax.hist(np.clip(e, edges[0], edges[-1]), bins=edges, histtype="step",
                weights=np.full(len(e), 1.0 / len(e)), label=name)  # fmt: skip
    ax.axvline(1e-3, color="k", ls=":", lw=1)
    ax.set_xscale("log")
    ax.set_xlabel("EE position error (m)   (dotted: 1 mm)")
    ax.set_ylabel("fraction of targets")
    ax.set_title(f"IK position error, {result['summary']['meta']['arm']}")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
