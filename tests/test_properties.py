"""Property-based tests (hypothesis) of every public entry point.

Each property draws what a caller might pass -- mostly well-formed inputs, and also
wrong shapes, dtypes (ints, bools, float16, complex, strings, objects), NaN/inf, huge
values, empty batches, non-unit and zero quaternions, angles far outside the limits,
garbage keyword arguments -- and checks that the call either

* returns a *correct* answer, checked against an oracle independent of the code under
  test where one exists (forward kinematics, finite differences, the ranges and
  shapes the docstrings promise, a batch equal to its single-row calls), or
* raises one of the package's documented exceptions (``ikml_gym.errors`` or the
  built-in its docstring names) with a message that names the offending argument.

A watchdog turns a hang into a failure; a segfault ends the run.

Budget: ``IKML_FUZZ_EXAMPLES=N`` gives the cheap properties N examples each and the
expensive ones (numerical solvers, env construction) a fraction of that; the default is
a quick run. The inputs tried per entry point are printed at the end of the session and,
with ``IKML_FUZZ_REPORT=path.json``, written there (see ``fuzz_counts`` in conftest.py).
``python benchmarks/fuzz.py`` is the long run (5,000 examples) with its report.
"""

from __future__ import annotations

import contextlib
import copy
import os
import shutil
import signal
import tempfile
import warnings
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from conftest import BRANCH_SKLEARN_IK
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy.spatial.transform import Rotation

import ikml_gym
from ikml_gym import kinematics as kin
from ikml_gym.arms import POSE4, POSE7, shipped_urdf_path
from ikml_gym.envs.reach import ArmReachEnv
from ikml_gym.envs.registration import ENV_SPECS
from ikml_gym.envs.robot import check_home
from ikml_gym.errors import (
    IkmlGymError,
    InvalidInputError,
    ModelFileError,
    UnknownArmError,
    URDFError,
)
from ikml_gym.learned.feasibility import FeasibilityFilter
from ikml_gym.learned.ik import BRANCH_PLAUSIBLE
from ikml_gym.pretrained import has_shipped_model
from ikml_gym.solvers import DLSIK, AnalyticIK, HybridIK, PyBulletIK

# --------------------------------------------------------------------------- budget
#: inputs tried per entry point in this session (reported by conftest.py)
TRIED: Counter[str] = Counter()

_FUZZ = int(os.environ.get("IKML_FUZZ_EXAMPLES", "0") or 0)


def fuzz(default: int, cost: int = 1):
    """Settings of a property: ``default`` examples, or IKML_FUZZ_EXAMPLES / ``cost``."""
    n = max(1, _FUZZ // cost) if _FUZZ > 0 else default
    return settings(
        max_examples=n,
        deadline=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.filter_too_much,
        ],
    )


class Hang(AssertionError):
    """A call that did not return within the watchdog's limit."""


@contextlib.contextmanager
def watchdog(seconds: float, what: str):
    """Fail (instead of hanging forever) when the body runs longer than ``seconds``."""

    def expire(signum, frame):
        raise Hang(f"{what} did not return within {seconds} s")

    old = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def expect_error(exc: BaseException, types: tuple[type, ...], *names: str) -> None:
    """``exc`` is one of the documented ``types`` and its message names one of ``names``."""
    assert isinstance(exc, types), f"undocumented {type(exc).__name__}: {exc}"
    msg = str(exc)
    assert msg.strip(), f"{type(exc).__name__} with an empty message"
    if names:
        assert any(n in msg for n in names), f"message does not name {names}: {msg!r}"


REJECTED = object()  # what ``judged`` returns for a call that raised


def judged(call, invalid: str | None, *names: str, types: tuple[type, ...] = (InvalidInputError,)):
    """Run ``call()`` on an input the test has already judged: ``invalid`` is None for a
    valid input, else what is wrong with it. A valid input must be answered; an invalid one
    must raise one of the documented ``types`` with a message naming one of ``names``.
    Returns the answer, or ``REJECTED``."""
    try:
        result = call()
    except Exception as exc:  # noqa: BLE001 -- judged here: type and message
        assert invalid is not None, f"rejected a valid input: {exc!r}"
        expect_error(exc, types, *names)
        return REJECTED
    assert invalid is None, f"accepted an invalid input ({invalid})"
    return result


def judged_q_call(data, arm, method: str):
    """Draw a joint input ``q`` for ``arm`` and call ``arm.<method>(q)``, counting the try.

    Returns ``None`` where the call raised: then ``q`` must be invalid (no oracle batch)
    and the error documented and naming ``q``. Otherwise checks that ``q`` was valid and
    returns ``(result, qb, single)``: ``qb`` the (N, dof) rows the oracle expects and
    ``single`` whether ``q`` was one configuration."""
    TRIED[f"Arm.{method}"] += 1
    q = data.draw(q_input(arm), label="q")
    expected = oracle_batch(q, arm.dof)
    result = judged(lambda: getattr(arm, method)(q), "q" if expected is None else None, "q")
    return None if result is REJECTED else (result, *expected)


# ------------------------------------------------------------------- shared objects
_CACHE: dict[str, object] = {}


def cached(key: str, make):
    if key not in _CACHE:
        _CACHE[key] = make()
    return _CACHE[key]


def arm_of(name: str) -> ikml_gym.Arm:
    return cached(f"arm:{name}", lambda: ikml_gym.load_arm(name))


def learned_ik():
    """The clustered ``LearnedIK`` (the arm4 sklearn baseline of benchmarks/models)."""
    return cached("learned", lambda: ikml_gym.load_ik(BRANCH_SKLEARN_IK))


def shipped_ik(name: str):
    """The shipped learned IK of ``name`` (a ``MultiHypothesisIK``)."""
    return cached(f"shipped-ik:{name}", lambda: ikml_gym.load_ik(name))


def classifier(name: str):
    return cached(f"clf:{name}", lambda: ikml_gym.load_classifier(name))


#: solver name -> factory; every solver the package ships, hybrids with each fallback
SOLVERS = {
    "AnalyticIK[arm4]": lambda: AnalyticIK(arm_of("arm4")),
    "AnalyticIK[arm6]": lambda: AnalyticIK(arm_of("arm6")),
    "DLSIK[arm4]": lambda: DLSIK(arm_of("arm4")),
    "DLSIK[arm6]": lambda: DLSIK(arm_of("arm6")),
    "PyBulletIK[arm4]": lambda: PyBulletIK(arm_of("arm4")),
    "PyBulletIK[arm6]": lambda: PyBulletIK(arm_of("arm6")),
    "LearnedIK[arm4]": learned_ik,
    "LearnedIK+refine[arm4]": lambda: learned_ik().with_refine(3),
    "HybridIK(LearnedIK, PyBulletIK)[arm4]": lambda: HybridIK(
        learned_ik(), cached("pb4-fallback", lambda: PyBulletIK(arm_of("arm4")))
    ),
    "HybridIK(LearnedIK, DLSIK)[arm4]": lambda: HybridIK(learned_ik(), DLSIK(arm_of("arm4"))),
    "MultiHypothesisIK[arm4]": lambda: shipped_ik("arm4"),
    "MultiHypothesisIK[arm6]": lambda: shipped_ik("arm6"),
    "HybridIK(MultiHypothesisIK, PyBulletIK)[arm6]": lambda: HybridIK(
        shipped_ik("arm6"), cached("pb6-fallback", lambda: PyBulletIK(arm_of("arm6")))
    ),
    "HybridIK(AnalyticIK, DLSIK)[arm6]": lambda: HybridIK(
        AnalyticIK(arm_of("arm6")), DLSIK(arm_of("arm6"))
    ),
}


def solver(name: str):
    return cached(f"solver:{name}", SOLVERS[name])


@pytest.fixture(scope="module", autouse=True)
def _fuzz_session(fuzz_counts):
    """Report this module's counts at the end; close the PyBullet clients it opened."""
    yield
    fuzz_counts.update(TRIED)
    for obj in _CACHE.values():
        close = getattr(obj, "close", None)
        if callable(close):
            close()
        fallback = getattr(obj, "fallback", None)
        if callable(getattr(fallback, "close", None)):
            fallback.close()
    _CACHE.clear()
    shutil.rmtree(_TMP, ignore_errors=True)


