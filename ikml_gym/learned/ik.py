"""Learned inverse kinematics for pose4 arms (``arm4``): a clustered regressor.

The reference study's model, reproduced and made
persistent without pickle:

* **Clusters.** The joint samples are split into ``n_clusters`` (4) groups,
  either by KMeans on ``[sin q, cos q]`` (``clustering="kmeans"``; sin/cos so
  that +-pi is not a seam) or by the closed-form branch each sample lies on
  (``clustering="branch"``: base flip x elbow up/down). Within one branch the
  pose -> joints map is single-valued and smooth away from singularities;
  KMeans clusters are not aligned with the branches, so a cluster can hold
  two solutions of one pose and its regressor averages them.
* **One regressor per cluster** (default ``MLPRegressor((256, 256, 256))``,
  Adam, batch 1000, early stopping), ``StandardScaler`` on inputs and
  outputs, 85/15 train/test split stratified by cluster.
* **Inputs** (:func:`ik_inputs`, 8 numbers): ``x, y, z`` (m),
  ``sin psi, cos psi`` (psi is an angle, so it enters as a point on the
  circle, no seam at +-pi), and the cylindrical coordinates of the target
  ``r = hypot(x, y)`` (m), ``cos h, sin h`` with ``h = atan2(y, x)`` (the
  heading; all derived from the features, nothing arm-specific).
* **Outputs**: ``[sin q_1..q_dof, cos q_1..q_dof]``, turned back into
  angles with ``atan2``, then wrapped/clipped into the joint limits.
* **Inference**: every cluster proposes, forward kinematics scores each
  proposal against the target (``pos_err / pos_tol + rot_err / rot_tol``),
  the best is kept. Optionally ``refine_steps`` damped-least-squares
  iterations (:meth:`ikml_gym.solvers.DLSIK.refine`) polish the poses whose
  guess misses the tolerances. The network runs in numpy (float32 weights),
  batched. ``pitch_closure=True`` (off by default) replaces the last joint of
  every proposal by ``psi - (q_2 + ... + q_{dof-1})``, exact for
  yaw-pitch-...-pitch arms: zero pitch error, about 30% lower position error.
* **Training** runs the MLP epoch by epoch (``partial_fit``) with early stopping
  on a 10% validation split; the first three plateaus divide Adam's step size
  by 4 instead of stopping (the steps in the learning curves).

Counting (as in :mod:`ikml_gym.solvers`): the network and the FK scoring are free
(``numerical = False``). Polishing *is* a numerical step: every pose handed to the
DLS polish adds one to ``calls`` (also readable as ``polish_calls``).

Persistence: :meth:`LearnedIK.save` writes safetensors + a JSON header
through :func:`ikml_gym.io.save_model` (weights, biases, scalers, cluster
centres, activation, input spec); only ReLU ``MLPRegressor`` models can be
saved. :func:`load_ik` loads the shipped ``ikml_gym/pretrained/arm4_ik`` or
any saved file.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from .. import kinematics as kin
from ..arms import POSE4, SHIPPED_ARMS, Arm, load_arm
from ..errors import ArmMismatchError, ModelFileError
from ..io import flush_subnormals, load_model, model_paths, save_model
from ..solvers import DEFAULT_POS_TOL, DEFAULT_ROT_TOL, DLSIK, IKResult, IKSolver
from .mlp import StackedMLP

#: model kind in the file header
KIND = "learned_ik"
#: names of the regressor inputs, in order (see :func:`ik_inputs`)
INPUT_SPEC = ("x", "y", "z", "sin_psi", "cos_psi", "r_xy", "cos_heading", "sin_heading")
CLUSTERINGS = ("branch", "kmeans")
_ACTIVATIONS = ("relu",)


# ------------------------------------------------------------------ input / output
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


def kmeans_clusters(
    q: np.ndarray, n_clusters: int = 4, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """KMeans on ``[sin q, cos q]`` -> (labels (N,), centres (n_clusters, 2 dof))."""
    from sklearn.cluster import KMeans

    km = KMeans(n_clusters=n_clusters, n_init=4, random_state=seed)
    labels = km.fit_predict(joint_targets(q))
    return labels.astype(np.int64), km.cluster_centers_


# --------------------------------------------------------------------------- networks
@dataclass
class _Net:
    """One cluster's regressor as plain arrays: standardise, ReLU MLP, unstandardise."""

    weights: list[np.ndarray]
    biases: list[np.ndarray]
    x_mean: np.ndarray
    x_scale: np.ndarray
    y_mean: np.ndarray
    y_scale: np.ndarray

    def predict(self, inputs: np.ndarray) -> np.ndarray:
        return _stack([self]).forward(inputs)[0].astype(np.float64)

    def __post_init__(self) -> None:
        self.weights = [flush_subnormals(np.asarray(w, np.float32)) for w in self.weights]
        self.biases = [flush_subnormals(np.asarray(b, np.float32)) for b in self.biases]


