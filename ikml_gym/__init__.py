"""ikml_gym: Gymnasium robot-arm reaching tasks with learned inverse kinematics.

Public API::

    import ikml_gym
    arm = ikml_gym.load_arm("arm6")          # or a path to any serial-chain URDF
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._version import __version__
from .arms import Arm, load_arm
from .envs.registration import ENV_IDS, register_envs
from .errors import (
    ArmMismatchError,
    DependencyNotInstalled,
    IkmlGymError,
    InvalidInputError,
    ModelFileError,
    OutputPathError,
    UnknownArmError,
    URDFError,
)

if TYPE_CHECKING:  # the learned parts load on first use: `import ikml_gym` stays light
    from .learned.classifier import FeasibilityClassifier
    from .learned.ik import LearnedIK
    from .learned.mh_ik import MultiHypothesisIK

register_envs()


def load_ik(
    name_or_path: str | Path = "arm4", arm: Arm | None = None, **kwargs: Any
) -> LearnedIK | MultiHypothesisIK:
    """The pretrained learned IK of a shipped arm (``"arm4"``, ``"arm6"``: a
    ``MultiHypothesisIK``), or a model file by path (a clustered ``LearnedIK`` or a
    ``MultiHypothesisIK``, as its header says).

    ``arm`` (optional) is checked against the file's arm; ``kwargs`` (``pos_tol``,
    ``rot_tol``, ``refine_steps``, ``pitch_closure``) set up the solver. See
    :func:`ikml_gym.learned.ik.load_ik`.
    """
    from .learned.ik import load_ik as _load_ik

    return _load_ik(name_or_path, arm=arm, **kwargs)


def load_classifier(
    name_or_path: str | Path = "arm6", arm: Arm | None = None
) -> FeasibilityClassifier:
    """The pretrained reachability classifier of a shipped arm (``"arm4"``, ``"arm6"``) or a
    model file by path; ``arm`` (optional) is checked against the file's arm."""
    from .learned.classifier import load_classifier as _load_classifier

    return _load_classifier(name_or_path, arm=arm)


__all__ = [
    "ENV_IDS",
    "Arm",
    "ArmMismatchError",
    "DependencyNotInstalled",
    "IkmlGymError",
    "InvalidInputError",
    "ModelFileError",
    "OutputPathError",
    "URDFError",
    "UnknownArmError",
    "__version__",
    "load_arm",
    "load_classifier",
    "load_ik",
]
