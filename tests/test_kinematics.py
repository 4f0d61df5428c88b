"""FK and Jacobian against PyBullet and finite differences; conditioning; conversions."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from ikml_gym import kinematics as kin
from ikml_gym.bullet import load_in_bullet

N_CONFIGS = 1000
#: (shipped name or pybullet_data-relative URDF, ee_link) of every arm checked here
ALL_ARMS = [
    ("arm4", None),
    ("arm6", None),
    ("xarm/xarm6_robot.urdf", None),
    ("kuka_iiwa/model.urdf", None),
    ("franka_panda/panda.urdf", "panda_hand"),  # a tree: fingers branch off the hand
]


def _load_in_bullet(bullet, arm):
    p, c = bullet
    loaded = load_in_bullet(p, arm, c)
    return loaded.body, loaded.joints, loaded.ee, loaded.movable


@pytest.mark.parametrize("spec,ee_link", ALL_ARMS, ids=[a[0] for a in ALL_ARMS])
def test_fk_matches_pybullet(bullet, spec, ee_link, resolve_arm, rng):
    arm = resolve_arm(spec, ee_link)
    p, c = bullet
    body, joints, ee, _ = _load_in_bullet(bullet, arm)
    q = arm.random_q(N_CONFIGS, rng)
    pos, quat = arm.fk(q)
    ref_pos = np.empty((N_CONFIGS, 3))
    ref_quat = np.empty((N_CONFIGS, 4))
    for i in range(N_CONFIGS):
        for j, v in zip(joints, q[i]):
            p.resetJointState(body, j, float(v), physicsClientId=c)
        state = p.getLinkState(body, ee, computeForwardKinematics=True, physicsClientId=c)
        ref_pos[i], ref_quat[i] = state[4], state[5]  # URDF link frame, not the inertial frame
    assert np.max(np.linalg.norm(pos - ref_pos, axis=1)) < 1e-6
    assert np.max(kin.quat_angle(quat, ref_quat / np.linalg.norm(ref_quat, axis=1)[:, None])) < 1e-6
    assert np.all(quat[:, 3] >= 0)
    np.testing.assert_allclose(np.linalg.norm(quat, axis=1), 1.0, atol=1e-12)


@pytest.mark.parametrize("spec,ee_link", ALL_ARMS, ids=[a[0] for a in ALL_ARMS])
def test_jacobian_matches_pybullet(bullet, spec, ee_link, resolve_arm, rng):
    arm = resolve_arm(spec, ee_link)
    p, c = bullet
    body, joints, ee, movable = _load_in_bullet(bullet, arm)
    cols = [movable.index(j) for j in joints]
    q = arm.random_q(50, rng)
    jac = arm.jacobian(q)
    for i in range(len(q)):
        full = np.zeros(len(movable))
        full[cols] = q[i]
        for j, v in zip(movable, full):
            p.resetJointState(body, j, float(v), physicsClientId=c)
        # localPosition [0, 0, 0] is the URDF link origin in pybullet 3.2.7 (measured: the
        # inertial-frame reading of its docs disagrees by millimetres on the xArm6)
        zeros = [0.0] * len(movable)
        lin, ang = p.calculateJacobian(
            body, ee, [0.0, 0.0, 0.0], full.tolist(), zeros, zeros, physicsClientId=c
        )
        ref = np.vstack([np.asarray(lin)[:, cols], np.asarray(ang)[:, cols]])
        np.testing.assert_allclose(jac[i], ref, atol=1e-6)


@pytest.mark.parametrize("spec,ee_link", ALL_ARMS, ids=[a[0] for a in ALL_ARMS])
def test_jacobian_matches_finite_differences(spec, ee_link, resolve_arm, rng):
    arm = resolve_arm(spec, ee_link)
    q = arm.random_q(20, rng)
    jac = arm.jacobian(q)
    h = 1e-6
    for k in range(arm.dof):
        dq = np.zeros(arm.dof)
        dq[k] = h
        tp, tm = arm.fk_matrix(q + dq), arm.fk_matrix(q - dq)
        lin = (tp[:, :3, 3] - tm[:, :3, 3]) / (2 * h)
        ang = kin.rotation_error_vector(tp[:, :3, :3], tm[:, :3, :3]) / (2 * h)
        np.testing.assert_allclose(jac[:, :3, k], lin, atol=1e-6)
        np.testing.assert_allclose(jac[:, 3:, k], ang, atol=1e-6)


def test_single_config_is_unbatched(arm6):
    q = np.zeros(6)
    pos, quat = arm6.fk(q)
    assert pos.shape == (3,) and quat.shape == (4,)
    assert arm6.jacobian(q).shape == (6, 6)
    assert arm6.fk_features(q).shape == (7,)
    assert isinstance(arm6.kinv(q), float)
    pos_b, quat_b = arm6.fk(q[None])
    assert pos_b.shape == (1, 3) and quat_b.shape == (1, 4)
    assert arm6.fk(np.zeros((0, 6)))[0].shape == (0, 3)


def _tilted_mixed_chain(rng):
    """A 4-joint chain with a tilted revolute axis and two prismatic joints."""
    axes = np.array([[0.3, 0.5, 0.81], [1, 0, 0], [0, -1, 0], [-0.6, 0.8, 0.0]])
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    origins = np.array([kin.transform(rng.random(3), rng.random(3)) for _ in range(4)])
    tip = kin.transform(rng.random(3), rng.random(3))
    types = np.array([kin.REVOLUTE, kin.PRISMATIC, kin.REVOLUTE, kin.PRISMATIC])
    return kin.Chain(origins=origins, axes=axes, types=types, tip=tip)


def test_general_axes_and_prismatic_match_reference(rng):
    """The compiled FK (axes folded to coordinate axes) against a plain matrix product."""
    chain = _tilted_mixed_chain(rng)
    axes, origins, tip, types = chain.axes, chain.origins, chain.tip, chain.types
    q = rng.uniform(-2, 2, (30, 4))
    got = kin.chain_fk(chain, q)[0]
    for i in range(len(q)):
        t = np.eye(4)
        for j in range(4):
            m = np.eye(4)
            if types[j] == kin.REVOLUTE:
                m[:3, :3] = Rotation.from_rotvec(axes[j] * q[i, j]).as_matrix()
            else:
                m[:3, 3] = axes[j] * q[i, j]
            t = t @ origins[j] @ m
        np.testing.assert_allclose(got[i], t @ tip, atol=1e-12)


def test_joint_basis_times_tip_is_the_fk(rng):
    """The public per-joint linear map: product of the joint transforms, then the tip."""
    chain = _tilted_mixed_chain(rng)
    assert chain.joint_basis.shape == (3 * 4 + 1, 16 * 4) and chain.has_prismatic
    assert not chain.joint_basis.flags.writeable
    q = rng.uniform(-2, 2, (100, 4))  # more rows than the small-batch FK takes
    u = kin.joint_basis_inputs(chain, q)
    np.testing.assert_array_equal(u[:, :4], np.cos(q))
    np.testing.assert_array_equal(u[:, 8:12], q)
    t = (u @ chain.joint_basis).reshape(100, 4, 4, 4)
    ee = t[:, 0] @ t[:, 1] @ t[:, 2] @ t[:, 3] @ chain.tip
    np.testing.assert_allclose(ee, kin.chain_fk(chain, q)[0], atol=1e-12)
    np.testing.assert_array_equal(kin.joint_transforms(chain, q), t)


def test_quaternion_conversions_round_trip(rng):
    rot = Rotation.random(2000, random_state=1)
    mats = rot.as_matrix()
    quat = kin.matrix_to_quat(mats)
    ref = kin.canonical_quat(rot.as_quat())
    np.testing.assert_allclose(quat, ref, atol=1e-12)
    np.testing.assert_allclose(kin.quat_to_matrix(quat), mats, atol=1e-12)
    # the hard cases for Shepperd's method: 180-degree turns about each axis
    flips = np.array([np.diag([1.0, -1, -1]), np.diag([-1.0, 1, -1]), np.diag([-1.0, -1, 1])])
    np.testing.assert_allclose(kin.quat_to_matrix(kin.matrix_to_quat(flips)), flips, atol=1e-12)


def test_one_matrix_to_quat_equals_the_batch_path():
    mats = Rotation.random(2000, random_state=2).as_matrix()
    flips = np.array([np.diag([1.0, -1, -1]), np.diag([-1.0, 1, -1]), np.diag([-1.0, -1, 1])])
    mats = np.concatenate([mats, flips, np.eye(3)[None]])
    one = np.concatenate([kin.matrix_to_quat(m[None]) for m in mats])
    np.testing.assert_allclose(one, kin.matrix_to_quat(mats), rtol=0, atol=1e-15)


def test_turn_quat_equals_scipys_composition(rng):
    quats = kin.canonical_quat(Rotation.random(300, random_state=3).as_quat())
    rotvecs = rng.normal(size=(300, 3)) * rng.uniform(0, 3, (300, 1))
    rotvecs[:2] = [[0.0, 0.0, 0.0], [1e-12, 0.0, 0.0]]  # no turn, a vanishing one
    ref = (Rotation.from_rotvec(rotvecs) * Rotation.from_quat(quats)).as_quat()
    got = np.array([kin.turn_quat(q, v) for q, v in zip(quats, rotvecs)])
    np.testing.assert_allclose(got, kin.canonical_quat(ref), atol=1e-12)
    assert np.all(got[:, 3] >= 0)


@pytest.mark.parametrize("spec,ee_link", ALL_ARMS, ids=[a[0] for a in ALL_ARMS])
def test_kinv_in_unit_interval(spec, ee_link, resolve_arm, rng):
    arm = resolve_arm(spec, ee_link)
    k = arm.kinv(arm.random_q(500, rng))
    assert k.shape == (500,)
    assert np.all((k >= 0) & (k <= 1))
    assert np.median(k) > 1e-3


def test_kinv_near_zero_at_known_singularities(arm4, arm6, rng):
    # arm4 stretched straight up: the yaw joint cannot move the tool point
    assert arm4.kinv(np.zeros(4)) < 1e-9
    # arm6 with q5 = 0: wrist axes 4 and 6 aligned
    q = arm6.random_q(10, rng)
    q[:, 4] = 0.0
    assert np.all(arm6.kinv(q) < 1e-9)
    # moving away from the singularity raises kinv
    assert arm4.kinv(np.array([0.0, 0.5, 0.8, 0.3])) > 1e-2


def test_tool_pitch_and_features(arm4, rng):
    q = arm4.random_q(200, rng)
    feats = arm4.fk_features(q)
    np.testing.assert_allclose(feats[:, 3], kin.wrap_angle(q[:, 1] + q[:, 2] + q[:, 3]), atol=1e-9)
    pos, quat = arm4.fk(q)
    np.testing.assert_allclose(arm4.features(pos, quat), feats, atol=1e-12)


@pytest.mark.parametrize("angle", [1e-12, 1e-9, 1e-6, 0.5, 3.0, np.pi])
def test_quat_angle_is_accurate_at_every_scale(angle):
    a = Rotation.random(200, random_state=0)
    b = a * Rotation.from_rotvec(np.tile([0.0, 0.0, angle], (200, 1)))
    for qb in (b.as_quat(), -b.as_quat()):  # sign-agnostic
        np.testing.assert_allclose(kin.quat_angle(a.as_quat(), qb), angle, atol=1e-15)