@dataclass
class _SklearnNet:
    """A cluster regressor of any scikit-learn kind (in memory only; cannot be saved)."""

    regressor: Any
    x_scaler: Any
    y_scaler: Any

    def predict(self, inputs: np.ndarray) -> np.ndarray:
        y = self.regressor.predict(self.x_scaler.transform(inputs))
        return self.y_scaler.inverse_transform(
            np.asarray(y, dtype=np.float64).reshape(len(inputs), -1)
        )


def _stack(nets: list[_Net | _SklearnNet]) -> StackedMLP | None:
    """All cluster networks as one :class:`StackedMLP`, or None if some cannot stack
    (another regressor kind, or layer shapes that differ)."""
    if not all(isinstance(n, _Net) for n in nets):
        return None
    shapes = {tuple(w.shape for w in n.weights) for n in nets}  # type: ignore[union-attr]
    if len(shapes) != 1:
        return None
    layers = range(len(nets[0].weights))  # type: ignore[union-attr]
    return StackedMLP(
        [np.stack([n.weights[i] for n in nets]) for i in layers],  # type: ignore[union-attr]
        [np.stack([n.biases[i] for n in nets]) for i in layers],  # type: ignore[union-attr]
        in_shift=np.stack([n.x_mean for n in nets]),  # type: ignore[union-attr]
        in_scale=np.stack([n.x_scale for n in nets]),  # type: ignore[union-attr]
        out_scale=np.stack([n.y_scale for n in nets]),  # type: ignore[union-attr]
        out_shift=np.stack([n.y_mean for n in nets]),  # type: ignore[union-attr]
    )


def _net_from_sklearn(regressor: Any, x_scaler: Any, y_scaler: Any) -> _Net | _SklearnNet:
    """Extract the arrays of a ReLU MLPRegressor; other regressors stay wrapped."""
    from sklearn.neural_network import MLPRegressor

    if isinstance(regressor, MLPRegressor) and regressor.activation in _ACTIVATIONS:
        return _Net(
            weights=[np.asarray(w, dtype=np.float32) for w in regressor.coefs_],
            biases=[np.asarray(b, dtype=np.float32) for b in regressor.intercepts_],
            x_mean=x_scaler.mean_.astype(np.float64),
            x_scale=x_scaler.scale_.astype(np.float64),
            y_mean=y_scaler.mean_.astype(np.float64),
            y_scale=y_scaler.scale_.astype(np.float64),
        )
    return _SklearnNet(regressor, x_scaler, y_scaler)


# ---------------------------------------------------------------------------- solver
#: with a q0, proposals within this many times the tolerances count as real branches
#: (measured on arm4 reaching, 200 episodes: 1x left the arm to jump branches where its
#: own branch's guess was slightly off, any distance picked garbage for missing branches)
BRANCH_PLAUSIBLE = 3.0
_RESULT_FIELDS = [f.name for f in fields(IKResult)]
#: poses per chunk of a large batch (all heads' activations and FK checks stay in cache)
CHUNK = 4096


