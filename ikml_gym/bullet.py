"""An :class:`~ikml_gym.Arm` loaded into a PyBullet client, with its joints found by name."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class BulletArm:
    """PyBullet indices of an arm loaded with :func:`load_in_bullet`.

    Attributes:
        body: the multibody id.
        joints: joint indices of ``arm.joint_names``, in the arm's order.
        ee: link index of ``arm.ee_link``.
        movable: indices of every non-fixed joint (the columns PyBullet's IK returns).
        info: ``getJointInfo`` of every joint.
    """

    body: int
    joints: list[int]
    ee: int
    movable: list[int]
    info: list[tuple]


def load_in_bullet(p: Any, arm: Any, client: int) -> BulletArm:
    """Load ``arm``'s URDF (fixed base) into PyBullet client ``client`` (module ``p``)."""
    body = p.loadURDF(str(arm.urdf_path), useFixedBase=True, physicsClientId=client)
    info = [
        p.getJointInfo(body, i, physicsClientId=client)
        for i in range(p.getNumJoints(body, physicsClientId=client))
    ]
    by_name = {j[1].decode(): j[0] for j in info}
    return BulletArm(
        body=body,
        joints=[by_name[name] for name in arm.joint_names],
        ee=next(j[0] for j in info if j[12].decode() == arm.ee_link),
        movable=[j[0] for j in info if j[2] != p.JOINT_FIXED],
        info=info,
    )
