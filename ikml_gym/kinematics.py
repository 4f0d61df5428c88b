"""Batched rigid-body kinematics of serial chains (numpy).

Conventions used everywhere in ikml_gym:

* positions in metres, angles in radians;
* quaternions in PyBullet's ``(x, y, z, w)`` order;
* a batch of N homogeneous transforms has shape (N, 4, 4);
* the geometric Jacobian has shape (N, 6, dof): rows 0-2 linear velocity of the
  end-effector origin, rows 3-5 angular velocity, both in the world (base) frame.
"""

from __future__ import annotations

import math
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


def _sparse_combo(m: np.ndarray) -> tuple[tuple[tuple[int, float], ...], ...]:
    """Column j of ``R @ m`` as a sum over the non-zero entries ``m[k, j]``: ((k, coef), ...)."""
    return tuple(
        tuple((k, float(m[k, j])) for k in range(3) if abs(m[k, j]) > 1e-15) for j in range(3)
    )


def _combine(cols: list[np.ndarray], terms: tuple[tuple[int, float], ...]) -> np.ndarray:
    """sum_k coef_k * cols[k] for (3, N) column arrays (exact copies for +-1 coefficients)."""
    out = None
    for k, c in terms:
        part = cols[k] if c == 1.0 else (-cols[k] if c == -1.0 else c * cols[k])
        out = part if out is None else out + part
    return out if out is not None else np.zeros_like(cols[0])


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

    def __post_init__(self) -> None:
        object.__setattr__(self, "_plan", self._compile())
        basis = self._joint_basis()
        basis.flags.writeable = False
        object.__setattr__(self, "_basis", (basis, bool(np.any(self.types == PRISMATIC))))

    @property
    def dof(self) -> int:
        return len(self.axes)

    @property
    def joint_basis(self) -> np.ndarray:
        """Every joint's transform from its parent frame as one linear map (read-only).

        A (3 dof + 1, 16 dof) float64 matrix ``B`` such that, for joint values
        ``q`` (dof,) in radians (metres for prismatic joints),
        ``u @ B`` reshaped to (dof, 4, 4) is the transforms ``origin_j @ joint_j(q_j)``,
        with ``u = [cos q_1..q_dof, sin q_1..q_dof, q_1..q_dof, 1]`` (see
        :func:`joint_basis_inputs`). Row ``j`` holds ``cos q_j``'s part, row ``dof + j``
        ``sin q_j``'s, row ``2 dof + j`` ``q_j``'s (prismatic joints only; zero for
        revolute ones) and the last row the constant part.

        The end-effector's fixed :attr:`tip` is NOT in it: the end-effector transform is
        ``T_1 @ T_2 @ ... @ T_dof @ tip``.
        """
        return self._basis[0]  # type: ignore[attr-defined]

    @property
    def has_prismatic(self) -> bool:
        """Whether any joint is prismatic (then :attr:`joint_basis` needs ``q`` itself)."""
        return self._basis[1]  # type: ignore[attr-defined]

    def _joint_basis(self) -> np.ndarray:
        """:attr:`joint_basis`: ``origin_j @ joint_j(q) = A_j + cos(q_j) B_j + sin(q_j) C_j
        + q_j D_j`` (Rodrigues for a revolute joint, a translation along the axis for a
        prismatic one)."""
        n = self.dof
        basis = np.zeros((3 * n + 1, n, 4, 4))
        for i, (origin, axis, jtype) in enumerate(zip(self.origins, self.axes, self.types)):
            a = np.asarray(axis, dtype=np.float64)
            const, cos, sin, lin = (np.zeros((4, 4)) for _ in range(4))
            if jtype == REVOLUTE:  # R(q) = (I + K^2) + cos q (-K^2) + sin q K
                k = np.array([[0.0, -a[2], a[1]], [a[2], 0.0, -a[0]], [-a[1], a[0], 0.0]])
                const[:3, :3], cos[:3, :3], sin[:3, :3] = np.eye(3) + k @ k, -(k @ k), k
            else:
                const[:3, :3], lin[:3, 3] = np.eye(3), a
            const[3, 3] = 1.0
            for row, m in ((i, cos), (n + i, sin), (2 * n + i, lin), (3 * n, const)):
                basis[row, i] = origin @ m
        return basis.reshape(3 * n + 1, 16 * n)

    def _compile(self) -> tuple:
        """Precompute the FK steps: every joint axis is made a coordinate axis (+x, +y or +z).

        A joint about a general unit axis ``a`` is written ``P Rot_z(q) P^T`` with a
        constant rotation ``P`` (``P e_z = a``); ``P`` folds into the joint's origin and
        ``P^T`` into the next one, so the loop only does planar column rotations.
        """
        steps = []
        prev_inv = np.eye(4)  # P^T of the previous joint (as a transform)
        for i in range(self.dof):
            a = np.asarray(self.axes[i], dtype=np.float64)
            k = int(np.argmax(np.abs(a)))
            if np.allclose(np.abs(a), np.eye(3)[k], atol=1e-12):
                p, sign = np.eye(4), float(np.sign(a[k]))
            else:  # rotation taking e_z to a
                z = np.array([0.0, 0.0, 1.0])
                v, c = np.cross(z, a), float(a @ z)
                vx = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
                r = (
                    np.eye(3) + vx + vx @ vx / (1.0 + c)
                    if c > -1 + 1e-12
                    else np.diag([1.0, -1, -1])
                )
                p, sign, k = np.eye(4), 1.0, 2
                p[:3, :3] = r
            o = prev_inv @ self.origins[i] @ p
            steps.append((_sparse_combo(o[:3, :3]), tuple(o[:3, 3]), k, sign, int(self.types[i])))
            prev_inv = p.T
        tip = prev_inv @ self.tip
        return tuple(steps), (_sparse_combo(tip[:3, :3]), tuple(tip[:3, 3]))


