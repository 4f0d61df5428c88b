"""Input checks shared by every public entry point.

Each check either returns a clean float64 array or raises
:class:`~ikml_gym.errors.InvalidInputError` with a message that says which
argument is wrong and how to fix it.
"""

from __future__ import annotations

import math
import numbers
from pathlib import Path

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
    kind = arr.dtype.kind  # b bool, i/u integers, f floats, c complex; the rest is not numeric
    if kind == "c":
        raise InvalidInputError(f"{name} must be real-valued, got dtype {arr.dtype}")
    if kind not in "biuf":
        raise InvalidInputError(f"{name} must be numeric, got dtype {arr.dtype}")
    single = arr.ndim == 1
    if single:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != width:
        raise InvalidInputError(
            f"{name} must have shape ({width},) or (N, {width}), got {np.shape(x)}"
        )
    arr = arr.astype(np.float64, copy=False)
    if not all_finite(arr):
        bad = int(np.count_nonzero(~np.isfinite(arr).all(axis=1)))
        raise InvalidInputError(f"{name} contains NaN or inf in {bad} row(s)")
    return arr, single


#: arrays up to this many entries are checked element by element in Python, which for a
#: single pose is several times cheaper than numpy's reductions
#: (see benchmarks/results/design_choices.md)
SMALL_ARRAY = 32


def all_finite(arr: np.ndarray) -> bool:
    """Whether every entry of a float array is finite (cheap for one pose and for many)."""
    if arr.size <= SMALL_ARRAY:
        return all(map(math.isfinite, arr.ravel().tolist()))
    return bool(np.isfinite(arr).all())


def unit_quaternions(quat: np.ndarray, name: str = "quat") -> np.ndarray:
    """Normalise (N, 4) xyzw quaternions whose norm is within ``QUAT_NORM_TOL`` of 1.

    A quaternion further from unit norm (including the zero quaternion) is far more
    likely a bug in the caller (wrong column order, Euler angles) than rounding,
    so it is rejected rather than silently normalised.
    """
    with np.errstate(over="ignore"):  # |q| of 1e300 entries: inf, rejected below
        sq = quat * quat  # summed left to right, as the one-pose path of Arm.check_features
        norms = np.sqrt(sq[:, 0] + sq[:, 1] + sq[:, 2] + sq[:, 3])
    bad = np.abs(norms - 1.0) > QUAT_NORM_TOL
    if _any(bad):
        i = int(np.flatnonzero(bad)[0])
        raise InvalidInputError(
            f"{name} must be unit quaternions in xyzw order (|q| within {QUAT_NORM_TOL} of 1); "
            f"row {i} has norm {norms[i]:.6g} ({int(bad.sum())} bad row(s)). Normalise them first."
        )
    return quat / norms[:, None]


#: Task-space positions further than this from the base (metres, any coordinate) are
#: rejected: no arm reaches them, and such values are far more likely a unit error
#: (millimetres, or uninitialised memory) than a target. The bound also keeps the float32
#: networks (learned IK, classifier) away from overflow.
MAX_POSITION = 1e6


def bounded_positions(pos: np.ndarray, name: str) -> np.ndarray:
    """Check that every coordinate of (N, 3) positions lies within +-``MAX_POSITION`` metres."""
    if pos.size <= SMALL_ARRAY and all(abs(v) <= MAX_POSITION for v in pos.ravel().tolist()):
        return pos
    bad = np.abs(pos) > MAX_POSITION
    if _any(bad):
        i = int(np.flatnonzero(bad.any(axis=1))[0])
        raise InvalidInputError(
            f"{name} positions must lie within +-{MAX_POSITION:g} m of the base; row {i} is "
            f"{pos[i].tolist()} ({int(bad.any(axis=1).sum())} bad row(s)). Positions are in "
            "metres: check the units."
        )
    return pos


def _any(mask: np.ndarray) -> bool:
    return any(mask.ravel().tolist()) if mask.size <= SMALL_ARRAY else bool(mask.any())


def real_number(
    value: object,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
) -> float:
    """``value`` as a finite float in [low, high] (``(low, high]`` with ``low_open``).

    Raises:
        InvalidInputError: not a real number (bools and strings included), not finite,
            or out of range; the message names ``name``.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise InvalidInputError(f"{name} must be a real number, got {value!r}")
    try:
        out = float(value)
    except OverflowError:  # a Python int or Fraction beyond float range
        out = float("inf")
    if not np.isfinite(out):
        raise InvalidInputError(f"{name} must be finite, got {value!r}")
    if low is not None and (out <= low if low_open else out < low):
        raise InvalidInputError(
            f"{name} must be {'>' if low_open else '>='} {low:g}, got {value!r}"
        )
    if high is not None and out > high:
        raise InvalidInputError(f"{name} must be <= {high:g}, got {value!r}")
    return out


def whole_number(value: object, name: str, *, low: int = 1, high: int | None = None) -> int:
    """``value`` as an int in [low, high]; integral floats (``3.0``) are accepted.

    Raises:
        InvalidInputError: not an integer, or out of range; the message names ``name``.
    """
    if isinstance(value, (bool, np.bool_)):
        raise InvalidInputError(f"{name} must be an integer, got {value!r}")
    integral = isinstance(value, numbers.Integral) or (
        isinstance(value, numbers.Real) and real_number(value, name).is_integer()
    )
    if not integral:
        raise InvalidInputError(f"{name} must be an integer, got {value!r}")
    out = int(value)
    if out < low or (high is not None and out > high):
        bounds = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise InvalidInputError(f"{name} must be {bounds}, got {value!r}")
    return out


def expand_user(path: str | Path) -> Path:
    """``Path(path).expanduser()``, or the path as given where ``~user`` names no user or
    the path holds a null byte (pathlib raises RuntimeError / ValueError there; the caller
    then reports the path as not found)."""
    try:
        return Path(path).expanduser()
    except (RuntimeError, ValueError):
        return Path(path)
