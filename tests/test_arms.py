"""Loading arms and rejecting bad input with actionable messages."""

from __future__ import annotations

import numpy as np
import pytest

import ikml_gym
from ikml_gym import _validation
from ikml_gym.errors import IkmlGymError, InvalidInputError, UnknownArmError, URDFError

CHAIN = """<robot name="{name}">
  <link name="base"/><link name="l1"/><link name="l2"/>{extra_links}
  <joint name="j1" type="{jtype}"><parent link="base"/><child link="l1"/>
    <origin xyz="0 0 0.1"/><axis xyz="0 0 1"/><limit lower="-1" upper="1"/></joint>
  <joint name="j2" type="revolute"><parent link="l1"/><child link="l2"/>
    <origin xyz="0 0 0.2"/><axis xyz="0 1 0"/></joint>{extra_joints}
</robot>"""


def _write(tmp_path, text, name="robot.urdf"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_shipped_arms(arm4, arm6):
    assert (arm4.dof, arm4.feature_dim, arm4.feature_kind) == (4, 4, "pose4")
    assert (arm6.dof, arm6.feature_dim, arm6.feature_kind) == (6, 7, "pose7")
    for arm in (arm4, arm6):
        assert arm.ee_link == "ee_link"
        np.testing.assert_allclose(arm.joint_limits, [[-np.pi, np.pi]] * arm.dof)
        assert not arm.joint_limits.flags.writeable
        assert len(arm.urdf_hash) == 64
    assert arm4.reach == pytest.approx(0.130 + 0.124 + 0.126, abs=1e-3)
    assert 0.9 < arm6.reach < 1.1


def test_arm4_geometry_matches_design(arm4):
    pos, _ = arm4.fk(np.zeros(4))  # stretched straight up
    np.testing.assert_allclose(pos, [0, 0, 0.077 + 0.130 + 0.124 + 0.126], atol=1e-12)


def test_generic_urdf_loads(resolve_arm):
    kuka = resolve_arm("kuka_iiwa/model.urdf")
    assert kuka.dof == 7 and kuka.feature_kind == "pose7"
    xarm = resolve_arm("xarm/xarm6_robot.urdf")
    assert xarm.dof == 6


def test_full_turn_joints_wrap_and_the_rest_clip(arm4, resolve_arm):
    # arm4's joints all span [-pi, pi]: wrapped; the KUKA's limits are narrower: clipped
    assert arm4.full_turn.all()
    kuka = resolve_arm("kuka_iiwa/model.urdf")
    assert not kuka.full_turn.any()
    with pytest.raises(ValueError):
        arm4.full_turn[0] = False  # read-only: a shared mask
    q = np.full(4, 3.5)
    np.testing.assert_allclose(arm4.wrap_to_limits(q), 3.5 - 2 * np.pi)
    np.testing.assert_allclose(kuka.wrap_to_limits(np.full(7, 10.0)), kuka.joint_limits[:, 1])


@pytest.mark.parametrize("arm_name", ["arm4", "arm6"])
def test_features_and_kinv_match_the_arm(arm_name):
    arm = ikml_gym.load_arm(arm_name)
    qs = arm.random_q(5, np.random.default_rng(0))
    for q in qs:
        feats, kinv = arm.features_and_kinv(q)
        np.testing.assert_allclose(feats, arm.fk_features(q), atol=1e-12)
        assert kinv == pytest.approx(arm.kinv(q), abs=1e-12)
    feats, kinv = arm.features_and_kinv(qs)
    np.testing.assert_array_equal(feats, arm.fk_features(qs))
    np.testing.assert_array_equal(kinv, arm.kinv(qs))


def test_panda_needs_an_ee_link(pybullet_data_path):
    path = pybullet_data_path / "franka_panda" / "panda.urdf"
    with pytest.raises(URDFError, match="pass ee_link"):
        ikml_gym.load_arm(path)
    panda = ikml_gym.load_arm(path, ee_link="panda_hand")
    assert panda.dof == 7


def test_unknown_arm_name():
    with pytest.raises(UnknownArmError, match=r"arm7.*'arm4', 'arm6'.*\.urdf") as info:
        ikml_gym.load_arm("arm7")
    assert isinstance(info.value, IkmlGymError) and isinstance(info.value, KeyError)


def test_missing_urdf_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="URDF not found"):
        ikml_gym.load_arm(tmp_path / "nope.urdf")
    with pytest.raises(FileNotFoundError):
        ikml_gym.Arm(tmp_path / "nope.urdf")
    with pytest.raises(TypeError, match="arm name or a URDF path"):
        ikml_gym.load_arm(42)  # type: ignore[arg-type]


