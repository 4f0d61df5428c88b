"""Closed-form IK: every branch reproduces the target, the sampled configuration is found."""

from __future__ import annotations

import numpy as np
import pytest

from ikml_gym import kinematics as kin
from ikml_gym.closed_form import URArm, YawPitchArm, closed_form_for
from ikml_gym.solvers import AnalyticIK


@pytest.mark.parametrize("name", ["arm4", "arm6"])
def test_round_trip_every_branch_and_sampled_config(name, resolve_arm, rng):
    arm = resolve_arm(name)
    solver = AnalyticIK(arm)
    q = arm.random_q(3000, rng)
    feats = arm.fk_features(q)
    q_all, valid = solver.solve_all(feats)
    _n, b = valid.shape
    assert b == (4 if name == "arm4" else 8)
    assert np.all(valid.any(axis=1))
    # every valid solution reproduces the target pose to 1e-9 (matrices, not quaternions:
    # the arccos in a quaternion angle cannot resolve 1e-9)
    flat_q = q_all[valid]
    rows = np.nonzero(valid)[0]
    t = arm.fk_matrix(flat_q)
    target = arm.fk_matrix(q)[rows]
    assert np.max(np.abs(t[:, :3, 3] - target[:, :3, 3])) < 1e-9
    if name == "arm4":
        psi = kin.tool_pitch(t[:, :3, :3])
        assert np.max(np.abs(kin.wrap_angle(psi - feats[rows, 3]))) < 1e-9
    else:
        assert np.max(np.abs(t[:, :3, :3] - target[:, :3, :3])) < 1e-9
    assert arm.within_limits(flat_q).all()
    # the sampled configuration is among the solutions
    dist = np.abs(kin.wrap_angle(q_all - q[:, None, :])).max(axis=2)
    dist[~valid] = np.inf
    assert np.max(dist.min(axis=1)) < 1e-6


def test_arm6_solutions_come_in_elbow_pairs(arm6, rng):
    """Generic UR poses have 2, 4, 6 or 8 solutions (elbow up/down pairs); most have 8."""
    q = arm6.random_q(500, rng)
    _, valid = AnalyticIK(arm6).solve_all(arm6.fk_features(q))
    count = valid.sum(axis=1)
    assert np.all((count >= 2) & (count % 2 == 0))
    assert np.mean(count == 8) > 0.5


def test_unreachable_pose_has_no_solution(arm4, arm6):
    far4 = np.array([[2.0, 0.0, 0.1, 0.0]])
    assert not AnalyticIK(arm4).solve_all(far4)[1].any()
    far6 = np.array([[3.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]])
    res = AnalyticIK(arm6).solve(far6)
    assert not res.success[0]
    assert np.all(np.isfinite(res.q))


def test_structure_detection(arm4, arm6, resolve_arm):
    assert isinstance(closed_form_for(arm4), YawPitchArm)
    ur = closed_form_for(arm6)
    assert isinstance(ur, URArm)
    assert ur.d1 == pytest.approx(0.089159) and ur.a2 == pytest.approx(-0.425)
    kuka = resolve_arm("kuka_iiwa/model.urdf")
    assert closed_form_for(kuka) is None
    with pytest.raises(ValueError, match="DLSIK"):
        AnalyticIK(kuka)
    assert closed_form_for(resolve_arm("xarm/xarm6_robot.urdf")) is None
