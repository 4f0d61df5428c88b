"""The robot part of an env: an :class:`~ikml_gym.Arm` in a :class:`BulletSim`, driven by a controller.

The robot turns a clipped action in [-1, 1] into joint position targets through
its *controller* (one of :class:`JointControl`, :class:`EEControl`,
:class:`IKPriorControl`); the controller does the scaling. PyBullet's position
motors track the targets with the joint efforts of the URDF as force limits.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import kinematics as kin
from .._validation import as_batch
from ..arms import POSE4, Arm
from ..bullet import named_joints
from ..errors import InvalidInputError
from ..solvers.base import MeteredPart
from .orientation import OrientationChooser
from .sim import BulletSim

#: default action scales: joint step (rad), ee rotation step (rad) and ik_prior residual
#: (rad) per action unit
JOINT_STEP = 0.1
ROT_STEP = 0.15
RESIDUAL_SCALE = 0.25

#: default start configurations (radians) of the shipped arms: well conditioned, ee in front
HOME_Q = {
    "arm4": (0.0, -0.3, 1.2, 0.9),
    "arm6": (0.0, -1.2, 1.6, -1.9, -1.57, 0.0),
}


def home_configuration(arm: Arm) -> np.ndarray:
    """The default start configuration: :data:`HOME_Q` for shipped arms, else the joint-box middle."""
    if arm.name in HOME_Q and len(HOME_Q[arm.name]) == arm.dof:
        return np.array(HOME_Q[arm.name], dtype=np.float64)
    return arm.joint_limits.mean(axis=1)


def check_home(arm: Arm, home_q: object) -> np.ndarray:
    """``home_q`` as (dof,) float64 finite angles within the joint limits.

    Raises:
        InvalidInputError: another shape, non-numeric, NaN/inf, or outside the limits.
    """
    q, single = as_batch(home_q, arm.dof, "home_q")
    if not single:
        raise InvalidInputError(
            f"home_q must be one configuration ({arm.dof},), got {np.shape(home_q)}"
        )
    if not arm.within_limits(q)[0]:
        lim = arm.joint_limits
        bad = [i for i in range(arm.dof) if not lim[i, 0] - 1e-9 <= q[0, i] <= lim[i, 1] + 1e-9]
        raise InvalidInputError(
            f"home_q must lie within the joint limits; joint(s) {bad} are outside "
            f"({q[0].tolist()} vs limits {lim.tolist()})"
        )
    return q[0].copy()


@dataclass
class RobotState:
    """Measured state after a control step: joints (dof,) rad, rad/s; ee features; kinv."""

    q: np.ndarray
    qdot: np.ndarray
    features: np.ndarray
    kinv: float


@dataclass
class Command:
    """What a controller commanded this step.

    Attributes:
        q_target: (dof,) joint position targets, radians, within the limits.
        target_features: the task-space target (feature_dim,) if the controller had one
            (``ee``), else ``None`` (the FK of ``q_target`` is the commanded pose).
        ik_calls: numerical IK calls spent on this command.
        ik_success: whether the IK (if any) met its tolerances.
    """

    q_target: np.ndarray
    target_features: np.ndarray | None = None
    ik_calls: int = 0
    ik_success: bool = True


class Controller(ABC):
    """Maps a clipped action in [-1, 1] to joint targets; owns the action scaling."""

    name: str = ""

    def bind(self, arm: Arm, goal_type: str) -> None:
        """Attach to an arm (called once by the robot)."""
        self.arm = arm
        self.goal_type = goal_type

    @property
    @abstractmethod
    def action_dim(self) -> int:
        """Width of the action vector."""

    @property
    def extra_obs_dim(self) -> int:
        """Entries this controller appends to the ``observation`` vector."""
        return 0

    def extra_obs(self) -> np.ndarray:
        return np.zeros(0)

    def reset(self, state: RobotState, goal_features: np.ndarray) -> int:
        """Start an episode with goal pose (feature_dim,); returns numerical IK calls spent."""
        return 0

    def reset_info(self) -> dict[str, Any]:
        """Entries this controller adds to the info of ``reset``."""
        return {}

    @abstractmethod
    def command(self, action: np.ndarray, state: RobotState, q_target: np.ndarray) -> Command:
        """Joint targets for ``action`` (already clipped) given the measured ``state`` and the
        current motor targets ``q_target``."""

    def solvers(self) -> list[Any]:
        """IK solvers this controller calls (for reseeding and call accounting; see
        :func:`ikml_gym.solvers.walk_solvers`)."""
        return []

    def get_state(self) -> dict[str, Any]:
        return {}

    def set_state(self, state: dict[str, Any]) -> None:
        pass


class JointControl(Controller):
    """``control_type="joints"``: joint target = measured q + action * ``joint_step`` (rad)."""

    name = "joints"

    def __init__(self, joint_step: float = JOINT_STEP) -> None:
        self.joint_step = float(joint_step)

    @property
    def action_dim(self) -> int:
        return self.arm.dof

    def command(self, action: np.ndarray, state: RobotState, q_target: np.ndarray) -> Command:
        return Command(state.q + action * self.joint_step)


class EEControl(Controller):
    """``control_type="ee"``: the action moves the end-effector target; IK every step.

    The target is the measured ee pose moved by ``action[:3] * ee_step`` (metres,
    base frame) and rotated by the rest of the action times ``rot_step`` (radians):
    the tool pitch psi for pose4 arms (action width 4), a base-frame rotation vector
    for pose7 arms (width 6). The orientation is part of the action even for
    position goals, because IK needs a full pose and a fixed orientation would make
    much of the workspace unreachable. ``solver.solve(target, q0=q)`` gives the joint
    targets. Where it fails (errors above its tolerances) its answer is still used if
    it ends closer to the target position than the arm is and moves no joint by more
    than ``max_jump`` (rad); otherwise the previous joint targets are kept. Every
    numerical call is counted (see :class:`~ikml_gym.solvers.CallMeter`).
    """

    name = "ee"
    solver = MeteredPart()

    def __init__(
        self, solver: Any, ee_step: float, rot_step: float = ROT_STEP, max_jump: float = 0.5
    ) -> None:
        self.solver = solver
        self.ee_step = float(ee_step)
        self.rot_step = float(rot_step)
        self.max_jump = float(max_jump)

    @property
    def action_dim(self) -> int:
        return 4 if self.arm.feature_kind == POSE4 else 6

    def target(self, action: np.ndarray, features: np.ndarray) -> np.ndarray:
        """The ee target features (feature_dim,) for ``action`` from the ee pose ``features``."""
        out = features.copy()
        out[:3] += action[:3] * self.ee_step
        if self.arm.feature_kind == POSE4:
            out[3] = kin.wrap_angle(np.array(out[3] + action[3] * self.rot_step))
        else:  # a base-frame rotation vector applied after the current orientation
            out[3:] = kin.turn_quat(out[3:], action[3:6] * self.rot_step)
        return out

    def command(self, action: np.ndarray, state: RobotState, q_target: np.ndarray) -> Command:
        target = self.target(action, state.features)
        before = self._calls()
        res = self.solver.solve(target, q0=state.q)
        calls = self._calls() - before
        ok = bool(res.success)
        q_new = np.asarray(res.q, dtype=np.float64)
        if not ok:
            # partial progress: keep an unsuccessful answer only if it lands closer to the
            # target than the arm is now and does not jump (no branch switch mid-motion)
            closer = float(res.pos_err) < float(np.linalg.norm(target[:3] - state.features[:3]))
            jump = float(np.max(np.abs(kin.wrap_angle(q_new - state.q))))
            if not (closer and jump <= self.max_jump):
                q_new = q_target
        return Command(q_new, target, calls, ok)

    def solvers(self) -> list[Any]:
        return [self.solver]


class IKPriorControl(Controller):
    """``control_type="ik_prior"``: joint target = prior IK solution of the goal + residual.

    At reset the prior solves the episode's goal pose from the start configuration.
    A pose goal is solved as it is; for a position goal the orientation is left
    free and ``chooser`` (an :class:`~ikml_gym.envs.orientation.OrientationChooser`)
    picks it among candidates the classifier rates reachable and solves it (without
    a chooser the orientation sampled with the goal is solved). The pose solved is
    :attr:`prior_pose` (``info["prior_pose"]`` at reset). Each step the joint target
    is ``q_prior + action * residual_scale`` (radians), so a zero action drives the
    arm to the prior's solution. ``q_prior`` is appended to the observation, so the
    dynamics stay Markov for HER relabelling.
    """

    name = "ik_prior"
    prior = MeteredPart()

    def __init__(
        self,
        prior: Any,
        residual_scale: float = RESIDUAL_SCALE,
        chooser: OrientationChooser | None = None,
    ) -> None:
        self.prior = prior
        self.residual_scale = float(residual_scale)
        self.chooser = chooser
        self.q_prior: np.ndarray | None = None
        self.prior_pose: np.ndarray | None = None
        self.prior_success = False

    @property
    def action_dim(self) -> int:
        return self.arm.dof

    @property
    def extra_obs_dim(self) -> int:
        return self.arm.dof

    def extra_obs(self) -> np.ndarray:
        return self.q_prior if self.q_prior is not None else np.zeros(self.arm.dof)

    def reset(self, state: RobotState, goal_features: np.ndarray) -> int:
        before = self._calls()
        goal = np.asarray(goal_features, dtype=np.float64)
        if self.goal_type == "position" and self.chooser is not None:
            choice = self.chooser.solve(self.prior, goal, state.q)
            pose, q, success = choice.pose, choice.q, choice.success
        else:
            res = self.prior.solve(goal, q0=state.q)
            pose, q, success = goal, res.q, res.success
        self.q_prior = np.clip(
            np.asarray(q, dtype=np.float64),
            self.arm.joint_limits[:, 0],
            self.arm.joint_limits[:, 1],
        )
        self.prior_pose = np.array(pose, dtype=np.float64)
        self.prior_success = bool(success)
        return self._calls() - before

    def reset_info(self) -> dict[str, Any]:
        return {"prior_pose": self.prior_pose.copy(), "prior_success": self.prior_success}

    def command(self, action: np.ndarray, state: RobotState, q_target: np.ndarray) -> Command:
        if self.q_prior is None:
            raise RuntimeError("call reset() before step()")
        return Command(self.q_prior + action * self.residual_scale)

    def solvers(self) -> list[Any]:
        return [self.prior]

    def get_state(self) -> dict[str, Any]:
        return {
            "q_prior": self.q_prior,
            "prior_pose": self.prior_pose,
            "prior_success": self.prior_success,
        }

    def set_state(self, state: dict[str, Any]) -> None:
        self.q_prior = state["q_prior"]
        self.prior_pose = state.get("prior_pose")
        self.prior_success = state["prior_success"]


@dataclass
class ArmRobot:
    """An arm loaded into ``sim`` and driven by ``controller``.

    Joints are found by the names in ``arm.joint_names``; motor force limits are the
    URDF efforts (100 N m where a joint declares none).
    """

    sim: BulletSim
    arm: Arm
    controller: Controller
    goal_type: str = "position"
    home_q: np.ndarray | None = None
    body: int = field(init=False)
    joints: list[int] = field(init=False)
    forces: list[float] = field(init=False)
    q_target: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.body = self.sim.load_urdf(self.arm.urdf_path)
        joints = named_joints(self.sim.joint_info(self.body), self.arm.joint_names)
        self.joints = [j[0] for j in joints]
        self.forces = [float(j[10]) if j[10] > 0 else 100.0 for j in joints]
        self.home_q = (
            home_configuration(self.arm)
            if self.home_q is None
            else check_home(self.arm, self.home_q)
        )
        self.q_target = self.home_q.copy()
        self.controller.bind(self.arm, self.goal_type)

    @property
    def action_dim(self) -> int:
        return self.controller.action_dim

    def reset(self) -> RobotState:
        """Joints to the home configuration at rest, motors holding it."""
        self.sim.reset_joints(self.body, self.joints, self.home_q)
        self.set_targets(self.home_q)
        return self.state()

    def set_targets(self, q_target: np.ndarray) -> None:
        lo, hi = self.arm.joint_limits[:, 0], self.arm.joint_limits[:, 1]
        self.q_target = np.clip(q_target, lo, hi)
        self.sim.position_control(self.body, self.joints, self.q_target, self.forces)

    def apply(self, action: np.ndarray, state: RobotState) -> Command:
        """Command joint targets for a clipped action; returns what was commanded."""
        cmd = self.controller.command(action, state, self.q_target)
        self.set_targets(cmd.q_target)
        cmd.q_target = self.q_target
        return cmd

    def state(self) -> RobotState:
        q, qdot = self.sim.joint_states(self.body, self.joints)
        feats, kinv = self.arm.features_and_kinv(q)
        return RobotState(q, qdot, feats, kinv)

    def get_state(self) -> dict[str, Any]:
        q, qdot = self.sim.joint_states(self.body, self.joints)
        return {
            "q": q,
            "qdot": qdot,
            "q_target": self.q_target.copy(),
            "controller": self.controller.get_state(),
        }

    def set_state(self, state: dict[str, Any]) -> None:
        self.sim.set_joint_velocities(self.body, self.joints, state["q"], state["qdot"])
        self.set_targets(state["q_target"])
        self.controller.set_state(state["controller"])