class LearnedIK(IKSolver):
    """Clustered-regressor IK of a pose4 arm (no numerical calls; see the module docstring).

    Build one with :func:`train_learned_ik` or load one with :func:`load_ik`.

    Args:
        arm: the arm (pose4 feature kind).
        nets: one regressor per cluster.
        clustering: ``"branch"`` or ``"kmeans"``.
        centers: (n_clusters, 2 dof) KMeans centres in ``[sin q, cos q]`` space
            (kept for reference; inference asks every cluster).
        refine_steps: DLS iterations polishing guesses that miss the tolerances (0 = none).
        pitch_closure: replace each proposal's last joint by ``psi - (q_2 + ... q_{dof-1})``
            (exact algebra, not a numerical step). For yaw-pitch-...-pitch arms psi is the
            sum of the pitch joints, so this makes the pitch error zero and leaves only the
            regressor's error in the earlier joints; checked at construction. Off by
            default: the plain model is the reference study's.
        pos_tol, rot_tol: success tolerances (m, rad).
        info: training metadata (saved in the header).

    Attributes:
        polish_calls: poses handed to the DLS polish so far (the solver's own numerical
            calls, counted in ``calls``).
    """

    numerical = False

    def __init__(
        self,
        arm: Arm,
        nets: list[_Net | _SklearnNet],
        clustering: str = "branch",
        centers: np.ndarray | None = None,
        refine_steps: int = 0,
        pos_tol: float = DEFAULT_POS_TOL,
        rot_tol: float = DEFAULT_ROT_TOL,
        info: dict[str, Any] | None = None,
        pitch_closure: bool = False,
    ) -> None:
        super().__init__(arm, pos_tol=pos_tol, rot_tol=rot_tol)
        if arm.feature_kind != POSE4:
            raise ValueError(
                f"LearnedIK handles pose4 arms (x, y, z, psi); arm {arm.name!r} is "
                f"{arm.feature_kind!r} -- use DLSIK or AnalyticIK"
            )
        if clustering not in CLUSTERINGS:
            raise ValueError(f"clustering must be one of {CLUSTERINGS}, got {clustering!r}")
        if not nets:
            raise ValueError("LearnedIK needs at least one cluster regressor")
        if refine_steps < 0:
            raise ValueError("refine_steps must be >= 0")
        self.nets = list(nets)
        self._mlp = _stack(self.nets)
        self.clustering = clustering
        self.centers = None if centers is None else np.asarray(centers, dtype=np.float64)
        self.refine_steps = int(refine_steps)
        self.info: dict[str, Any] = dict(info or {})
        self._dls: DLSIK | None = None
        self.pitch_closure = bool(pitch_closure)
        if self.pitch_closure:
            q = arm.random_q(16, np.random.default_rng(0))
            gap = kin.wrap_angle(arm.fk_features(q)[:, 3] - q[:, 1:].sum(axis=1))
            if np.max(np.abs(gap)) > 1e-9:
                raise ValueError(
                    f"pitch_closure needs psi = q_2 + ... + q_dof; arm {arm.name!r} is not "
                    "a yaw-pitch-...-pitch chain"
                )

    # ------------------------------------------------------------------ properties
    @property
    def n_clusters(self) -> int:
        """Number of cluster regressors (each proposes a solution)."""
        return len(self.nets)

    @property
    def polish_calls(self) -> int:
        """Poses handed to the DLS polish so far: this solver's own numerical calls."""
        return self.own_calls

    def with_refine(self, refine_steps: int, pitch_closure: bool | None = None) -> LearnedIK:
        """A solver sharing these networks with other ``refine_steps`` (and, given,
        ``pitch_closure``); its counters start at zero."""
        closure = self.pitch_closure if pitch_closure is None else pitch_closure
        return LearnedIK(
            self.arm, self.nets, self.clustering, self.centers, refine_steps,
            self.pos_tol, self.rot_tol, self.info, closure,
        )  # fmt: skip

    # -------------------------------------------------------------------- inference
    def propose(self, features: object) -> np.ndarray:
        """Every cluster's proposal: (N, n_clusters, dof) radians within the joint limits."""
        f, _ = self.arm.check_features(features)
        if len(f) > CHUNK:
            return np.concatenate(
                [self._propose(f[s : s + CHUNK]) for s in range(0, len(f), CHUNK)]
            )
        return self._propose(f)

    def _propose(self, f: np.ndarray) -> np.ndarray:
        inputs = ik_inputs(f)
        if self._mlp is not None:  # (K, N, 2 dof) in one stacked pass
            q = joints_from_outputs(self._mlp.forward(inputs).transpose(1, 0, 2))
        else:
            q = np.stack([joints_from_outputs(net.predict(inputs)) for net in self.nets], axis=1)
        if self.pitch_closure:
            q[:, :, -1] = kin.wrap_angle(f[:, 3, None] - q[:, :, 1:-1].sum(axis=2))
        return self.arm.wrap_to_limits(q)

    def _best(self, features: np.ndarray, q0: np.ndarray | None = None) -> IKResult:
        """Pick one proposal per pose, measured by FK.

        Without ``q0``: the lowest ``pos_err / pos_tol + rot_err / rot_tol``. With
        ``q0`` (tracking, e.g. ee control): among the plausible proposals (within
        ``BRANCH_PLAUSIBLE`` times the tolerances), the one nearest to ``q0`` in joint
        space -- the solution branch the arm is on -- so consecutive targets do not
        jump branches; where none is plausible, the best-scoring one (a branch that
        does not exist for a pose still gets a proposal, which is garbage). If the
        chosen proposal misses the tolerances, a HybridIK fallback starts from it. The distance is not
        wrapped: the joints stop at their limits, so a branch across +-pi is far
        away for the arm.
        """
        proposals = self._propose(features)
        n, k, dof = proposals.shape
        pos_err, rot_err = self.arm.pose_error(
            proposals.reshape(n * k, dof), np.repeat(features, k, axis=0)
        )
        pos_err, rot_err = pos_err.reshape(n, k), rot_err.reshape(n, k)
        score = pos_err / self.pos_tol + rot_err / self.rot_tol
        if q0 is not None:
            k = BRANCH_PLAUSIBLE
            ok = (pos_err < k * self.pos_tol) & (rot_err < k * self.rot_tol)
            # a q0 far outside the limits overflows the norm; inf would tie with the
            # implausible proposals and argmin could pick one of those
            with np.errstate(over="ignore"):
                dist = np.linalg.norm(proposals - q0[:, None, :], axis=2)
            dist = np.minimum(dist, np.finfo(np.float64).max)
            # nearest plausible proposal; poses with none keep the best-scoring one
            score = np.where(ok.any(axis=1, keepdims=True), np.where(ok, dist, np.inf), score)
        best = np.argmin(score, axis=1)
        rows = np.arange(n)
        pos_err, rot_err = pos_err[rows, best], rot_err[rows, best]
        success = (pos_err < self.pos_tol) & (rot_err < self.rot_tol)
        return IKResult(proposals[rows, best], success, pos_err, rot_err)

    def _solve(self, features: np.ndarray, q0: np.ndarray | None) -> IKResult:
        # q0 selects the branch (see _best); the network itself needs no seed. Chunks
        # keep every head's activations and FK check in cache (measured 1.6x at 100,000)
        if len(features) > CHUNK:
            parts = [
                self._best(features[s : s + CHUNK], None if q0 is None else q0[s : s + CHUNK])
                for s in range(0, len(features), CHUNK)
            ]
            res = IKResult(
                *(np.concatenate([getattr(r, k) for r in parts]) for k in _RESULT_FIELDS)
            )
        else:
            res = self._best(features, q0)
        if self.refine_steps > 0 and not np.all(res.success):
            bad = np.flatnonzero(~res.success)
            if self._dls is None:
                self._dls = DLSIK(self.arm, pos_tol=self.pos_tol, rot_tol=self.rot_tol)
            q = res.q.copy()
            q[bad] = self._dls.refine(res.q[bad], features[bad], self.refine_steps)
            self._count(len(bad))
            res = self.evaluate(q, features)
        return res

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> tuple[Path, Path]:
        """Write ``<path>.safetensors`` + ``<path>.json`` (no pickle).

        Raises:
            TypeError: a cluster regressor is not a ReLU ``MLPRegressor``.
        """
        tensors: dict[str, np.ndarray] = {}
        layers = None
        for c, net in enumerate(self.nets):
            if not isinstance(net, _Net):
                raise TypeError(
                    f"only ReLU MLPRegressor models can be saved; cluster {c} holds a "
                    f"{type(net.regressor).__name__}"
                )
            if layers is None:
                layers = len(net.weights)
            elif len(net.weights) != layers:
                raise TypeError("all cluster networks must have the same number of layers")
            for i, (w, b) in enumerate(zip(net.weights, net.biases)):
                tensors[f"c{c}.w{i}"] = w.astype(np.float32)
                tensors[f"c{c}.b{i}"] = b.astype(np.float32)
            for name in ("x_mean", "x_scale", "y_mean", "y_scale"):
                tensors[f"c{c}.{name}"] = getattr(net, name).astype(np.float64)
        if self.centers is not None:
            tensors["centers"] = self.centers
        extra = {
            "clustering": self.clustering,
            "n_clusters": self.n_clusters,
            "n_layers": layers,
            "activation": "relu",
            "inputs": list(INPUT_SPEC),
            "outputs": "sin q (dof), cos q (dof)",
            "feature_kind": self.arm.feature_kind,
            "dof": self.arm.dof,
            "training": self.info,
        }
        return save_model(path, tensors, KIND, self.arm, extra)

    @classmethod
    def load(cls, path: str | Path, arm: Arm | None = None, **kwargs: Any) -> LearnedIK:
        """Load a model written by :meth:`save`.

        Args:
            path: file stem or either file.
            arm: the arm to check the model against; by default the shipped arm named
                in the header.
            kwargs: ``refine_steps``, ``pos_tol``, ``rot_tol``, ``pitch_closure``.

        Raises:
            ModelFileError: missing, truncated or damaged files, or an unexpected layout.
            ArmMismatchError: the model is for another arm or another URDF.
        """
        tensors, header = load_model(
            path,
            KIND,
            arm,
            required=("clustering", "n_clusters", "n_layers", "activation", "inputs"),
        )
        if arm is None:
            name = header["arm"]
            if name not in SHIPPED_ARMS:
                raise ArmMismatchError(
                    f"{path}: model is for arm {name!r}, which is not shipped; pass arm= "
                    "(the Arm it was trained for)"
                )
            arm = load_arm(name)
            if arm.urdf_hash != header["urdf_hash"]:
                raise ArmMismatchError(
                    f"{path}: model was trained on a different {name!r} URDF (sha256 "
                    f"{str(header['urdf_hash'])[:12]}..., shipped {arm.urdf_hash[:12]}...); "
                    "retrain it with `ikml-gym train ik`"
                )
        _, header_path = model_paths(path)
        if header["activation"] not in _ACTIVATIONS:
            raise ModelFileError(f"{header_path}: unsupported activation {header['activation']!r}")
        if list(header["inputs"]) != list(INPUT_SPEC):
            raise ModelFileError(
                f"{header_path}: model inputs {header['inputs']} differ from this version's "
                f"{list(INPUT_SPEC)}; retrain with `ikml-gym train ik`"
            )
        nets = []
        try:
            for c in range(int(header["n_clusters"])):
                n_layers = int(header["n_layers"])
                nets.append(
                    _Net(
                        weights=[tensors[f"c{c}.w{i}"] for i in range(n_layers)],
                        biases=[tensors[f"c{c}.b{i}"] for i in range(n_layers)],
                        **{
                            k: tensors[f"c{c}.{k}"]
                            for k in ("x_mean", "x_scale", "y_mean", "y_scale")
                        },
                    )
                )
        except KeyError as exc:
            raise ModelFileError(f"{header_path}: weights lack tensor {exc}") from exc
        for c, net in enumerate(nets):
            dims = [len(INPUT_SPEC)] + [w.shape[1] for w in net.weights]
            ok = all(w.shape[0] == d for w, d in zip(net.weights, dims)) and dims[-1] == 2 * arm.dof
            if not ok:
                raise ModelFileError(f"{header_path}: cluster {c} layer shapes do not chain")
        return cls(
            arm, nets, header["clustering"], tensors.get("centers"),
            info=header.get("training", {}), **kwargs,
        )  # fmt: skip

    def __repr__(self) -> str:
        return (
            f"LearnedIK(arm={self.arm.name!r}, clustering={self.clustering!r}, "
            f"n_clusters={self.n_clusters}, refine_steps={self.refine_steps}, "
            f"pitch_closure={self.pitch_closure}, "
            f"polish_calls={self.polish_calls})"
        )


