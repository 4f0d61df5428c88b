"""The OMPL plug-in: box scene, goal samplers, joint-space and task-space planners."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import ikml_gym
from ikml_gym.errors import DependencyNotInstalled, InvalidInputError
from ikml_gym.learned.feasibility import FeasibilityFilter
from ikml_gym.planning import Box, LearnedGoalSampler, NumericalGoalSampler, Scene
from ikml_gym.solvers import PyBulletIK

ROOT = Path(__file__).resolve().parents[1]
TOL = (0.01, float(np.deg2rad(3.0)))


@pytest.fixture(scope="module")
def arm6():
    return ikml_gym.load_arm("arm6")


@pytest.fixture(scope="module")
def ik6():
    return ikml_gym.load_ik("arm6")


@pytest.fixture(scope="module")
def clf6():
    return ikml_gym.load_classifier("arm6")


def _far_pose(arm):
    """A pose twice the reach away from the reach centre: unreachable."""
    return np.r_[arm.reach_center + [2 * arm.reach, 0.0, 0.0], 0.0, 0.0, 0.0, 1.0]


def _head_pose(ik, q_seed_pose):
    """A pose the first learned head reaches exactly (FK of its own answer)."""
    head = ik.propose(q_seed_pose)[0, 0]
    return ik.arm.fk_features(head)


def _learned(ik, clf, **kw):
    return LearnedGoalSampler(ik, PyBulletIK(ik.arm, restarts=0, seed=0), clf, tol=TOL, **kw)


# ---------------------------------------------------------------------- scene
def test_a_box_on_the_end_effector_collides_and_a_far_one_does_not(arm6):
    q = np.zeros(arm6.dof)
    ee = arm6.fk_features(q)[:3]
    near = Scene(arm6, [Box(tuple(ee), (0.05, 0.05, 0.05))])
    far = Scene(arm6, [Box((5.0, 5.0, 5.0), (0.1, 0.1, 0.1))])
    assert near.collides(q).tolist() == [True]
    assert far.collides(np.stack([q, q])).tolist() == [False, False]
    assert not near.is_valid(q)[0] and far.is_valid(q)[0]
    assert not far.is_valid(arm6.joint_limits[:, 1] + 0.5)[0]  # outside the limits
    near.close()
    with pytest.raises(RuntimeError, match="closed"):
        near.collides(q)


def test_bad_boxes_and_joints_are_refused(arm6):
    with pytest.raises(InvalidInputError, match="positive"):
        Box((0.0, 0.0, 0.0), (0.1, -0.1, 0.1))
    with pytest.raises(InvalidInputError, match="center"):
        Box((0.0, np.nan, 0.0), (0.1, 0.1, 0.1))
    with pytest.raises(InvalidInputError, match="NaN"):
        Scene(arm6, [Box((5.0, 5.0, 5.0), (0.1, 0.1, 0.1))]).collides(np.full(arm6.dof, np.nan))


# ---------------------------------------------------------------------- goal samplers
def test_learned_sampler_refuses_a_sure_unreachable_pose_without_ik(arm6, ik6, clf6):
    sampler = _learned(ik6, clf6)
    samples = sampler(_far_pose(arm6))
    assert samples.refused and len(samples) == 0
    assert sampler.calls == 0


def test_learned_heads_within_tolerance_are_the_samples_with_no_numerical_call(arm6, ik6, clf6):
    sampler = _learned(ik6, clf6)
    pose = _head_pose(ik6, arm6.fk_features(arm6.random_q(1, np.random.default_rng(3))[0]))
    samples = sampler(pose)
    assert len(samples) >= 1 and samples.from_learned == len(samples)
    pos_err, rot_err = arm6.pose_error(samples.q, np.repeat(pose[None], len(samples), axis=0))
    assert np.all(pos_err < TOL[0]) and np.all(rot_err < TOL[1])
    assert sampler.calls == 0


def test_numerical_ik_runs_only_where_no_head_is_valid(arm6, ik6, clf6):
    sampler = _learned(ik6, clf6, fallback_seeds=2)
    pose = _head_pose(ik6, arm6.fk_features(arm6.random_q(1, np.random.default_rng(4))[0]))
    samples = sampler(pose, is_valid=lambda q: np.zeros(len(q), dtype=bool))  # all invalid
    assert len(samples) == 0 and not samples.refused
    assert sampler.calls == 2  # the fallback, once per seed


def test_numerical_sampler_spends_its_attempts_on_an_unreachable_pose(arm6):
    sampler = NumericalGoalSampler(PyBulletIK(arm6, restarts=0, seed=0), attempts=4)
    assert len(sampler(_far_pose(arm6))) == 0 and sampler.calls == 4
    reachable = arm6.fk_features(arm6.random_q(1, np.random.default_rng(5))[0])
    assert len(sampler(reachable)) == 1 and sampler.calls <= 8


def test_samplers_refuse_parts_of_another_arm(ik6, clf6):
    arm4 = ikml_gym.load_arm("arm4")
    with pytest.raises(ValueError, match="arm4"):
        LearnedGoalSampler(ik6, PyBulletIK(arm4), clf6)
    with pytest.raises(ValueError, match="arm4"):
        LearnedGoalSampler(ik6, PyBulletIK(ik6.arm), ikml_gym.load_classifier("arm4"))


# ---------------------------------------------------------------------- planners
@pytest.fixture(scope="module")
def ompl_plugin():
    pytest.importorskip("ompl")
    from ikml_gym.planning import ompl_plugin

    ompl_plugin.quiet_ompl()
    return ompl_plugin


@pytest.fixture(scope="module")
def scene6(arm6):
    return Scene(arm6, [Box((0.5, 0.0, 0.25), (0.05, 0.25, 0.2))])


def _valid_q(scene, n, seed):
    q = scene.arm.random_q(4 * n, np.random.default_rng(seed))
    return q[scene.is_valid(q)][:n]


def test_joint_space_plan_reaches_the_pose_goal(ompl_plugin, arm6, ik6, clf6, scene6):
    planner = ompl_plugin.JointSpacePlanner(_learned(ik6, clf6), scene6.is_valid, time_limit=2.0)
    q = _valid_q(scene6, 2, seed=6)
    pose = _head_pose(ik6, arm6.fk_features(q[1]))
    res = planner.plan(q[0], pose)
    assert res.success and res.status == ompl_plugin.EXACT
    np.testing.assert_allclose(res.path[0], q[0], atol=1e-9)
    pos_err, rot_err = arm6.pose_error(res.path[-1:], pose[None])
    assert pos_err[0] < TOL[0] and rot_err[0] < TOL[1]
    assert scene6.is_valid(res.path).all() and res.goal_samples >= 1


def test_unreachable_goal_is_refused_before_planning(ompl_plugin, arm6, ik6, clf6, scene6):
    planner = ompl_plugin.JointSpacePlanner(_learned(ik6, clf6), scene6.is_valid)
    res = planner.plan(_valid_q(scene6, 1, seed=7)[0], _far_pose(arm6))
    assert not res.success and res.status == ompl_plugin.REFUSED
    assert res.calls == 0 and len(res.path) == 0 and res.time_s < 0.05


def test_failures_are_reported_as_failures(ompl_plugin, arm6, ik6, clf6, scene6):
    baseline = NumericalGoalSampler(PyBulletIK(arm6, restarts=0, seed=0), attempts=3)
    planner = ompl_plugin.JointSpacePlanner(baseline, scene6.is_valid)
    q = _valid_q(scene6, 1, seed=8)[0]
    res = planner.plan(q, _far_pose(arm6))
    assert not res.success and res.status == ompl_plugin.NO_GOAL_SAMPLE and res.calls == 3
    inside = np.zeros(arm6.dof)
    blocked = ompl_plugin.JointSpacePlanner(
        _learned(ik6, clf6),
        Scene(arm6, [Box(tuple(arm6.fk_features(inside)[:3]), (0.1,) * 3)]).is_valid,
    )
    res = blocked.plan(inside, arm6.fk_features(q))  # the start is in collision
    assert not res.success and res.status == ompl_plugin.INVALID_START


def test_bad_planning_input_gets_a_clear_error(ompl_plugin, arm6, ik6, clf6):
    planner = ompl_plugin.JointSpacePlanner(_learned(ik6, clf6))
    q = np.zeros(arm6.dof)
    with pytest.raises(InvalidInputError, match="NaN"):
        planner.plan(q, np.full(7, np.nan))
    arm4_goal = ikml_gym.load_arm("arm4").fk_features(np.zeros(4))
    with pytest.raises(InvalidInputError, match="another arm"):
        planner.plan(q, arm4_goal)
    with pytest.raises(InvalidInputError, match="time_limit"):
        planner.plan(q, arm6.fk_features(q), time_limit=0)
    with pytest.raises(InvalidInputError, match="time_limit"):
        ompl_plugin.JointSpacePlanner(_learned(ik6, clf6), time_limit=0.0)
    with pytest.raises(ValueError, match="planner"):
        ompl_plugin.JointSpacePlanner(_learned(ik6, clf6), planner="PRM*")
    scene4 = Scene(ikml_gym.load_arm("arm4"))
    with pytest.raises(ValueError, match="arm4"):
        ompl_plugin.JointSpacePlanner(_learned(ik6, clf6), is_valid=scene4.is_valid)


def test_task_space_plan_keeps_to_reachable_poses(ompl_plugin, arm6, clf6):
    filt = FeasibilityFilter(clf6, PyBulletIK(arm6, seed=0))
    planner = ompl_plugin.TaskSpacePlanner(filt, time_limit=2.0)
    q = arm6.random_q(2, np.random.default_rng(9))
    start, goal = arm6.fk_features(q)
    res = planner.plan(start, goal)
    assert res.success and len(res.path) >= 2
    np.testing.assert_allclose(res.path[0, :3], start[:3], atol=1e-9)
    np.testing.assert_allclose(res.path[-1, :3], goal[:3], atol=1e-3)
    waypoints = ompl_plugin.interpolate_poses(res.path, 0.05)
    assert filt.is_reachable(waypoints).mean() > 0.99
    assert planner.poses_checked > planner.checker_calls  # motions checked in batches
    far = planner.plan(start, _far_pose(arm6))
    assert not far.success and far.status == ompl_plugin.INVALID_GOAL


def test_task_space_planner_needs_a_pose7_arm(ompl_plugin):
    clf4 = ikml_gym.load_classifier("arm4")
    with pytest.raises(ValueError, match="pose7"):
        ompl_plugin.TaskSpacePlanner(FeasibilityFilter(clf4, PyBulletIK(clf4.arm)))


def test_interpolated_poses_are_unit_and_end_at_the_path_ends(ompl_plugin, arm6):
    path = arm6.fk_features(arm6.random_q(3, np.random.default_rng(10)))
    w = ompl_plugin.interpolate_poses(path, 0.05)
    np.testing.assert_allclose(np.linalg.norm(w[:, 3:], axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(w[[0, -1]], path[[0, -1]], atol=1e-9)


def test_missing_ompl_names_the_extra(monkeypatch, ik6, clf6):
    from ikml_gym.planning import ompl_plugin

    monkeypatch.setitem(sys.modules, "ompl", None)
    with pytest.raises(DependencyNotInstalled, match=r'pip install "ikml_gym\[ompl\]"'):
        ompl_plugin.JointSpacePlanner(_learned(ik6, clf6))


# ---------------------------------------------------------------------- the example
@pytest.mark.slow
def test_plan_with_ompl_example_quick(tmp_path):
    pytest.importorskip("ompl")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "plan_with_ompl.py"), "--quick",
         "--out", str(tmp_path), "--json", str(tmp_path / "r.json")],
        cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    r = json.loads((tmp_path / "r.json").read_text())
    base, plug = r["joint_space"]
    assert base["numerical_ik_calls"] > plug["numerical_ik_calls"]
    assert plug["planned"] == plug["planned_verified"] and plug["planned"] >= 1
    assert plug["unreachable_refused"] >= 1
    for cart in r["cartesian"]:
        assert cart["planned"] >= 1 and cart["verified_fraction"] > 0.99
