"""The demo's trajectory run: 6-DOF candidate trajectories screened by the
:class:`~ikml_gym.learned.feasibility.FeasibilityFilter` (classifier first, numerical IK
only where unsure) vs a numerical IK call on every waypoint; its table and picture.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from .. import plots
from ..arms import Arm
from ..planning import (
    TRAJECTORY_STATUS,
    IKGroundTruth,
    TrajectoryChecker,
    TrajectoryReport,
    WaypointVerdict,
    sample_trajectories,
)
from ..tables import markdown_table


def trajectory_filter(
    n_traj: int = 1000, waypoints: int = 50, seed: int = 0, plot_dir: str | Path | None = None
) -> dict[str, Any]:
    """6-DOF trajectory screening: FeasibilityFilter vs DLS IK on every waypoint.

    Ground truth is the baseline the user would otherwise run: a numerical IK
    call (``DLSIK``) on every waypoint. Agreement with it is measured on
    reachability, per waypoint and per trajectory (a trajectory is executable when
    every waypoint is reachable). The conditioning verdict (feasible / badly
    conditioned / infeasible) is compared with the exact closed-form oracle
    instead: a single IK solution's kinv is only a lower bound on the pose's
    conditioning (a pose's kinv is the best over all its solutions), so IK on
    every waypoint is not a ground truth for it; both methods' verdict agreement
    with the oracle is reported.

    Args:
        n_traj: number of candidate trajectories T.
        waypoints: waypoints W per trajectory.
        seed: seeds the trajectories and both DLSIK solvers.
        plot_dir: folder for ``trajectories.png`` (no picture when ``None``, and none, with a
            note in ``plot``, where matplotlib is not installed).

    Returns:
        JSON-ready numbers: IK calls of both methods, agreements (fractions in [0, 1]),
        verdict counts, seconds, and ``plot`` (the PNG's path) when a folder was given.
    """
    from ..learned.classifier import load_classifier

    clf = load_classifier("arm6")
    traj = sample_trajectories(clf.arm, n_traj, waypoints, seed=seed)
    truth, truth_calls, t_truth = _ik_on_every_waypoint(clf, traj, seed)
    mine, filt, t_filter = _screen_with_filter(clf, traj, seed)
    reach_exact, exact = _exact_verdicts(clf, traj)
    res = {
        "trajectories": int(traj.shape[0]),
        "waypoints": int(traj.shape[0] * traj.shape[1]),
        "ik_calls_baseline": int(truth_calls),
        "ik_calls_filter": int(filt.calls),
        "reduction": 1.0 - filt.calls / max(truth_calls, 1),
        **_agreements(mine, truth, exact, reach_exact),
        "status_counts_baseline": np.bincount(truth.status, minlength=3).tolist(),
        "status_counts_filter": np.bincount(mine.status, minlength=3).tolist(),
        "seconds_baseline": t_truth,
        "seconds_filter": t_filter,
        "confidence": filt.confidence,
    }
    if plot_dir is not None:  # a core install without matplotlib still gets every number
        res["plot"] = (
            str(plot_trajectories(traj, mine.label, mine.status, Path(plot_dir)))
            if plots.available()
            else plots.MISSING_NOTE
        )
    return res


def _ik_on_every_waypoint(
    clf: Any, traj: np.ndarray, seed: int
) -> tuple[TrajectoryReport, int, float]:
    """The baseline: DLSIK on every waypoint of ``traj`` (T, W, feature_dim).

    Returns the report, the numerical IK calls spent and the wall time in seconds.
    """
    from ..solvers import DLSIK

    t0 = time.perf_counter()
    answerer = IKGroundTruth(DLSIK(clf.arm, seed=seed), clf.thresholds)
    report = TrajectoryChecker(answerer)(traj)
    return report, answerer.calls, time.perf_counter() - t0


def _screen_with_filter(
    clf: Any, traj: np.ndarray, seed: int
) -> tuple[TrajectoryReport, Any, float]:
    """The classifier first, DLSIK only where it is unsure, on ``traj`` (T, W, feature_dim).

    Returns the report, the filter (its ``calls`` and ``confidence``) and the wall time in seconds.
    """
    from ..learned.feasibility import FeasibilityFilter
    from ..solvers import DLSIK

    filt = FeasibilityFilter(clf, DLSIK(clf.arm, seed=seed))

    def filter_answer(features: np.ndarray) -> WaypointVerdict:
        res = filt.query(features)
        return WaypointVerdict(res.reachable, res.label)

    t0 = time.perf_counter()
    report = TrajectoryChecker(filter_answer)(traj)
    return report, filt, time.perf_counter() - t0


def _exact_verdicts(clf: Any, traj: np.ndarray) -> tuple[np.ndarray, TrajectoryReport]:
    """Closed-form reachability (T * W,) bool of every waypoint and the exact report."""
    from ..data import ReachabilityOracle
    from ..labels import label_from_kinv

    arm: Arm = clf.arm
    reach_exact, kinv_exact = ReachabilityOracle(arm)(traj.reshape(-1, arm.feature_dim))
    exact_label = label_from_kinv(reach_exact, kinv_exact, clf.thresholds)
    exact = TrajectoryChecker(lambda f: WaypointVerdict(reach_exact, exact_label))(traj)
    return reach_exact, exact


def _agreements(
    mine: TrajectoryReport,
    truth: TrajectoryReport,
    exact: TrajectoryReport,
    reach_exact: np.ndarray,
) -> dict[str, float]:
    """Fractions in [0, 1] of waypoints / trajectories on which two methods agree."""
    return {
        "waypoint_agreement": float(np.mean(mine.reachable == truth.reachable)),
        "trajectory_agreement": float(
            np.mean(mine.reachable.all(axis=1) == truth.reachable.all(axis=1))
        ),
        "waypoint_class_agreement": float(np.mean(mine.label == truth.label)),
        "filter_vs_exact_waypoint": float(np.mean(mine.reachable.ravel() == reach_exact)),
        "baseline_vs_exact_waypoint": float(np.mean(truth.reachable.ravel() == reach_exact)),
        "filter_vs_exact_trajectory": float(np.mean(mine.status == exact.status)),
        "baseline_vs_exact_trajectory": float(np.mean(truth.status == exact.status)),
    }


def trajectory_table(r: dict[str, Any]) -> str:
    """The markdown table of a :func:`trajectory_filter` result: one row per method."""
    rows = [
        ["IK on every waypoint (DLSIK)", r["trajectories"], r["waypoints"], r["ik_calls_baseline"],
         "(ground truth)", "(ground truth)", f"{100 * r['baseline_vs_exact_waypoint']:.3f}%",
         f"{100 * r['baseline_vs_exact_trajectory']:.2f}%", f"{r['seconds_baseline']:.1f}"],
        ["FeasibilityFilter (classifier, DLSIK where unsure)", r["trajectories"], r["waypoints"],
         r["ik_calls_filter"], f"{100 * r['waypoint_agreement']:.3f}%",
         f"{100 * r['trajectory_agreement']:.2f}%", f"{100 * r['filter_vs_exact_waypoint']:.3f}%",
         f"{100 * r['filter_vs_exact_trajectory']:.2f}%", f"{r['seconds_filter']:.1f}"],
    ]  # fmt: skip
    return markdown_table(
        ["method", "trajectories", "waypoints", "numerical IK calls",
         "waypoint agreement (reachable)", "trajectory agreement (executable)",
         "waypoints vs exact oracle", "verdicts vs exact oracle", "time (s)"],
        rows,
    )  # fmt: skip


def plot_trajectories(
    traj: np.ndarray, labels: np.ndarray, status: np.ndarray, out_dir: Path, per_status: int = 3
) -> Path:
    """``out_dir/trajectories.png``: a few trajectories of each verdict, waypoints coloured by class.

    Args:
        traj: (T, W, feature_dim) trajectories; the first three features are metres.
        labels: (T, W) waypoint classes 0-3.
        status: (T,) trajectory verdicts (see :data:`ikml_gym.planning.TRAJECTORY_STATUS`).
    """
    from ..io import atomic_path
    from ..labels import CLASS_NAMES
    from ..plots import pyplot

    plt = pyplot()
    colors = ["#d62728", "#ff7f0e", "#2ca02c", "#1f77b4"]
    fig = plt.figure(figsize=(8, 7))
    ax = fig.add_subplot(projection="3d")
    for s in range(3):
        for i in np.flatnonzero(status == s)[:per_status]:
            p = traj[i, :, :3]
            ax.plot(p[:, 0], p[:, 1], p[:, 2], color="0.7", lw=0.8)
            ax.scatter(p[:, 0], p[:, 1], p[:, 2], c=[colors[c] for c in labels[i]], s=8)
    for c, name in enumerate(CLASS_NAMES):
        ax.scatter([], [], [], c=colors[c], label=name)
    ax.set_xlabel("x (m)")
    ax.set_ylabel("y (m)")
    ax.set_zlabel("z (m)")
    ax.set_title(
        "arm6 candidate trajectories, waypoints by class\n("
        + ", ".join(f"{per_status} {TRAJECTORY_STATUS[s]}" for s in range(3))
        + ")"
    )
    ax.legend(loc="upper left", fontsize=8)
    path = out_dir / "trajectories.png"
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path