def pretrained_path(arm_name: str) -> Path:
    """Stem of the shipped model of ``arm_name`` (``ikml_gym/pretrained/<arm>_ik``)."""
    return Path(str(resources.files("ikml_gym") / "pretrained" / f"{arm_name}_ik"))


def load_ik(name_or_path: str | Path = "arm4", arm: Arm | None = None, **kwargs: Any) -> LearnedIK:
    """The pretrained learned IK of a shipped arm (``"arm4"``) or a saved model by path.

    Raises:
        ModelFileError: no shipped model for that name, or a damaged file.
        ArmMismatchError: the model does not belong to ``arm`` (or to the shipped arm).
    """
    if isinstance(name_or_path, str) and name_or_path in SHIPPED_ARMS:
        stem = pretrained_path(name_or_path)
        if not model_paths(stem)[1].is_file():
            raise ModelFileError(
                f"no pretrained learned IK ships for {name_or_path!r} (only pose4 arms have "
                "one); train one with `ikml-gym train ik`"
            )
        if arm is None:
            arm = load_arm(name_or_path)
        return LearnedIK.load(stem, arm, **kwargs)
    return LearnedIK.load(name_or_path, arm, **kwargs)


# -------------------------------------------------------------------------- training
@dataclass
class TrainReport:
    """What :func:`train_learned_ik` measured.

    Attributes:
        seconds: wall-clock training time (clustering + all regressors).
        cluster_sizes: samples per cluster.
        curves: per cluster ``{"loss": [...], "val_loss": [...]}`` (MLP only; scaled units).
        test: per cluster test-split metrics of that cluster's own regressor
            (``pos_err_mean`` m, ``joint_mae`` rad, ``n``).
        test_all: the full model (every cluster proposes) on the pooled 15% test split.
    """

    seconds: float = 0.0
    cluster_sizes: list[int] = field(default_factory=list)
    curves: list[dict[str, list[float]]] = field(default_factory=list)
    test: list[dict[str, float]] = field(default_factory=list)
    test_all: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "seconds": self.seconds,
            "cluster_sizes": self.cluster_sizes,
            "test": self.test,
            "test_all": self.test_all,
            "epochs": [len(c.get("loss", [])) for c in self.curves],
        }