def _apply_fixed(
    cols: list[np.ndarray], pos: np.ndarray, rot_terms: tuple, trans: tuple
) -> tuple[list[np.ndarray], np.ndarray]:
    for k, t in enumerate(trans):
        if t != 0.0:
            pos = pos + t * cols[k]
    identity = all(len(tj) == 1 and tj[0] == (j, 1.0) for j, tj in enumerate(rot_terms))
    if not identity:
        cols = [_combine(cols, tj) for tj in rot_terms]
    return cols, pos


def fk_columns(
    chain: Chain, qt: np.ndarray, jacobian: bool = False
) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """FK in component-major layout, the form the batched solvers iterate in.

    Args:
        chain: the chain.
        qt: joint values transposed, (dof, N).
        jacobian: also return each joint's world position and axis.

    Returns:
        ``(pos, cols, joint_pos, joint_axis)``: the end-effector position (3, N), the
        three columns of its rotation matrix, each (3, N), and (with ``jacobian``)
        per joint its origin (3, N) and unit axis (3, N) in the base frame (empty
        lists otherwise).
    """
    n = qt.shape[1]
    steps, (tip_rot, tip_trans) = chain._plan  # type: ignore[attr-defined]
    cols = [np.zeros((3, n)) for _ in range(3)]
    for j in range(3):
        cols[j][j] = 1.0
    pos = np.zeros((3, n))
    joint_pos: list[np.ndarray] = []
    joint_axis: list[np.ndarray] = []
    for i, (rot_terms, trans, k, sign, jtype) in enumerate(steps):
        cols, pos = _apply_fixed(cols, pos, rot_terms, trans)
        if jacobian:
            joint_pos.append(pos)
            joint_axis.append(cols[k] if sign > 0 else -cols[k])
        if jtype == REVOLUTE:
            a, b = (k + 1) % 3, (k + 2) % 3  # rot @ Rot_k(t): columns a and b turn by t
            c, s = np.cos(qt[i]), np.sin(qt[i])
            if sign < 0:
                s = -s
            ca, cb = cols[a], cols[b]
            cols = list(cols)
            cols[a] = c * ca + s * cb
            cols[b] = c * cb - s * ca
        else:
            pos = pos + (sign * qt[i]) * cols[k]
    cols, pos = _apply_fixed(cols, pos, tip_rot, tip_trans)
    return pos, cols, joint_pos, joint_axis


#: batches up to this size take the transform-product FK (:func:`_fk_products`)
SMALL_FK_ROWS = 64


#: (9, 3): ``(a b^T).ravel() @ _LEVI_CIVITA == a x b`` (entry [3 j + k, i] = eps_ijk)
_LEVI_CIVITA = np.zeros((9, 3))
for _i, _j, _k in ((0, 1, 2), (1, 2, 0), (2, 0, 1)):
    _LEVI_CIVITA[3 * _j + _k, _i], _LEVI_CIVITA[3 * _k + _j, _i] = 1.0, -1.0


