"""Box obstacles in a private PyBullet client, and a collision check of the arm's links.

::

    scene = Scene(arm, [Box(center=(0.4, 0.0, 0.3), half_extents=(0.05, 0.2, 0.05))])
    scene.collides(q)            # (N,) bool for joints (N, dof) radians
    scene.is_valid(q)            # (N,) bool, the negation: a joint-space validity checker
    scene.close()

The arm (fixed base) and the boxes are loaded into the scene's own ``DIRECT`` client
(:func:`ikml_gym.bullet.connect`); a configuration collides when any link of the arm is
in contact with, or closer than ``margin`` to, a box. Self-collision is not checked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .._validation import as_batch, real_number
from ..arms import Arm
from ..bullet import connect, load_in_bullet
from ..errors import InvalidInputError


def within_limits(arm: Arm, q: np.ndarray) -> np.ndarray:
    """(N,) bool: joints (N, dof) radians within ``arm.joint_limits`` (1e-9 rad slack)."""
    lo, hi = arm.joint_limits[:, 0], arm.joint_limits[:, 1]
    return np.all((q >= lo - 1e-9) & (q <= hi + 1e-9), axis=1)


@dataclass(frozen=True)
class Box:
    """An axis-aligned box obstacle: ``center`` (3,) and ``half_extents`` (3,) metres."""

    center: tuple[float, float, float]
    half_extents: tuple[float, float, float]

    def __post_init__(self) -> None:
        c = np.asarray(self.center, dtype=np.float64)
        h = np.asarray(self.half_extents, dtype=np.float64)
        if c.shape != (3,) or h.shape != (3,) or not np.all(np.isfinite(np.r_[c, h])):
            raise InvalidInputError(
                f"a Box needs a finite center (3,) and half_extents (3,), got {self.center!r}, "
                f"{self.half_extents!r}"
            )
        if np.any(h <= 0):
            raise InvalidInputError(f"Box half_extents must be positive, got {self.half_extents!r}")


class Scene:
    """The arm among box obstacles, in a private PyBullet client.

    Args:
        arm: the arm (loaded with a fixed base at the origin).
        boxes: the obstacles.
        margin: metres; a link closer than this to a box counts as a collision.

    Raises:
        TypeError: ``arm`` is not an :class:`~ikml_gym.Arm`.
        InvalidInputError: a negative or non-finite ``margin``.
    """

    def __init__(self, arm: Arm, boxes: Sequence[Box] = (), margin: float = 0.0) -> None:
        if not isinstance(arm, Arm):
            raise TypeError(f"expected an ikml_gym.Arm, got {type(arm).__name__}")
        import pybullet

        self.arm = arm
        self.boxes = tuple(boxes)
        self.margin = real_number(margin, "margin", low=0.0)
        self._p = pybullet
        self._client, self._finalizer = connect(self)
        loaded = load_in_bullet(pybullet, arm, self._client)
        self._body, self._joints = loaded.body, loaded.joints
        self._box_ids = [self._add_box(b) for b in self.boxes]

    def _add_box(self, box: Box) -> int:
        p, c = self._p, self._client
        shape = p.createCollisionShape(
            p.GEOM_BOX, halfExtents=list(box.half_extents), physicsClientId=c
        )
        return p.createMultiBody(
            baseMass=0.0,
            baseCollisionShapeIndex=shape,
            basePosition=list(box.center),
            physicsClientId=c,
        )

    def close(self) -> None:
        """Disconnect the scene's PyBullet client (also done on garbage collection)."""
        self._finalizer()
        self._client = None

    def collides(self, q: object) -> np.ndarray:
        """(N,) bool: joints (N, dof) or (dof,) radians put a link in (or within ``margin``
        of) a box. Always batched output."""
        if self._client is None:
            raise RuntimeError("this Scene was closed")
        qb, _ = as_batch(q, self.arm.dof, "q")
        out = np.zeros(len(qb), dtype=bool)
        if not self._box_ids:
            return out
        for i, row in enumerate(qb):  # PyBullet answers one configuration at a time
            out[i] = self._collides_one(row)
        return out

    def _collides_one(self, q: np.ndarray) -> bool:
        p, c = self._p, self._client
        for j, v in zip(self._joints, q):
            p.resetJointState(self._body, j, float(v), physicsClientId=c)
        for box in self._box_ids:
            if p.getClosestPoints(self._body, box, self.margin, physicsClientId=c):
                return True
        return False

    def is_valid(self, q: object) -> np.ndarray:
        """(N,) bool: joints (N, dof) radians within the limits and collision-free."""
        qb, _ = as_batch(q, self.arm.dof, "q")
        return within_limits(self.arm, qb) & ~self.collides(qb)

    def __repr__(self) -> str:
        return f"Scene(arm={self.arm.name!r}, boxes={len(self.boxes)}, margin={self.margin})"