# ----------------------------------------------------------------------- strategies
#: values a numeric argument might hold that are not ordinary
SPECIALS = (
    np.nan,
    np.inf,
    -np.inf,
    1e300,
    -1e300,
    np.finfo(np.float64).max,
    5e-324,
    -0.0,
    1e6 + 1.0,
    3.5e38,
    -1e39,
)
#: dtypes a well-formed array is passed as (float64 most often)
CASTS = ["float64"] * 8 + ["float32", "float16", "int64", "int8", "uint8", "bool", "list", "tuple"]
BAD_CASTS = ["complex128", "str", "bytes", "object-none", "datetime", "object-num"]
JUNK = st.sampled_from(
    [None, "abc", "", b"\x00\x01", {"a": 1}, object(), [[1.0, 2.0], [3.0]], 3.5, True, [], ()]
)

finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)
unit = st.floats(0.0, 1.0)


def _quiet_cast(arr: np.ndarray, how: str):
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if how == "list":
            return arr.tolist()
        if how == "tuple":
            return tuple(map(tuple, arr)) if arr.ndim == 2 else tuple(arr.tolist())
        if how == "str":
            return arr.astype(str)
        if how == "bytes":
            return arr.astype("S8")
        if how == "object-none":
            out = arr.astype(object)
            if out.size:
                out.flat[0] = None
            return out
        if how == "object-num":
            return arr.astype(object)
        if how == "datetime":
            return np.zeros(arr.shape, dtype="datetime64[s]")
        return arr.astype(how)


@st.composite
def array_input(draw, width: int, rows, max_rows: int = 4):
    """What a caller passes for an (N, width) argument: one row, a batch, an empty batch,
    a wrong shape, a wrong dtype, non-finite cells, or something that is not an array.

    ``rows(n)`` is a strategy of well-formed (n, width) float64 rows.
    """
    form = draw(st.sampled_from(["row"] * 4 + ["batch"] * 4 + ["empty", "shape", "dtype", "junk"]))
    if form == "junk":
        return draw(JUNK)
    if form == "shape":
        shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=width + 2))
        return draw(hnp.arrays(np.float64, shape, elements=finite))
    n = {"row": 1, "empty": 0}.get(form)
    if n is None:
        n = draw(st.integers(1, max_rows))
    arr = np.array(draw(rows(n)), dtype=np.float64).reshape(n, width)
    if n and draw(st.integers(0, 9)) == 0:  # poison a cell
        i, j = draw(st.integers(0, n - 1)), draw(st.integers(0, width - 1))
        arr[i, j] = draw(st.sampled_from(SPECIALS))
    if form == "row":
        arr = arr[0]
    return _quiet_cast(arr, draw(st.sampled_from(BAD_CASTS if form == "dtype" else CASTS)))


def oracle_batch(x: object, width: int) -> tuple[np.ndarray, bool] | None:
    """The documented acceptance rule of an (N, width) argument: real numeric dtype, shape
    (width,) or (N, width), N >= 0, all finite -> ((N, width) float64, single); else None."""
    try:
        a = np.asarray(x)
    except Exception:  # noqa: BLE001 -- junk input: not an array
        return None
    if a.dtype.kind not in "biuf" or a.ndim not in (1, 2) or a.shape[-1] != width:
        return None
    single = a.ndim == 1
    with np.errstate(all="ignore"):
        a = a.reshape(-1, width).astype(np.float64)
    if not np.all(np.isfinite(a)):
        return None
    return a, single


def oracle_features(arm: ikml_gym.Arm, x: object) -> tuple[np.ndarray, bool] | None:
    """Accepted task features, canonicalised as documented, or None where they must be
    rejected (bad array, a position beyond 1e6 m, a quaternion norm off by more than 1e-3)."""
    b = oracle_batch(x, arm.feature_dim)
    if b is None:
        return None
    f, single = b
    f = f.copy()
    if np.any(np.abs(f[:, :3]) > 1e6):
        return None
    if arm.feature_kind == POSE7:
        with np.errstate(over="ignore"):
            norms = np.linalg.norm(f[:, 3:], axis=1)
        if np.any(np.abs(norms - 1.0) > 1e-3):
            return None
        f[:, 3:] = f[:, 3:] / norms[:, None]
        f[:, 3:] = np.where(f[:, 6:7] < 0, -f[:, 3:], f[:, 3:])
    else:
        f[:, 3] = np.angle(np.exp(1j * f[:, 3]))
    return f, single


@st.composite
def direction(draw):
    v = np.array(draw(st.tuples(*[st.floats(-1, 1)] * 3)), dtype=np.float64)
    n = np.linalg.norm(v)
    return v / n if n > 1e-6 else np.array([1.0, 0.0, 0.0])


@st.composite
def quaternion(draw):
    v = np.array(draw(st.tuples(*[st.floats(-1, 1)] * 4)), dtype=np.float64)
    n = np.linalg.norm(v)
    return v / n if n > 1e-6 else np.array([0.0, 0.0, 0.0, 1.0])


def q_rows(arm: ikml_gym.Arm):
    """Joint angles: inside the limits, at them, far outside, huge, integral."""

    @st.composite
    def rows(draw, n):
        out = np.empty((n, arm.dof))
        for i in range(n):
            kind = draw(st.sampled_from(["in", "in", "in", "edge", "far", "huge", "int"]))
            if kind in ("in", "edge"):
                u = np.array(draw(st.tuples(*[unit] * arm.dof)))
                if kind == "edge":
                    u = np.round(u)
                out[i] = arm.scale_unit(u[None])[0]
            elif kind == "far":
                out[i] = draw(st.tuples(*[finite] * arm.dof))
            elif kind == "huge":
                out[i] = draw(st.tuples(*[st.floats(-1e300, 1e300)] * arm.dof))
            else:
                out[i] = draw(st.tuples(*[st.integers(-100, 100)] * arm.dof))
        return out

    return rows


def pose_rows(arm: ikml_gym.Arm):
    """Task features: reachable (FK of a configuration), in and around the workspace, far
    away, beyond the 1e6 m bound; pose7 quaternions sometimes off unit norm or zero, pose4
    pitch sometimes many turns away."""

    @st.composite
    def rows(draw, n):
        out = np.empty((n, arm.feature_dim))
        for i in range(n):
            kind = draw(st.sampled_from(["fk", "fk", "fk", "ball", "ball", "far", "huge"]))
            if kind == "fk":
                u = np.array(draw(st.tuples(*[unit] * arm.dof)))
                out[i] = arm.fk_features(arm.scale_unit(u[None]))[0]
            else:
                if kind == "ball":
                    r = draw(st.floats(0.0, 1.6)) * arm.reach
                else:
                    r = draw(st.floats(2.0, 1e6) if kind == "far" else st.floats(1e6, 1e300))
                out[i, :3] = arm.reach_center + r * draw(direction())
                if arm.feature_kind == POSE7:
                    out[i, 3:] = draw(quaternion())
                else:
                    out[i, 3] = draw(st.floats(-np.pi, np.pi))
            if arm.feature_kind == POSE7:
                scale = draw(
                    st.sampled_from([1.0] * 8 + [-1.0, 1 + 5e-4, 1 - 5e-4, 1.01, 0.5, 0.0, 2.0])
                )
                out[i, 3:] *= scale
            elif draw(st.integers(0, 4)) == 0:
                out[i, 3] += 2 * np.pi * draw(st.integers(-50, 50))
        return out

    return rows


def features_input(arm: ikml_gym.Arm, max_rows: int = 4):
    return array_input(arm.feature_dim, pose_rows(arm), max_rows=max_rows)


def q_input(arm: ikml_gym.Arm, max_rows: int = 4):
    return array_input(arm.dof, q_rows(arm), max_rows=max_rows)