def test_branching_tree_without_ee_link(tmp_path):
    text = CHAIN.format(
        name="fork",
        jtype="revolute",
        extra_links='<link name="l3"/>',
        extra_joints='<joint name="j3" type="revolute"><parent link="l1"/><child link="l3"/>'
        '<axis xyz="1 0 0"/></joint>',
    )
    path = _write(tmp_path, text)
    with pytest.raises(URDFError, match=r"2 leaf links.*pass ee_link"):
        ikml_gym.load_arm(path)
    arm = ikml_gym.load_arm(path, ee_link="l3")
    assert arm.joint_names == ["j1", "j3"]


def test_no_movable_joint_to_the_ee(tmp_path):
    text = CHAIN.format(name="stiff", jtype="fixed", extra_links="", extra_joints="")
    path = _write(tmp_path, text)
    with pytest.raises(URDFError, match="no movable joint"):
        ikml_gym.load_arm(path, ee_link="l1")


@pytest.mark.parametrize(
    "text,match",
    [
        ("<robot><link", "not valid XML"),
        ("<notrobot/>", "expected <robot>"),
        ('<robot name="x"><link name="a"/><link name="b"/></robot>', "one root link"),
    ],
)
def test_malformed_urdf(tmp_path, text, match):
    with pytest.raises(URDFError, match=match):
        ikml_gym.load_arm(_write(tmp_path, text))


def test_unknown_ee_link_and_bad_joint(tmp_path):
    path = _write(
        tmp_path, CHAIN.format(name="ok", jtype="revolute", extra_links="", extra_joints="")
    )
    with pytest.raises(URDFError, match="no link named 'hand'"):
        ikml_gym.load_arm(path, ee_link="hand")
    bad = CHAIN.format(name="b", jtype="floating", extra_links="", extra_joints="")
    with pytest.raises(URDFError, match="type 'floating'"):
        ikml_gym.load_arm(_write(tmp_path, bad, "bad.urdf"))
    nan_axis = CHAIN.format(name="n", jtype="revolute", extra_links="", extra_joints="").replace(
        '<axis xyz="0 1 0"/>', '<axis xyz="0 nan 0"/>'
    )
    with pytest.raises(URDFError, match="axis"):
        ikml_gym.load_arm(_write(tmp_path, nan_axis, "nan.urdf"))


@pytest.mark.parametrize(
    "bad,match",
    [
        (np.zeros(5), r"shape \(6,\) or \(N, 6\)"),
        (np.zeros((2, 3, 6)), r"shape \(6,\) or \(N, 6\)"),
        (np.full(6, np.nan), "NaN or inf"),
        (np.array([0, 0, np.inf, 0, 0, 0]), "NaN or inf"),
        (np.array(["a"] * 6), "numeric"),
        (np.zeros(6, dtype=complex), "real-valued"),
        ([[0.0] * 6, [0.0] * 5], "array-like"),
    ],
)
def test_bad_joint_input(arm6, bad, match):
    for fn in (arm6.fk, arm6.jacobian, arm6.kinv, arm6.fk_features):
        with pytest.raises(InvalidInputError, match=match):
            fn(bad)


def test_quaternion_policy(arm6):
    """Within QUAT_NORM_TOL of unit norm: normalised; further (or zero): rejected."""
    q = arm6.random_q(3, np.random.default_rng(3))
    pos, quat = arm6.fk(q)
    tol = _validation.QUAT_NORM_TOL
    near = quat * (1 + 0.5 * tol)
    np.testing.assert_allclose(arm6.features(pos, near), arm6.features(pos, quat), atol=1e-12)
    for scale, what in ((1 + 3 * tol, "norm 1.003"), (0.0, "norm 0")):
        with pytest.raises(InvalidInputError, match=rf"unit quaternions.*{what}.*Normalise"):
            arm6.features(pos, quat * scale)
    feats = arm6.fk_features(q)
    feats[:, 3:] *= 2.0
    with pytest.raises(InvalidInputError, match=r"features\[:, 3:7\]"):
        arm6.check_features(feats)
    # q and -q are the same rotation: features are canonical (qw >= 0)
    assert np.all(arm6.features(pos, -quat)[:, 6] >= 0)
    with pytest.raises(InvalidInputError, match="rows"):
        arm6.features(pos, quat[:2])


def test_pose4_features_wrap_pitch(arm4):
    f, single = arm4.check_features([0.2, 0.0, 0.1, 3 * np.pi / 2])
    assert single and f[0, 3] == pytest.approx(-np.pi / 2)
