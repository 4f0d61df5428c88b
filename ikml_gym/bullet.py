"""PyBullet clients the package opens, and an :class:`~ikml_gym.Arm` loaded into one.

Every client the package opens goes through :func:`connect`: a private client
(``DIRECT``, or ``GUI``) whose disconnection is tied to its owner with
``weakref.finalize``, so it is released by the owner's ``close()``, when the owner
is garbage-collected, or at interpreter exit, whichever comes first. Joints and
links are looked up by name with :func:`named_joints` and :func:`link_index`.
"""

from __future__ import annotations

import contextlib
import weakref
from dataclasses import dataclass
from typing import Any


def _disconnect(pybullet: Any, client: int) -> None:
    # at interpreter shutdown the module may already be half torn down
    with contextlib.suppress(pybullet.error, AttributeError, TypeError):
        if pybullet.isConnected(physicsClientId=client):
            pybullet.disconnect(physicsClientId=client)


def connect(owner: object, gui: bool = False) -> tuple[int, weakref.finalize]:
    """Connect a private PyBullet client for ``owner`` -> ``(client id, finalizer)``.

    Calling the finalizer disconnects the client (idempotent; ``finalizer.alive`` says
    whether it is still connected); it also runs when ``owner`` is garbage-collected
    or the interpreter exits.

    Raises:
        RuntimeError: PyBullet could not connect a client.
    """
    import pybullet

    client = pybullet.connect(pybullet.GUI if gui else pybullet.DIRECT)
    if client < 0:
        raise RuntimeError("PyBullet could not connect a client")
    return client, weakref.finalize(owner, _disconnect, pybullet, client)


def joint_info(p: Any, body: int, client: int) -> list[tuple]:
    """PyBullet ``getJointInfo`` of every joint of ``body`` in client ``client`` (module ``p``)."""
    n = p.getNumJoints(body, physicsClientId=client)
    return [p.getJointInfo(body, i, physicsClientId=client) for i in range(n)]


def named_joints(info: list[tuple], names: list[str]) -> list[tuple]:
    """The ``getJointInfo`` tuples of the joints called ``names``, in that order.

    Raises:
        KeyError: a name the body has no joint of.
    """
    by_name = {j[1].decode(): j for j in info}
    return [by_name[name] for name in names]


def link_index(info: list[tuple], link: str) -> int:
    """Index of the link called ``link`` (the child link of a joint of ``info``).

    Raises:
        StopIteration: no such link.
    """
    return next(j[0] for j in info if j[12].decode() == link)


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
    info = joint_info(p, body, client)
    return BulletArm(
        body=body,
        joints=[j[0] for j in named_joints(info, arm.joint_names)],
        ee=link_index(info, arm.ee_link),
        movable=[j[0] for j in info if j[2] != p.JOINT_FIXED],
        info=info,
    )
