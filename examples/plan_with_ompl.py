"""The learned IK and the classifier inside OMPL: pose goals for the 6-DOF arm among boxes.

Part one, joint-space planning (RRTConnect) from a random collision-free start to each of
``--goals`` end-effector pose goals, ``--unreachable`` of them out of reach:

* baseline -- MoveIt's way: a goal sampler calling numerical IK (PyBulletIK) from a random
  start per goal sample (until one valid sample, at most ``--attempts`` calls);
* plug-in -- the classifier refuses sure-unreachable poses at once, the learned IK's heads
  are FK-checked against the goal tolerance, numerical IK runs only where none passes.

Part two, Cartesian planning over end-effector poses (SE(3)) with the FeasibilityFilter as
validity checker, batched per motion and per pose; every waypoint of each planned path
(cut every ``--step``) is then verified by numerical IK.

    python examples/plan_with_ompl.py --json benchmarks/results/ompl.json \
        --md benchmarks/results/ompl.md --out benchmarks/results/plots [--quick]
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

import ikml_gym
from ikml_gym import plots
from ikml_gym.learned.feasibility import FeasibilityFilter
from ikml_gym.planning import Box, LearnedGoalSampler, NumericalGoalSampler, Scene
from ikml_gym.planning.goal_sampling import DEFAULT_GOAL_TOL
from ikml_gym.planning.ompl_plugin import (
    REFUSED,
    JointSpacePlanner,
    TaskSpacePlanner,
    interpolate_poses,
    quiet_ompl,
    seed_ompl,
)
from ikml_gym.solvers import PyBulletIK
from ikml_gym.tables import markdown_table

BOXES = (
    Box(center=(0.5, 0.0, 0.25), half_extents=(0.05, 0.25, 0.2)),
    Box(center=(0.0, 0.55, 0.45), half_extents=(0.2, 0.05, 0.15)),
    Box(center=(-0.45, -0.35, 0.15), half_extents=(0.1, 0.1, 0.1)),
)


def make_goals(arm, scene, n, unreachable, rng):
    """(n, 7) pose goals, the first n - unreachable from FK of collision-free joints, the
    rest at 1.02-1.3 x reach from the reach centre; and (n, dof) collision-free starts."""
    q = _valid_q(scene, 2 * n, rng)
    reach = arm.fk_features(q[: n - unreachable])
    d = rng.normal(size=(unreachable, 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    pos = arm.reach_center + d * (arm.reach * rng.uniform(1.02, 1.3, unreachable))[:, None]
    quat = rng.normal(size=(unreachable, 4))
    far = arm.features(pos, quat / np.linalg.norm(quat, axis=1, keepdims=True))
    return np.concatenate([reach, far.reshape(-1, 7)]), q[n:]


def _valid_q(scene, n, rng):
    out = np.zeros((0, scene.arm.dof))
    while len(out) < n:
        q = scene.arm.random_q(2 * n, rng)
        out = np.concatenate([out, q[scene.is_valid(q)]])
    return out[:n]


def run_joint_space(planner, starts, goals, tol):
    """Plan every goal; per-goal rows of success, status, calls, time, final pose error."""
    rows = []
    for q0, pose in zip(starts, goals):
        r = planner.plan(q0, pose)
        ok = r.success
        if ok:  # the path ends inside the goal region: check it, never trust a status
            pe, re = planner.arm.pose_error(r.path[-1:], pose[None])
            ok = bool(pe[0] < tol[0] and re[0] < tol[1])
        rows.append({"success": r.success, "verified": ok, "status": r.status,
                     "calls": r.calls, "time_s": r.time_s, "path": r.path})  # fmt: skip
    return rows


def joint_summary(name, rows, reachable):
    """The table row of one method: goals, planned, success, calls, mean times."""
    ok = np.array([r["success"] for r in rows])
    t = np.array([r["time_s"] for r in rows])
    refused = np.array([r["status"] == REFUSED for r in rows])
    far = ~reachable
    return {
        "method": name,
        "goals": len(rows),
        "planned": int(ok.sum()),
        "planned_verified": int(sum(r["verified"] for r in rows)),
        "statuses": dict(Counter(r["status"] for r in rows)),
        "success_reachable": float(ok[reachable].mean()),
        "numerical_ik_calls": int(sum(r["calls"] for r in rows)),
        "mean_planning_time_s": float(t[ok].mean()) if ok.any() else None,
        "unreachable_refused": int(refused[far].sum()),
        "mean_time_unreachable_s": float(t[far].mean()) if far.any() else None,
        "mean_time_refused_s": float(t[refused].mean()) if refused.any() else None,
        "max_time_refused_s": float(t[refused].max()) if refused.any() else None,
    }


def cartesian_pairs(arm, scene, n, rng):
    """(n, 7) start and goal poses from FK of random joints."""
    q = _valid_q(scene, 2 * n, rng)
    f = arm.fk_features(q)
    return f[:n], f[n:]


def run_cartesian(planner, starts, goals, verifier, step):
    """Plan every pair; verify each waypoint of each planned path by numerical IK."""
    planner.checker_calls = planner.poses_checked = 0
    calls0, t0 = planner.calls, time.perf_counter()
    results = [planner.plan(a, b) for a, b in zip(starts, goals)]
    elapsed = time.perf_counter() - t0
    paths = [interpolate_poses(r.path, step) for r in results if r.success]
    waypoints = np.concatenate(paths) if paths else np.zeros((0, 7))
    verified = verifier.solve(waypoints).success if len(waypoints) else np.zeros(0, bool)
    return {
        "batched": planner.batched,
        "pairs": len(results),
        "planned": int(sum(r.success for r in results)),
        "statuses": dict(Counter(r.status for r in results)),
        "mean_planning_time_s": elapsed / len(results),
        "checker_calls": planner.checker_calls,
        "poses_checked": planner.poses_checked,
        "filter_numerical_ik_calls": planner.calls - calls0,
        "waypoints": len(waypoints),
        "waypoints_verified": int(np.sum(verified)),
        "verified_fraction": float(np.mean(verified)) if len(verified) else None,
    }


def _ms(x):
    return "-" if x is None else f"{1e3 * x:.3g}"


def tables(joint, cart):
    """The two markdown tables."""
    t1 = markdown_table(
        ["method", "goals", "planned", "success (reachable)", "numerical IK calls",
         "mean planning time (ms)", "unreachable refused", "time per refusal (ms)",
         "mean time on unreachable (ms)"],
        [[j["method"], j["goals"], j["planned"], f"{100 * j['success_reachable']:.1f}%",
          j["numerical_ik_calls"], _ms(j["mean_planning_time_s"]), j["unreachable_refused"],
          _ms(j["mean_time_refused_s"]), _ms(j["mean_time_unreachable_s"])] for j in joint],
        align="lrrrrrrrr",
    )  # fmt: skip
    t2 = markdown_table(
        ["validity checks", "pairs", "planned", "mean planning time (ms)", "checker calls",
         "poses checked", "filter IK calls", "waypoints", "verified by IK"],
        [["batched per motion" if c["batched"] else "one pose per call", c["pairs"],
          c["planned"], _ms(c["mean_planning_time_s"]), c["checker_calls"], c["poses_checked"],
          c["filter_numerical_ik_calls"], c["waypoints"],
          "-" if c["verified_fraction"] is None else f"{100 * c['verified_fraction']:.2f}%"]
         for c in cart],
        align="lrrrrrrrr",
    )  # fmt: skip
    return t1, t2


def plot_paths(arm, rows, out):
    """PNG of the end-effector traces of a few planned joint-space paths among the boxes."""
    plt = plots.pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 5))
    for (ax, (i, j)), name in zip(zip(axes, [(0, 1), (0, 2)]), ["top (x, y)", "side (x, z)"]):
        for b in BOXES:
            ax.add_patch(plt.Rectangle((b.center[i] - b.half_extents[i], b.center[j] -
                         b.half_extents[j]), 2 * b.half_extents[i], 2 * b.half_extents[j],
                         color="0.6", alpha=0.6))  # fmt: skip
        for r in [r for r in rows if r["success"]][:4]:
            q = _dense(r["path"], 0.02)
            pos = arm.fk_features(q)[:, :3]
            ax.plot(pos[:, i], pos[:, j])
            ax.plot(pos[-1, i], pos[-1, j], "k*")
        ax.set_title(name)
        ax.set_aspect("equal")
    fig.suptitle("RRTConnect paths to pose goals (plug-in goal region), end-effector traces")
    path = Path(out) / "ompl_paths.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return str(path)


def _dense(path, step):
    """Joint path (M, dof) cut into steps of at most ``step`` radians."""
    out = [path[:1]]
    for a, b in itertools.pairwise(path):
        n = max(1, int(np.ceil(np.max(np.abs(b - a)) / step)))
        out.append(a + np.linspace(0, 1, n + 1)[1:, None] * (b - a))
    return np.concatenate(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--goals", type=int, default=200)
    parser.add_argument("--unreachable", type=float, default=0.2, help="fraction of goals")
    parser.add_argument("--cartesian", type=int, default=50, help="Cartesian start/goal pairs")
    parser.add_argument("--attempts", type=int, default=10, help="baseline IK calls per goal")
    parser.add_argument("--time-limit", type=float, default=1.0, help="seconds per query")
    parser.add_argument("--step", type=float, default=0.02, help="waypoint step (m + rad)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="20 goals, 5 pairs (a test)")
    parser.add_argument("--out", default="ompl_out", help="folder for the PNG")
    parser.add_argument("--json", help="write the numbers here")
    parser.add_argument("--md", help="write the tables here")
    args = parser.parse_args()
    if args.quick:
        args.goals, args.cartesian = 20, 5

    quiet_ompl()
    seed_ompl(args.seed)
    rng = np.random.default_rng(args.seed)
    arm = ikml_gym.load_arm("arm6")
    scene = Scene(arm, BOXES)
    n_far = round(args.unreachable * args.goals)
    goals, starts = make_goals(arm, scene, args.goals, n_far, rng)
    reachable = np.arange(args.goals) < args.goals - n_far
    tol = DEFAULT_GOAL_TOL
    numerical = NumericalGoalSampler(
        PyBulletIK(arm, restarts=0, pos_tol=tol[0], rot_tol=tol[1], seed=args.seed),
        attempts=args.attempts,
    )
    learned = LearnedGoalSampler(
        ikml_gym.load_ik("arm6"),
        PyBulletIK(arm, restarts=0, pos_tol=tol[0], rot_tol=tol[1], seed=args.seed),
        ikml_gym.load_classifier("arm6"),
        tol=tol,
    )
    joint, rows_plugin = [], None
    for name, sampler in [("baseline (numerical IK per goal sample)", numerical),
                          ("plug-in (classifier + learned IK)", learned)]:  # fmt: skip
        planner = JointSpacePlanner(sampler, scene.is_valid, time_limit=args.time_limit)
        rows = run_joint_space(planner, starts, goals, tol)
        joint.append(joint_summary(name, rows, reachable))
        rows_plugin = rows
    base, plug = joint
    reduction = 1.0 - plug["numerical_ik_calls"] / max(1, base["numerical_ik_calls"])

    filt = FeasibilityFilter(ikml_gym.load_classifier("arm6"), PyBulletIK(arm))
    verifier = PyBulletIK(arm, restarts=10, seed=args.seed)
    a, b = cartesian_pairs(arm, scene, args.cartesian, rng)
    cart = []
    for batched in (True, False):
        planner = TaskSpacePlanner(
            filt, avoid_near_singular=True, batched=batched, time_limit=args.time_limit
        )
        cart.append(run_cartesian(planner, a, b, verifier, args.step))
    png = plot_paths(arm, rows_plugin, args.out) if plots.available() else plots.MISSING_NOTE
    t1, t2 = tables(joint, cart)
    print(t1, "\n")
    print(t2, "\n")
    print(f"{100 * reduction:.1f}% fewer numerical IK calls; picture: {png}")
    result = {
        "arm": "arm6",
        "goals": args.goals,
        "unreachable_goals": n_far,
        "boxes": len(BOXES),
        "goal_tolerance": {"metres": tol[0], "radians": tol[1]},
        "baseline_attempts": args.attempts,
        "time_limit_s": args.time_limit,
        "joint_space": joint,
        "ik_call_reduction": reduction,
        "success_gap_points": 100 * (plug["success_reachable"] - base["success_reachable"]),
        "cartesian": cart,
        "plot": png,
    }
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    if args.md:
        command = " ".join(["python", "examples/plan_with_ompl.py", *sys.argv[1:]])
        Path(args.md).write_text(f"# OMPL plug-in (arm6)\n\n`{command}`\n\n{t1}\n\n{t2}\n")


if __name__ == "__main__":
    main()
