"""Inputs of the feasibility classifier: task features plus quantities derived from them.

:func:`input_features` is a deterministic function of the features and of the arm
constants stored in the model header (:func:`input_spec`):

* pose7 ``[x, y, z, qx, qy, qz, qw]`` -> position, quaternion, the 9 entries of
  the rotation matrix, the *wrist point* ``p - R @ tip`` (the last joint's
  origin; for a UR-type arm the wrist centre, which decides reachability), and
  the distances of the end-effector and the wrist point from ``reach_center``
  (3D and horizontal, over the reach): 23 numbers.
* pose4 ``[x, y, z, psi]`` -> position, sin/cos psi, the wrist point for the
  heading ``atan2(y, x)`` and for the base-flipped heading, and the distances
  of the three points from ``reach_center`` (over the reach): 14 numbers.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import kinematics as kin
from ..arms import POSE4, POSE7, Arm
from ..errors import ModelFileError

#: version of the derived-input layout, stored in the model header
INPUT_SPEC_VERSION = 1


def input_spec(arm: Arm) -> dict[str, Any]:
    """Arm constants the derived inputs use (stored in the model header)."""
    return {
        "version": INPUT_SPEC_VERSION,
        "feature_kind": arm.feature_kind,
        "feature_dim": arm.feature_dim,
        "reach_center": [float(v) for v in arm.reach_center],
        "reach": float(arm.reach),
        "tip_offset": [float(v) for v in arm.chain.tip[:3, 3]],
    }


def input_features(features: np.ndarray, spec: dict[str, Any]) -> np.ndarray:
    """Network inputs (N, d) float64 from validated task features (N, feature_dim).

    See the module docstring for the layout; ``spec`` comes from :func:`input_spec`.
    Written in few numpy calls: for one pose the call overhead is the cost.
    """
    f = np.asarray(features, dtype=np.float64)
    if len(f) == 1:
        return np.array([_input_features_one(f[0].tolist(), spec)])
    center = np.asarray(spec["reach_center"], dtype=np.float64)
    tip = np.asarray(spec["tip_offset"], dtype=np.float64)
    p = f[:, :3]
    if spec["feature_kind"] == POSE7:
        rot = kin.quat_to_matrix(f[:, 3:7])
        points = np.stack([p, p - rot @ tip])  # (2, N, 3): end-effector, wrist point
        radial, horizontal = _distances(points, center, spec)
        # |p|, |p|_xy, |wrist|, |wrist|_xy
        dists = np.stack([radial, horizontal], axis=2).reshape(len(f), 4)
        return np.concatenate([f[:, :7], rot.reshape(-1, 9), points[1], dists], axis=1)
    if spec["feature_kind"] == POSE4:
        psi = f[:, 3]
        heading = np.arctan2(p[:, 1], p[:, 0])
        # R = Rz(h) Ry(s): wrist = p - R @ tip, for the heading and the base-flipped one
        h = np.stack([heading, heading + np.pi])[:, :, None]  # (2, N, 1)
        s = np.stack([psi, -psi])[:, :, None]
        ch, sh, cs, ss = np.cos(h), np.sin(h), np.cos(s), np.sin(s)
        r_tip_x = cs * tip[0] + ss * tip[2]
        wrists = p - np.concatenate(
            [ch * r_tip_x - sh * tip[1], sh * r_tip_x + ch * tip[1], -ss * tip[0] + cs * tip[2]],
            axis=2,
        )  # (2, N, 3)
        points = np.concatenate([p[None], wrists])  # (3, N, 3)
        radial = _distances(points, center, spec)[0]  # (N, 3): |p|, |wrist|, |flipped wrist|
        return np.concatenate([p, np.sin(s[0]), np.cos(s[0]), wrists[0], wrists[1], radial], axis=1)
    raise ModelFileError(f"unknown feature kind {spec['feature_kind']!r} in input spec")


def _input_features_one(row: list[float], spec: dict[str, Any]) -> list[float]:
    """:func:`input_features` of one pose in Python floats (its numpy calls would cost
    several times more than the arithmetic); the same formulas, term by term."""
    cx, cy, cz = spec["reach_center"]
    tx, ty, tz = spec["tip_offset"]
    reach = float(spec["reach"])
    x, y, z = row[:3]

    def radial(px: float, py: float, pz: float) -> tuple[float, float]:
        dx, dy, dz = (px - cx) / reach, (py - cy) / reach, (pz - cz) / reach
        horizontal = dx * dx + dy * dy
        return math.sqrt(horizontal + dz * dz), math.sqrt(horizontal)

    if spec["feature_kind"] == POSE7:
        qx, qy, qz, qw = row[3:7]
        rot = _rotation_one(qx, qy, qz, qw)
        wx = x - (rot[0] * tx + rot[1] * ty + rot[2] * tz)
        wy = y - (rot[3] * tx + rot[4] * ty + rot[5] * tz)
        wz = z - (rot[6] * tx + rot[7] * ty + rot[8] * tz)
        return [*row[:7], *rot, wx, wy, wz, *radial(x, y, z), *radial(wx, wy, wz)]
    if spec["feature_kind"] == POSE4:
        psi = row[3]
        heading = math.atan2(y, x)
        out, dists = [x, y, z, math.sin(psi), math.cos(psi)], [radial(x, y, z)[0]]
        for h, s in ((heading, psi), (heading + math.pi, -psi)):
            ch, sh, cs, ss = math.cos(h), math.sin(h), math.cos(s), math.sin(s)
            r_tip_x = cs * tx + ss * tz
            w = (
                x - (ch * r_tip_x - sh * ty),
                y - (sh * r_tip_x + ch * ty),
                z - (-ss * tx + cs * tz),
            )
            out.extend(w)
            dists.append(radial(*w)[0])
        return out + dists
    raise ModelFileError(f"unknown feature kind {spec['feature_kind']!r} in input spec")


def _rotation_one(qx: float, qy: float, qz: float, qw: float) -> list[float]:
    """Row-major rotation matrix of one unit xyzw quaternion, as :func:`kin.quat_to_matrix`."""
    xx, yy, zz, xy, xz, yz = qx * qx, qy * qy, qz * qz, qx * qy, qx * qz, qy * qz
    wx, wy, wz = qw * qx, qw * qy, qw * qz
    return [
        1.0 - 2.0 * yy - 2.0 * zz, 2.0 * xy - 2.0 * wz, 2.0 * xz + 2.0 * wy,
        2.0 * xy + 2.0 * wz, 1.0 - 2.0 * xx - 2.0 * zz, 2.0 * yz - 2.0 * wx,
        2.0 * xz - 2.0 * wy, 2.0 * yz + 2.0 * wx, 1.0 - 2.0 * xx - 2.0 * yy,
    ]  # fmt: skip


def _distances(
    points: np.ndarray, center: np.ndarray, spec: dict[str, Any]
) -> tuple[np.ndarray, np.ndarray]:
    """Distances of (P, N, 3) points from the reach centre over the reach: (N, P) 3D and
    (N, P) horizontal."""
    d = (points - center) / float(spec["reach"])
    sq = d * d
    horizontal = sq[:, :, 0] + sq[:, :, 1]
    return np.sqrt(horizontal + sq[:, :, 2]).T, np.sqrt(horizontal).T
