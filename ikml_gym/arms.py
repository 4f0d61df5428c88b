"""Serial-chain arms loaded from URDF: FK, Jacobian, task features, conditioning.

``load_arm("arm4")`` / ``load_arm("arm6")`` give the shipped arms; any URDF path
with a serial chain to the end-effector link loads the same way::

    arm = ikml_gym.load_arm("arm6")
    pos, quat = arm.fk(q)            # (N, 3) metres, (N, 4) xyzw
    feats = arm.features(pos, quat)  # (N, 7) for 6+ DOF, (N, 4) for arm4
"""

from __future__ import annotations

import hashlib
import math
import xml.etree.ElementTree as ET
from functools import cached_property
from pathlib import Path

import numpy as np

from . import kinematics as kin
from ._validation import (
    MAX_POSITION,
    QUAT_NORM_TOL,
    as_batch,
    bounded_positions,
    expand_user,
    unit_quaternions,
)
from .errors import InvalidInputError, UnknownArmError, URDFError
from .pretrained import SHIPPED_ARMS, shipped_urdf_path

#: Task-feature layouts (see :meth:`Arm.features`).
POSE7 = "pose7"  # [x, y, z, qx, qy, qz, qw], qw >= 0
POSE4 = "pose4"  # [x, y, z, psi], psi = tool pitch of a yaw-pitch-pitch-pitch arm

_MOVABLE = {"revolute": kin.REVOLUTE, "continuous": kin.REVOLUTE, "prismatic": kin.PRISMATIC}


def _floats(text: str | None, n: int, what: str, bound: float | None = None) -> np.ndarray:
    if text is None:
        return np.zeros(n)
    try:
        vals = np.array([float(v) for v in text.split()])
    except ValueError as exc:
        raise URDFError(f"{what}: cannot read {text!r} ({exc})") from exc
    if vals.shape != (n,) or not np.all(np.isfinite(vals)):
        raise URDFError(f"{what} must be {n} finite numbers, got {text!r}")
    if bound is not None and np.any(np.abs(vals) > bound):
        raise URDFError(f"{what} must lie within +-{bound:g}, got {text!r} (check the units)")
    return vals