def joint_basis_inputs(chain: Chain, q: np.ndarray) -> np.ndarray:
    """(N, dof) joint values -> (N, 3 dof + 1) ``[cos q, sin q, q, 1]``, the inputs of
    :attr:`Chain.joint_basis` (the ``q`` block is zero when no joint is prismatic)."""
    n, dof = q.shape
    out = np.empty((n, 3 * dof + 1))  # written in place: a few calls fewer for one pose
    np.cos(q, out=out[:, :dof])
    np.sin(q, out=out[:, dof : 2 * dof])
    out[:, 2 * dof : 3 * dof] = q if chain.has_prismatic else 0.0
    out[:, 3 * dof] = 1.0
    return out


def joint_transforms(chain: Chain, q: np.ndarray) -> np.ndarray:
    """(N, dof) joint values -> (N, dof, 4, 4): each joint's transform from its parent
    frame, in one product (:attr:`Chain.joint_basis`); the end-effector transform is
    their product times ``chain.tip``."""
    n, dof = q.shape
    return (joint_basis_inputs(chain, q) @ chain.joint_basis).reshape(n, dof, 4, 4)


def _fk_products(
    chain: Chain, q: np.ndarray, jacobian: bool = False
) -> tuple[np.ndarray, np.ndarray | None]:
    """FK (and the geometric Jacobian) as a product of per-joint 4x4 transforms.

    :func:`fk_columns` does a fixed amount of work per joint in many small numpy
    calls, which is what a large batch wants; for a few poses (one IK query and its
    hypotheses, one env step) the call overhead dominates and this is several times
    faster. The Jacobian comes from the joint frames of the same product: a revolute
    column is ``[axis x (p_ee - p_joint); axis]``, a prismatic one ``[axis; 0]``.
    """
    t = joint_transforms(chain, q)
    if not jacobian:  # the same products, without keeping the joint frames
        ee = t[:, 0]
        for j in range(1, chain.dof):
            ee = ee @ t[:, j]
        return ee @ chain.tip, None
    f = t.copy()  # becomes the joint frames in the base frame, (N, dof, 4, 4)
    for j in range(1, chain.dof):
        np.matmul(f[:, j - 1], t[:, j], out=f[:, j])
    ee = f[:, -1] @ chain.tip
    axes = (f[:, :, :3, :3] @ chain.axes[:, :, None])[..., 0]  # (N, dof, 3)
    r = ee[:, None, :3, 3] - f[:, :, :3, 3]
    n, dof = q.shape
    cross = (axes[..., :, None] * r[..., None, :]).reshape(n, dof, 9) @ _LEVI_CIVITA  # axis x r
    revolute = (chain.types == REVOLUTE)[:, None]
    lin = np.where(revolute, cross, axes)
    ang = axes * revolute
    return ee, np.concatenate([lin, ang], axis=2).transpose(0, 2, 1)


def chain_fk(
    chain: Chain, q: np.ndarray, jacobian: bool = False
) -> tuple[np.ndarray, np.ndarray | None]:
    """Forward kinematics of ``q`` (N, dof) -> end-effector transforms (N, 4, 4).

    With ``jacobian=True`` also returns the geometric Jacobian (N, 6, dof) at the
    end-effector origin in the base frame; otherwise ``None``.
    """
    n = q.shape[0]
    if 0 < n <= SMALL_FK_ROWS:
        return _fk_products(chain, q, jacobian)
    pos, cols, joint_pos, joint_axis = fk_columns(chain, np.ascontiguousarray(q.T), jacobian)
    out = np.empty((n, 4, 4))
    out[:, :3, :] = np.stack(cols + [pos], axis=1).transpose(2, 0, 1)
    out[:, 3, :3] = 0.0
    out[:, 3, 3] = 1.0
    if not jacobian:
        return out, None
    jac = np.zeros((n, 6, chain.dof))
    for i, w in enumerate(joint_axis):
        if chain.types[i] == REVOLUTE:
            r = pos - joint_pos[i]
            jac[:, 0, i] = w[1] * r[2] - w[2] * r[1]
            jac[:, 1, i] = w[2] * r[0] - w[0] * r[2]
            jac[:, 2, i] = w[0] * r[1] - w[1] * r[0]
            jac[:, 3:, i] = w.T
        else:
            jac[:, :3, i] = w.T
    return out, jac


