"""Closed-form inverse kinematics of the two shipped arm families (all branches, batched).

* yaw-pitch-pitch-pitch arms (``arm4``): 4 branches = base flip x elbow up/down;
* UR-type arms (``arm6``, UR5 DH): 8 branches = shoulder x wrist x elbow.

The geometry (link lengths, DH parameters) is read off the arm's chain and the
chain is checked to have the expected structure, so an edited URDF of the same
family still works and any other arm is refused with a clear error.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import kinematics as kin
from .arms import POSE4, Arm

_EPS = 1e-9


def _close(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(np.allclose(a, b, atol=1e-9))


@dataclass(frozen=True)
class YawPitchArm:
    """Geometry of a yaw-pitch-pitch-pitch arm: shoulder height and three lengths (m)."""

    shoulder_z: float
    upper: float
    fore: float
    tool: float
    n_branches = 4

    @classmethod
    def from_arm(cls, arm: Arm) -> YawPitchArm | None:
        c = arm.chain
        z, y = np.array([0.0, 0, 1]), np.array([0.0, 1, 0])
        if arm.dof != 4 or arm.feature_kind != POSE4:
            return None
        if not (_close(c.axes[0], z) and all(_close(c.axes[i], y) for i in (1, 2, 3))):
            return None
        mats = list(c.origins) + [c.tip]
        for m in mats:  # pure translations along z, base origin on the z axis
            if not (_close(m[:3, :3], np.eye(3)) and _close(m[:2, 3], np.zeros(2))):
                return None
        if not _close(c.origins[1][:3, 3], np.zeros(3)):
            return None
        return cls(
            shoulder_z=float(c.origins[0][2, 3]),
            upper=float(c.origins[2][2, 3]),
            fore=float(c.origins[3][2, 3]),
            tool=float(c.tip[2, 3]),
        )

    def solve(self, features: np.ndarray) -> np.ndarray:
        """(N, 4) [x, y, z, psi] -> (N, 4, 4) joint angles per branch (NaN where none)."""
        x, y, z, psi = features.T
        rho, heading = np.hypot(x, y), np.arctan2(y, x)
        out = np.full((len(features), 4, 4), np.nan)
        l2, l3 = self.upper, self.fore
        for flip in (0, 1):
            t1 = heading + np.pi * flip
            r = rho * (1 - 2 * flip)  # signed radial coordinate in the arm plane
            a = r - self.tool * np.sin(psi)
            b = z - self.shoulder_z - self.tool * np.cos(psi)
            c3 = (a * a + b * b - l2 * l2 - l3 * l3) / (2 * l2 * l3)
            ok = np.abs(c3) <= 1 + _EPS
            for elbow in (0, 1):
                t3 = (1 - 2 * elbow) * np.arccos(np.clip(c3, -1, 1))
                t2 = np.arctan2(a, b) - np.arctan2(l3 * np.sin(t3), l2 + l3 * np.cos(t3))
                t4 = psi - t2 - t3
                q = np.column_stack([t1, t2, t3, t4])
                q[~ok] = np.nan
                out[:, 2 * flip + elbow] = q
        return out


@dataclass(frozen=True)
class URArm:
    """Standard-DH geometry of a Universal Robots arm (metres)."""

    d1: float
    a2: float
    a3: float
    d4: float
    d5: float
    d6: float
    n_branches = 8

    def chain(self) -> kin.Chain:
        """The chain this geometry produces (to check an arm against it)."""
        hp = np.pi / 2
        t = [
            kin.transform([0, 0, 0], [0, 0, 0]),
            kin.transform([0, 0, self.d1], [hp, 0, 0]),
            kin.transform([self.a2, 0, 0], [0, 0, 0]),
            kin.transform([self.a3, 0, 0], [0, 0, 0]),
            kin.transform([0, 0, self.d4], [hp, 0, 0]),
            kin.transform([0, 0, self.d5], [-hp, 0, 0]),
        ]
        return kin.Chain(
            origins=np.array(t),
            axes=np.tile([0.0, 0.0, 1.0], (6, 1)),
            types=np.zeros(6, dtype=int),
            tip=kin.transform([0, 0, self.d6], [0, 0, 0]),
        )

    @classmethod
    def from_arm(cls, arm: Arm) -> URArm | None:
        c = arm.chain
        if arm.dof != 6 or np.any(c.types != kin.REVOLUTE):
            return None
        guess = cls(
            d1=float(c.origins[1][2, 3]),
            a2=float(c.origins[2][0, 3]),
            a3=float(c.origins[3][0, 3]),
            d4=float(c.origins[4][2, 3]),
            d5=float(c.origins[5][2, 3]),
            d6=float(c.tip[2, 3]),
        )
        ref = guess.chain()
        same = (
            _close(c.origins, ref.origins) and _close(c.axes, ref.axes) and _close(c.tip, ref.tip)
        )
        return guess if same else None

    def solve(self, target: np.ndarray) -> np.ndarray:
        """(N, 4, 4) flange poses -> (N, 8, 6) joint angles per branch (NaN where none).

        Branch id = 4 * shoulder + 2 * wrist + elbow. Derivation: with
        R16 = R01^T R06 = Rz(t2+t3+t4) Ry(-t5) Rz(t6), the wrist centre's offset along
        the shoulder axis fixes t1, the flange's fixes t5, R16 gives t6 and t2+t3+t4,
        and a planar two-link problem gives t2, t3.
        """
        n = len(target)
        p06, r06 = target[:, :3, 3], target[:, :3, :3]
        p05 = p06 - self.d6 * r06[:, :, 2]
        rho = np.hypot(p05[:, 0], p05[:, 1])
        phi = np.arctan2(p05[:, 1], p05[:, 0])
        s = self.d4 / np.maximum(rho, 1e-300)
        ok1 = np.abs(s) <= 1 + _EPS
        asin_s = np.arcsin(np.clip(s, -1, 1))
        out = np.full((n, 8, 6), np.nan)
        a2, a3 = self.a2, self.a3
        for i1, t1 in enumerate((phi + asin_s, phi + np.pi - asin_s)):
            c1, s1 = np.cos(t1), np.sin(t1)
            c5 = (p06[:, 0] * s1 - p06[:, 1] * c1 - self.d4) / self.d6
            ok5 = ok1 & (np.abs(c5) <= 1 + _EPS)
            # R01 = Rz(t1) Rx(pi/2) = [[c1, 0, s1], [s1, 0, -c1], [0, 1, 0]]; R16 = R01^T R06
            r16_0 = c1[:, None] * r06[:, 0, :] + s1[:, None] * r06[:, 1, :]  # row 0
            r16_1 = r06[:, 2, :]  # row 1
            r16_2 = s1[:, None] * r06[:, 0, :] - c1[:, None] * r06[:, 1, :]  # row 2
            p15x = c1 * p05[:, 0] + s1 * p05[:, 1]
            p15y = p05[:, 2] - self.d1
            acos5 = np.arccos(np.clip(c5, -1, 1))
            for i5 in (0, 1):
                t5 = (1 - 2 * i5) * acos5
                s5 = np.sin(t5)
                regular = np.abs(s5) > 1e-10
                s5_safe = np.where(regular, s5, 1.0)
                t6 = np.where(
                    regular, np.arctan2(-r16_2[:, 1] / s5_safe, r16_2[:, 0] / s5_safe), 0.0
                )
                t234 = np.where(
                    regular,
                    np.arctan2(-r16_1[:, 2] / s5_safe, -r16_0[:, 2] / s5_safe),
                    np.arctan2(-r16_0[:, 1], r16_1[:, 1]),
                )
                px = p15x - self.d5 * np.sin(t234)
                py = p15y + self.d5 * np.cos(t234)
                c3 = (px * px + py * py - a2 * a2 - a3 * a3) / (2 * a2 * a3)
                ok = ok5 & (np.abs(c3) <= 1 + _EPS)
                acos3 = np.arccos(np.clip(c3, -1, 1))
                base = np.arctan2(py, px)
                for i3 in (0, 1):
                    t3 = (1 - 2 * i3) * acos3
                    t2 = base - np.arctan2(a3 * np.sin(t3), a2 + a3 * np.cos(t3))
                    q = out[:, 4 * i1 + 2 * i5 + i3]
                    q[:, 0], q[:, 1], q[:, 2] = t1, t2, t3
                    q[:, 3], q[:, 4], q[:, 5] = t234 - t2 - t3, t5, t6
                    q[~ok] = np.nan
        return out


def closed_form_for(arm: Arm) -> YawPitchArm | URArm | None:
    """The closed form matching ``arm``'s chain, or ``None`` if the arm has none here."""
    return YawPitchArm.from_arm(arm) or URArm.from_arm(arm)
