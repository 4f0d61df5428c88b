"""The package's exceptions.

Every error a user can trigger through the public API is one of these, so a
caller can catch ``IkmlGymError`` and still tell causes apart. Each subclasses
the built-in exception a Python user would expect (``ValueError``,
``FileNotFoundError``) so generic handlers keep working.
"""

from __future__ import annotations


class IkmlGymError(Exception):
    """Base class of every ikml_gym error."""


class InvalidInputError(IkmlGymError, ValueError):
    """An array argument has the wrong shape, dtype or non-finite values."""


class UnknownArmError(IkmlGymError, KeyError):
    """An arm name that is neither shipped nor a path to a URDF file."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else ""


class URDFError(IkmlGymError, ValueError):
    """A URDF that cannot be read or has no serial chain to the end-effector link."""


class ModelFileError(IkmlGymError, ValueError):
    """A model file that is missing, damaged, of an unknown version or malformed."""


class ArmMismatchError(ModelFileError):
    """A model file made for another arm (name or URDF hash differ)."""


class OutputPathError(IkmlGymError, OSError):
    """An output file or folder that cannot be written (checked before any long work)."""


class DependencyNotInstalled(IkmlGymError, ImportError):
    """An optional dependency that a feature needs is missing."""
