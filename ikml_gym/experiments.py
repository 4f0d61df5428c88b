"""The experiments behind the demo and the examples: IK calls spent reaching, and
trajectory feasibility filtering. Each returns plain numbers (JSON-ready) and can
print its table; the counting rule is the one of :mod:`ikml_gym.agents.stack`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from .agents import baseline_stack, plugin_stack, run_side_by_side
from .arms import load_arm

GOAL_TYPE = "position"
REACH_ENV = {"arm4": "ikml_gym/Reach4DOFEE-v0", "arm6": "ikml_gym/Reach6DOFEE-v0"}


def table(headers: list[str], rows: list[list[Any]]) -> str:
    """A GitHub-markdown table of ``rows``; floats with 4 significant digits."""

    def fmt(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.4g}"
        return str(v)

    cells = [[fmt(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]

    def line(vals: list[str]) -> str:
        return "| " + " | ".join(v.ljust(w) for v, w in zip(vals, widths)) + " |"

    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(headers), sep, *(line(r) for r in cells)])


# --------------------------------------------------------------------------- reaching
def reach_ik_calls(arm_name: str, episodes: int = 200, seed: int = 0) -> dict[str, Any]:
    """Scripted ee reaching with position goals: baseline stack vs plug-in stack(s), same seeds.

    arm4 compares the baseline with the full plug-in stack. arm6 has no learned IK,
    so it shows two plug-in stacks: classifier goal filter only (``plugin``), and
    with commanded-target screening too (``plugin_screened``: fewer calls, lower
    success; see :func:`~ikml_gym.agents.stack.plugin_stack`).

    Returns ``{"baseline": EpisodeStats dict, "plugin": ..., ["plugin_screened": ...],
    "reduction": fraction of numerical calls the ``plugin`` stack saved, "note": ...}``.
    """
    from functools import partial

    arm = load_arm(arm_name)
    out: dict[str, Any] = {"arm": arm_name, "episodes": episodes, "env_id": REACH_ENV[arm_name]}
    stacks = [("baseline", baseline_stack), ("plugin", plugin_stack)]
    if arm_name != "arm4":
        stacks = [
            ("baseline", baseline_stack),
            ("plugin", partial(plugin_stack, screen_targets=False)),
            ("plugin_screened", plugin_stack),
        ]
    made = {key: make_stack(arm) for key, make_stack in stacks}
    envs = {}
    try:
        for key, stack in made.items():
            envs[key] = gym.make(REACH_ENV[arm_name], goal_type=GOAL_TYPE, **stack.env_kwargs)
        # episode k of every stack in turn: the wall times see the same machine load
        results = run_side_by_side(envs, episodes, seed=seed)
    finally:
        for env in envs.values():
            env.close()
        for stack in made.values():
            stack.close()
    base = results["baseline"].ik_calls
    for key, stats in results.items():
        out[key] = stats.as_dict() | {
            "method": made[key].name,
            "reduction": 1.0 - stats.ik_calls / base if base else 0.0,
        }
    out["note"] = made["plugin"].note
    out["reduction"] = out["plugin"]["reduction"]
    return out


def reach_table(results: list[dict[str, Any]]) -> str:
    rows = []
    for r in results:
        for key in ("baseline", "plugin", "plugin_screened"):
            if key not in r:
                continue
            s = r[key]
            rows.append([
                r["arm"], s["method"], f"{100 * s['success_rate']:.1f}%",
                s["mean_final_distance_mm"], s["ik_calls"], s["calls_per_episode"],
                f"{s['wall_time_s']:.1f}",
                f"-{100 * s['reduction']:.1f}% calls" if key != "baseline" else "",
            ])  # fmt: skip
    return table(
        ["arm", "method", "success", "final dist (mm)", "numerical IK calls", "calls/episode",
         "wall (s)", "saving"],
        rows,
    )  # fmt: skip


# ------------------------------------------------------------------------ trajectories
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
    """
    from .data import ReachabilityOracle
    from .labels import label_from_kinv
    from .learned.classifier import load_classifier
    from .learned.feasibility import FeasibilityFilter
    from .planning import (
        IKGroundTruth,
        TrajectoryChecker,
        WaypointVerdict,
        sample_trajectories,
    )
    from .solvers import DLSIK

    clf = load_classifier("arm6")
    arm = clf.arm
    traj = sample_trajectories(arm, n_traj, waypoints, seed=seed)

    t0 = time.perf_counter()
    truth_answerer = IKGroundTruth(DLSIK(arm, seed=seed), clf.thresholds)
    truth = TrajectoryChecker(truth_answerer)(traj)
    t_truth = time.perf_counter() - t0

    filt = FeasibilityFilter(clf, DLSIK(arm, seed=seed))

    def filter_answer(features: np.ndarray) -> WaypointVerdict:
        res = filt.query(features)
        return WaypointVerdict(res.reachable, res.label)

    t0 = time.perf_counter()
    mine = TrajectoryChecker(filter_answer)(traj)
    t_filter = time.perf_counter() - t0

    oracle = ReachabilityOracle(arm)
    flat = traj.reshape(-1, arm.feature_dim)
    reach_exact, kinv_exact = oracle(flat)
    exact_label = label_from_kinv(reach_exact, kinv_exact, clf.thresholds)
    exact = TrajectoryChecker(lambda f: WaypointVerdict(reach_exact, exact_label))(traj)

    n_wp = traj.shape[0] * traj.shape[1]
    res = {
        "trajectories": int(traj.shape[0]),
        "waypoints": int(n_wp),
        "ik_calls_baseline": int(truth_answerer.calls),
        "ik_calls_filter": int(filt.calls),
        "reduction": 1.0 - filt.calls / max(truth_answerer.calls, 1),
        "waypoint_agreement": float(np.mean(mine.reachable == truth.reachable)),
        "trajectory_agreement": float(
            np.mean(mine.reachable.all(axis=1) == truth.reachable.all(axis=1))
        ),
        "waypoint_class_agreement": float(np.mean(mine.label == truth.label)),
        "filter_vs_exact_waypoint": float(np.mean(mine.reachable.ravel() == reach_exact)),
        "baseline_vs_exact_waypoint": float(np.mean(truth.reachable.ravel() == reach_exact)),
        "filter_vs_exact_trajectory": float(np.mean(mine.status == exact.status)),
        "baseline_vs_exact_trajectory": float(np.mean(truth.status == exact.status)),
        "status_counts_baseline": np.bincount(truth.status, minlength=3).tolist(),
        "status_counts_filter": np.bincount(mine.status, minlength=3).tolist(),
        "seconds_baseline": t_truth,
        "seconds_filter": t_filter,
        "confidence": filt.confidence,
    }
    if plot_dir is not None:
        res["plot"] = str(plot_trajectories(traj, mine.label, mine.status, Path(plot_dir)))
    return res


