"""The parts of a reach env (sim, robot, task) built from a validated :class:`ReachConfig`.

Also the two builders the wrappers share with the env: :func:`make_solver` (an IK
solver from a name or an instance) and :func:`make_classifier` (a feasibility
classifier from ``"pretrained"`` or an instance).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..arms import Arm
from ..errors import ArmMismatchError
from .config import ReachConfig
from .orientation import OrientationChooser
from .robot import ArmRobot, Controller, EEControl, IKPriorControl, JointControl
from .sim import BulletSim
from .task import (
    ClassifierGoalCheck,
    FeasibilityPenaltyTerm,
    GoalCheck,
    IKGoalCheck,
    NoGoalCheck,
    ReachTask,
)


def check_same_arm(part: Any, arm: Arm, what: str) -> None:
    """Raise ``ArmMismatchError`` if ``part`` (a solver or classifier) declares another arm."""
    other = getattr(part, "arm", None)
    if isinstance(other, Arm) and other.urdf_hash != arm.urdf_hash:
        raise ArmMismatchError(f"the {what} is for arm {other.name!r}, the env uses {arm.name!r}")


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
    ``"hybrid"`` (``HybridIK``: that learned IK as a guess
    (:func:`~ikml_gym.learned.ik.load_guess_ik`), FK-checked, and ``PyBulletIK`` where
    the check fails). Solvers made here accept
    answers within ``tol`` ``(position m, orientation rad)`` (default: the solvers'
    own 1 mm / 1 degree) and are appended to ``owned`` (the env closes them);
    instances are used as given, with their own tolerances, and never closed by the env.
    """
    from ..learned.ik import load_guess_ik, load_ik
    from ..solvers import DLSIK, AnalyticIK, HybridIK, PyBulletIK

    if not isinstance(spec, str):
        if not callable(getattr(spec, "solve", None)):
            raise TypeError(f"{what} must be a solver name or an object with solve(), got {spec!r}")
        check_same_arm(spec, arm, what)
        return spec
    tols = {} if tol is None else {"pos_tol": tol[0], "rot_tol": tol[1]}
    if spec == "pybullet":
        solver = PyBulletIK(arm, **tols)
        owned.append(solver)
        return solver
    if spec == "dls":
        return DLSIK(arm, **tols)
    if spec == "analytic":
        return AnalyticIK(arm, **tols)
    if spec == "learned":
        return load_ik(arm.name, arm=arm, **tols)
    if spec == "hybrid":
        learned = load_guess_ik(arm, **tols)
        fallback = PyBulletIK(arm, **tols)
        owned.append(fallback)
        return HybridIK(learned, fallback, tol=tol)
    raise ValueError(
        f"{what} must be 'pybullet', 'dls', 'analytic', 'learned', 'hybrid' or a solver, got {spec!r}"
    )


def make_classifier(spec: Any, arm: Arm) -> Any:
    """``"pretrained"`` -> the shipped classifier of ``arm`` (loaded for this very Arm); a
    classifier (``predict``) or a ``FeasibilityFilter`` (``query``) as is."""
    if isinstance(spec, str):
        if spec != "pretrained":
            raise ValueError(
                f"classifier must be 'pretrained' or an object with predict(), got {spec!r}"
            )
        from ..learned.classifier import load_classifier

        spec = load_classifier(arm.name, arm=arm)
    if not (callable(getattr(spec, "predict", None)) or callable(getattr(spec, "query", None))):
        raise TypeError(
            f"classifier must have predict(features) -> classes (or be a FeasibilityFilter), got {spec!r}"
        )
    check_same_arm(spec, arm, "classifier")
    return spec