class Arm:
    """A serial chain from a URDF's root link to its end-effector link.

    Args:
        urdf_path: URDF file.
        ee_link: name of the end-effector link. Default: the link named ``ee_link``
            if there is one, else the single leaf of the kinematic tree.
        name: a short name (default: the URDF's robot name).
        feature_kind: ``"pose4"`` ([x, y, z, psi], for yaw-pitch-pitch-pitch arms) or
            ``"pose7"`` ([x, y, z, qx, qy, qz, qw]). Default: ``pose4`` for 4 DOF, else ``pose7``.

    Raises:
        FileNotFoundError: the URDF does not exist.
        URDFError: unreadable XML, unknown ``ee_link``, no serial chain to it, a loop of
            joints, or unreadable / non-finite / inverted joint limits.
        ValueError: ``feature_kind`` is not ``"pose4"`` or ``"pose7"``.
    """

    def __init__(
        self,
        urdf_path: str | Path,
        ee_link: str | None = None,
        name: str | None = None,
        feature_kind: str | None = None,
    ) -> None:
        self.urdf_path = Path(urdf_path)
        if not _is_file(self.urdf_path):
            raise FileNotFoundError(f"URDF not found: {self.urdf_path}")
        raw = self.urdf_path.read_bytes()
        self.urdf_hash = hashlib.sha256(raw).hexdigest()
        try:
            root = ET.fromstring(raw)
        except ET.ParseError as exc:
            raise URDFError(
                f"{self.urdf_path}: not a readable URDF: not valid XML ({exc})"
            ) from exc
        if root.tag != "robot":
            raise URDFError(f"{self.urdf_path}: root element is <{root.tag}>, expected <robot>")
        self.name = name or root.get("name") or self.urdf_path.stem
        self._parse(root, ee_link)
        if feature_kind is None:
            feature_kind = POSE4 if self.dof == 4 else POSE7
        if feature_kind not in (POSE4, POSE7):
            raise ValueError(f"feature_kind must be 'pose4' or 'pose7', got {feature_kind!r}")
        self.feature_kind = feature_kind

    # ------------------------------------------------------------------ parsing
    def _parse(self, root: ET.Element, ee_link: str | None) -> None:
        """Set ``base_link``, ``ee_link``, ``chain``, ``joint_names`` and ``joint_limits``
        from the URDF tree ``root``."""
        links = [link.get("name") for link in root.findall("link")]
        joints, children = self._joint_tree(root)
        roots = [link for link in links if link not in joints]
        if len(roots) != 1:
            raise URDFError(f"{self.urdf_path}: expected one root link, found {roots}")
        self.base_link = roots[0]
        self.ee_link = self._end_effector(links, children, ee_link)
        origins, axes, types, names, limits = [], [], [], [], []
        pending = np.eye(4)  # fixed transforms accumulated since the last movable joint
        for j in self._path_to(joints, self.ee_link):
            t = self._joint_origin(j)
            if j.get("type") == "fixed":
                pending = pending @ t
                continue
            axis, jtype, lo_hi = self._movable_joint(j)
            origins.append(pending @ t)
            pending = np.eye(4)
            axes.append(axis)
            types.append(jtype)
            names.append(j.get("name"))
            limits.append(lo_hi)
        if not names:
            raise URDFError(
                f"{self.urdf_path}: no movable joint between {self.base_link!r} and {self.ee_link!r}"
            )
        self.chain = kin.Chain(
            origins=np.array(origins), axes=np.array(axes), types=np.array(types), tip=pending
        )
        self.joint_names: list[str] = names
        self.joint_limits: np.ndarray = np.array(limits, dtype=np.float64)
        self.joint_limits.setflags(write=False)

    def _joint_tree(self, root: ET.Element) -> tuple[dict[str, ET.Element], dict[str, list[str]]]:
        """``(joint element by child link, child links by parent link)`` of the URDF."""
        joints: dict[str, ET.Element] = {}
        children: dict[str, list[str]] = {}
        for j in root.findall("joint"):
            parent, child = j.find("parent"), j.find("child")
            if parent is None or child is None or None in (parent.get("link"), child.get("link")):
                raise URDFError(
                    f"{self.urdf_path}: joint {j.get('name')!r} lacks <parent link=...> or "
                    "<child link=...>"
                )
            if child.get("link") in joints:
                raise URDFError(
                    f"{self.urdf_path}: link {child.get('link')!r} is the child of two joints "
                    f"({joints[child.get('link')].get('name')!r}, {j.get('name')!r}); a URDF is a tree"
                )
            joints[child.get("link")] = j
            children.setdefault(parent.get("link"), []).append(child.get("link"))
        return joints, children

    def _end_effector(
        self, links: list[str], children: dict[str, list[str]], ee_link: str | None
    ) -> str:
        """``ee_link`` if given, else the link named ``ee_link``, else the single leaf."""
        if ee_link is None:
            if "ee_link" in links:
                ee_link = "ee_link"
            else:
                leaves = [link for link in links if link not in children]
                if len(leaves) != 1:
                    raise URDFError(
                        f"{self.urdf_path}: the tree has {len(leaves)} leaf links {leaves}; "
                        "pass ee_link=<name> to choose the end-effector"
                    )
                ee_link = leaves[0]
        if ee_link not in links:
            raise URDFError(f"{self.urdf_path}: no link named {ee_link!r}; links are {links}")
        return ee_link

    def _path_to(self, joints: dict[str, ET.Element], ee_link: str) -> list[ET.Element]:
        """The joints from the root link down to ``ee_link``, in chain order."""
        path = []
        link = ee_link
        seen = {link}
        while link in joints:  # walk up to the root, then reverse
            path.append(joints[link])
            link = joints[link].find("parent").get("link")
            if link in seen:  # a loop of joints never reaches the root
                raise URDFError(
                    f"{self.urdf_path}: the joints above {ee_link!r} form a loop through link "
                    f"{link!r}; a URDF is a tree"
                )
            seen.add(link)
        path.reverse()
        return path

    def _joint_origin(self, j: ET.Element) -> np.ndarray:
        """The (4, 4) transform of a joint's ``<origin xyz rpy>`` (metres, radians)."""
        where = f"{self.urdf_path}: joint {j.get('name')!r}"
        o = j.find("origin")
        return kin.transform(
            _floats(
                o.get("xyz") if o is not None else None,
                3,
                f"{where} origin xyz",
                bound=MAX_POSITION,
            ),
            _floats(o.get("rpy") if o is not None else None, 3, f"{where} origin rpy"),
        )

    def _movable_joint(self, j: ET.Element) -> tuple[np.ndarray, int, tuple[float, float]]:
        """``(unit axis (3,), joint type, (lower, upper) limits)`` of a non-fixed joint
        (radians, or metres for prismatic joints)."""
        where = f"{self.urdf_path}: joint {j.get('name')!r}"
        jtype = j.get("type")
        if jtype not in _MOVABLE:
            raise URDFError(f"{self.urdf_path}: joint {j.get('name')!r} has type {jtype!r}")
        ax_el = j.find("axis")
        axis = _floats(ax_el.get("xyz") if ax_el is not None else "1 0 0", 3, f"{where} axis")
        if not np.any(axis):
            raise URDFError(f"{where} has a zero axis")
        axis = axis / np.max(np.abs(axis))  # no overflow in the norm of huge entries
        lim = j.find("limit")
        if jtype == "continuous" or lim is None:
            lo, hi = -np.pi, np.pi
        else:
            lo, hi = (
                float(_floats(lim.get(k, str(v)), 1, f"{where} limit {k}", MAX_POSITION)[0])
                for k, v in (("lower", -np.pi), ("upper", np.pi))
            )
            if lo > hi:
                raise URDFError(f"{where} has limit lower={lo:g} > upper={hi:g}")
        return axis / np.linalg.norm(axis), _MOVABLE[jtype], (lo, hi)

    # --------------------------------------------------------------- properties
    @property
    def dof(self) -> int:
        """Number of movable joints in the chain."""
        return self.chain.dof

    @property
    def feature_dim(self) -> int:
        """Width of a task-feature row: 4 (pose4) or 7 (pose7)."""
        return 4 if self.feature_kind == POSE4 else 7

    @cached_property
    def reach_center(self) -> np.ndarray:
        """(3,) base-frame position of the first joint at q = 0, metres."""
        return self.chain.origins[0][:3, 3].copy()

    @cached_property
    def reach(self) -> float:
        """Largest distance (m) from ``reach_center`` to the end-effector over the joint box.

        Estimated deterministically as the maximum over 2**14 unscrambled Sobol
        configurations (a hair below the true supremum).
        """
        from scipy.stats import qmc  # lazy: scipy.stats costs ~0.8 s at import

        q = self.scale_unit(qmc.Sobol(self.dof, scramble=False).random_base2(14))
        pos, _ = self.fk(q)
        return float(np.max(np.linalg.norm(pos - self.reach_center, axis=1)))

    def __repr__(self) -> str:
        return (
            f"Arm(name={self.name!r}, dof={self.dof}, ee_link={self.ee_link!r}, "
            f"feature_kind={self.feature_kind!r})"
        )

    # ----------------------------------------------------------------- helpers
    def check_q(self, q: object, name: str = "q") -> tuple[np.ndarray, bool]:
        """Validate joint angles: (dof,) or (N, dof), finite -> ((N, dof) float64, single)."""
        return as_batch(q, self.dof, name)

    def scale_unit(self, u: np.ndarray) -> np.ndarray:
        """Map (N, dof) samples in [0, 1] onto the joint box."""
        lo, hi = self.joint_limits[:, 0], self.joint_limits[:, 1]
        return lo + u * (hi - lo)

    def random_q(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """(n, dof) configurations uniform in the joint box."""
        return self.scale_unit(rng.random((n, self.dof)))

    @cached_property
    def full_turn(self) -> np.ndarray:
        """(dof,) bool: revolute joints whose limits span a full turn (wrapped, not clipped).

        Read-only; a joint value of such a joint is wrapped into ``[lo, lo + 2 pi)``
        instead of being clipped to its limits.
        """
        lo, hi = self.joint_limits[:, 0], self.joint_limits[:, 1]
        mask = (self.chain.types == kin.REVOLUTE) & (hi - lo >= 2 * np.pi - 1e-9)
        mask.flags.writeable = False
        return mask

    @cached_property
    def _wrap_plan(self) -> tuple[np.ndarray, np.ndarray, bool, bool]:
        """(lo, hi, every joint full-turn, some joint full-turn) for :meth:`wrap_to_limits`."""
        full = self.full_turn
        return self.joint_limits[:, 0], self.joint_limits[:, 1], bool(full.all()), bool(full.any())

    def wrap_to_limits(self, q: np.ndarray) -> np.ndarray:
        """Bring (..., dof) joint values into the limits: wrap full-turn revolute joints, clip the rest."""
        lo, hi, all_full, any_full = self._wrap_plan
        if all_full:
            q = lo + np.mod(q - lo, 2 * np.pi)
        else:
            q = np.array(q, dtype=np.float64)
            if any_full:
                full = self.full_turn
                q[..., full] = lo[full] + np.mod(q[..., full] - lo[full], 2 * np.pi)
        return np.minimum(np.maximum(q, lo), hi)

    def within_limits(self, q: np.ndarray, tol: float = 1e-9) -> np.ndarray:
        """(N,) bool: every joint of each (N, dof) row lies inside the limits (+- tol)."""
        lo, hi = self.joint_limits[:, 0], self.joint_limits[:, 1]
        return np.all((q >= lo - tol) & (q <= hi + tol), axis=1)

    # -------------------------------------------------------------- kinematics
    def fk_matrix(self, q: object) -> np.ndarray:
        """End-effector transforms (N, 4, 4) in the base frame for (N, dof) joint angles."""
        qb, _ = self.check_q(q)
        return kin.chain_fk(self.chain, qb)[0]

    def fk(self, q: object) -> tuple[np.ndarray, np.ndarray]:
        """Forward kinematics.

        Args:
            q: joint angles (dof,) or (N, dof), radians (metres for prismatic joints).

        Returns:
            ``(pos, quat)``: (N, 3) metres and (N, 4) xyzw with qw >= 0, in the base
            frame; (3,) and (4,) for a single configuration.
        """
        qb, single = self.check_q(q)
        t, _ = kin.chain_fk(self.chain, qb)
        pos, quat = t[:, :3, 3], kin.matrix_to_quat(t[:, :3, :3])
        return (pos[0], quat[0]) if single else (pos, quat)

    def jacobian(self, q: object) -> np.ndarray:
        """Geometric Jacobian (N, 6, dof) at the ee origin, world frame; rows [v; w]."""
        qb, single = self.check_q(q)
        jac = kin.chain_fk(self.chain, qb, jacobian=True)[1]
        return jac[0] if single else jac

    def _features_from_matrix(self, t: np.ndarray) -> np.ndarray:
        pos = t[:, :3, 3]
        if self.feature_kind == POSE4:
            return np.column_stack([pos, kin.tool_pitch(t[:, :3, :3])])
        return np.column_stack([pos, kin.matrix_to_quat(t[:, :3, :3])])

    def features(self, pos: object, quat: object) -> np.ndarray:
        """Task features of end-effector poses.

        Args:
            pos: (3,) or (N, 3) metres.
            quat: (4,) or (N, 4) xyzw; normalised if within 1e-3 of unit norm, else rejected.

        Returns:
            (N, 4) ``[x, y, z, psi]`` for pose4 arms, (N, 7) ``[x, y, z, qx, qy, qz, qw]``
            with qw >= 0 otherwise; one row unbatched for single inputs.
        """
        p, single = as_batch(pos, 3, "pos")
        qt, single_q = as_batch(quat, 4, "quat")
        if p.shape[0] != qt.shape[0]:
            raise InvalidInputError(f"pos has {p.shape[0]} rows but quat has {qt.shape[0]}")
        qt = unit_quaternions(qt)
        t = np.zeros((len(p), 4, 4))
        t[:, :3, :3] = kin.quat_to_matrix(qt) if len(qt) else np.zeros((0, 3, 3))
        t[:, :3, 3] = p
        out = self._features_from_matrix(t)
        return out[0] if (single and single_q) else out

    def fk_features(self, q: object) -> np.ndarray:
        """Task features (N, feature_dim) of joint angles (N, dof); see :meth:`features`."""
        qb, single = self.check_q(q)
        out = self._features_from_matrix(kin.chain_fk(self.chain, qb)[0])
        return out[0] if single else out

    def check_features(self, features: object, name: str = "features") -> tuple[np.ndarray, bool]:
        """Validate task features -> ((N, feature_dim) float64, single).

        pose7 quaternions are normalised if near unit norm and canonicalised to qw >= 0;
        pose4 pitch is wrapped to (-pi, pi]. Positions beyond +-1e6 m
        (:data:`~ikml_gym._validation.MAX_POSITION`) are rejected as a unit error.
        """
        f, single = as_batch(features, self.feature_dim, name)
        if len(f) == 1:
            one = self._check_one_pose(f[0].tolist())
            if one is not None:
                return np.array([one]), single
        f = f.copy()
        bounded_positions(f[:, :3], name)
        if self.feature_kind == POSE7:
            f[:, 3:] = kin.canonical_quat(
                unit_quaternions(f[:, 3:], f"{name}[:, 3:7] (quaternion)")
            )
        else:
            psi = f[:, 3].copy()
            f[:, 3] = kin.wrap_angle(psi)
            # np.mod by the rounded 2 pi drifts by ~2.4e-16 |psi| rad: reduce huge pitches
            # exactly through sin/cos instead (the psi of 1e300 rad was off by up to pi)
            far = np.abs(psi) > 1e6
            if far.any():
                f[far, 3] = np.arctan2(np.sin(psi[far]), np.cos(psi[far]))
        return f, single

    def _check_one_pose(self, row: list[float]) -> list[float] | None:
        """:meth:`check_features` of one finite row in Python floats (a few microseconds,
        where the numpy calls cost about 20); None where the batched path must decide
        (out-of-bound positions, quaternions that are not unit, huge pitches: it raises
        or treats them with its exact reduction)."""
        if max(abs(row[0]), abs(row[1]), abs(row[2])) > MAX_POSITION:
            return None
        if self.feature_kind == POSE7:
            qx, qy, qz, qw = row[3:]
            norm = math.sqrt(qx * qx + qy * qy + qz * qz + qw * qw)
            if abs(norm - 1.0) > QUAT_NORM_TOL:
                return None
            sign = -1.0 if qw < 0.0 else 1.0  # unit norm, then qw >= 0 (as the batch path)
            return [row[0], row[1], row[2], *(v / norm * sign for v in (qx, qy, qz, qw))]
        psi = row[3]
        if abs(psi) > 1e6:
            return None
        return [row[0], row[1], row[2], math.pi - (math.pi - psi) % (2.0 * math.pi)]

    def target_matrices(self, features: np.ndarray) -> np.ndarray:
        """(N, 4, 4) target transforms for validated features (N, feature_dim).

        pose4 targets fix the heading to ``atan2(y, x)``; the base-flipped heading is
        an equally valid target (see :meth:`flip_heading`).
        """
        n = len(features)
        t = np.zeros((n, 4, 4))
        t[:, 3, 3] = 1.0
        t[:, :3, 3] = features[:, :3]
        if self.feature_kind == POSE7:
            t[:, :3, :3] = kin.quat_to_matrix(features[:, 3:]) if n else t[:, :3, :3]
        else:
            heading = np.arctan2(features[:, 1], features[:, 0])
            rz = kin.axis_rotations(np.array([0.0, 0.0, 1.0]), heading)
            ry = kin.axis_rotations(np.array([0.0, 1.0, 0.0]), features[:, 3])
            t[:, :3, :3] = rz @ ry
        return t

    def pose_error(self, q: np.ndarray, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Position error (N,) metres and orientation error (N,) radians of q vs targets.

        The orientation error is the |psi| difference for pose4 arms and the geodesic
        angle between quaternions for pose7 arms.
        """
        t = kin.chain_fk(self.chain, q)[0]
        d = t[:, :3, 3] - features[:, :3]
        pos_err = np.sqrt(np.einsum("ij,ij->i", d, d))
        if self.feature_kind == POSE4:
            rot_err = np.abs(kin.wrap_angle(kin.tool_pitch(t[:, :3, :3]) - features[:, 3]))
        else:
            rot_err = kin.rotation_angle(kin.quat_to_matrix(features[:, 3:]), t[:, :3, :3])
        return pos_err, rot_err

    def task_jacobian(self, q: np.ndarray) -> np.ndarray:
        """Unitless task Jacobian: (N, 6, dof) pose7 or (N, 4, dof) pose4, position rows / reach."""
        t, jac = kin.chain_fk(self.chain, q, jacobian=True)
        return self._task_jacobian_from(t, jac)

    def _task_jacobian_from(self, t: np.ndarray, jac: np.ndarray) -> np.ndarray:
        """:meth:`task_jacobian` from the ee transforms (N, 4, 4) and geometric Jacobians (N, 6, dof)."""
        lin = jac[:, :3] / self.reach
        if self.feature_kind == POSE4:
            psi_rate = kin.tool_pitch_rate(t[:, :3, :3], jac[:, 3:])
            return np.concatenate([lin, psi_rate[:, None, :]], axis=1)
        return np.concatenate([lin, jac[:, 3:]], axis=1)

    def kinv(self, q: object) -> np.ndarray | float:
        """Inverse condition number sigma_min / sigma_max of the task Jacobian.

        0 = singular, 1 = isotropic; (N,) for (N, dof) input, a float for (dof,).
        """
        qb, single = self.check_q(q)
        if len(qb) == 0:
            return np.zeros(0)
        k = kin.inverse_condition(self.task_jacobian(qb))
        return float(k[0]) if single else k

    def features_and_kinv(self, q: object) -> tuple[np.ndarray, np.ndarray | float]:
        """:meth:`fk_features` and :meth:`kinv` of the same joint angles from one FK pass.

        Args:
            q: joint angles (dof,) or (N, dof), radians.

        Returns:
            ``(features, kinv)``: (N, feature_dim) and (N,), or (feature_dim,) and a float
            for a single configuration; equal to the two methods' results, at a fraction
            of their combined cost (what an env computes at every step).
        """
        qb, single = self.check_q(q)
        if len(qb) == 0:
            return np.zeros((0, self.feature_dim)), np.zeros(0)
        t, jac = kin.chain_fk(self.chain, qb, jacobian=True)
        feats = self._features_from_matrix(t)
        k = kin.inverse_condition(self._task_jacobian_from(t, jac))
        return (feats[0], float(k[0])) if single else (feats, k)


def _is_file(path: Path) -> bool:
    """``path.is_file()``, False for names the OS cannot even look up (too long, ...)."""
    try:
        return path.is_file()
    except OSError:
        return False


def load_arm(
    name_or_urdf: str | Path, ee_link: str | None = None, feature_kind: str | None = None
) -> Arm:
    """Load a shipped arm by name (``"arm4"``, ``"arm6"``) or any serial-chain URDF by path.

    Raises:
        TypeError: ``name_or_urdf`` is neither a string nor a path.
        UnknownArmError: a name that is not shipped and not an existing file.
        FileNotFoundError: a ``.urdf`` path that does not exist.
        URDFError: the URDF is malformed or has no serial chain to ``ee_link``.
        ValueError: ``feature_kind`` is not ``"pose4"`` or ``"pose7"``.
    """
    if not isinstance(name_or_urdf, (str, Path)):
        raise TypeError(f"load_arm expects an arm name or a URDF path, got {type(name_or_urdf)}")
    key = str(name_or_urdf)
    if key in SHIPPED_ARMS:
        return Arm(shipped_urdf_path(key), ee_link=ee_link, name=key, feature_kind=feature_kind)
    path = expand_user(key)
    if path.suffix.lower() == ".urdf" or _is_file(path):
        if not _is_file(path):
            raise FileNotFoundError(f"URDF not found: {path}")
        return Arm(path, ee_link=ee_link, feature_kind=feature_kind)
    raise UnknownArmError(
        f"unknown arm {key!r}: use one of {list(SHIPPED_ARMS)} or a path to a .urdf file"
    )
