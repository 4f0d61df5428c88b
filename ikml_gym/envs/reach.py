"""``ArmReachEnv``: reach a goal with the 4-DOF or 6-DOF arm (registered as ``ikml_gym/Reach*``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..arms import Arm
from ..solvers.base import seeded_solvers
from .config import RENDER_HEIGHT, RENDER_WIDTH, ReachConfig
from .core import ArmTaskEnv
from .factories import make_parts
from .robot import JOINT_STEP, RESIDUAL_SCALE, ROT_STEP
from .task import ANGLE_THRESHOLD, MAX_GOAL_TRIES, GoalCheck


class ArmReachEnv(ArmTaskEnv):
    """Move the end-effector of a 4-DOF or 6-DOF arm to a goal (goal-conditioned, HER-ready).

    The arm (``arm4``: yaw-pitch-pitch-pitch, reach 0.38 m; ``arm6``: UR5 kinematics,
    reach 1.03 m) stands at the origin, simulated in its own PyBullet client with
    position-controlled joints (20 physics steps of 2 ms per control step, 25 Hz).
    Each episode starts at a fixed home configuration with a new goal.

    Registered ids (``import ikml_gym``; ``max_episode_steps=50``)::

        ikml_gym/Reach{arm}{region}{control}{reward}-v0
          arm:     4DOF (arm4) | 6DOF (arm6)
          region:  ""  goal_region="ball" (whole workspace) | "Local" goal_region="box"
                   (panda-gym's difficulty; registered with the sparse reward only)
          control: ""  joints | "EE" ee | "IKPrior" ik_prior (the arm's shipped learned IK as the prior)
          reward:  ""  sparse | "Dense" dense

    e.g. ``ikml_gym/Reach4DOF-v0``, ``ikml_gym/Reach6DOFIKPrior-v0``,
    ``ikml_gym/Reach6DOFEEDense-v0``, ``ikml_gym/Reach4DOFLocal-v0`` (the full list:
    ``ikml_gym.ENV_IDS``). Every option below is also a keyword of ``gymnasium.make``.

    Spaces (all float32):
        * ``action``: Box(-1, 1, (n,)); entries outside [-1, 1] are clipped, NaN/inf
          or a wrong shape raise ``InvalidInputError``. n = dof for ``joints`` and
          ``ik_prior``; 4 (arm4: dx, dy, dz, dpsi) or 6 (arm6: dx, dy, dz, rotation
          vector) for ``ee``.
        * ``observation["observation"]``: ``[q (dof) rad, qdot (dof) rad/s (clipped to
          +-50), ee pose
          (4: x, y, z m, psi rad | 7: x, y, z m, qx, qy, qz, qw xyzw)]``, plus the
          prior's joint solution ``q_prior`` (dof) for ``ik_prior``.
        * ``achieved_goal`` / ``desired_goal``: (3,) position, metres, base frame; with
          ``goal_type="pose"`` the arm's pose features, (4,) ``[x, y, z, psi]`` or (7,)
          ``[x, y, z, qx, qy, qz, qw]`` (xyzw, qw >= 0).
        * Bounds: joint limits (+-0.5 rad for measured joints, which can overshoot a
          limit a little) for angles, a box of half-width 1.05 x reach (or 1.05 x the
          farthest goal position, if farther) around the first joint for positions,
          [-pi, pi] for psi, [-1, 1] for quaternion entries.

    Control (``control_type``):
        * ``joints``: joint targets = measured q + action * ``joint_step`` (0.1 rad).
        * ``ee``: the measured ee pose moved by action * (``ee_step`` m, ``rot_step``
          rad) is solved by ``ik_solver`` every step (seeded with the current q);
          ``"pybullet"`` (baseline, default) or ``"hybrid"`` (learned IK, FK check,
          PyBullet fallback), or any solver instance. Solvers made by name accept an
          answer within ``ik_tolerance`` (default a third of ``distance_threshold`` and
          3 degrees: each step is planned again from the measured pose, so millimetres
          of IK error cost nothing). On an IK failure the solver's
          answer is used only if it gets closer to the target without moving a joint
          by more than 0.5 rad, else the joint targets stay. Numerical calls are
          counted in ``info``.
        * ``ik_prior``: joint targets = ``ik_prior`` solution of the goal pose +
          action * ``residual_scale`` (0.25 rad); a zero action reaches the goal when
          the prior is right. ``"learned"`` (default, ``ikml_gym.load_ik``), or a
          solver instance (e.g. ``AnalyticIK``; any arm with a solver works). For
          position goals the controller chooses the orientation among candidates the
          classifier rates reachable (:mod:`ikml_gym.envs.orientation`);
          ``info["prior_pose"]`` at reset is the pose solved.

    Goals: a full pose is sampled per episode, its position uniform in the goal region
    and its orientation uniform. ``goal_region="ball"`` (default): a ball of
    ``goal_range`` (default 0.9) x reach around the first joint, goals in every direction;
    ``"box"``: an axis-aligned cube of side ``goal_range`` (default 0.35) x reach centred
    on the end-effector at ``home_q``, the region and success radius of panda-gym's
    ``PandaReach`` tasks scaled to the arm (the ``Local`` ids). ``goal_type="position"``
    (default) asks for its position, ``"pose"`` for all of it. ``goal_filter``:
    ``"none"`` (default: many poses are unreachable, although almost every position
    is), ``"ik"`` (keep the first candidate ``goal_solver`` reaches: the numerical
    baseline, calls counted), ``"classifier"`` (keep the first the ``classifier`` calls
    reachable; with ``exclude_near_singular=True`` only classes 2-3). ``options={"goal": pose}`` in ``reset`` sets a goal pose directly.

    Reward (``compute_reward(achieved_goal, desired_goal, info)`` is vectorised:
    (goal_dim,) -> float32 scalar, (B, goal_dim) -> float32 (B,), equal to the step
    reward): success is ``d_pos < distance_threshold`` (default 0.05 x reach:
    0.019 m arm4, 0.052 m arm6) and, for pose goals, orientation error <
    ``angle_threshold`` (0.1 rad). ``sparse``: 0 on success, else -1. ``dense``:
    ``-(d_pos + distance_threshold / angle_threshold * d_rot)``. With
    ``singularity_penalty=w > 0`` the reward loses ``w`` on every step whose
    commanded target (the ee target, or the FK of the joint targets) the
    ``classifier`` calls unreachable or near-singular; the flag is stored in
    ``info["feasibility_penalty"]``, so HER relabelling recomputes it correctly
    (stable-baselines3: ``HerReplayBuffer(..., copy_info_dict=True)``, else it passes
    empty infos and ``compute_reward`` raises rather than drop the penalty).
    An episode terminates on success; ``TimeLimit`` truncates it after 50 steps.

    Info: ``is_success``, ``distance`` (m), ``angle_error`` (rad), ``ik_calls``
    (numerical IK calls this step; at reset: goal filter + prior),
    ``ik_calls_episode``, ``ik_success``, ``goal_class`` (the classifier's class of
    the goal pose: 0 unreachable, 1 near-singular, 2 adequate, 3 high
    manipulability; -1 without a classifier), ``kinv`` (of the current joints),
    ``feasibility_penalty``; at reset also ``goal_accepted`` and ``goal_tries``.

    Rendering: ``rgb_array`` gives (render_height, render_width, 3) uint8 images from
    PyBullet's TinyRenderer (headless) showing the arm and a green goal sphere;
    ``human`` opens PyBullet's GUI (one per process; without a display it raises
    ``DisplayNotAvailableError``).

    Seeding: ``reset(seed=...)`` seeds ``self.np_random``, which samples goals and
    reseeds the restart generators of the numerical solvers in use; seeded rollouts
    are bit-for-bit reproducible. Pickling rebuilds the env from its keyword
    arguments and restores its state (solver / classifier instances passed in must
    be picklable themselves; names always are).

    The validated options, with the arm's defaults filled in (``distance_threshold``,
    ``ik_tolerance``, ``ee_step``, ``home_q``), are ``env.unwrapped.config``
    (a frozen :class:`~ikml_gym.envs.config.ReachConfig`).

    Version history:
        * v0: initial version. The ``Local`` ids (``goal_region="box"``) were added later
          as their own ids; the ball ids are unchanged.

    Args:
        arm: ``"arm4"``, ``"arm6"``, a URDF path or an :class:`~ikml_gym.Arm`.
        control_type: ``"joints"``, ``"ee"`` or ``"ik_prior"``.
        goal_type: ``"position"`` or ``"pose"``.
        reward_type: ``"sparse"`` or ``"dense"``.
        goal_filter: ``"none"``, ``"ik"``, ``"classifier"`` or a
            :class:`~ikml_gym.envs.task.GoalCheck`.
        ik_solver: solver of ``ee`` control (name or instance), default ``"pybullet"``.
        ik_prior: prior of ``ik_prior`` control (name or instance), default ``"learned"``.
        goal_solver: numerical solver of ``goal_filter="ik"``, default ``"pybullet"``.
        classifier: ``None`` (load ``"pretrained"`` only where needed), ``"pretrained"``,
            or an object with ``predict((N, feature_dim)) -> (N,)`` classes.
        exclude_near_singular: classifier filter also rejects near-singular goals.
        singularity_penalty: weight of the feasibility penalty (0 = off).
        distance_threshold: metres (default 0.05 x reach).
        angle_threshold: radians.
        ik_tolerance: ``(position m, orientation rad)`` within which every solver the env
            makes by name (``ik_solver``, ``ik_prior``, ``goal_solver``) accepts an IK
            answer; default ``(distance_threshold / 3, 3 degrees)``.
        goal_region: ``"ball"`` or ``"box"`` (see Goals).
        goal_range: the goal ball's radius or the goal box's side, a fraction of the
            reach (default 0.9 for the ball, 0.35 for the box).
        max_goal_tries: candidates before a filter gives up (``info["goal_accepted"]``).
        home_q: start configuration (dof,), radians.
        joint_step, ee_step, rot_step, residual_scale: action scales (rad, m (default
            0.06 x reach), rad, rad).
        timestep, n_substeps: physics step (s) and physics steps per control step.
        render_mode, render_width, render_height: rendering.

    Raises:
        InvalidInputError: a numeric option that is not a finite number in its range
            (thresholds, steps and scales > 0, ``goal_range`` in (0, 10], ``ee_step`` at most
            1000 m, ``timestep`` at most 1 s, ``n_substeps`` in [1, 100000], counts and image
            sizes integers >= 1) or a ``home_q`` that is not (dof,) finite angles within the
            joint limits; the message names the option.
        ValueError: an option that is not one of its documented choices.
        TypeError: a solver or classifier instance without ``solve`` / ``predict``.
        UnknownArmError, FileNotFoundError, URDFError: ``arm`` (see :func:`ikml_gym.load_arm`).
        ModelFileError: a pretrained model that does not ship for this arm.
        ArmMismatchError: a solver or classifier instance made for another arm.
    """

    def __init__(
        self,
        arm: str | Path | Arm = "arm4",
        control_type: str = "joints",
        goal_type: str = "position",
        reward_type: str = "sparse",
        goal_filter: str | GoalCheck = "none",
        ik_solver: Any = "pybullet",
        ik_prior: Any = "learned",
        goal_solver: Any = "pybullet",
        classifier: Any = None,
        exclude_near_singular: bool = False,
        singularity_penalty: float = 0.0,
        distance_threshold: float | None = None,
        angle_threshold: float = ANGLE_THRESHOLD,
        ik_tolerance: tuple[float, float] | None = None,
        goal_region: str = "ball",
        goal_range: float | None = None,
        max_goal_tries: int = MAX_GOAL_TRIES,
        home_q: Any = None,
        joint_step: float = JOINT_STEP,
        ee_step: float | None = None,
        rot_step: float = ROT_STEP,
        residual_scale: float = RESIDUAL_SCALE,
        timestep: float = 1.0 / 500.0,
        n_substeps: int = 20,
        render_mode: str | None = None,
        render_width: int = RENDER_WIDTH,
        render_height: int = RENDER_HEIGHT,
    ) -> None:
        self._init_kwargs = {k: v for k, v in locals().items() if k not in ("self", "__class__")}
        #: the validated options (arm-dependent defaults resolved)
        self.config = config = ReachConfig.from_keywords(self._init_kwargs)
        self.control_type = config.control_type
        self.goal_type = config.goal_type
        self.reward_type = config.reward_type
        parts = make_parts(config)
        super().__init__(
            parts.sim,
            parts.robot,
            parts.task,
            classifier=parts.classifier,
            render_mode=config.render_mode,
            render_width=config.render_width,
            render_height=config.render_height,
            owned=parts.owned,
        )
        if config.render_mode == "human":
            self._aim_gui_camera()

    # ---------------------------------------------------------------- pickle
    def __getstate__(self) -> dict[str, Any]:
        """Keyword arguments + episode state; the PyBullet client is rebuilt on unpickling."""
        solver_rngs = [s.rng for s in seeded_solvers(self._solvers())]
        return {
            "kwargs": self._init_kwargs,
            "np_random": self._np_random,
            "np_random_seed": getattr(self, "_np_random_seed", None),
            "robot": self.robot.get_state() if not self.sim.closed else None,
            "goal_features": self._goal_features,
            "goal_class": self._goal_class,
            "has_state": self._state is not None,
            "episode_calls": self._episode_calls,
            "ik_calls_total": self.ik_calls_total,
            "solver_rngs": solver_rngs,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state["kwargs"])
        self._np_random = state["np_random"]
        if state["np_random_seed"] is not None:
            self._np_random_seed = state["np_random_seed"]
        if state["robot"] is not None:
            self.robot.set_state(state["robot"])
        self._goal_features = state["goal_features"]
        self._goal_class = state["goal_class"]
        self.sim.set_base_position(self._marker, self._goal_features[:3])
        self._episode_calls = state["episode_calls"]
        self.ik_calls_total = state["ik_calls_total"]
        for s, rng in zip(seeded_solvers(self._solvers()), state["solver_rngs"]):
            s.rng = rng
        if state["has_state"]:
            self._state = self.robot.state()
