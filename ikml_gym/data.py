"""Dataset generation: joint sampling, IK targets, reachability/conditioning labels.

Two datasets, both vectorised, reproducible from a seed and
saved with :func:`ikml_gym.io.save_dataset` (``.npz`` + JSON header):

* IK set: Latin hypercube samples of the joint box -> FK -> task features, plus
  the closed-form branch each sample lies on (``-1`` for arms without a closed form).
* Classifier set: reachable poses from Latin hypercube joint samples, unreachable
  candidates (positions uniform in a ball of 1.5 x reach, half inside the reach
  sphere and half outside; orientations uniform) and boundary candidates (reachable
  poses moved to about the edge of the workspace: :func:`boundary_candidates`), all
  labelled by an oracle (closed form where one exists, multi-start DLS otherwise):
  0 unreachable, 1 near-singular, 2 adequate, 3 high manipulability, by the 20 / 80
  percentiles of kinv over the reachable poses of the first two kinds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from itertools import pairwise
from typing import Any

import numpy as np
from scipy.spatial.transform import Rotation

from . import kinematics as kin
from ._extras import require
from ._version import __version__
from .arms import POSE4, Arm
from .closed_form import closed_form_for
from .labels import CLASS_PERCENTILES, label_from_kinv

_CHUNK = 50_000


def _chunks(n: int, desc: str, progress: bool) -> Iterator[slice]:
    """Slices of at most ``_CHUNK`` rows, yielded one by one; with ``progress`` a tqdm bar
    that advances as each is consumed (the ``[train]`` extra)."""
    bounds = [*range(0, n, _CHUNK), n]
    pairs: Iterable[tuple[int, int]] = list(pairwise(bounds))
    if progress:
        require("train", "tqdm")
        from tqdm.auto import tqdm

        pairs = tqdm(pairs, desc=desc, unit="chunk")
    for a, b in pairs:
        yield slice(a, b)


def latin_hypercube_q(arm: Arm, n: int, seed: int) -> np.ndarray:
    """(n, dof) Latin hypercube samples of the joint box (scipy.stats.qmc)."""
    from scipy.stats import qmc

    return arm.scale_unit(qmc.LatinHypercube(d=arm.dof, seed=seed).random(n))


def dataset_header(arm: Arm, kind: str, seed: int, **extra: Any) -> dict[str, Any]:
    """The JSON header every dataset carries."""
    return {
        "kind": kind,
        "arm": arm.name,
        "urdf_hash": arm.urdf_hash,
        "feature_kind": arm.feature_kind,
        "seed": int(seed),
        "package_version": __version__,
        **extra,
    }


def branch_of(arm: Arm, q: np.ndarray, features: np.ndarray) -> np.ndarray:
    """(N,) closed-form branch id that reproduces each (N, dof) ``q``; -1 if none / no closed form."""
    from .solvers import AnalyticIK

    if closed_form_for(arm) is None:
        return np.full(len(q), -1)
    q_all, valid = AnalyticIK(arm).solve_all(features)
    dist = np.abs(kin.wrap_angle(q_all - q[:, None, :])).max(axis=2)
    dist = np.where(valid, dist, np.inf)
    best = np.argmin(dist, axis=1)
    return np.where(dist[np.arange(len(q)), best] < 1e-6, best, -1)


def make_ik_dataset(
    arm: Arm, n: int, seed: int = 0, progress: bool = True
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """IK training set: ``q`` (n, dof), ``features`` (n, feature_dim), ``branch`` (n,)."""
    if n <= 0:
        raise ValueError(f"n must be positive, got {n}")
    q = latin_hypercube_q(arm, n, seed)
    feats = np.empty((n, arm.feature_dim))
    branch = np.empty(n, dtype=np.int64)
    for s in _chunks(n, f"IK data {arm.name}", progress):
        feats[s] = arm.fk_features(q[s])
        branch[s] = branch_of(arm, q[s], feats[s])
    header = dataset_header(arm, "ik", seed, n=n)
    return {"q": q, "features": feats, "branch": branch}, header


def unreachable_candidates(arm: Arm, n: int, rng: np.random.Generator) -> np.ndarray:
    """(n, feature_dim) poses: positions uniform in volume, half in the reach ball, half in the
    shell out to 1.5 x reach (around ``arm.reach_center``); orientations uniform."""
    r_in, r_out = arm.reach, 1.5 * arm.reach
    n_in = n // 2
    u = rng.random(n)
    r3 = np.where(
        np.arange(n) < n_in, u * r_in**3, r_in**3 + u * (r_out**3 - r_in**3)
    )  # uniform in volume within each part
    direction = rng.normal(size=(n, 3))
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    pos = arm.reach_center + direction * np.cbrt(r3)[:, None]
    if arm.feature_kind == POSE4:
        return np.column_stack([pos, rng.uniform(-np.pi, np.pi, n)])
    quat = kin.canonical_quat(Rotation.random(n, random_state=rng).as_quat())
    return np.column_stack([pos, quat])


#: bisection steps of :func:`boundary_candidates`' search for the edge of the workspace
BOUNDARY_STEPS = 7
#: spread of the boundary candidates about the edge found: radial (a fraction of the
#: edge's distance from the reach centre) and angular (radians)
BOUNDARY_SPREAD = (0.03, np.deg2rad(5.0))
#: share of the radial candidates that search outwards (the rest search inwards)
BOUNDARY_OUTWARD = 0.75


def boundary_candidates(
    arm: Arm,
    n: int,
    rng: np.random.Generator,
    oracle: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
    steps: int = BOUNDARY_STEPS,
) -> np.ndarray:
    """(n, feature_dim) poses scattered about the edge of the reachable set, found by the
    oracle, to be labelled by it.

    Each starts from the FK pose of a uniform random configuration and walks along a
    path out of the reachable set, and bisection (``steps`` oracle calls, after one for
    the path's far end) finds where the pose stops being reachable:

    * half move along the reach direction, orientation kept: out to 1.5 x reach
      (:data:`BOUNDARY_OUTWARD` of them) or in to the reach centre;
    * half keep their position and turn the orientation about a random axis, up to
      half a turn (pose4: the pitch, either way).

    The candidate is then drawn about the edge (:data:`BOUNDARY_SPREAD`): roughly half
    land on each side, where a classifier trained on random poses alone is least sure.
    Where the far end is still reachable there is no edge on the path and the
    candidate is drawn uniformly along it.
    """
    feats = arm.fk_features(arm.scale_unit(rng.random((n, arm.dof))))
    radial = np.arange(n) < n // 2
    m_r, m_t = int(radial.sum()), int((~radial).sum())
    # radial: scale s of the offset from the reach centre, from 1 to the far end
    offset = feats[radial, :3] - arm.reach_center
    dist = np.maximum(np.linalg.norm(offset, axis=1), 1e-9)
    far = np.where(rng.random(m_r) < BOUNDARY_OUTWARD, 1.5 * arm.reach / dist, 0.0)

    def moved(scale: np.ndarray) -> np.ndarray:
        out = feats[radial].copy()
        out[:, :3] = arm.reach_center + offset * scale[:, None]
        return out

    scale = _about_edge(oracle, moved, np.ones(m_r), far, steps, rng, BOUNDARY_SPREAD[0], True)
    feats[radial] = moved(scale)
    # turn: angle about a random axis, from 0 to half a turn
    turned = _turner(arm, feats[~radial], rng)
    angle = _about_edge(
        oracle, turned, np.zeros(m_t), np.full(m_t, np.pi), steps, rng, BOUNDARY_SPREAD[1], False
    )
    feats[~radial] = turned(angle)
    return feats


def _turner(
    arm: Arm, feats: np.ndarray, rng: np.random.Generator
) -> Callable[[np.ndarray], np.ndarray]:
    """A function: (m,) angles -> the (m, feature_dim) poses turned by them about random
    axes (pose4: the pitch turned either way)."""
    m = len(feats)
    if arm.feature_kind == POSE4:
        sign = rng.choice([-1.0, 1.0], m)

        def turn4(angle: np.ndarray) -> np.ndarray:
            out = feats.copy()
            out[:, 3] = kin.wrap_angle(feats[:, 3] + sign * angle)
            return out

        return turn4
    axis = rng.normal(size=(m, 3))
    axis /= np.linalg.norm(axis, axis=1, keepdims=True)
    start = Rotation.from_quat(feats[:, 3:7])

    def turn7(angle: np.ndarray) -> np.ndarray:
        out = feats.copy()
        out[:, 3:7] = kin.canonical_quat(
            (Rotation.from_rotvec(axis * angle[:, None]) * start).as_quat()
        )
        return out

    return turn7


def _about_edge(
    oracle: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
    poses_at: Callable[[np.ndarray], np.ndarray],
    near: np.ndarray,
    far: np.ndarray,
    steps: int,
    rng: np.random.Generator,
    spread: float,
    relative: bool,
) -> np.ndarray:
    """(m,) path parameters drawn about the edge of reachability on each path.

    ``poses_at(v)`` gives the poses at parameters ``v``; ``near`` is reachable, ``far`` the
    path's end. Bisection keeps the last reachable parameter in ``near`` and the first
    unreachable one in ``far``; the draw is the edge plus normal noise of ``spread``
    (times the edge value where ``relative``), clipped to the path. Paths whose far end
    is reachable get a uniform draw along the path.
    """
    lo, hi = near.astype(float), far.astype(float)
    no_edge = oracle(poses_at(hi))[0]
    for _ in range(steps):
        mid = (lo + hi) / 2.0
        ok = oracle(poses_at(mid))[0]
        lo, hi = np.where(ok, mid, lo), np.where(ok, hi, mid)
    edge = (lo + hi) / 2.0
    noise = rng.normal(0.0, spread, len(edge)) * (np.abs(edge) if relative else 1.0)
    uniform = near + (far - near) * rng.random(len(edge))
    a, b = np.minimum(near, far), np.maximum(near, far)
    return np.where(no_edge, uniform, np.clip(edge + noise, a, b))


def shell_poses(
    arm: Arm, n: int, rng: np.random.Generator, inner: float = 0.0, outer: float = 1.5
) -> np.ndarray:
    """(n, feature_dim) poses with positions uniform in volume between ``inner`` and
    ``outer`` x reach around ``arm.reach_center`` and uniform orientations (pose4: the
    pitch uniform in [-pi, pi)). With the defaults: the reference study's random poses
    in a ball of 1.5 x reach; ``inner=0.8, outer=1.1``: the band where the edge of the
    workspace lies."""
    if not 0.0 <= inner < outer:
        raise ValueError(f"need 0 <= inner < outer, got {inner}, {outer}")
    lo, hi = (inner * arm.reach) ** 3, (outer * arm.reach) ** 3
    radius = np.cbrt(lo + rng.random(n) * (hi - lo))
    direction = rng.normal(size=(n, 3))
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    pos = arm.reach_center + direction * radius[:, None]
    if arm.feature_kind == POSE4:
        return np.column_stack([pos, rng.uniform(-np.pi, np.pi, n)])
    quat = kin.canonical_quat(Rotation.random(n, random_state=rng).as_quat())
    return np.column_stack([pos, quat])


class ReachabilityOracle:
    """Ground truth for a pose: reachable within the limits, and the best kinv over its solutions.

    Exact (closed form, every branch) for the shipped arm families; for other arms
    multi-start DLS approximates it (``starts`` independent solves, best kinv among
    the successful ones).
    """

    def __init__(self, arm: Arm, starts: int = 4, seed: int = 0) -> None:
        from .solvers import DLSIK, AnalyticIK

        self.arm = arm
        self.exact = closed_form_for(arm) is not None
        self.analytic = AnalyticIK(arm) if self.exact else None
        self.dls = None if self.exact else DLSIK(arm, seed=seed)
        self.starts = starts

    def __call__(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, feature_dim) -> (reachable (N,) bool, kinv (N,), 0 where unreachable)."""
        n = len(features)
        if self.exact:
            q_all, valid = self.analytic.solve_all(features)
            k = np.zeros(valid.shape)
            if valid.any():
                k[valid] = self.arm.kinv(q_all[valid])
            return valid.any(axis=1), k.max(axis=1)
        reachable = np.zeros(n, dtype=bool)
        best = np.zeros(n)
        for _ in range(self.starts):
            res = self.dls.solve(features)
            k = np.where(res.success, self.arm.kinv(res.q), 0.0)
            reachable |= res.success
            best = np.maximum(best, k)
        return reachable, best


def default_boundary(n_reachable: int) -> int:
    """Boundary candidates in a classifier set by default: 3/5 of the reachable poses
    (240,000 beside 400,000)."""
    return 3 * n_reachable // 5


def make_classifier_dataset(
    arm: Arm,
    n_reachable: int = 400_000,
    n_unreachable: int = 160_000,
    seed: int = 0,
    progress: bool = True,
    n_boundary: int | None = None,
    oracle_starts: int = 4,
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Classifier set: ``features`` (N, feature_dim), ``label`` (N,), ``kinv`` (N,), shuffled.

    Reachable poses come from Latin hypercube joint samples; the unreachable and the
    boundary candidates (:func:`unreachable_candidates`, :func:`boundary_candidates`;
    ``n_boundary`` defaults to :func:`default_boundary`, 0 gives the reference study's
    set) are labelled by the oracle too. The class thresholds (20th / 80th percentile
    of kinv over the reachable poses among the first two kinds, so the boundary share
    does not move them) go in the header. ``oracle_starts``: DLS starts per pose where
    there is no closed form.
    """
    n_boundary = default_boundary(n_reachable) if n_boundary is None else n_boundary
    if n_reachable <= 0 or n_unreachable < 0 or n_boundary < 0:
        raise ValueError("n_reachable must be positive, n_unreachable and n_boundary non-negative")
    rng = np.random.default_rng(seed)
    q = latin_hypercube_q(arm, n_reachable, seed)
    oracle = ReachabilityOracle(arm, starts=oracle_starts, seed=seed)
    parts = [
        np.empty((n_reachable, arm.feature_dim)),
        unreachable_candidates(arm, n_unreachable, rng),
    ]
    if n_boundary:
        parts.append(boundary_candidates(arm, n_boundary, rng, oracle))
    feats = np.concatenate(parts)
    n = len(feats)
    reachable = np.empty(n, dtype=bool)
    kinv = np.empty(n)
    for s in _chunks(n, f"classifier data {arm.name}", progress):
        if s.start < n_reachable:
            stop = min(s.stop, n_reachable)
            feats[s.start : stop] = arm.fk_features(q[s.start : stop])
        reachable[s], kinv[s] = oracle(feats[s])
    sampled = slice(0, n_reachable + n_unreachable)  # not the boundary rows
    thresholds = np.percentile(kinv[sampled][reachable[sampled]], CLASS_PERCENTILES)
    labels = label_from_kinv(reachable, kinv, thresholds)
    order = rng.permutation(n)
    header = dataset_header(
        arm,
        "classifier",
        seed,
        n_reachable=n_reachable,
        n_unreachable=n_unreachable,
        n_boundary=n_boundary,
        thresholds=thresholds.tolist(),
        oracle="closed_form" if oracle.exact else f"multi_start_dls x{oracle_starts}",
        class_counts=np.bincount(labels, minlength=4).tolist(),
    )
    return {"features": feats[order], "label": labels[order], "kinv": kinv[order]}, header
