"""ikml_gym: Gymnasium robot-arm reaching tasks with learned inverse kinematics.

Public API::

    import ikml_gym
    arm = ikml_gym.load_arm("arm6")          # or a path to any serial-chain URDF
"""

from __future__ import annotations

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

register_envs()


def load_ik(name_or_path: str = "arm4"):  # -> LearnedIK
    """The pretrained learned IK of a shipped arm (``"arm4"``), or a model file by path."""
    from .learned.ik import load_ik as _load_ik

    return _load_ik(name_or_path)


def load_classifier(name_or_path: str = "arm6"):  # -> FeasibilityClassifier
    """The pretrained reachability classifier of a shipped arm (``"arm4"``, ``"arm6"``) or a
    model file by path."""
    from .learned.classifier import load_classifier as _load_classifier

    return _load_classifier(name_or_path)


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