def matrix_to_quat(rot: np.ndarray) -> np.ndarray:
    """(N, 3, 3) rotation matrices -> (N, 4) unit quaternions, xyzw, canonical ``w >= 0``.

    Shepperd's method: each row uses the formula led by the largest of w, x, y, z
    (all four are evaluated branch-free and the right one selected), pure numpy; one
    matrix (an env step's pose) takes the same formulas in Python floats.
    """
    if len(rot) == 1:
        return _matrix_to_quat_one(rot.reshape(9).tolist())
    m = rot.reshape(len(rot), 9).T  # (9, N) rows m00, m01, ..., m22
    m00, m01, m02, m10, m11, m12, m20, m21, m22 = m
    tr = m00 + m11 + m22
    lead = np.stack([tr, m00, m11, m22])  # 4 * (w^2, x^2, y^2, z^2) - 1 + const, same order
    choice = np.argmax(lead, axis=0)
    tiny = 1e-300
    # denominators s = 4 * (leading component), one per candidate formula
    s_w = 2.0 * np.sqrt(np.maximum(1.0 + tr, tiny))
    s_x = 2.0 * np.sqrt(np.maximum(1.0 + m00 - m11 - m22, tiny))
    s_y = 2.0 * np.sqrt(np.maximum(1.0 - m00 + m11 - m22, tiny))
    s_z = 2.0 * np.sqrt(np.maximum(1.0 - m00 - m11 + m22, tiny))
    cands = np.array(
        [
            [(m21 - m12) / s_w, (m02 - m20) / s_w, (m10 - m01) / s_w, 0.25 * s_w],
            [0.25 * s_x, (m01 + m10) / s_x, (m02 + m20) / s_x, (m21 - m12) / s_x],
            [(m01 + m10) / s_y, 0.25 * s_y, (m12 + m21) / s_y, (m02 - m20) / s_y],
            [(m02 + m20) / s_z, (m12 + m21) / s_z, 0.25 * s_z, (m10 - m01) / s_z],
        ]
    )  # (4 formulas, 4 components, N)
    q = np.take_along_axis(cands, choice[None, None, :], axis=0)[0].T
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    return canonical_quat(q)


def _matrix_to_quat_one(m: list[float]) -> np.ndarray:
    """:func:`matrix_to_quat` of one row-major rotation matrix (9 floats) -> (1, 4)."""
    m00, m01, m02, m10, m11, m12, m20, m21, m22 = m
    tr = m00 + m11 + m22
    lead = max(range(4), key=(tr, m00, m11, m22).__getitem__)  # first of equals, as argmax
    tiny = 1e-300
    if lead == 0:
        s = 2.0 * math.sqrt(max(1.0 + tr, tiny))
        q = ((m21 - m12) / s, (m02 - m20) / s, (m10 - m01) / s, 0.25 * s)
    elif lead == 1:
        s = 2.0 * math.sqrt(max(1.0 + m00 - m11 - m22, tiny))
        q = (0.25 * s, (m01 + m10) / s, (m02 + m20) / s, (m21 - m12) / s)
    elif lead == 2:
        s = 2.0 * math.sqrt(max(1.0 - m00 + m11 - m22, tiny))
        q = ((m01 + m10) / s, 0.25 * s, (m12 + m21) / s, (m02 - m20) / s)
    else:
        s = 2.0 * math.sqrt(max(1.0 - m00 - m11 + m22, tiny))
        q = ((m02 + m20) / s, (m12 + m21) / s, 0.25 * s, (m10 - m01) / s)
    norm = math.sqrt(sum(v * v for v in q))
    sign = -1.0 if q[3] < 0.0 else 1.0
    return np.array([[sign * v / norm for v in q]])


def _quat_products_to_matrix() -> np.ndarray:
    """(16, 9): rotation-matrix entries (row-major) as combinations of the products
    ``q_a q_b`` (xyzw, a-major), minus the identity; see :func:`quat_to_matrix`."""
    x, y, z, w = range(4)
    entries = {  # R - I, each entry: ((a, b, coef), ...) over products q_a q_b
        (0, 0): ((y, y, -2), (z, z, -2)), (0, 1): ((x, y, 2), (w, z, -2)),
        (0, 2): ((x, z, 2), (w, y, 2)), (1, 0): ((x, y, 2), (w, z, 2)),
        (1, 1): ((x, x, -2), (z, z, -2)), (1, 2): ((y, z, 2), (w, x, -2)),
        (2, 0): ((x, z, 2), (w, y, -2)), (2, 1): ((y, z, 2), (w, x, 2)),
        (2, 2): ((x, x, -2), (y, y, -2)),
    }  # fmt: skip
    m = np.zeros((16, 9))
    for (r, c), terms in entries.items():
        for a, b, coef in terms:
            m[4 * a + b, 3 * r + c] += coef
    return m


_QUAT_PRODUCTS = _quat_products_to_matrix()
_IDENTITY_ROW = np.eye(3).reshape(9)


