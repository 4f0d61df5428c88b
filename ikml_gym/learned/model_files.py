"""What the learned models' loaders share: which arm a model file is checked against.

Both loaders (:meth:`LearnedIK.load <ikml_gym.learned.ik.LearnedIK.load>`,
:meth:`FeasibilityClassifier.load <ikml_gym.learned.classifier.FeasibilityClassifier.load>`)
read the header, settle the arm with :func:`arm_for_model`, then read the tensors,
so a model file made for another arm raises :class:`~ikml_gym.errors.ArmMismatchError`
in both, whether the arm was passed or taken from the header.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..arms import Arm, load_arm
from ..errors import ArmMismatchError
from ..io import check_model_arm, model_paths
from ..pretrained import SHIPPED_ARMS


def arm_for_model(path: str | Path, header: dict[str, Any], arm: Arm | None, retrain: str) -> Arm:
    """The arm a model file belongs to, checked against its header.

    Args:
        path: the model (stem or either file), for messages.
        header: its header (:func:`ikml_gym.io.read_model_header`).
        arm: the arm the caller means; None for the shipped arm the header names.
        retrain: the command that trains such a model (for the message).

    Raises:
        ArmMismatchError: ``arm`` is not the header's arm (name or URDF hash); or, with
            ``arm=None``, the header names an arm that does not ship, or the shipped
            arm's URDF differs from the one the model was trained on.
    """
    header_path = model_paths(path)[1]
    if arm is not None:
        check_model_arm(header, header_path, arm)
        return arm
    name = header["arm"]
    if name not in SHIPPED_ARMS:
        raise ArmMismatchError(
            f"{header_path}: model is for arm {name!r}, which is not shipped; pass arm= "
            "(the Arm it was trained for, e.g. arm=load_arm(<its URDF>))"
        )
    shipped = load_arm(name)
    if shipped.urdf_hash != header["urdf_hash"]:
        raise ArmMismatchError(
            f"{header_path}: model was trained on a different {name!r} URDF (sha256 "
            f"{str(header['urdf_hash'])[:12]}..., shipped {shipped.urdf_hash[:12]}...); "
            f"retrain it with `{retrain}`"
        )
    return shipped
