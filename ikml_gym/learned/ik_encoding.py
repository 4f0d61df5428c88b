"""How poses and joint angles are encoded for the learned IK's regressors.

* Inputs (:func:`ik_inputs`, :data:`INPUT_SPEC`, 8 numbers per pose): ``x, y, z`` (m),
  ``sin psi, cos psi`` (psi is an angle, so it enters as a point on the circle, no seam
  at +-pi), and the cylindrical coordinates of the target ``r = hypot(x, y)`` (m),
  ``cos h, sin h`` with ``h = atan2(y, x)`` (the heading; all derived from the
  features, nothing arm-specific).
* Outputs (:func:`joint_targets`, :func:`joints_from_outputs`): ``[sin q_1..q_dof,
  cos q_1..q_dof]``, turned back into angles with ``atan2``.
"""

from __future__ import annotations

import math

import numpy as np

#: names of the regressor inputs, in order (see :func:`ik_inputs`)
INPUT_SPEC = ("x", "y", "z", "sin_psi", "cos_psi", "r_xy", "cos_heading", "sin_heading")


def ik_inputs(features: np.ndarray) -> np.ndarray:
    """(N, 4) pose4 features ``[x, y, z, psi]`` -> (N, 8) regressor inputs (:data:`INPUT_SPEC`)."""
    if len(features) == 1:  # Python floats: a few microseconds where numpy costs about ten
        x, y, z, psi = features[0].tolist()
        h = math.atan2(y, x)
        return np.array(
            [[x, y, z, math.sin(psi), math.cos(psi), math.hypot(x, y), math.cos(h), math.sin(h)]]
        )
    x, y, z, psi = features.T
    heading = np.arctan2(y, x)
    return np.column_stack(
        [x, y, z, np.sin(psi), np.cos(psi), np.hypot(x, y), np.cos(heading), np.sin(heading)]
    )


def joint_targets(q: np.ndarray) -> np.ndarray:
    """(N, dof) radians -> (N, 2 dof) regression targets ``[sin q, cos q]``."""
    return np.concatenate([np.sin(q), np.cos(q)], axis=1)


def joints_from_outputs(y: np.ndarray) -> np.ndarray:
    """(..., 2 dof) ``[sin q, cos q]`` predictions -> (..., dof) radians in (-pi, pi]."""
    dof = y.shape[-1] // 2
    return np.arctan2(y[..., :dof], y[..., dof:])