# ------------------------------------------------------------------------- oracles
def fk_independent(arm: ikml_gym.Arm, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Position (N, 3) and rotation matrices (N, 3, 3) by chaining the URDF transforms one
    joint at a time with scipy rotations (no code shared with ``ikml_gym.kinematics``)."""
    pos, rot = [], []
    for row in q:
        t = np.eye(4)
        for origin, axis, jtype, v in zip(arm.chain.origins, arm.chain.axes, arm.chain.types, row):
            joint = np.eye(4)
            if jtype == kin.REVOLUTE:
                joint[:3, :3] = Rotation.from_rotvec(axis * v).as_matrix()
            else:
                joint[:3, 3] = axis * v
            t = t @ origin @ joint
        t = t @ arm.chain.tip
        pos.append(t[:3, 3])
        rot.append(t[:3, :3])
    return np.array(pos).reshape(-1, 3), np.array(rot).reshape(-1, 3, 3)


def pose_errors(arm: ikml_gym.Arm, q: np.ndarray, f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Independent position (m) and orientation (rad) errors of (N, dof) q vs features."""
    pos, rot = fk_independent(arm, q)
    pos_err = np.linalg.norm(pos - f[:, :3], axis=1)
    if arm.feature_kind == POSE4:
        psi = np.arctan2(-rot[:, 2, 0], rot[:, 2, 2])
        return pos_err, np.abs(np.angle(np.exp(1j * (psi - f[:, 3]))))
    rel = Rotation.from_matrix(rot) * Rotation.from_quat(f[:, 3:]).inv()
    return pos_err, rel.magnitude()


# ==================================================================== load_arm / Arm
_TMP = Path(tempfile.mkdtemp(prefix="ikml_fuzz_"))
_EXISTING = [
    "README.md",
    "pyproject.toml",
    str(shipped_urdf_path("arm4")),
    str(shipped_urdf_path("arm6")),
    "/dev/null",
    "tests",
    "/",
    "~",
]


@fuzz(60)
@given(
    spec=st.one_of(
        st.sampled_from(["arm4", "arm6"] * 3 + _EXISTING),
        st.text(max_size=40),
        st.text(max_size=30).map(lambda s: s + ".urdf"),
        st.text(min_size=300, max_size=400, alphabet="ab/"),
        st.builds(Path, st.text(max_size=20)),
        st.sampled_from([None, 4, 4.0, b"arm4", ["arm4"], ("arm6",)]),
    ),
    ee_link=st.one_of(st.none(), st.sampled_from(["ee_link", "link2", "base_link", "nope", ""])),
    feature_kind=st.sampled_from([None, None, POSE4, POSE7, "pose9", "", 7]),
)
def test_load_arm(spec, ee_link, feature_kind):
    """``load_arm``: a shipped name, an existing URDF or a documented error."""
    TRIED["load_arm"] += 1
    try:
        with watchdog(30, "load_arm"):
            arm = ikml_gym.load_arm(spec, ee_link=ee_link, feature_kind=feature_kind)
    except Exception as exc:  # noqa: BLE001 -- judged below: type and message
        if not isinstance(spec, (str, Path)):
            expect_error(exc, (TypeError,), "arm name or a URDF path")
            return
        key = str(spec)
        try:
            path = Path(key).expanduser()
        except (RuntimeError, ValueError):  # ~user of no user, a null byte: the path as written
            path = Path(key)
        try:
            is_file = path.is_file()
        except OSError:
            is_file = False
        if key in ("arm4", "arm6") or is_file:
            # a bad ee_link, a file that is not a URDF, or (after parsing) a bad feature_kind
            if isinstance(exc, URDFError):
                expect_error(exc, (URDFError,), key if not is_file else str(path.name))
            else:
                assert feature_kind not in (None, POSE4, POSE7), f"unexpected {exc!r}"
                expect_error(exc, (ValueError,), "feature_kind")
        elif path.suffix.lower() == ".urdf":
            expect_error(exc, (FileNotFoundError,), "URDF not found")
        else:
            expect_error(exc, (UnknownArmError,), "unknown arm")
            assert isinstance(exc, KeyError)
        return
    assert isinstance(spec, (str, Path))
    assert feature_kind in (None, POSE4, POSE7)
    if str(spec) in ("arm4", "arm6") and ee_link in (None, "ee_link"):
        assert arm.dof == (4 if str(spec) == "arm4" else 6)
    check_arm_sane(arm)


def check_arm_sane(arm: ikml_gym.Arm) -> None:
    """A loaded arm: finite limits lo <= hi, FK of random configurations finite with unit
    quaternions and equal to the independent FK."""
    assert arm.dof >= 1 and len(arm.joint_names) == arm.dof
    lim = arm.joint_limits
    assert lim.shape == (arm.dof, 2) and np.all(np.isfinite(lim)) and np.all(lim[:, 0] <= lim[:, 1])
    q = arm.random_q(3, np.random.default_rng(0))
    pos, quat = arm.fk(q)
    assert np.all(np.isfinite(pos)) and np.all(np.isfinite(quat))
    np.testing.assert_allclose(np.linalg.norm(quat, axis=1), 1.0, atol=1e-9)
    ref_pos, ref_rot = fk_independent(arm, q)
    np.testing.assert_allclose(pos, ref_pos, atol=1e-9 * max(1.0, np.abs(ref_pos).max()))
    np.testing.assert_allclose(
        kin.quat_to_matrix(quat), ref_rot, atol=1e-9 * max(1.0, np.abs(ref_pos).max())
    )


#: attribute values a broken URDF might hold
_URDF_WORDS = [
    "0",
    "1",
    "-1",
    "nan",
    "inf",
    "-inf",
    "1e308",
    "1e400",
    "abc",
    "-3.2",
    "7",
    "fixed",
    "revolute",
    "continuous",
    "prismatic",
    "floating",
    "base_link",
    "link1",
    "link2",
    "ee_link",
    "",
    " ",
    "0 0 1",
    "1 0 0",
    "0 0 0",
    "1 2",
    "1 2 3 4",
    "0.1 0.2 0.3",
]
URDF_VALUES = st.one_of(
    st.sampled_from(_URDF_WORDS),
    st.text(max_size=12),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.tuples(finite, finite, finite).map(lambda v: " ".join(map(repr, v))),
)
URDF_ATTRS = [
    ("joint", None, "type"),
    ("joint", None, "name"),
    ("joint", "origin", "xyz"),
    ("joint", "origin", "rpy"),
    ("joint", "axis", "xyz"),
    ("joint", "limit", "lower"),
    ("joint", "limit", "upper"),
    ("joint", "parent", "link"),
    ("joint", "child", "link"),
    ("link", None, "name"),
]


@st.composite
def mutated_urdf(draw):
    """A shipped URDF with 1-3 random edits: attributes set to garbage, elements deleted or
    duplicated, parent/child swapped (loops), or the text truncated."""
    name = draw(st.sampled_from(["arm4", "arm6"]))
    root = ET.fromstring(shipped_urdf_path(name).read_bytes())
    truncate = None
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["attr"] * 5 + ["delete", "duplicate", "swap", "truncate"]))
        joints, links = root.findall("joint"), root.findall("link")
        if op == "attr":
            tag, sub, attr = draw(st.sampled_from(URDF_ATTRS))
            pool = joints if tag == "joint" else links
            if not pool:
                continue
            el = pool[draw(st.integers(0, len(pool) - 1))]
            if sub is not None:
                child = el.find(sub)
                if child is None:
                    child = ET.SubElement(el, sub)
                el = child
            el.set(attr, draw(URDF_VALUES))
        elif op == "delete":
            tag = draw(
                st.sampled_from(
                    [
                        "joint",
                        "link",
                        "joint/origin",
                        "joint/axis",
                        "joint/limit",
                        "joint/parent",
                        "joint/child",
                    ]
                )
            )
            parents = (
                [root]
                if "/" not in tag
                else [j for j in joints if j.find(tag.split("/")[1]) is not None]
            )
            if not parents:
                continue
            parent = parents[draw(st.integers(0, len(parents) - 1))]
            found = parent.findall(tag.split("/")[-1])
            if found:
                parent.remove(found[draw(st.integers(0, len(found) - 1))])
        elif op == "duplicate" and joints:
            j = joints[draw(st.integers(0, len(joints) - 1))]
            root.append(copy.deepcopy(j))
        elif op == "swap" and joints:
            j = joints[draw(st.integers(0, len(joints) - 1))]
            p, c = j.find("parent"), j.find("child")
            if p is not None and c is not None:
                a, b = p.get("link"), c.get("link")
                p.set("link", b or ""), c.set("link", a or "")
        elif op == "truncate":
            truncate = draw(st.floats(0.0, 1.0))
    text = ET.tostring(root, encoding="unicode")
    if truncate is not None:
        text = text[: int(truncate * len(text))]
    return name, text


@fuzz(60)
@given(
    urdf=mutated_urdf(),
    ee_link=st.sampled_from([None, None, "ee_link", "link3", "base_link", "zzz"]),
)
def test_load_arm_mutated_urdf(urdf, ee_link):
    """``load_arm(path)`` of a damaged URDF: a sane Arm or ``URDFError``, never a hang or a
    leaked ValueError/KeyError/OSError, never an arm with NaN limits."""
    TRIED["load_arm(mutated URDF)"] += 1
    _, text = urdf
    path = _TMP / "fuzz.urdf"
    path.write_text(text)
    try:
        with watchdog(20, "load_arm of a mutated URDF"):
            arm = ikml_gym.load_arm(path, ee_link=ee_link)
    except Exception as exc:  # noqa: BLE001 -- judged below: type and message
        expect_error(exc, (URDFError,), str(path))
        return
    check_arm_sane(arm)


