"""How the multi-hypothesis learned IK encodes poses and reads its outputs (numpy).

* Inputs (:func:`mh_inputs`, :func:`input_spec`): ``(p - reach_center) / reach``
  (unitless), then ``sin psi, cos psi`` (pose4, 5 inputs) or the rotation matrix's
  columns 0 and 1 (pose7, 9 inputs: continuous, no quaternion sign seam).
* Outputs (:func:`heads_from_outputs`): ``K x dof x (cos q, sin q)``, turned into angles
  with ``atan2``.

The training computes the same inputs in torch from the target transforms
(:func:`ikml_gym.learned.train_mh_ik.torch_inputs`).
"""

from __future__ import annotations

import numpy as np

from .. import kinematics as kin
from ..arms import POSE4, Arm

#: network inputs of a pose4 arm, in order (see :func:`mh_inputs`)
POSE4_INPUTS = ("x_rel", "y_rel", "z_rel", "sin_psi", "cos_psi")
#: network inputs of a pose7 arm: relative position, then rotation columns 0 and 1
POSE7_INPUTS = ("x_rel", "y_rel", "z_rel", "r00", "r10", "r20", "r01", "r11", "r21")


def input_spec(arm: Arm) -> tuple[str, ...]:
    """The names of the network inputs of ``arm`` (:data:`POSE4_INPUTS` or :data:`POSE7_INPUTS`)."""
    return POSE4_INPUTS if arm.feature_kind == POSE4 else POSE7_INPUTS


def mh_inputs(arm: Arm, features: np.ndarray) -> np.ndarray:
    """Validated (N, feature_dim) features -> (N, 5) pose4 or (N, 9) pose7 network inputs.

    ``(p - reach_center) / reach`` (unitless), then ``sin psi, cos psi`` (pose4) or the
    rotation matrix's columns 0 and 1 (pose7), as in :func:`input_spec`.
    """
    pos = (features[:, :3] - arm.reach_center) / arm.reach
    if arm.feature_kind == POSE4:
        psi = features[:, 3]
        return np.column_stack([pos, np.sin(psi), np.cos(psi)])
    rot = kin.quat_to_matrix(features[:, 3:])
    return np.column_stack([pos, rot[:, :, 0], rot[:, :, 1]])


def mh_inputs_one(arm: Arm, features: np.ndarray) -> np.ndarray:
    """:func:`mh_inputs` of one validated (1, feature_dim) pose -> (1, 5) or (1, 9) inputs:
    the same numbers with fewer numpy calls (the relative position in Python floats, the
    same IEEE operations)."""
    x, y, z = features[0, :3].tolist()
    cx, cy, cz = arm.reach_center.tolist()
    reach = arm.reach
    pos = [(x - cx) / reach, (y - cy) / reach, (z - cz) / reach]
    if arm.feature_kind == POSE4:
        psi = features[0, 3]
        return np.array([[*pos, np.sin(psi), np.cos(psi)]])
    (r00, r01, _), (r10, r11, _), (r20, r21, _) = kin.quat_to_matrix(features[:, 3:])[0].tolist()
    return np.array([[*pos, r00, r10, r20, r01, r11, r21]])


def heads_from_outputs(y: np.ndarray, n_heads: int, dof: int) -> np.ndarray:
    """(N, K * dof * 2) network outputs ``(cos, sin)`` per head and joint -> (N, K, dof)
    angles in (-pi, pi] (``atan2``; the pairs need not be of unit norm)."""
    pairs = y.reshape(len(y), n_heads, dof, 2)
    return np.arctan2(pairs[..., 1], pairs[..., 0])
