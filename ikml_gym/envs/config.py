"""The options of a reach env, validated once: :class:`ReachConfig`.

:class:`~ikml_gym.envs.reach.ArmReachEnv` turns its keyword arguments into a
``ReachConfig`` before a model is loaded or a PyBullet client opened, so a bad
keyword costs nothing; :mod:`.factories` builds the env's parts from it. Units are
those of ``ArmReachEnv``: metres, radians, seconds, pixels.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._validation import real_number, whole_number
from ..arms import Arm, load_arm
from ..errors import InvalidInputError
from ..pretrained import SHIPPED_ARMS, has_shipped_model
from .robot import check_home, home_configuration
from .task import GOAL_REGIONS, GoalCheck, default_distance_threshold, task_ik_tolerance

CONTROL_TYPES = ("joints", "ee", "ik_prior")
GOAL_TYPES = ("position", "pose")
REWARD_TYPES = ("sparse", "dense")
GOAL_FILTERS = ("none", "ik", "classifier")
RENDER_MODES = ("human", "rgb_array")
#: default ``rgb_array`` image size, pixels
RENDER_WIDTH = 480
RENDER_HEIGHT = 360

#: largest ``goal_range`` (fraction of the reach): goals beyond the reach are unreachable
#: anyway, and the observation box grows with it
MAX_GOAL_RANGE = 10.0
#: largest ``ee_step`` (metres per action unit); the ee target stays inside the position bound
MAX_EE_STEP = 1e3
#: largest physics step (s): PyBullet's solver diverges to NaN joint states for huge steps
MAX_TIMESTEP = 1.0
#: most physics steps per control step (each ``step`` would otherwise run unboundedly long)
MAX_SUBSTEPS = 100_000
#: default ``ee_step`` as a fraction of the arm's reach (metres per action unit)
EE_STEP_FRACTION = 0.06

_SHIPPED_ARMS: dict[str, Arm] = {}


def resolve_arm(spec: str | Path | Arm) -> Arm:
    """An Arm from a name/path (shipped arms cached per process: they are read-only)."""
    if isinstance(spec, Arm):
        return spec
    key = str(spec)
    if key in SHIPPED_ARMS:
        if key not in _SHIPPED_ARMS:
            _SHIPPED_ARMS[key] = load_arm(key)
        return _SHIPPED_ARMS[key]
    return load_arm(spec)


def check_choice(name: str, value: Any, allowed: tuple[str, ...]) -> str:
    """``value`` if it is one of ``allowed``; else ValueError naming ``name``."""
    if value not in allowed:
        raise ValueError(f"{name} must be one of {list(allowed)}, got {value!r}")
    return value


def check_ik_tolerance(value: Any) -> tuple[float, float]:
    """``ik_tolerance`` as a ``(position m, orientation rad)`` pair of positive reals.

    Raises:
        InvalidInputError: not a pair, or an entry that is not a finite number > 0.
    """
    try:
        pos, rot = value
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(
            f"ik_tolerance must be a (position m, orientation rad) pair, got {value!r}"
        ) from exc
    return (
        real_number(pos, "ik_tolerance[0] (position, m)", low=0.0, low_open=True),
        real_number(rot, "ik_tolerance[1] (orientation, rad)", low=0.0, low_open=True),
    )


def check_render_options(
    render_mode: str | None, render_width: Any, render_height: Any
) -> tuple[str | None, int, int]:
    """``(render_mode, width px, height px)``: a mode of :data:`RENDER_MODES` or None, sizes >= 1.

    Raises:
        InvalidInputError: a size that is not an integer >= 1.
        ValueError: another render mode.
    """
    width = whole_number(render_width, "render_width", low=1)
    height = whole_number(render_height, "render_height", low=1)
    if render_mode is not None and render_mode not in RENDER_MODES:
        raise ValueError(
            f"render_mode must be one of {list(RENDER_MODES)} or None, got {render_mode!r}"
        )
    return render_mode, width, height


def _positive(value: Any, name: str, high: float | None = None) -> float:
    return real_number(value, name, low=0.0, low_open=True, high=high)


@dataclass(frozen=True, eq=False)
class ReachConfig:
    """Validated options of :class:`~ikml_gym.envs.reach.ArmReachEnv` (see it for each).

    Defaults that depend on the arm or the region are resolved: ``distance_threshold``
    (metres), ``ik_tolerance`` ``(position m, orientation rad)``, ``goal_range`` (by
    ``goal_region``), ``ee_step`` (metres per action unit) and ``home_q`` ((dof,) radians).
    Solver and classifier options stay as given (names or instances): :mod:`.factories`
    turns them into parts.
    """

    arm: Arm
    control_type: str
    goal_type: str
    reward_type: str
    goal_filter: str | GoalCheck
    ik_solver: Any
    ik_prior: Any
    goal_solver: Any
    classifier: Any
    exclude_near_singular: bool
    singularity_penalty: float
    distance_threshold: float
    angle_threshold: float
    ik_tolerance: tuple[float, float]
    goal_region: str
    goal_range: float
    max_goal_tries: int
    home_q: np.ndarray
    joint_step: float
    ee_step: float
    rot_step: float
    residual_scale: float
    timestep: float
    n_substeps: int
    render_mode: str | None
    render_width: int
    render_height: int

    @property
    def needs_classifier(self) -> bool:
        """Whether a classifier must be loaded: given, or used by the goal filter, the
        penalty, or (where the arm ships one) the ``ik_prior`` controller's choice of
        orientation for position goals."""
        return (
            self.classifier is not None
            or self.goal_filter == "classifier"
            or self.singularity_penalty > 0
            or (self.chooses_orientation and has_shipped_model(self.arm.name, "classifier"))
        )

    @property
    def chooses_orientation(self) -> bool:
        """Whether the ``ik_prior`` controller chooses the orientation a position goal leaves free."""
        return self.control_type == "ik_prior" and self.goal_type == "position"

    @classmethod
    def from_keywords(cls, keywords: Mapping[str, Any]) -> ReachConfig:
        """Validate every keyword of ``ArmReachEnv`` (all of them, as bound by its signature).

        Raises:
            The errors listed under ``ArmReachEnv``; the message names the option.
        """
        kw = dict(keywords)
        arm = resolve_arm(kw["arm"])
        check_choice("control_type", kw["control_type"], CONTROL_TYPES)
        check_choice("goal_type", kw["goal_type"], GOAL_TYPES)
        check_choice("reward_type", kw["reward_type"], REWARD_TYPES)
        check_choice("goal_region", kw["goal_region"], tuple(GOAL_REGIONS))
        if not isinstance(kw["goal_filter"], GoalCheck):
            check_choice("goal_filter", kw["goal_filter"], GOAL_FILTERS)
        kw.update(_check_numbers(kw, arm))
        kw["render_mode"], kw["render_width"], kw["render_height"] = check_render_options(
            kw["render_mode"], kw["render_width"], kw["render_height"]
        )
        home_q = kw["home_q"]
        home_q = home_configuration(arm) if home_q is None else check_home(arm, home_q)
        home_q.flags.writeable = False  # the config is immutable; the robot copies it
        kw["home_q"] = home_q
        kw["arm"] = arm
        return cls(**kw)


def _check_numbers(kw: Mapping[str, Any], arm: Arm) -> dict[str, Any]:
    """The numeric options of ``kw``, validated, with the arm's defaults filled in."""
    out: dict[str, Any] = {}
    out["singularity_penalty"] = real_number(
        kw["singularity_penalty"], "singularity_penalty", low=0.0
    )
    distance = kw["distance_threshold"]
    distance = (
        default_distance_threshold(arm)
        if distance is None
        else _positive(distance, "distance_threshold")
    )
    out["distance_threshold"] = distance
    tol = kw["ik_tolerance"]
    out["ik_tolerance"] = task_ik_tolerance(distance) if tol is None else check_ik_tolerance(tol)
    out["angle_threshold"] = _positive(kw["angle_threshold"], "angle_threshold")
    goal_range = kw["goal_range"]
    out["goal_range"] = (
        GOAL_REGIONS[kw["goal_region"]]
        if goal_range is None
        else _positive(goal_range, "goal_range", high=MAX_GOAL_RANGE)
    )
    out["max_goal_tries"] = whole_number(kw["max_goal_tries"], "max_goal_tries", low=1)
    out["joint_step"] = _positive(kw["joint_step"], "joint_step")
    ee_step = kw["ee_step"]
    out["ee_step"] = (
        EE_STEP_FRACTION * arm.reach
        if ee_step is None
        else _positive(ee_step, "ee_step", high=MAX_EE_STEP)
    )
    out["rot_step"] = _positive(kw["rot_step"], "rot_step")
    out["residual_scale"] = real_number(kw["residual_scale"], "residual_scale", low=0.0)
    out["timestep"] = _positive(kw["timestep"], "timestep", high=MAX_TIMESTEP)
    out["n_substeps"] = whole_number(kw["n_substeps"], "n_substeps", low=1, high=MAX_SUBSTEPS)
    return out
