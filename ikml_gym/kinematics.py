"""Batched rigid-body kinematics of serial chains (numpy).

Conventions used everywhere in ikml_gym:

* positions in metres, angles in radians;
* quaternions in PyBullet's ``(x, y, z, w)`` order;
* a batch of N homogeneous transforms has shape (N, 4, 4);
* the geometric Jacobian has shape (N, 6, dof): rows 0-2 linear velocity of the
  end-effector origin, rows 3-5 angular velocity, both in the world (base) frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

REVOLUTE = 0
PRISMATIC = 1


def rpy_to_matrix(rpy: np.ndarray) -> np.ndarray:
    """URDF roll-pitch-yaw (fixed axes X, then Y, then Z) -> (3, 3) rotation matrix."""
    return Rotation.from_euler("xyz", rpy).as_matrix()


def transform(xyz: np.ndarray, rpy: np.ndarray) -> np.ndarray:
    """(4, 4) homogeneous transform of a URDF ``<origin xyz=... rpy=...>``."""
    t = np.eye(4)
    t[:3, :3] = rpy_to_matrix(rpy)
    t[:3, 3] = xyz
    return t


def axis_rotations(axis: np.ndarray, angles: np.ndarray) -> np.ndarray:
    """Rotations about a fixed unit ``axis`` (3,) by ``angles`` (N,) -> (N, 3, 3) (Rodrigues)."""
    x, y, z = axis
    c, s = np.cos(angles), np.sin(angles)
    v = 1.0 - c
    r = np.empty(angles.shape + (3, 3))
    r[:, 0, 0] = c + x * x * v
    r[:, 0, 1] = x * y * v - z * s
    r[:, 0, 2] = x * z * v + y * s
    r[:, 1, 0] = y * x * v + z * s
    r[:, 1, 1] = c + y * y * v
    r[:, 1, 2] = y * z * v - x * s
    r[:, 2, 0] = z * x * v - y * s
    r[:, 2, 1] = z * y * v + x * s
    r[:, 2, 2] = c + z * z * v
    return r


@dataclass(frozen=True)
class Chain:
    """A serial chain of 1-DOF joints, as the kinematics needs it.

    Attributes:
        origins: (dof, 4, 4) fixed transform from the previous joint's frame (the
            base for the first joint) to each joint's frame, fixed joints folded in.
        axes: (dof, 3) unit joint axes in each joint's frame.
        types: (dof,) ``REVOLUTE`` or ``PRISMATIC``.
        tip: (4, 4) fixed transform from the last joint's frame to the end-effector link.
    """

    origins: np.ndarray
    axes: np.ndarray
    types: np.ndarray
    tip: np.ndarray

    @property
    def dof(self) -> int:
        return len(self.axes)


def chain_fk(
    chain: Chain, q: np.ndarray, jacobian: bool = False
) -> tuple[np.ndarray, np.ndarray | None]:
    """Forward kinematics of ``q`` (N, dof) -> end-effector transforms (N, 4, 4).

    With ``jacobian=True`` also returns the geometric Jacobian (N, 6, dof) at the
    end-effector origin in the base frame; otherwise ``None``.
    """
    n = q.shape[0]
    rot = np.broadcast_to(np.eye(3), (n, 3, 3))
    pos = np.zeros((n, 3))
    if jacobian:
        joint_pos = np.empty((n, chain.dof, 3))
        joint_axis = np.empty((n, chain.dof, 3))
    for i in range(chain.dof):
        o = chain.origins[i]
        pos = pos + rot @ o[:3, 3]
        rot = rot @ o[:3, :3]
        axis = chain.axes[i]
        if jacobian:
            joint_pos[:, i] = pos
            joint_axis[:, i] = rot @ axis
        if chain.types[i] == REVOLUTE:
            rot = rot @ axis_rotations(axis, q[:, i])
        else:
            pos = pos + (rot @ axis) * q[:, i : i + 1]
    pos = pos + rot @ chain.tip[:3, 3]
    rot = rot @ chain.tip[:3, :3]
    out = np.zeros((n, 4, 4))
    out[:, :3, :3] = rot
    out[:, :3, 3] = pos
    out[:, 3, 3] = 1.0
    if not jacobian:
        return out, None
    jac = np.zeros((n, 6, chain.dof))
    revolute = chain.types == REVOLUTE
    lever = pos[:, None, :] - joint_pos
    jac[:, :3, revolute] = np.cross(joint_axis[:, revolute], lever[:, revolute]).transpose(0, 2, 1)
    jac[:, 3:, revolute] = joint_axis[:, revolute].transpose(0, 2, 1)
    jac[:, :3, ~revolute] = joint_axis[:, ~revolute].transpose(0, 2, 1)
    return out, jac


def matrix_to_quat(rot: np.ndarray) -> np.ndarray:
    """(N, 3, 3) rotation matrices -> (N, 4) unit quaternions, xyzw, canonical ``w >= 0``."""
    return canonical_quat(Rotation.from_matrix(rot).as_quat())


def quat_to_matrix(quat: np.ndarray) -> np.ndarray:
    """(N, 4) xyzw unit quaternions -> (N, 3, 3) rotation matrices."""
    return Rotation.from_quat(quat).as_matrix()


def canonical_quat(quat: np.ndarray) -> np.ndarray:
    """Flip (N, 4) xyzw quaternions to ``w >= 0`` (q and -q are the same rotation)."""
    return np.where(quat[:, 3:4] < 0.0, -quat, quat)


def wrap_angle(a: np.ndarray) -> np.ndarray:
    """Wrap angles (radians) to (-pi, pi]."""
    return np.pi - np.mod(np.pi - a, 2.0 * np.pi)


def tool_pitch(rot: np.ndarray) -> np.ndarray:
    """Tool pitch psi (N,) of a yaw-pitch-pitch-pitch arm from (N, 3, 3) rotations.

    For ``R = Rz(heading) @ Ry(psi)`` this returns psi in (-pi, pi] whatever the
    heading: psi = atan2(-R[2, 0], R[2, 2]).
    """
    return np.arctan2(-rot[:, 2, 0], rot[:, 2, 2])


def tool_pitch_rate(rot: np.ndarray, omega: np.ndarray) -> np.ndarray:
    """d psi / dq (N, dof) from rotations (N, 3, 3) and angular Jacobian rows (N, 3, dof).

    From dR/dt = [w]x R: the third row of R moves as dR2j = -w_y R0j + w_x R1j.
    """
    wx, wy = omega[:, 0, :], omega[:, 1, :]
    d20 = -wy * rot[:, 0, 0, None] + wx * rot[:, 1, 0, None]
    d22 = -wy * rot[:, 0, 2, None] + wx * rot[:, 1, 2, None]
    r20, r22 = rot[:, 2, 0, None], rot[:, 2, 2, None]
    return (-r22 * d20 + r20 * d22) / np.maximum(r20**2 + r22**2, 1e-300)


def quat_angle(q1: np.ndarray, q2: np.ndarray) -> np.ndarray:
    """Geodesic angle (N,) in radians between (N, 4) unit quaternions (sign-agnostic)."""
    dot = np.abs(np.sum(q1 * q2, axis=1))
    return 2.0 * np.arccos(np.clip(dot, 0.0, 1.0))


def rotation_error_vector(r_target: np.ndarray, r_current: np.ndarray) -> np.ndarray:
    """Axis-angle vector (N, 3) of ``R_target @ R_current.T`` (world frame), radians."""
    return Rotation.from_matrix(r_target @ np.swapaxes(r_current, 1, 2)).as_rotvec()


def inverse_condition(jac: np.ndarray) -> np.ndarray:
    """sigma_min / sigma_max (N,) of (N, m, n) matrices: 0 singular, 1 isotropic."""
    s = np.linalg.svd(jac, compute_uv=False)
    return s[:, -1] / np.maximum(s[:, 0], 1e-300)