@fuzz(80)
@given(data=st.data(), name=st.sampled_from(["arm4", "arm6"]))
def test_arm_fk(data, name):
    """``Arm.fk``: shapes, finite, unit xyzw quaternions with qw >= 0, equal to an independent
    FK, to ``fk_matrix``, to its single-row calls, and 2 pi-periodic in every joint."""
    arm = arm_of(name)
    judged = judged_q_call(data, arm, "fk")
    if judged is None:
        return
    (pos, quat), qb, single = judged
    n = len(qb)
    assert pos.shape == ((3,) if single else (n, 3)) and quat.shape == ((4,) if single else (n, 4))
    pos, quat = pos.reshape(n, 3), quat.reshape(n, 4)
    assert np.all(np.isfinite(pos)) and np.all(np.isfinite(quat))
    np.testing.assert_allclose(np.linalg.norm(quat, axis=1), 1.0, atol=1e-12)
    assert np.all(quat[:, 3] >= 0)
    # the independent FK rotates about axis * angle, which loses the angle's last bits
    # (and so all of sin/cos) beyond ~1e6 rad
    moderate = np.all(np.abs(qb) < 1e6, axis=1)
    ref_pos, ref_rot = fk_independent(arm, qb[moderate])
    np.testing.assert_allclose(pos[moderate], ref_pos, atol=1e-9)
    np.testing.assert_allclose(kin.quat_to_matrix(quat[moderate]), ref_rot, atol=1e-9)
    t = arm.fk_matrix(qb)
    np.testing.assert_allclose(t[:, :3, 3], pos, atol=1e-12)
    for i in range(n):
        p1, q1 = arm.fk(qb[i])
        np.testing.assert_allclose(p1, pos[i], atol=1e-12)
        np.testing.assert_allclose(q1, quat[i], atol=1e-12)
    small = np.all(np.abs(qb) < 1e3, axis=1)
    if np.any(small):
        p2, _ = arm.fk(np.angle(np.exp(1j * qb[small])))
        np.testing.assert_allclose(p2.reshape(-1, 3), pos[small], atol=1e-9)


