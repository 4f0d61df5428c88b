"""``ArmReachEnv``: reach a goal with the 4-DOF or 6-DOF arm (registered as ``ikml_gym/Reach*``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .._validation import real_number, whole_number
from ..arms import Arm, load_arm
from .core import ArmTaskEnv
from .robot import ArmRobot, Controller, EEControl, IKPriorControl, JointControl
from .sim import BulletSim
from .task import (
    ClassifierGoalCheck,
    FeasibilityPenaltyTerm,
    GoalCheck,
    IKGoalCheck,
    NoGoalCheck,
    ReachTask,
    check_ik_tolerance,
    check_same_arm,
    default_distance_threshold,
    task_ik_tolerance,
)

CONTROL_TYPES = ("joints", "ee", "ik_prior")
GOAL_TYPES = ("position", "pose")
REWARD_TYPES = ("sparse", "dense")
GOAL_FILTERS = ("none", "ik", "classifier")

#: largest ``goal_range`` (fraction of the reach): goals beyond the reach are unreachable
#: anyway, and the observation box grows with it
MAX_GOAL_RANGE = 10.0
#: largest ``ee_step`` (metres per action unit); the ee target stays inside the position bound
MAX_EE_STEP = 1e3
#: largest physics step (s): PyBullet's solver diverges to NaN joint states for huge steps
MAX_TIMESTEP = 1.0
#: most physics steps per control step (each ``step`` would otherwise run unboundedly long)
MAX_SUBSTEPS = 100_000

_ARMS: dict[str, Arm] = {}


def _arm(spec: str | Path | Arm) -> Arm:
    """An Arm from a name/path (shipped arms cached per process: they are read-only)."""
    if isinstance(spec, Arm):
        return spec
    key = str(spec)
    if key in ("arm4", "arm6"):
        if key not in _ARMS:
            _ARMS[key] = load_arm(key)
        return _ARMS[key]
    return load_arm(spec)


def make_solver(
    spec: Any,
    arm: Arm,
    owned: list[Any],
    what: str = "ik_solver",
    tol: tuple[float, float] | None = None,
) -> Any:
    """An IK solver from a name or an instance.

    Names: ``"pybullet"`` (:class:`~ikml_gym.solvers.PyBulletIK`, the baseline),
    ``"dls"``, ``"analytic"``, ``"learned"`` (the shipped learned IK of the arm),
    ``"hybrid"`` (``HybridIK``: that learned IK with pitch closure, FK-checked, and
    ``PyBulletIK`` where the check fails). Solvers made here accept
    answers within ``tol`` ``(position m, orientation rad)`` (default: the solvers'
    own 1 mm / 1 degree) and are appended to ``owned`` (the env closes them);
    instances are used as given, with their own tolerances, and never closed by the env.
    """
    from .. import solvers
    from ..learned.ik import load_ik

    if not isinstance(spec, str):
        if not callable(getattr(spec, "solve", None)):
            raise TypeError(f"{what} must be a solver name or an object with solve(), got {spec!r}")
        check_same_arm(spec, arm, what)
        return spec
    tols = {} if tol is None else {"pos_tol": tol[0], "rot_tol": tol[1]}
    if spec == "pybullet":
        solver = solvers.PyBulletIK(arm, **tols)
        owned.append(solver)
        return solver
    if spec == "dls":
        return solvers.DLSIK(arm, **tols)
    if spec == "analytic":
        return solvers.AnalyticIK(arm, **tols)
    if spec == "learned":
        return load_ik(arm.name, arm=arm, **tols)
    if spec == "hybrid":
        # pitch closure: the last joint from the target pitch, exact algebra for the
        # yaw-pitch-...-pitch arms the learned IK handles (measured on Reach4DOFEE-v0:
        # 4.7% of the steps need the fallback with it, 16% without)
        learned = load_ik(arm.name, arm=arm, pitch_closure=True, **tols)
        fallback = solvers.PyBulletIK(arm, **tols)
        owned.append(fallback)
        return solvers.HybridIK(learned, fallback, tol=tol)
    raise ValueError(
        f"{what} must be 'pybullet', 'dls', 'analytic', 'learned', 'hybrid' or a solver, got {spec!r}"
    )


def make_classifier(spec: Any, arm: Arm) -> Any:
    """``"pretrained"`` -> ``ikml_gym.load_classifier(arm.name)``; a classifier (``predict``) or a
    ``FeasibilityFilter`` (``query``) as is."""
    if isinstance(spec, str):
        if spec != "pretrained":
            raise ValueError(
                f"classifier must be 'pretrained' or an object with predict(), got {spec!r}"
            )
        from .. import load_classifier

        spec = load_classifier(arm.name)
    if not (callable(getattr(spec, "predict", None)) or callable(getattr(spec, "query", None))):
        raise TypeError(
            f"classifier must have predict(features) -> classes (or be a FeasibilityFilter), got {spec!r}"
        )
    check_same_arm(spec, arm, "classifier")
    return spec


def _choice(name: str, value: Any, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {list(allowed)}, got {value!r}")
    return value


class ArmReachEnv(ArmTaskEnv):
    """Move the end-effector of a 4-DOF or 6-DOF arm to a goal (goal-conditioned, HER-ready).

    The arm (``arm4``: yaw-pitch-pitch-pitch, reach 0.38 m; ``arm6``: UR5 kinematics,
    reach 1.03 m) stands at the origin, simulated in its own PyBullet client with
    position-controlled joints (20 physics steps of 2 ms per control step, 25 Hz).
    Each episode starts at a fixed home configuration with a new goal.

    Registered ids (``import ikml_gym``; ``max_episode_steps=50``)::

        ikml_gym/Reach{arm}{control}{reward}-v0
          arm:     4DOF (arm4) | 6DOF (arm6)
          control: ""  joints | "EE" ee | "IKPrior" ik_prior (4DOF only: the learned IK is 4-DOF)
          reward:  ""  sparse | "Dense" dense

    e.g. ``ikml_gym/Reach4DOF-v0``, ``ikml_gym/Reach4DOFIKPrior-v0``,
    ``ikml_gym/Reach6DOFEEDense-v0`` (the full list: ``ikml_gym.ENV_IDS``). Every
    option below is also a keyword of ``gymnasium.make``.

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
          limit a little) for angles, a box of half-width 1.05 x reach (x goal_range
          if larger) around the first joint for positions, [-pi, pi] for psi, [-1, 1]
          for quaternion entries.

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
          solver instance (e.g. ``AnalyticIK``; any arm with a solver works).

    Goals: a full pose is sampled per episode, its position uniform in a ball of
    ``goal_range`` (0.9) x reach around the first joint and its orientation uniform;
    ``goal_type="position"`` (default) asks for its position, ``"pose"`` for all of
    it. ``goal_filter``: ``"none"`` (default: many poses are unreachable, although
    almost every position is), ``"ik"`` (keep the first candidate ``goal_solver``
    reaches: the numerical baseline, calls counted), ``"classifier"`` (keep the first
    the ``classifier`` calls reachable; with ``exclude_near_singular=True`` only
    classes 2-3). ``options={"goal": pose}`` in ``reset`` sets a goal pose directly.

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

    Version history:
        * v0: initial version.

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
        goal_range: goal ball radius as a fraction of the reach.
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
        angle_threshold: float = 0.1,
        ik_tolerance: tuple[float, float] | None = None,
        goal_range: float = 0.9,
        max_goal_tries: int = 200,
        home_q: Any = None,
        joint_step: float = 0.1,
        ee_step: float | None = None,
        rot_step: float = 0.15,
        residual_scale: float = 0.25,
        timestep: float = 1.0 / 500.0,
        n_substeps: int = 20,
        render_mode: str | None = None,
        render_width: int = 480,
        render_height: int = 360,
    ) -> None:
        self._init_kwargs = {k: v for k, v in locals().items() if k not in ("self", "__class__")}
        the_arm = _arm(arm)
        _choice("control_type", control_type, CONTROL_TYPES)
        _choice("goal_type", goal_type, GOAL_TYPES)
        _choice("reward_type", reward_type, REWARD_TYPES)
        if not isinstance(goal_filter, GoalCheck):
            _choice("goal_filter", goal_filter, GOAL_FILTERS)
        # every keyword is checked here, before a model is loaded or a PyBullet client
        # opened, so a bad one costs nothing; the parts check theirs again for direct use
        singularity_penalty = real_number(singularity_penalty, "singularity_penalty", low=0.0)
        distance_threshold = (
            default_distance_threshold(the_arm)
            if distance_threshold is None
            else real_number(distance_threshold, "distance_threshold", low=0.0, low_open=True)
        )
        tol = (
            task_ik_tolerance(distance_threshold)
            if ik_tolerance is None
            else check_ik_tolerance(ik_tolerance)
        )
        angle_threshold = real_number(angle_threshold, "angle_threshold", low=0.0, low_open=True)
        goal_range = real_number(
            goal_range, "goal_range", low=0.0, low_open=True, high=MAX_GOAL_RANGE
        )
        max_goal_tries = whole_number(max_goal_tries, "max_goal_tries", low=1)
        joint_step = real_number(joint_step, "joint_step", low=0.0, low_open=True)
        if ee_step is not None:
            ee_step = real_number(ee_step, "ee_step", low=0.0, low_open=True, high=MAX_EE_STEP)
        rot_step = real_number(rot_step, "rot_step", low=0.0, low_open=True)
        residual_scale = real_number(residual_scale, "residual_scale", low=0.0)
        timestep = real_number(timestep, "timestep", low=0.0, low_open=True, high=MAX_TIMESTEP)
        n_substeps = whole_number(n_substeps, "n_substeps", low=1, high=MAX_SUBSTEPS)
        render_width = whole_number(render_width, "render_width", low=1)
        render_height = whole_number(render_height, "render_height", low=1)
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode must be one of {self.metadata['render_modes']} or None, got {render_mode!r}"
            )
        self.control_type = control_type
        self.goal_type = goal_type
        self.reward_type = reward_type

        owned: list[Any] = []
        sim = None
        try:
            needs_classifier = goal_filter == "classifier" or singularity_penalty > 0
            clf = None
            if classifier is not None or needs_classifier:
                clf = make_classifier("pretrained" if classifier is None else classifier, the_arm)

            if isinstance(goal_filter, GoalCheck):
                gfilter = goal_filter
            elif goal_filter == "ik":
                gfilter = IKGoalCheck(make_solver(goal_solver, the_arm, owned, "goal_solver", tol))
            elif goal_filter == "classifier":
                gfilter = ClassifierGoalCheck(clf, exclude_near_singular)
            else:
                gfilter = NoGoalCheck()

            controller: Controller
            if control_type == "joints":
                controller = JointControl(joint_step)
            elif control_type == "ee":
                step = 0.06 * the_arm.reach if ee_step is None else ee_step
                controller = EEControl(
                    make_solver(ik_solver, the_arm, owned, "ik_solver", tol), step, rot_step
                )
            else:
                controller = IKPriorControl(
                    make_solver(ik_prior, the_arm, owned, "ik_prior", tol), residual_scale
                )

            penalty = (
                FeasibilityPenaltyTerm(clf, singularity_penalty)
                if singularity_penalty > 0
                else None
            )
            task = ReachTask(
                the_arm,
                goal_type=goal_type,
                reward_type=reward_type,
                distance_threshold=distance_threshold,
                angle_threshold=angle_threshold,
                goal_range=goal_range,
                goal_filter=gfilter,
                max_goal_tries=max_goal_tries,
                penalty=penalty,
            )
            sim = BulletSim(render_mode=render_mode, timestep=timestep, n_substeps=n_substeps)
            robot = ArmRobot(sim, the_arm, controller, goal_type=goal_type, home_q=home_q)
        except BaseException:
            for part in owned:
                part.close()
            if sim is not None:
                sim.close()
            raise
        super().__init__(
            sim,
            robot,
            task,
            classifier=clf,
            render_mode=render_mode,
            render_width=render_width,
            render_height=render_height,
            owned=owned,
        )
        if render_mode == "human":
            import pybullet

            pybullet.resetDebugVisualizerCamera(
                2.0 * the_arm.reach,
                45.0,
                -25.0,
                self._camera_target().tolist(),
                physicsClientId=sim.client,
            )

    # ---------------------------------------------------------------- pickle
    def __getstate__(self) -> dict[str, Any]:
        """Keyword arguments + episode state; the PyBullet client is rebuilt on unpickling."""
        solver_rngs = []
        for solver in self._solvers():
            for s in (solver, getattr(solver, "fallback", None)):
                if s is not None and isinstance(getattr(s, "rng", None), np.random.Generator):
                    solver_rngs.append(s.rng)
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
        rngs = iter(state["solver_rngs"])
        for solver in self._solvers():
            for s in (solver, getattr(solver, "fallback", None)):
                if s is not None and isinstance(getattr(s, "rng", None), np.random.Generator):
                    s.rng = next(rngs, s.rng)
        if state["has_state"]:
            self._state = self.robot.state()