def default_regressor(seed: int = 0, max_epochs: int = 80) -> Any:
    """The reference study's regressor: MLP (256, 256, 256), ReLU, Adam, batch 1000, early stop."""
    from sklearn.neural_network import MLPRegressor

    return MLPRegressor(
        hidden_layer_sizes=(256, 256, 256),
        activation="relu",
        solver="adam",
        batch_size=1000,
        learning_rate_init=1e-3,
        max_iter=max_epochs,
        early_stopping=True,
        validation_fraction=0.1,
        n_iter_no_change=6,
        tol=1e-6,
        random_state=seed,
    )


def _drop_step_size(mlp: Any, factor: float) -> None:
    """Divide the step size of a fitted MLPRegressor's optimizer by ``factor``.

    Adam recomputes ``learning_rate`` from ``learning_rate_init`` every step (bias
    correction), so the latter is what must change; SGD uses ``learning_rate``.
    """
    opt = mlp._optimizer  # private, but the only handle on the live optimizer
    opt.learning_rate_init = float(opt.learning_rate_init) / factor
    opt.learning_rate = float(opt.learning_rate) / factor


def _fit_mlp_epochs(
    mlp: Any,
    x: np.ndarray,
    y: np.ndarray,
    rng: np.random.Generator,
    lr_drops: int,
    bar: Any,
) -> dict[str, list[float]]:
    """Epoch loop over ``partial_fit`` with early stopping on a validation split.

    Like ``MLPRegressor.fit(early_stopping=True)`` (validation_fraction,
    n_iter_no_change, tol, best weights restored), plus a plateau schedule: on the
    first ``lr_drops`` plateaus the Adam step size drops 4x instead of stopping.
    Float32 training data (scikit-learn keeps the dtype; twice the speed of float64).
    """
    n = len(x)
    idx = rng.permutation(n)
    n_val = max(1, round(mlp.validation_fraction * n)) if mlp.early_stopping else 0
    val, tr = idx[:n_val], idx[n_val:]
    xt, yt = x[tr].astype(np.float32), y[tr].astype(np.float32)
    xv, yv = x[val].astype(np.float32), y[val].astype(np.float32)
    patience, tol = int(mlp.n_iter_no_change), float(mlp.tol)
    mlp.set_params(early_stopping=False)  # partial_fit refuses it; done here instead
    best, best_w, stall, drops = np.inf, None, 0, 0
    curves: dict[str, list[float]] = {"loss": [], "val_loss": []}
    for _ in range(int(mlp.max_iter)):
        mlp.partial_fit(xt, yt)
        curves["loss"].append(float(mlp.loss_))
        if n_val:
            v = float(0.5 * np.mean((mlp.predict(xv) - yv) ** 2))
            curves["val_loss"].append(v)
            if v < best - tol:
                best, stall = v, 0
                best_w = ([c.copy() for c in mlp.coefs_], [b.copy() for b in mlp.intercepts_])
            else:
                stall += 1
            if stall >= patience:
                if drops >= lr_drops:
                    break
                drops += 1
                stall = 0
                _drop_step_size(mlp, 4.0)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(
                loss=f"{mlp.loss_:.2e}", val=f"{curves['val_loss'][-1]:.2e}" if n_val else "-"
            )
    if best_w is not None:
        mlp.coefs_, mlp.intercepts_ = best_w
    return curves