def quat_to_matrix(quat: np.ndarray) -> np.ndarray:
    """(N, 4) xyzw unit quaternions -> (N, 3, 3) rotation matrices.

    ``R = I + sum_ab c_ab q_a q_b``: the outer product of each quaternion with itself
    times a constant (16, 9) matrix, four numpy calls for any batch size.
    """
    quat = np.asarray(quat, dtype=np.float64)
    products = (quat[:, :, None] * quat[:, None, :]).reshape(len(quat), 16)
    return (products @ _QUAT_PRODUCTS + _IDENTITY_ROW).reshape(len(quat), 3, 3)


def turn_quat(quat: np.ndarray, rotvec: np.ndarray) -> np.ndarray:
    """One orientation ``quat`` (4,) xyzw turned by the base-frame rotation vector
    ``rotvec`` (3,) (axis times angle, radians): (4,) xyzw, unit, ``w >= 0``.

    The rotation ``rotvec`` applied after ``quat`` (Hamilton product ``turn * quat``), in
    Python floats: one pose per control step, where numpy's per-call overhead dominates.
    """
    vx, vy, vz = (float(v) for v in rotvec)
    bx, by, bz, bw = (float(v) for v in quat)
    angle = math.sqrt(vx * vx + vy * vy + vz * vz)
    k = 0.5 if angle < 1e-8 else math.sin(0.5 * angle) / angle  # sin(angle / 2) / angle
    ax, ay, az, aw = vx * k, vy * k, vz * k, math.cos(0.5 * angle)
    out = np.array([
        aw * bx + ax * bw + ay * bz - az * by,
        aw * by - ax * bz + ay * bw + az * bx,
        aw * bz + ax * by - ay * bx + az * bw,
        aw * bw - ax * bx - ay * by - az * bz,
    ])  # fmt: skip
    out /= math.sqrt(float(out @ out))
    return out if out[3] >= 0.0 else -out


def canonical_quat(quat: np.ndarray) -> np.ndarray:
    """Flip (N, 4) xyzw quaternions to ``w >= 0`` (q and -q are the same rotation)."""
    return quat * np.where(quat[:, 3:4] < 0.0, -1.0, 1.0)


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
    # 2 atan2(|v|, |w|) of the relative rotation conj(q1) q2: accurate down to 1e-16 rad,
    # where 2 arccos(|q1 . q2|) cannot resolve angles below ~1e-8
    w1, v1, w2, v2 = q1[:, 3:], q1[:, :3], q2[:, 3:], q2[:, :3]
    v = w1 * v2 - w2 * v1 - np.cross(v1, v2)
    dot = np.abs(np.sum(q1 * q2, axis=1))
    return 2.0 * np.arctan2(np.linalg.norm(v, axis=1), dot)


def rotation_angle(r1: np.ndarray, r2: np.ndarray) -> np.ndarray:
    """Angle (N,) in radians of the rotation between (N, 3, 3) rotation matrices.

    ``atan2(|v|, trace - 1)`` of the relative rotation ``R = r1^T r2``, where ``v`` is
    the vee of ``R - R^T`` (``2 sin theta`` long) and ``trace - 1 = 2 cos theta``:
    accurate at every angle, unlike ``arccos`` of the trace near 0 and pi.
    """
    rel = (np.swapaxes(r1, 1, 2) @ r2).reshape(len(r1), 9)
    v = rel[:, _VEE_PLUS] - rel[:, _VEE_MINUS]
    return np.arctan2(np.sqrt(np.einsum("ij,ij->i", v, v)), rel[:, _DIAGONAL].sum(axis=1) - 1.0)


#: entries of a row-major 3x3 matrix R: the vee of R - R^T is R[_VEE_PLUS] - R[_VEE_MINUS];
#: index arrays, not lists, which numpy would convert on every call
_VEE_PLUS, _VEE_MINUS = np.array([7, 2, 3]), np.array([5, 6, 1])
_DIAGONAL = np.array([0, 4, 8])


def rotation_error_vector(r_target: np.ndarray, r_current: np.ndarray) -> np.ndarray:
    """Axis-angle vector (N, 3) of ``R_target @ R_current.T`` (world frame), radians."""
    return Rotation.from_matrix(r_target @ np.swapaxes(r_current, 1, 2)).as_rotvec()


def inverse_condition(jac: np.ndarray) -> np.ndarray:
    """sigma_min / sigma_max (N,) of (N, m, n) matrices: 0 singular, 1 isotropic."""
    s = np.linalg.svd(jac, compute_uv=False)
    return s[:, -1] / np.maximum(s[:, 0], 1e-300)
