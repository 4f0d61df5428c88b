"""ikml_gym: Gymnasium robot-arm reaching tasks with learned inverse kinematics.

Public API::

    import ikml_gym
    arm = ikml_gym.load_arm("arm6")          # or a path to any serial-chain URDF
"""

from __future__ import annotations

__version__ = "0.1.0"

from .arms import Arm, load_arm
from .errors import (
    ArmMismatchError,
    DependencyNotInstalled,
    IkmlGymError,
    InvalidInputError,
    ModelFileError,
    UnknownArmError,
    URDFError,
)

__all__ = [
    "Arm",
    "ArmMismatchError",
    "DependencyNotInstalled",
    "IkmlGymError",
    "InvalidInputError",
    "ModelFileError",
    "URDFError",
    "UnknownArmError",
    "__version__",
    "load_arm",
]
