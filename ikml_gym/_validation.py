"""Input checks shared by every public entry point.

Each check either returns a clean float64 array or raises
:class:`~ikml_gym.errors.InvalidInputError` with a message that says which
argument is wrong and how to fix it.
"""

from __future__ import annotations

import numpy as np

from .errors import InvalidInputError

#: A quaternion whose norm is further than this from 1 is rejected; closer ones are normalised.
QUAT_NORM_TOL = 1e-3


def as_batch(x: object, width: int, name: str) -> tuple[np.ndarray, bool]:
    """Return ``x`` as a finite float64 array of shape (N, width) and whether it was one row.

    Accepts shape (width,) (a single item, returned as (1, width)) or (N, width),
    N >= 0. Rejects other shapes, non-numeric dtypes, NaN and inf.
    """
    try:
        arr = np.asarray(x)
    except Exception as exc:  # ragged lists and other non-arrays
        raise InvalidInputError(f"{name} must be array-like of shape (N, {width}): {exc}") from exc
    if arr.dtype == object or not (
        np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.bool_)
    ):
        raise InvalidInputError(f"{name} must be numeric, got dtype {arr.dtype}")
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise InvalidInputError(f"{name} must be real-valued, got dtype {arr.dtype}")
    single = arr.ndim == 1
    if single:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != width:
        raise InvalidInputError(
            f"{name} must have shape ({width},) or (N, {width}), got {np.shape(x)}"
        )
    arr = arr.astype(np.float64, copy=False)
    if not np.all(np.isfinite(arr)):
        bad = int(np.count_nonzero(~np.isfinite(arr).all(axis=1)))
        raise InvalidInputError(f"{name} contains NaN or inf in {bad} row(s)")
    return arr, single


def unit_quaternions(quat: np.ndarray, name: str = "quat") -> np.ndarray:
    """Normalise (N, 4) xyzw quaternions whose norm is within ``QUAT_NORM_TOL`` of 1.

    A quaternion further from unit norm (including the zero quaternion) is far more
    likely a bug in the caller (wrong column order, Euler angles) than rounding,
    so it is rejected rather than silently normalised.
    """
    norms = np.linalg.norm(quat, axis=1)
    bad = np.abs(norms - 1.0) > QUAT_NORM_TOL
    if np.any(bad):
        i = int(np.flatnonzero(bad)[0])
        raise InvalidInputError(
            f"{name} must be unit quaternions in xyzw order (|q| within {QUAT_NORM_TOL} of 1); "
            f"row {i} has norm {norms[i]:.6g} ({int(bad.sum())} bad row(s)). Normalise them first."
        )
    return quat / norms[:, None]
