"""The simulator wrapper: one private PyBullet client per environment.

Every :class:`BulletSim` connects its own client (``DIRECT``, or ``GUI`` for
``render_mode="human"``) and passes ``physicsClientId`` on every call, so any
number of environments can live in one process (an eval env next to a
training env, a ``DummyVecEnv``) without sharing PyBullet's global client.

The client is disconnected by :meth:`BulletSim.close` and, if the owner forgets,
when the object is garbage-collected or the interpreter exits
(:func:`ikml_gym.bullet.connect`), so making and dropping environments never leaks clients.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

from ..bullet import connect, joint_info
from ..errors import IkmlGymError


class DisplayNotAvailableError(IkmlGymError, RuntimeError):
    """``render_mode="human"`` was asked for on a machine without a display."""


def display_available() -> bool:
    """Whether a GUI window can be opened (on Linux: ``DISPLAY`` or ``WAYLAND_DISPLAY`` is set)."""
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


class BulletSim:
    """A PyBullet world with a fixed control period.

    One :meth:`step` advances ``n_substeps`` physics steps of ``timestep`` seconds
    (defaults 20 x 1/500 s = 0.04 s, i.e. 25 Hz control).

    Args:
        render_mode: ``None`` / ``"rgb_array"`` (``DIRECT`` client, TinyRenderer images)
            or ``"human"`` (``GUI`` client; needs a display).
        timestep: physics step, seconds.
        n_substeps: physics steps per control step.
        gravity: z gravity, m/s^2.

    Raises:
        DisplayNotAvailableError: ``"human"`` without a display (PyBullet itself would
            call ``exit(1)``, killing the interpreter).
    """

    def __init__(
        self,
        render_mode: str | None = None,
        timestep: float = 1.0 / 500.0,
        n_substeps: int = 20,
        gravity: float = -9.81,
    ) -> None:
        import pybullet

        if not (timestep > 0 and int(n_substeps) >= 1):
            raise ValueError("timestep must be > 0 and n_substeps >= 1")
        self._p = pybullet
        self.render_mode = render_mode
        self.timestep = float(timestep)
        self.n_substeps = int(n_substeps)
        if render_mode == "human" and not display_available():
            raise DisplayNotAvailableError(
                'render_mode="human" needs a display (DISPLAY is not set); use '
                'render_mode="rgb_array" for headless images'
            )
        client, self._finalizer = connect(self, gui=render_mode == "human")
        self.client = client
        if render_mode == "human":
            pybullet.configureDebugVisualizer(pybullet.COV_ENABLE_GUI, 0, physicsClientId=client)
        pybullet.setTimeStep(self.timestep, physicsClientId=client)
        pybullet.setGravity(0.0, 0.0, float(gravity), physicsClientId=client)

    @property
    def dt(self) -> float:
        """Seconds of simulated time per control step."""
        return self.timestep * self.n_substeps

    @property
    def closed(self) -> bool:
        return not self._finalizer.alive

    def close(self) -> None:
        """Disconnect the client (idempotent)."""
        self._finalizer()

    def _check(self) -> int:
        if not self._finalizer.alive:
            raise RuntimeError("this simulation was closed")
        return self.client

    # ----------------------------------------------------------------- bodies
    def load_urdf(self, path: str | Path, fixed_base: bool = True) -> int:
        """Load a URDF at the origin; returns the body id."""
        return self._p.loadURDF(str(path), useFixedBase=fixed_base, physicsClientId=self._check())

    def joint_info(self, body: int) -> list[tuple]:
        """PyBullet ``getJointInfo`` of every joint of ``body``."""
        return joint_info(self._p, body, self._check())

    def create_marker(self, radius: float, rgba: tuple[float, float, float, float]) -> int:
        """A visual-only sphere (no collision, no mass) used as the goal marker."""
        c = self._check()
        shape = self._p.createVisualShape(
            self._p.GEOM_SPHERE, radius=float(radius), rgbaColor=list(rgba), physicsClientId=c
        )
        return self._visual_body(shape, z=-10.0)

    def create_floor(self, half_size: float, rgba: tuple[float, float, float, float]) -> int:
        """A visual-only square floor tile just below z = 0 (the arm can pass through it)."""
        c = self._check()
        shape = self._p.createVisualShape(
            self._p.GEOM_BOX,
            halfExtents=[float(half_size), float(half_size), 0.001],
            rgbaColor=list(rgba),
            physicsClientId=c,
        )
        return self._visual_body(shape, z=-0.002)

    def _visual_body(self, shape: int, z: float) -> int:
        """A massless, collision-free body showing ``shape`` at (0, 0, z)."""
        return self._p.createMultiBody(
            baseMass=0.0,
            baseCollisionShapeIndex=-1,
            baseVisualShapeIndex=shape,
            basePosition=[0.0, 0.0, z],
            physicsClientId=self._check(),
        )

    def set_base_position(self, body: int, position: np.ndarray) -> None:
        self._p.resetBasePositionAndOrientation(
            body, [float(v) for v in position], [0.0, 0.0, 0.0, 1.0], physicsClientId=self._check()
        )

    # ------------------------------------------------------------------ joints
    def reset_joints(self, body: int, joints: list[int], q: np.ndarray) -> None:
        """Set joint positions (velocities zero)."""
        c = self._check()
        for j, v in zip(joints, q):
            self._p.resetJointState(body, j, float(v), 0.0, physicsClientId=c)

    def set_joint_velocities(
        self, body: int, joints: list[int], q: np.ndarray, qdot: np.ndarray
    ) -> None:
        c = self._check()
        for j, v, w in zip(joints, q, qdot):
            self._p.resetJointState(body, j, float(v), float(w), physicsClientId=c)

    def joint_states(self, body: int, joints: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """(q, qdot) of the listed joints, float64."""
        states = self._p.getJointStates(body, joints, physicsClientId=self._check())
        return (
            np.fromiter((s[0] for s in states), dtype=np.float64, count=len(joints)),
            np.fromiter((s[1] for s in states), dtype=np.float64, count=len(joints)),
        )

    def position_control(
        self, body: int, joints: list[int], targets: np.ndarray, forces: list[float]
    ) -> None:
        """Position-control motor targets (kept by PyBullet until changed)."""
        self._p.setJointMotorControlArray(
            body,
            joints,
            self._p.POSITION_CONTROL,
            targetPositions=[float(v) for v in targets],
            forces=forces,
            physicsClientId=self._check(),
        )

    def step(self) -> None:
        """Advance one control step (``n_substeps`` physics steps)."""
        c = self._check()
        for _ in range(self.n_substeps):
            self._p.stepSimulation(physicsClientId=c)

    # --------------------------------------------------------------- rendering
    def render(
        self,
        width: int,
        height: int,
        target: np.ndarray,
        distance: float,
        yaw: float = 45.0,
        pitch: float = -25.0,
    ) -> np.ndarray:
        """An (height, width, 3) uint8 RGB image from PyBullet's TinyRenderer."""
        p, c = self._p, self._check()
        view = p.computeViewMatrixFromYawPitchRoll(
            cameraTargetPosition=[float(v) for v in target],
            distance=float(distance),
            yaw=float(yaw),
            pitch=float(pitch),
            roll=0.0,
            upAxisIndex=2,
            physicsClientId=c,
        )
        proj = p.computeProjectionMatrixFOV(
            fov=60.0, aspect=width / height, nearVal=0.01, farVal=100.0, physicsClientId=c
        )
        _, _, rgba, _, _ = p.getCameraImage(
            width=int(width),
            height=int(height),
            viewMatrix=view,
            projectionMatrix=proj,
            renderer=p.ER_TINY_RENDERER,
            flags=p.ER_NO_SEGMENTATION_MASK,
            physicsClientId=c,
        )
        img = np.asarray(rgba, dtype=np.uint8).reshape(int(height), int(width), 4)
        return np.ascontiguousarray(img[:, :, :3])