def train_learned_ik(
    arm: Arm,
    q: np.ndarray,
    features: np.ndarray,
    branch: np.ndarray | None = None,
    clustering: str = "branch",
    n_clusters: int = 4,
    regressor: Any | None = None,
    seed: int = 0,
    test_fraction: float = 0.15,
    lr_drops: int = 3,
    progress: bool = True,
) -> tuple[LearnedIK, TrainReport]:
    """Fit a :class:`LearnedIK` on joint samples and their poses.

    Args:
        arm: pose4 arm.
        q: (N, dof) joint samples, radians.
        features: (N, 4) their poses ``[x, y, z, psi]``.
        branch: (N,) closed-form branch ids (required for ``clustering="branch"``).
        clustering: ``"branch"`` or ``"kmeans"`` (KMeans on [sin q, cos q], ``n_clusters``).
        n_clusters: clusters for KMeans (the branch count otherwise).
        regressor: any scikit-learn regressor, cloned per cluster (default
            :func:`default_regressor`). An ``MLPRegressor`` with the Adam/SGD solver
            trains epoch by epoch (progress bar, curves, plateau step-size drops);
            others are fitted with ``fit``.
        seed: seeds the clustering, the split and the regressors.
        test_fraction: held-out share per cluster (stratified split).
        lr_drops: plateaus that drop the step size 4x before early stopping ends training.
        progress: show a tqdm bar over clusters x epochs.

    Returns:
        (model, report); the model has ``refine_steps=0``.
    """
    from sklearn.base import clone
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPRegressor
    from sklearn.preprocessing import StandardScaler
    from tqdm.auto import tqdm

    if arm.feature_kind != POSE4:
        raise ValueError(
            f"train_learned_ik handles pose4 arms; {arm.name!r} is {arm.feature_kind!r}"
        )
    q, _ = arm.check_q(q)
    features, _ = arm.check_features(features)
    if len(q) != len(features):
        raise ValueError(f"q has {len(q)} rows but features has {len(features)}")
    t0 = time.perf_counter()
    centers = None
    if clustering == "branch":
        if branch is None:
            raise ValueError(
                'clustering="branch" needs the branch ids (make_ik_dataset gives them)'
            )
        labels = np.asarray(branch, dtype=np.int64)
        if np.any(labels < 0):
            raise ValueError(
                "some samples have no closed-form branch (-1); use clustering='kmeans'"
            )
        n_clusters = int(labels.max()) + 1
    elif clustering == "kmeans":
        labels, centers = kmeans_clusters(q, n_clusters, seed)
    else:
        raise ValueError(f"clustering must be one of {CLUSTERINGS}, got {clustering!r}")

    all_idx = np.arange(len(q))
    train_idx, test_idx = train_test_split(
        all_idx, test_size=test_fraction, stratify=labels, random_state=seed
    )
    base = regressor if regressor is not None else default_regressor(seed)
    x_all, y_all = ik_inputs(features), joint_targets(q)
    epoch_mode = isinstance(base, MLPRegressor) and base.solver in ("adam", "sgd")
    total = n_clusters * (int(base.max_iter) if epoch_mode else 1)
    report = TrainReport()
    nets: list[_Net | _SklearnNet] = []
    rng = np.random.default_rng(seed)
    with tqdm(total=total, desc=f"train ik {arm.name} ({clustering})", disable=not progress,
              unit="epoch" if epoch_mode else "cluster") as bar:  # fmt: skip
        for c in range(n_clusters):
            idx = train_idx[labels[train_idx] == c]
            if len(idx) < 10:
                raise ValueError(f"cluster {c} has only {len(idx)} training samples")
            x_scaler = StandardScaler().fit(x_all[idx])
            y_scaler = StandardScaler().fit(y_all[idx])
            xs, ys = x_scaler.transform(x_all[idx]), y_scaler.transform(y_all[idx])
            reg = clone(base)
            if "random_state" in reg.get_params():
                reg.set_params(random_state=seed + c)
            if epoch_mode:
                done_before = bar.n
                curves = _fit_mlp_epochs(reg, xs, ys, rng, lr_drops, bar if progress else None)
                if progress:
                    bar.update(done_before + int(base.max_iter) - bar.n)  # skip epochs not needed
            else:
                reg.fit(xs, ys)
                curves = {}
                bar.update(1)
            report.curves.append(curves)
            report.cluster_sizes.append(int(np.sum(labels == c)))
            nets.append(_net_from_sklearn(reg, x_scaler, y_scaler))

    report.seconds = time.perf_counter() - t0
    model = LearnedIK(arm, nets, clustering, centers)
    # per-cluster regressor on its own test samples, then the full model on the pooled test set
    for c, net in enumerate(nets):
        idx = test_idx[labels[test_idx] == c]
        qp = arm.wrap_to_limits(joints_from_outputs(net.predict(x_all[idx])))
        pe, _ = arm.pose_error(qp, features[idx])
        mae = np.mean(np.abs(kin.wrap_angle(qp - q[idx])))
        report.test.append(
            {"n": len(idx), "pos_err_mean": float(pe.mean()), "joint_mae": float(mae)}
        )
    res = model.solve(features[test_idx])
    report.test_all = {
        "n": len(test_idx),
        "pos_err_mean": float(res.pos_err.mean()),
        "pos_err_median": float(np.median(res.pos_err)),
        "rot_err_mean_deg": float(np.degrees(res.rot_err.mean())),
        "success_rate": float(res.success.mean()),
    }
    reg_desc = (
        repr(base)
        if not epoch_mode
        else (
            f"MLPRegressor(hidden_layer_sizes={tuple(base.hidden_layer_sizes)}, solver={base.solver!r}, "
            f"batch_size={base.batch_size}, max_iter={base.max_iter}, lr_drops={lr_drops})"
        )
    )
    model.info = {
        "clustering": clustering,
        "n_samples": len(q),
        "n_train": len(train_idx),
        "n_test": len(test_idx),
        "seed": int(seed),
        "regressor": reg_desc,
        "seconds": round(report.seconds, 1),
        "epochs": [len(c.get("loss", [])) for c in report.curves],
        "test_all": report.test_all,
    }
    return model, report


def plot_training_curves(report: TrainReport, path: str | Path, title: str = "") -> Path:
    """Learning curves (train loss and validation loss per epoch, per cluster) to a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for c, curves in enumerate(report.curves):
        if curves.get("loss"):
            (line,) = ax.semilogy(curves["loss"], label=f"cluster {c} train")
            if curves.get("val_loss"):
                ax.semilogy(
                    curves["val_loss"], "--", color=line.get_color(), label=f"cluster {c} val"
                )
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss (0.5 MSE, standardised sin/cos)")
    ax.set_title(title or "LearnedIK training curves")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