def goal_check_of(
    choice: str | GoalCheck,
    arm: Arm,
    owned: list[Any],
    *,
    classifier: Any = None,
    solver: Any = "pybullet",
    solver_name: str = "goal_solver",
    exclude_near_singular: bool = False,
    tol: tuple[float, float] | None = None,
) -> GoalCheck:
    """The goal check ``choice`` names: ``"none"``, ``"ik"`` (``solver`` made by
    :func:`make_solver` with ``tol``; made solvers go to ``owned``), ``"classifier"``
    (with the loaded ``classifier``), or a :class:`GoalCheck` as is.

    Raises:
        ValueError: another choice.
    """
    if isinstance(choice, GoalCheck):
        return choice
    if choice == "ik":
        return IKGoalCheck(make_solver(solver, arm, owned, solver_name, tol))
    if choice == "classifier":
        return ClassifierGoalCheck(classifier, exclude_near_singular)
    if choice == "none":
        return NoGoalCheck()
    raise ValueError(
        f"goal_filter must be 'none', 'ik', 'classifier' or a GoalCheck, got {choice!r}"
    )


def make_goal_check(config: ReachConfig, classifier: Any, owned: list[Any]) -> GoalCheck:
    """The goal check of ``config.goal_filter`` (an IK solver it makes goes to ``owned``)."""
    return goal_check_of(
        config.goal_filter,
        config.arm,
        owned,
        classifier=classifier,
        solver=config.goal_solver,
        exclude_near_singular=config.exclude_near_singular,
        tol=config.ik_tolerance,
    )


def make_controller(config: ReachConfig, owned: list[Any], classifier: Any = None) -> Controller:
    """The controller of ``config.control_type`` (an IK solver it makes goes to ``owned``);
    ``ik_prior`` with position goals chooses the orientation with ``classifier`` (see
    :class:`~.orientation.OrientationChooser`)."""
    arm, tol = config.arm, config.ik_tolerance
    if config.control_type == "joints":
        return JointControl(config.joint_step)
    if config.control_type == "ee":
        solver = make_solver(config.ik_solver, arm, owned, "ik_solver", tol)
        return EEControl(solver, config.ee_step, config.rot_step)
    prior = make_solver(config.ik_prior, arm, owned, "ik_prior", tol)
    return IKPriorControl(prior, config.residual_scale, OrientationChooser(arm, classifier))


def make_task(config: ReachConfig, goal_check: GoalCheck, classifier: Any) -> ReachTask:
    """The reach task of ``config`` with ``goal_check`` and, if asked for, the penalty term."""
    weight = config.singularity_penalty
    penalty = FeasibilityPenaltyTerm(classifier, weight) if weight > 0 else None
    # the box is centred on the end-effector at the start configuration
    box_center = config.arm.fk_features(config.home_q)[:3] if config.goal_region == "box" else None
    return ReachTask(
        config.arm,
        goal_type=config.goal_type,
        reward_type=config.reward_type,
        distance_threshold=config.distance_threshold,
        angle_threshold=config.angle_threshold,
        goal_range=config.goal_range,
        goal_filter=goal_check,
        max_goal_tries=config.max_goal_tries,
        penalty=penalty,
        goal_region=config.goal_region,
        goal_center=box_center,
    )


@dataclass
class ReachParts:
    """What :func:`make_parts` built: the parts, the classifier (or None) and the solvers
    made by name (``owned``: closed with the env)."""

    sim: BulletSim
    robot: ArmRobot
    task: ReachTask
    classifier: Any
    owned: list[Any] = field(default_factory=list)


def make_parts(config: ReachConfig) -> ReachParts:
    """Load the models, make the solvers, then open the PyBullet client and load the arm.

    Whatever was opened is closed again if a later step raises.
    """
    owned: list[Any] = []
    sim = None
    try:
        clf = None
        if config.needs_classifier:
            spec = "pretrained" if config.classifier is None else config.classifier
            clf = make_classifier(spec, config.arm)
        goal_check = make_goal_check(config, clf, owned)
        controller = make_controller(config, owned, clf)
        task = make_task(config, goal_check, clf)
        sim = BulletSim(
            render_mode=config.render_mode, timestep=config.timestep, n_substeps=config.n_substeps
        )
        robot = ArmRobot(
            sim, config.arm, controller, goal_type=config.goal_type, home_q=config.home_q
        )
    except BaseException:
        for part in owned:
            part.close()
        if sim is not None:
            sim.close()
        raise
    return ReachParts(sim, robot, task, clf, owned)