def trajectory_table(r: dict[str, Any]) -> str:
    rows = [
        ["IK on every waypoint (DLSIK)", r["trajectories"], r["waypoints"], r["ik_calls_baseline"],
         "(ground truth)", "(ground truth)", f"{100 * r['baseline_vs_exact_waypoint']:.3f}%",
         f"{100 * r['baseline_vs_exact_trajectory']:.2f}%", f"{r['seconds_baseline']:.1f}"],
        ["FeasibilityFilter (classifier, DLSIK where unsure)", r["trajectories"], r["waypoints"],
         r["ik_calls_filter"], f"{100 * r['waypoint_agreement']:.3f}%",
         f"{100 * r['trajectory_agreement']:.2f}%", f"{100 * r['filter_vs_exact_waypoint']:.3f}%",
         f"{100 * r['filter_vs_exact_trajectory']:.2f}%", f"{r['seconds_filter']:.1f}"],
    ]  # fmt: skip
    return table(
        ["method", "trajectories", "waypoints", "numerical IK calls",
         "waypoint agreement (reachable)", "trajectory agreement (executable)",
         "waypoints vs exact oracle", "verdicts vs exact oracle", "time (s)"],
        rows,
    )  # fmt: skip


def plot_trajectories(
    traj: np.ndarray, labels: np.ndarray, status: np.ndarray, out_dir: Path, per_status: int = 3
) -> Path:
    """PNG of a few trajectories of each verdict, waypoints coloured by class."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .io import atomic_path
    from .labels import CLASS_NAMES
    from .planning import TRAJECTORY_STATUS

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