def _fd_jacobian(arm: ikml_gym.Arm, q: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """(6, dof) central-difference Jacobian of one configuration: linear rows from the
    position, angular rows from dR R^T."""
    jac = np.zeros((6, arm.dof))
    r0 = arm.fk_matrix(q)[0, :3, :3]
    for i in range(arm.dof):
        dq = np.zeros(arm.dof)
        dq[i] = h
        tp, tm = arm.fk_matrix(q + dq)[0], arm.fk_matrix(q - dq)[0]
        jac[:3, i] = (tp[:3, 3] - tm[:3, 3]) / (2 * h)
        w = (tp[:3, :3] - tm[:3, :3]) / (2 * h) @ r0.T
        jac[3:, i] = [w[2, 1], w[0, 2], w[1, 0]]
    return jac


@fuzz(60)
@given(data=st.data(), name=st.sampled_from(["arm4", "arm6"]))
def test_arm_jacobian(data, name):
    """``Arm.jacobian``: (N, 6, dof), finite, equal to finite differences of FK."""
    arm = arm_of(name)
    judged = judged_q_call(data, arm, "jacobian")
    if judged is None:
        return
    jac, qb, single = judged
    assert jac.shape == ((6, arm.dof) if single else (len(qb), 6, arm.dof))
    jac = jac.reshape(len(qb), 6, arm.dof)
    assert np.all(np.isfinite(jac))
    for i in range(len(qb)):
        if np.all(np.abs(qb[i]) < 1e3):
            np.testing.assert_allclose(jac[i], _fd_jacobian(arm, qb[i]), atol=1e-6)


@fuzz(60)
@given(data=st.data(), name=st.sampled_from(["arm4", "arm6"]))
def test_arm_kinv(data, name):
    """``Arm.kinv``: in [0, 1], a float for one configuration, (N,) for a batch, equal to
    sigma_min / sigma_max of the task Jacobian built from finite differences."""
    arm = arm_of(name)
    judged = judged_q_call(data, arm, "kinv")
    if judged is None:
        return
    k, qb, single = judged
    if single:
        assert isinstance(k, float)
    else:
        assert isinstance(k, np.ndarray) and k.shape == (len(qb),)
    k = np.atleast_1d(k)
    assert np.all(np.isfinite(k)) and np.all((k >= 0) & (k <= 1))
    for i in range(len(qb)):
        if not np.all(np.abs(qb[i]) < 1e3):
            continue
        fd = _fd_jacobian(arm, qb[i])
        lin = fd[:3] / arm.reach
        if arm.feature_kind == POSE4:
            h, dpsi = 1e-6, np.zeros(arm.dof)
            for j in range(arm.dof):
                dq = np.zeros(arm.dof)
                dq[j] = h
                a, b = arm.fk_features(qb[i] + dq)[3], arm.fk_features(qb[i] - dq)[3]
                dpsi[j] = np.angle(np.exp(1j * (a - b))) / (2 * h)
            task = np.vstack([lin, dpsi])
        else:
            task = np.vstack([lin, fd[3:]])
        s = np.linalg.svd(task, compute_uv=False)
        assert abs(k[i] - s[-1] / s[0]) < 1e-4


@fuzz(80)
@given(data=st.data(), name=st.sampled_from(["arm4", "arm6"]))
def test_arm_features(data, name):
    """``Arm.features(pos, quat)``: positions passed through, quaternions normalised (or
    rejected when off unit norm, zero included), pose4 pitch from the rotation."""
    TRIED["Arm.features"] += 1
    arm = arm_of(name)

    @st.composite
    def quat_rows(draw, n):
        out = np.array([draw(quaternion()) for _ in range(n)]).reshape(n, 4)
        scales = [
            draw(st.sampled_from([1.0] * 6 + [-1.0, 1 + 5e-4, 1.01, 0.0, 3.0])) for _ in range(n)
        ]
        return out * np.array(scales)[:, None]

    @st.composite
    def pos_rows(draw, n):
        return np.array([draw(st.tuples(finite, finite, finite)) for _ in range(n)]).reshape(n, 3)

    pos = data.draw(array_input(3, pos_rows), label="pos")
    quat = data.draw(array_input(4, quat_rows), label="quat")
    p, qt = oracle_batch(pos, 3), oracle_batch(quat, 4)
    error = None
    if p is None:
        error = "pos"
    elif qt is None:
        error = "quat"
    elif len(p[0]) != len(qt[0]):
        error = "rows"
    elif np.any(np.abs(np.hypot.reduce(qt[0], axis=1) - 1) > 1e-3):
        error = "quat"
    out = judged(lambda: arm.features(pos, quat), error, "pos" if error == "pos" else "quat")
    if out is REJECTED:
        return
    (pb, s1), (qb, s2) = p, qt
    n = len(pb)
    assert out.shape == ((arm.feature_dim,) if (s1 and s2) else (n, arm.feature_dim))
    out = out.reshape(n, arm.feature_dim)
    np.testing.assert_array_equal(out[:, :3], pb)
    qn = qb / np.linalg.norm(qb, axis=1, keepdims=True)
    if arm.feature_kind == POSE7:
        assert np.all(out[:, 6] >= 0)
        np.testing.assert_allclose(np.abs(np.sum(out[:, 3:] * qn, axis=1)), 1.0, atol=1e-12)
    elif n:
        r = Rotation.from_quat(qn).as_matrix()
        psi = np.arctan2(-r[:, 2, 0], r[:, 2, 2])
        # psi is undefined (any value) where the tool's y axis is vertical (R20 = R22 = 0)
        defined = np.hypot(r[:, 2, 0], r[:, 2, 2]) > 1e-6
        diff = np.angle(np.exp(1j * (out[defined, 3] - psi[defined])))
        np.testing.assert_allclose(diff, 0.0, atol=1e-9)


# ========================================================================== solvers
@pytest.mark.parametrize("name", list(SOLVERS))
@fuzz(15, cost=8)
@given(data=st.data())
def test_solver_solve(name, data):
    """``solve(features, q0)``: q finite and within the limits, errors equal to an independent
    FK check, success exactly where they are below the tolerances, ``calls`` counted as
    documented; invalid features / q0 raise InvalidInputError naming them."""
    TRIED[f"{name}.solve"] += 1
    s = solver(name)
    arm = s.arm
    features = data.draw(features_input(arm, max_rows=3), label="features")
    q0 = data.draw(
        st.one_of(st.none(), st.none(), q_input(arm, max_rows=3)),
        label="q0",
    )
    f_ok = oracle_features(arm, features)
    q_ok = None if q0 is None else oracle_batch(q0, arm.dof)
    error = None
    if f_ok is None:
        error = "features"
    elif q0 is not None and (q_ok is None or len(q_ok[0]) not in (1, len(f_ok[0]))):
        error = "q0"
    calls_before, polish_before = s.calls, getattr(s, "polish_calls", 0)
    with watchdog(120, f"{name}.solve"):
        res = judged(lambda: s.solve(features, q0), error, str(error))
    if res is REJECTED:
        assert s.calls == calls_before
        return
    f, single = f_ok
    n = len(f)
    assert np.shape(res.q) == ((arm.dof,) if single else (n, arm.dof))
    for field in (res.success, res.pos_err, res.rot_err):
        assert np.shape(field) == (() if single else (n,))
    q = np.asarray(res.q, dtype=np.float64).reshape(n, arm.dof)
    success = np.asarray(res.success).reshape(n)
    assert success.dtype == bool
    pos_err, rot_err = (
        np.asarray(e, dtype=np.float64).reshape(n) for e in (res.pos_err, res.rot_err)
    )
    assert np.all(np.isfinite(q)), "non-finite joint angles"
    assert np.all(arm.within_limits(q, tol=1e-9)), "q outside the joint limits"
    true_pos, true_rot = pose_errors(arm, q, f)
    np.testing.assert_allclose(pos_err, true_pos, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(rot_err, true_rot, atol=1e-6)
    if np.any(success):
        assert np.all(true_pos[success] < s.pos_tol * (1 + 1e-9))
        assert np.all(true_rot[success] < s.rot_tol + 1e-6)
    unsolved = ~success
    assert np.all((pos_err[unsolved] >= s.pos_tol) | (rot_err[unsolved] >= s.rot_tol))
    spent = s.calls - calls_before
    if isinstance(s, HybridIK):
        assert 0 <= spent <= n  # the fallback, only for the poses the learned guess missed
    elif s.numerical:
        assert spent == n
    elif getattr(s, "refine_steps", 0):  # a learned IK's polish counts, one per missed pose
        assert spent == s.polish_calls - polish_before
    else:
        assert spent == 0
    if getattr(s, "refine_steps", 0):
        assert 0 <= s.polish_calls - polish_before <= n
    if isinstance(s, AnalyticIK) and n:
        # every pose the FK of an in-limits configuration produces is solved exactly,
        # unless it is singular (kinv ~ 0) where the closed form degenerates
        reach = _reachable_rows(arm, f)
        if np.any(reach):
            assert np.all(success[reach]), (
                f"AnalyticIK missed reachable poses {f[reach & ~success]}"
            )
    if name.startswith(("LearnedIK[", "MultiHypothesisIK[")) and q0 is not None and n:
        _check_branch_choice(s, f, pos_err, rot_err)


def _reachable_rows(arm: ikml_gym.Arm, f: np.ndarray) -> np.ndarray:
    """Rows of f that a well-conditioned (kinv > 0.01) in-limits configuration reaches to
    1e-7, witnessed by a DLSIK with many restarts (asking the closed form would be circular)."""
    witness = cached(
        f"witness:{arm.name}", lambda: DLSIK(arm, restarts=60, pos_tol=1e-7, rot_tol=1e-7)
    )
    res = witness.solve(f)
    ok = np.asarray(res.success).reshape(len(f))
    if not np.any(ok):
        return ok
    k = np.atleast_1d(arm.kinv(np.asarray(res.q).reshape(len(f), arm.dof)))
    return ok & (k > 1e-2)


def _check_branch_choice(s, f, pos_err, rot_err) -> None:
    """A learned IK with q0 (``best_hypotheses``): if the best proposal without q0 is
    plausible, some proposal is, so the one chosen with q0 must be plausible too."""
    free = s.solve(f)
    k = BRANCH_PLAUSIBLE
    plausible = (free.pos_err < k * s.pos_tol) & (free.rot_err < k * s.rot_tol)
    chosen_ok = (pos_err < k * s.pos_tol) & (rot_err < k * s.rot_tol)
    assert np.all(chosen_ok[plausible]), "q0 made LearnedIK pick an implausible proposal"


# ======================================================================= classifier
@pytest.mark.parametrize("name", ["arm6", "arm4"])
@fuzz(40, cost=2)
@given(data=st.data())
def test_classifier(name, data):
    """``predict`` / ``predict_proba`` / ``evaluate``: classes in 0..3, probabilities in
    [0, 1] summing to 1, predict follows the decision rule (reachable above the operating
    point, then the likeliest of classes 1-3), batch == single rows, poses beyond 1.5 x reach
    unreachable (class 0)."""
    TRIED[f"FeasibilityClassifier[{name}].predict/predict_proba"] += 1
    clf = classifier(name)
    arm = clf.arm
    features = data.draw(features_input(arm, max_rows=6), label="features")
    expected = oracle_features(arm, features)
    invalid = "features" if expected is None else None
    proba = judged(lambda: clf.predict_proba(features), invalid, "features")
    label = judged(lambda: clf.predict(features), invalid, "features")
    if proba is REJECTED or label is REJECTED:
        return
    f, single = expected
    n = len(f)
    assert proba.shape == ((4,) if single else (n, 4))
    assert np.shape(label) == (() if single else (n,))
    proba, label = proba.reshape(n, 4), np.asarray(label).reshape(n)
    assert np.issubdtype(label.dtype, np.integer)
    assert np.all((label >= 0) & (label <= 3))
    assert np.all(np.isfinite(proba)) and np.all((proba >= 0) & (proba <= 1))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-9)
    reachable = 1.0 - proba[:, 0] > clf.reach_threshold
    clear = np.abs(1.0 - proba[:, 0] - clf.reach_threshold) > 1e-6  # not on the float32 edge
    rule = np.where(reachable, np.argmax(proba[:, 1:], axis=1) + 1, 0)
    np.testing.assert_array_equal(label[clear], rule[clear])
    for i in range(n):
        p1 = clf.predict_proba(f[i])
        np.testing.assert_allclose(p1, proba[i], atol=1e-4)
    far = np.linalg.norm(f[:, :3] - arm.reach_center, axis=1) > 1.5 * arm.reach
    assert np.all(label[far] == 0), "a pose beyond 1.5 x reach classified reachable"


@pytest.mark.parametrize("name", ["arm6", "arm4"])
@fuzz(12, cost=8)
@given(
    data=st.data(),
    confidence=st.one_of(
        st.floats(0.0, 1.0),
        st.sampled_from([0.995, 1.0, 0.0, -0.1, 1.5, np.nan, np.inf, "0.9", None, True, [0.9]]),
    ),
    gate=st.sampled_from(["reachability", "reachability", "class", "Class", None, 3]),
)
def test_feasibility_filter(name, data, confidence, gate):
    """``FeasibilityFilter(confidence, gate).query``: answers from the model exactly where its
    gate probability exceeds ``confidence``, the rest from the fallback (one counted call
    each) whose solutions reach the pose; labels in 0..3 consistent with ``reachable``."""
    TRIED[f"FeasibilityFilter[{name}]"] += 1
    clf = classifier(name)
    arm = clf.arm
    fallback = cached(f"filter-fallback:{name}", lambda: DLSIK(arm, max_iters=20, restarts=4))
    conf_ok = isinstance(confidence, float) and np.isfinite(confidence) and 0.0 <= confidence <= 1.0
    gate_ok = gate in ("reachability", "class")
    try:
        filt = FeasibilityFilter(clf, fallback, confidence=confidence, gate=gate)
    except Exception as exc:  # noqa: BLE001 -- judged below: type and message
        assert not (conf_ok and gate_ok), f"rejected valid arguments: {exc!r}"
        if not conf_ok:
            expect_error(exc, (InvalidInputError,), "confidence")
        else:
            expect_error(exc, (ValueError,), "gate")
        return
    assert conf_ok and gate_ok, "accepted invalid arguments"
    features = data.draw(features_input(arm, max_rows=3), label="features")
    expected = oracle_features(arm, features)
    before = fallback.calls
    with watchdog(120, "FeasibilityFilter.query"):
        res = judged(
            lambda: filt.query(features), "features" if expected is None else None, "features"
        )
    if res is REJECTED:
        return
    f, _ = expected
    n = len(f)
    assert len(res) == n and res.q.shape == (n, arm.dof)
    assert np.all((res.label >= 0) & (res.label <= 3))
    np.testing.assert_array_equal(res.reachable, res.label > 0)
    np.testing.assert_array_equal(res.from_model, res.confidence > confidence)
    assert fallback.calls - before == int(np.sum(~res.from_model))
    asked = ~res.from_model
    solved = np.all(np.isfinite(res.q), axis=1)
    np.testing.assert_array_equal(solved, asked & res.reachable)
    if np.any(solved):
        assert np.all(arm.within_limits(res.q[solved], tol=1e-9))
        pe, re = pose_errors(arm, res.q[solved], f[solved])
        assert np.all(pe < fallback.pos_tol * (1 + 1e-9)) and np.all(re < fallback.rot_tol + 1e-6)
    model = clf.evaluate(f) if n else None
    if n and np.any(res.from_model):
        m = res.from_model  # the classifier's own decision rule (operating point), either gate
        np.testing.assert_array_equal(res.label[m], model.label[m])
        np.testing.assert_array_equal(res.reachable[m], model.p_reachable[m] > clf.reach_threshold)


# ============================================================================= envs
#: keyword -> (strategy of valid values, strategy of invalid values)
def _env_kwargs_strategies(arm: ikml_gym.Arm):
    pos = st.floats(1e-3, 0.5)
    return {
        "reward_type": (
            st.sampled_from(["sparse", "dense"]),
            st.sampled_from(["Sparse", "", None, 1]),
        ),
        "goal_type": (
            st.sampled_from(["position", "pose"]),
            st.sampled_from(["orientation", None]),
        ),
        "control_type": (
            st.sampled_from(["joints", "ee", "ik_prior"]),
            st.sampled_from(["joint", "EE", None, 0]),
        ),
        "goal_filter": (
            st.sampled_from(["none", "classifier", "ik"]),
            st.sampled_from(["None", "learned", 0]),
        ),
        "distance_threshold": (
            st.one_of(st.none(), pos),
            st.sampled_from([0.0, -0.01, np.nan, np.inf, "0.02", True]),
        ),
        "angle_threshold": (pos, st.sampled_from([0, -1.0, np.nan, np.inf, None, "x"])),
        "goal_range": (
            st.floats(0.05, 10.0),
            st.sampled_from([0.0, -1.0, 10.5, 1e300, np.nan, None]),
        ),
        "max_goal_tries": (st.integers(1, 30), st.sampled_from([0, -3, 2.5, np.nan, "10", None])),
        "home_q": (
            st.tuples(*[unit] * arm.dof).map(lambda u: arm.scale_unit(np.array(u)[None])[0]),
            st.sampled_from(
                [
                    [0.0] * (arm.dof - 1),
                    [np.nan] * arm.dof,
                    [1e3] * arm.dof,
                    "home",
                    [[0.0] * arm.dof] * 2,
                ]
            ),
        ),
        "joint_step": (pos, st.sampled_from([0.0, -0.1, np.nan, np.inf, "0.1"])),
        "ee_step": (st.one_of(st.none(), pos), st.sampled_from([0.0, -1.0, np.inf, 1e300, "big"])),
        "rot_step": (pos, st.sampled_from([0.0, np.nan, -0.1])),
        "residual_scale": (st.floats(0.0, 1.0), st.sampled_from([-0.1, np.nan, np.inf])),
        "timestep": (st.floats(1e-4, 0.02), st.sampled_from([0.0, -0.002, np.inf, 1e200, np.nan])),
        "n_substeps": (st.integers(1, 40), st.sampled_from([0, -1, 1.5, "20", 10**9])),
        "singularity_penalty": (st.floats(0.0, 2.0), st.sampled_from([-1.0, np.nan, np.inf])),
        "render_width": (st.integers(1, 64), st.sampled_from([0, -5, 3.5, "480"])),
        "ik_solver": (
            st.sampled_from(["pybullet", "dls", "analytic"]),
            st.sampled_from(["PyBullet", 3, None]),
        ),
        "arm": (st.just(arm.name), st.sampled_from(["arm9", "", 42, "nope.urdf"])),
    }


@st.composite
def env_kwargs(draw, arm: ikml_gym.Arm):
    """A few keyword overrides; each valid or not. -> (kwargs, names of invalid ones)."""
    strategies = _env_kwargs_strategies(arm)
    names = draw(st.lists(st.sampled_from(sorted(strategies)), max_size=4, unique=True))
    kwargs, invalid = {}, []
    for name in names:
        good, bad = strategies[name]
        if draw(st.integers(0, 3)) == 0:
            kwargs[name] = draw(bad)
            invalid.append(name)
        else:
            kwargs[name] = draw(good)
    return kwargs, invalid


#: what a correct rejection of each keyword looks like
_ENV_ERRORS = (InvalidInputError, ValueError, TypeError, UnknownArmError, FileNotFoundError)


def _env_expected_error(env_kwargs_all: dict, invalid: list[str]) -> type | None:
    """ModelFileError where a valid combination needs a model that does not ship."""
    arm = env_kwargs_all.get("arm")
    if invalid:
        return None
    needs_learned = env_kwargs_all.get("control_type") == "ik_prior" or (
        env_kwargs_all.get("control_type") == "ee"
        and env_kwargs_all.get("ik_solver") in ("learned", "hybrid")
    )
    if needs_learned and not has_shipped_model(arm, "ik"):
        return ModelFileError
    return None


def _action_strategy(env):
    n = env.action_space.shape[0]
    return st.one_of(
        hnp.arrays(np.float32, n, elements=st.floats(-1, 1, width=32)),
        hnp.arrays(np.float64, n, elements=st.floats(-1e6, 1e6)),
    )


def _check_obs(env, obs) -> None:
    assert env.observation_space.contains(obs), f"observation outside the space: {obs}"
    for key in ("observation", "achieved_goal", "desired_goal"):
        assert np.all(np.isfinite(obs[key]))


def _check_step(env, out) -> None:
    obs, reward, terminated, truncated, info = out
    _check_obs(env, obs)
    assert isinstance(reward, float) and np.isfinite(reward)
    assert isinstance(terminated, bool) and isinstance(truncated, bool)
    assert isinstance(info["is_success"], bool)
    assert 0.0 <= info["kinv"] <= 1.0
    assert -1 <= info["goal_class"] <= 3
    assert info["ik_calls"] >= 0
    inner = env.unwrapped
    again = float(inner.compute_reward(obs["achieved_goal"], obs["desired_goal"], info))
    assert again == reward, "compute_reward differs from the step reward"
    if inner.reward_type == "sparse":
        base = reward + float(info["feasibility_penalty"]) * _penalty_weight(inner)
        assert min(abs(base), abs(base + 1.0)) < 1e-6, f"sparse reward {reward}"
        assert (abs(base) < 1e-6) == info["is_success"]


def _penalty_weight(env) -> float:
    return env.task.penalty.weight if env.task.penalty is not None else 0.0


def _run_env_case(make, arm: ikml_gym.Arm, kwargs: dict, invalid: list[str], full: dict, data):
    if full.get("control_type") != "ee":  # only ee control uses (and checks) ik_solver
        invalid = [k for k in invalid if k != "ik_solver"]
    model_error = _env_expected_error(full, invalid)
    try:
        with watchdog(120, "env construction"):
            env = make()
    except Exception as exc:  # noqa: BLE001 -- judged below: type and message
        if invalid:
            names = tuple(invalid) + tuple(str(kwargs[k]) for k in invalid if k == "arm")
            expect_error(exc, _ENV_ERRORS, *names)
        else:
            assert model_error is not None, f"rejected valid kwargs {kwargs}: {exc!r}"
            expect_error(exc, (model_error,), str(full.get("arm")))
        return
    try:
        assert not invalid, f"accepted invalid kwargs {invalid}: {kwargs}"
        assert model_error is None
        with watchdog(120, "reset/step"):
            obs, _ = env.reset(seed=data.draw(st.integers(0, 2**32 - 1), label="seed"))
            _check_obs(env, obs)
            for _ in range(2):
                action = data.draw(_action_strategy(env), label="action")
                _check_step(env, env.step(action))
    finally:
        env.close()


@fuzz(8, cost=40)
@given(data=st.data(), env_id=st.sampled_from(ikml_gym.ENV_IDS))
def test_gymnasium_make(data, env_id):
    """``gymnasium.make(id, **kwargs)`` of every registered id: a working env (reset, steps
    with observations inside the observation space) or a documented error naming the bad
    keyword."""
    TRIED["gymnasium.make(ENV_IDS) + reset + step"] += 1
    arm = arm_of(ENV_SPECS[env_id]["arm"])
    kwargs, invalid = data.draw(env_kwargs(arm), label="kwargs")
    full = {**ENV_SPECS[env_id], **kwargs}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # gymnasium's passive checker warns; we check ourselves
        _run_env_case(lambda: gym.make(env_id, **kwargs), arm, kwargs, invalid, full, data)


@fuzz(8, cost=40)
@given(data=st.data(), name=st.sampled_from(["arm4", "arm6"]))
def test_arm_reach_env_kwargs(data, name):
    """``ArmReachEnv(**kwargs)`` directly (no wrappers), the same contract."""
    TRIED["ArmReachEnv(**kwargs) + reset + step"] += 1
    arm = arm_of(name)
    kwargs, invalid = data.draw(env_kwargs(arm), label="kwargs")
    kwargs.setdefault("arm", name)
    full = {"control_type": "joints", **kwargs}
    _run_env_case(lambda: ArmReachEnv(**kwargs), arm, kwargs, invalid, full, data)


#: cached envs for reset/step fuzzing: key -> kwargs
ENVS = {
    "arm4/joints/position": {"arm": "arm4"},
    "arm4/ee/pose": {"arm": "arm4", "control_type": "ee", "goal_type": "pose"},
    "arm4/ik_prior/pose": {"arm": "arm4", "control_type": "ik_prior", "goal_type": "pose"},
    "arm6/joints/pose": {"arm": "arm6", "goal_type": "pose", "singularity_penalty": 0.5},
    "arm6/ee/position": {"arm": "arm6", "control_type": "ee", "reward_type": "dense"},
}


def env_of(key: str) -> ArmReachEnv:
    def make():
        env = ArmReachEnv(**ENVS[key])
        env.reset(seed=0)
        return env

    return cached(f"env:{key}", make)


@st.composite
def reset_options(draw, env):
    """``reset(options=...)``: None, {}, a goal pose (valid, outside the observation box,
    beyond the position bound, malformed), unknown keys, or not a dict at all."""
    arm = env.arm
    kind = draw(
        st.sampled_from(["none", "empty", "goal", "goal", "goal", "goal-none", "unknown", "junk"])
    )
    if kind == "none":
        return None
    if kind == "empty":
        return {}
    if kind == "goal-none":
        return {"goal": None}
    if kind == "unknown":
        return {draw(st.sampled_from(["gaol", "seed", "Goal", 1])): draw(JUNK)}
    if kind == "junk":
        return draw(st.one_of(JUNK, st.just([("goal", [0.0] * arm.feature_dim)])))
    return {"goal": draw(array_input(arm.feature_dim, pose_rows(arm), max_rows=2))}


@pytest.mark.parametrize("key", list(ENVS))
@fuzz(20, cost=4)
@given(data=st.data())
def test_env_reset(key, data):
    """``reset(seed, options)``: a valid goal becomes the desired goal and the observation
    lies in the observation space; garbage options raise InvalidInputError naming
    ``options`` and leave the env as it was; bad seeds raise gymnasium's error."""
    TRIED["ArmReachEnv.reset"] += 1
    env = env_of(key)
    arm = env.arm
    options = data.draw(reset_options(env), label="options")
    seed = data.draw(
        st.one_of(st.none(), st.integers(0, 2**32), st.sampled_from([-1, 1.5, "7"])), label="seed"
    )
    seed_ok = seed is None or (isinstance(seed, int) and seed >= 0)
    goal, why = None, None
    if options is not None:
        if not isinstance(options, dict) or set(options) - {"goal"}:
            why = "options"
        elif options.get("goal") is not None:
            f_ok = oracle_features(arm, options["goal"])
            if f_ok is None or len(f_ok[0]) != 1:
                why = "options['goal']"
            else:
                goal = f_ok[0][0]
                lo, hi = env._position_box
                if not np.all((goal[:3] >= lo) & (goal[:3] <= hi)):
                    why = "options['goal']"
    previous = env.goal_pose
    try:
        with watchdog(60, "reset"):
            obs, info = env.reset(seed=seed, options=options)
    except Exception as exc:  # noqa: BLE001 -- judged below: type and message
        if why is not None:
            expect_error(exc, (InvalidInputError,), why)
            np.testing.assert_array_equal(env.goal_pose, previous)
            _check_step(env, env.step(np.zeros(env.action_space.shape)))  # still usable
        else:
            assert not seed_ok, f"rejected valid options {options!r}: {exc!r}"
            expect_error(exc, (gym.error.Error,), "Seed", "seed")
        return
    assert why is None, f"accepted invalid options ({why}): {options!r}"
    assert seed_ok, f"accepted seed {seed!r}"
    _check_obs(env, obs)
    assert isinstance(info["goal_accepted"], bool) and info["goal_tries"] >= 0
    if goal is not None:
        got = env.goal_pose
        np.testing.assert_allclose(got[:3], goal[:3], atol=1e-12)
        if arm.feature_kind == POSE4:  # equal as angles (+-pi may land on either end)
            assert abs(np.angle(np.exp(1j * (got[3] - goal[3])))) < 1e-9
        else:
            np.testing.assert_allclose(got[3:], goal[3:], atol=1e-12)
        g = env.task.goal_dim
        np.testing.assert_array_equal(obs["desired_goal"], got[:g].astype(np.float32))


@st.composite
def action_input(draw, env):
    """An action: in range, out of range (clipped), wrong shape, non-finite, wrong dtype."""
    n = env.action_space.shape[0]

    @st.composite
    def rows(draw2, m):
        return np.array(
            [
                draw2(st.tuples(*[st.floats(-1, 1)] * n))
                if draw2(st.booleans())
                else draw2(st.tuples(*[st.floats(-1e300, 1e300)] * n))
                for _ in range(m)
            ]
        ).reshape(m, n)

    return draw(array_input(n, rows, max_rows=2))


@pytest.mark.parametrize("key", list(ENVS))
@fuzz(25, cost=2)
@given(data=st.data())
def test_env_step(key, data):
    """``step(action)``: observations in the observation space, a finite reward equal to
    ``compute_reward``; a malformed action raises InvalidInputError naming ``action`` and
    the env stays usable."""
    TRIED["ArmReachEnv.step"] += 1
    env = env_of(key)
    n = env.action_space.shape[0]
    # start every example from a drawn state, so that a failure replays exactly
    env.reset(seed=data.draw(st.integers(0, 2**32 - 1), label="seed"))
    unit_action = hnp.arrays(np.float64, n, elements=st.floats(-1, 1))
    for a in data.draw(st.lists(unit_action, max_size=4), label="steps before"):
        env.step(a)
    action = data.draw(action_input(env), label="action")
    # documented: numeric (object arrays of numbers too) of shape (n,), finite
    try:
        a = np.asarray(action)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ok = (
                a.dtype.kind in "biufO"
                and a.shape == (n,)
                and bool(np.all(np.isfinite(a.astype(np.float64))))
            )
    except Exception:  # noqa: BLE001 -- junk input: not an array
        ok = False
    with watchdog(60, "step"):
        out = judged(lambda: env.step(action), None if ok else f"action {action!r}", "action")
    if out is REJECTED:
        out = env.step(np.zeros(n))  # still usable after the rejection
    _check_step(env, out)


# ============================================================ regression tests (bugs)
def test_far_targets_are_rejected_not_answered_with_nan(arm4, arm6):
    """Positions of 1e39-1e300 m came back as NaN joints (PyBulletIK, LearnedIK) and NaN
    probabilities (classifier); they are now rejected as a unit error."""
    for s, f in (
        (PyBulletIK(arm4, restarts=0), [1e300, 1e300, 1e300, 0.3]),
        (ikml_gym.load_ik("arm4"), [1e39, 0.0, 0.0, 0.0]),
        (ikml_gym.load_ik("arm6"), [1e39, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]),
        (DLSIK(arm6, restarts=0), [1e300, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]),
    ):
        with pytest.raises(
            InvalidInputError, match=r"features positions must lie within \+-1e\+06 m"
        ):
            s.solve(f)
    with pytest.raises(InvalidInputError, match="features positions"):
        ikml_gym.load_classifier("arm6").predict_proba([1e300, 0, 0, 0, 0, 0, 1.0])
    far = ikml_gym.load_classifier("arm6").predict_proba([1e6, 0, 0, 0, 0, 0, 1.0])
    np.testing.assert_allclose(far, [1, 0, 0, 0], atol=1e-9)


def test_huge_pitch_is_reduced_exactly(arm4):
    """psi = 1e300 was wrapped with np.mod by the rounded 2 pi, off by up to pi: AnalyticIK
    then reported success for a pitch 1.68 rad away from the one asked for."""
    f = np.array([0.2, 0.0, 0.2, 1e300])
    wrapped, _ = arm4.check_features(f)
    psi = wrapped[0, 3]
    assert -np.pi < psi <= np.pi
    np.testing.assert_allclose(
        [np.sin(psi), np.cos(psi)], [np.sin(1e300), np.cos(1e300)], atol=1e-12
    )
    res = AnalyticIK(arm4).solve(f)
    assert res.success
    _, rot_err = pose_errors(arm4, res.q[None], wrapped)  # psi checked against sin/cos above
    assert rot_err[0] < 1e-9
    small, _ = arm4.check_features([0.2, 0.0, 0.2, 7.0])  # ordinary angles: unchanged wrap
    assert small[0, 3] == kin.wrap_angle(np.array([7.0]))[0]


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "robot.urdf"
    path.write_text(text)
    return path


LOOP = """<robot name="loop"><link name="base"/><link name="a"/>
<joint name="j1" type="revolute"><parent link="a"/><child link="a"/><axis xyz="0 0 1"/></joint>
</robot>"""


def test_urdf_joint_loop_is_an_error_not_a_hang(tmp_path):
    """A joint whose parent is its own child made load_arm loop forever."""
    with watchdog(10, "load_arm"), pytest.raises(URDFError, match="loop"):
        ikml_gym.load_arm(_write(tmp_path, LOOP), ee_link="a")
    two = LOOP.replace('<parent link="a"/>', '<parent link="base"/>').replace(
        "</robot>",
        '<joint name="j2" type="revolute"><parent link="base"/><child link="a"/></joint></robot>',
    )
    with pytest.raises(URDFError, match="child of two joints"):
        ikml_gym.load_arm(_write(tmp_path, two), ee_link="a")


@pytest.mark.parametrize(
    "old,new,match",
    [
        ('lower="-3.141592653589793"', 'lower="abc"', "joint1' limit lower: cannot read"),
        ('lower="-3.141592653589793"', 'lower="nan"', "limit lower must be 1 finite"),
        ('lower="-3.141592653589793"', 'lower="5"', "lower=5 > upper"),
        ('<origin xyz="0 0 0.077"', '<origin xyz="0 0 1e308"', "origin xyz must lie within"),
        ('<parent link="base_link"/>', "<parent/>", "lacks <parent link"),
    ],
)
def test_urdf_bad_numbers_are_urdf_errors(tmp_path, old, new, match):
    """Unreadable limits leaked a bare ValueError; NaN or inverted limits and 1e308 m
    origins were accepted and made NaN/inf FK later; a parent without a link was ignored."""
    text = shipped_urdf_path("arm4").read_text()
    assert old in text
    with pytest.raises(URDFError, match=match):
        ikml_gym.load_arm(_write(tmp_path, text.replace(old, new, 1)))


def test_load_arm_unusable_paths_are_unknown_arms():
    """A name longer than the OS allows leaked OSError (File name too long), and '~0' (the
    home of a user that does not exist) pathlib's RuntimeError, from load_arm and
    load_classifier."""
    for name in ("a" * 5000, "~0", "~no-such-user/arm"):
        with pytest.raises(UnknownArmError, match="unknown arm"):
            ikml_gym.load_arm(name)
    with pytest.raises(FileNotFoundError, match="URDF not found"):
        ikml_gym.load_arm("a" * 5000 + ".urdf")
    with pytest.raises(FileNotFoundError, match="URDF not found"):
        ikml_gym.load_arm("~no-such-user/arm.urdf")
    with pytest.raises(ModelFileError, match="missing"):
        ikml_gym.load_classifier("~0")


@pytest.mark.parametrize(
    "kwargs,name",
    [
        ({"home_q": [1.0, 2.0]}, "home_q"),  # numpy reshape ValueError
        ({"home_q": [np.nan] * 4}, "home_q"),  # LinAlgError (SVD did not converge)
        ({"home_q": [1e300] * 4}, "home_q"),  # started far outside the limits
        ({"max_goal_tries": 0}, "max_goal_tries"),  # UnboundLocalError in sample_goal
        ({"timestep": np.inf}, "timestep"),  # LinAlgError
        ({"timestep": 1e200}, "timestep"),  # LinAlgError (PyBullet diverges)
        ({"joint_step": np.nan}, "joint_step"),  # LinAlgError
        ({"residual_scale": np.nan, "control_type": "ik_prior"}, "residual_scale"),
        ({"ee_step": np.inf, "control_type": "ee"}, "ee_step"),  # blamed "features"
        ({"goal_range": np.inf}, "goal_range"),  # infinite observation box
        ({"distance_threshold": np.inf}, "distance_threshold"),  # every step a success
        ({"distance_threshold": "0.02"}, "distance_threshold"),  # TypeError on '>'
        ({"singularity_penalty": np.inf}, "singularity_penalty"),  # NaN rewards
        ({"render_width": 0}, "render_width"),
        ({"n_substeps": "x"}, "n_substeps"),  # int('x') ValueError
    ],
)
def test_env_kwargs_are_validated(kwargs, name):
    with pytest.raises(InvalidInputError, match=name):
        ArmReachEnv(**kwargs)


def test_reset_options_are_validated(arm4):
    """Non-dict options leaked AttributeError, unknown keys were ignored silently and a goal
    outside the observation box gave observations outside the observation space."""
    env = ArmReachEnv()
    try:
        obs, _ = env.reset(seed=0)
        goal = env.goal_pose
        for options in ("garbage", [("goal", [0.1, 0, 0.2, 0])], {"gaol": [0.1, 0, 0.2, 0]}):
            with pytest.raises(InvalidInputError, match="options"):
                env.reset(options=options)
        with pytest.raises(InvalidInputError, match="outside the observation box"):
            env.reset(options={"goal": [10.0, 0.0, 0.0, 0.0]})
        np.testing.assert_array_equal(env.goal_pose, goal)
        env.step(np.zeros(4))
        obs, _ = env.reset(options={"goal": [0.2, 0.0, 0.2, 0.5]})
        assert env.observation_space.contains(obs)
    finally:
        env.close()


def test_step_rejects_complex_and_string_actions():
    """A complex action lost its imaginary part silently; numeric strings were parsed."""
    env = ArmReachEnv()
    try:
        env.reset(seed=0)
        for action in (np.array([1 + 1j, 0, 0, 0]), np.array(["0.1"] * 4)):
            with pytest.raises(InvalidInputError, match="action"):
                env.step(action)
    finally:
        env.close()


@pytest.mark.parametrize("model", ["LearnedIK[arm4]", "MultiHypothesisIK[arm4]"])
def test_learned_ik_far_q0_keeps_a_plausible_branch(arm4, model):
    """A q0 far outside the limits overflowed the branch distance to inf, tying with the
    implausible proposals: argmin then picked proposal 0 even when it was garbage."""
    ik = solver(model)
    rng = np.random.default_rng(1)
    f = arm4.fk_features(arm4.random_q(200, rng))
    free = ik.solve(f)
    far = ik.solve(f, q0=np.full(4, 1e300))
    tol = BRANCH_PLAUSIBLE
    plausible = (free.pos_err < tol * ik.pos_tol) & (free.rot_err < tol * ik.rot_tol)
    kept = (far.pos_err < tol * ik.pos_tol) & (far.rot_err < tol * ik.rot_tol)
    assert plausible.sum() > 50 and np.all(kept[plausible])  # > 50: not vacuous


def test_feasibility_filter_confidence_is_validated():
    """confidence='abc' leaked 'could not convert string to float' (no argument named)."""
    clf = ikml_gym.load_classifier("arm6")
    for bad in ("abc", None, [0.5], np.nan, 1.5, True):
        with pytest.raises(InvalidInputError, match="confidence"):
            FeasibilityFilter(clf, DLSIK(clf.arm), confidence=bad)


def test_single_q0_for_an_empty_batch(arm4):
    """One q0 broadcasts to every pose; for zero poses it raised 'q0 has 1 rows'."""
    res = AnalyticIK(arm4).solve(np.zeros((0, 4)), q0=np.zeros(4))
    assert res.q.shape == (0, 4) and len(res) == 0


def test_check_home_accepts_limits_and_rejects_outside(arm6):
    lim = arm6.joint_limits
    np.testing.assert_array_equal(check_home(arm6, lim[:, 1]), lim[:, 1])
    with pytest.raises(InvalidInputError, match=r"joint\(s\) \[0\]"):
        check_home(arm6, np.r_[lim[0, 1] + 0.1, lim[1:, 0]])


def test_errors_are_package_errors():
    """Every error class the properties accept from the package is an IkmlGymError."""
    for cls in (InvalidInputError, UnknownArmError, URDFError, ModelFileError):
        assert issubclass(cls, IkmlGymError)
