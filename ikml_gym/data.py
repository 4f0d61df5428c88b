"""Dataset generation: joint sampling, IK targets, reachability/conditioning labels.

Two datasets, both vectorised, reproducible from a seed and
saved with :func:`ikml_gym.io.save_dataset` (``.npz`` + JSON header):

* IK set: Latin hypercube samples of the joint box -> FK -> task features, plus
  the closed-form branch each sample lies on (``-1`` for arms without a closed form).
* Classifier set: reachable poses from Latin hypercube joint samples, unreachable
  candidates (positions uniform in a ball of 1.5 x reach, half inside the reach
  sphere and half outside; orientations uniform) and boundary candidates (reachable
  poses moved across the edge of the workspace: :func:`boundary_candidates`), all
  labelled by an oracle (closed form where one exists, multi-start DLS otherwise):
  0 unreachable, 1 near-singular, 2 adequate, 3 high manipulability, by the 20 / 80
  percentiles of kinv over the reachable poses of the first two kinds.
"""

from __future__ import annotations

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


def _chunks(n: int, desc: str, progress: bool) -> list[slice]:
    """Slices of at most ``_CHUNK`` rows; with ``progress`` a tqdm bar over them (the
    ``[train]`` extra)."""
    bounds = [*range(0, n, _CHUNK), n]
    pairs = list(pairwise(bounds))
    if progress:
        require("train", "tqdm")
        from tqdm.auto import tqdm

        pairs = list(tqdm(pairs, desc=desc, unit="chunk"))
    return [slice(a, b) for a, b in pairs]


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


#: how far :func:`boundary_candidates` moves a pose: the radial scale about the reach
#: centre (uniform in this range) and the largest turn of the orientation (radians)
BOUNDARY_SCALE = (0.85, 1.25)
BOUNDARY_TURN = np.deg2rad(45.0)


def boundary_candidates(arm: Arm, n: int, rng: np.random.Generator) -> np.ndarray:
    """(n, feature_dim) poses near the edge of the reachable set, to be labelled by the oracle.

    Each starts from the FK pose of a uniform random configuration. Half are pushed
    along the reach direction (position scaled about ``arm.reach_center`` by a factor
    uniform in :data:`BOUNDARY_SCALE`, orientation kept): they cross the outer and inner
    edges of the workspace. The other half keep their position and turn their
    orientation by a random rotation of up to :data:`BOUNDARY_TURN` (pose4: the pitch
    by up to that angle): they cross the edge of what the wrist can reach there.
    Near the edge both halves are roughly half reachable, which is where a classifier
    trained on random poses alone is least sure.
    """
    feats = arm.fk_features(arm.scale_unit(rng.random((n, arm.dof))))
    push = np.arange(n) < n // 2
    scale = rng.uniform(*BOUNDARY_SCALE, int(push.sum()))
    feats[push, :3] = arm.reach_center + (feats[push, :3] - arm.reach_center) * scale[:, None]
    n_turn = int((~push).sum())
    angle = rng.uniform(0.0, BOUNDARY_TURN, n_turn)
    if arm.feature_kind == POSE4:
        feats[~push, 3] = kin.wrap_angle(feats[~push, 3] + angle * rng.choice([-1.0, 1.0], n_turn))
        return feats
    axis = rng.normal(size=(n_turn, 3))
    axis /= np.linalg.norm(axis, axis=1, keepdims=True)
    turned = Rotation.from_rotvec(axis * angle[:, None]) * Rotation.from_quat(feats[~push, 3:7])
    feats[~push, 3:7] = kin.canonical_quat(turned.as_quat())
    return feats


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
    does not move them) go in the header. ``oracle_starts``: DLS starts per pose where there is no closed form.
    """
    n_boundary = default_boundary(n_reachable) if n_boundary is None else n_boundary
    if n_reachable <= 0 or n_unreachable < 0 or n_boundary < 0:
        raise ValueError(
            "n_reachable must be positive, n_unreachable and n_boundary non-negative"
        )
    rng = np.random.default_rng(seed)
    q = latin_hypercube_q(arm, n_reachable, seed)
    parts = [np.empty((n_reachable, arm.feature_dim)), unreachable_candidates(arm, n_unreachable, rng)]
    if n_boundary:
        parts.append(boundary_candidates(arm, n_boundary, rng))
    feats = np.concatenate(parts)
    oracle = ReachabilityOracle(arm, starts=oracle_starts, seed=seed)
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
