"""Training of the learned IK (:class:`~ikml_gym.learned.ik.LearnedIK`) with scikit-learn.

* **Clusters.** The joint samples are split into groups, either by the closed-form
  branch each sample lies on (``clustering="branch"``: base flip x elbow up/down) or by
  KMeans on ``[sin q, cos q]`` (``clustering="kmeans"``, :func:`kmeans_clusters`).
* **One regressor per cluster** (default :func:`default_regressor`:
  ``MLPRegressor((256, 256, 256))``, Adam, batch 1000, early stopping),
  ``StandardScaler`` on inputs and outputs, train/test split stratified by cluster.
* **Epochs.** An ``MLPRegressor`` with the Adam or SGD solver runs epoch by epoch
  (``partial_fit``) with early stopping on a 10% validation split; the first
  ``lr_drops`` plateaus divide the step size by 4 instead of stopping (the steps in
  the learning curves, :func:`plot_training_curves`).

Needs the ``[train]`` extra (scikit-learn, tqdm), imported when a function runs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import kinematics as kin
from .._extras import require_training
from ..arms import POSE4, Arm
from .ik import CLUSTERINGS, LearnedIK
from .ik_encoding import ik_inputs, joint_targets, joints_from_outputs
from .ik_networks import ACTIVATIONS, ClusterNet, SklearnClusterNet

#: the step size drops by this factor on each of the first ``lr_drops`` plateaus
LR_DROP_FACTOR = 4.0


@dataclass
class TrainReport:
    """What :func:`train_learned_ik` measured.

    Attributes:
        seconds: wall-clock training time (clustering + all regressors).
        cluster_sizes: samples per cluster.
        curves: per cluster ``{"loss": [...], "val_loss": [...]}`` (MLP only; scaled units).
        test: per cluster test-split metrics of that cluster's own regressor
            (``pos_err_mean`` m, ``joint_mae`` rad, ``n``).
        test_all: the full model (every cluster proposes) on the pooled test split.
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


# ------------------------------------------------------------------- building blocks
def kmeans_clusters(
    q: np.ndarray, n_clusters: int = 4, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """KMeans on ``[sin q, cos q]`` of (N, dof) radians -> (labels (N,), centres
    (n_clusters, 2 dof))."""
    require_training("sklearn")
    from sklearn.cluster import KMeans

    km = KMeans(n_clusters=n_clusters, n_init=4, random_state=seed)
    labels = km.fit_predict(joint_targets(q))
    return labels.astype(np.int64), km.cluster_centers_


def default_regressor(seed: int = 0, max_epochs: int = 80) -> Any:
    """The reference study's regressor: MLP (256, 256, 256), ReLU, Adam, batch 1000, early stop."""
    require_training("sklearn")
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


def net_from_sklearn(
    regressor: Any, x_scaler: Any, y_scaler: Any
) -> ClusterNet | SklearnClusterNet:
    """The arrays of a fitted ReLU ``MLPRegressor`` as a :class:`ClusterNet`; any other
    regressor stays wrapped (:class:`SklearnClusterNet`, cannot be saved)."""
    from sklearn.neural_network import MLPRegressor

    if isinstance(regressor, MLPRegressor) and regressor.activation in ACTIVATIONS:
        return ClusterNet(
            weights=[np.asarray(w, dtype=np.float32) for w in regressor.coefs_],
            biases=[np.asarray(b, dtype=np.float32) for b in regressor.intercepts_],
            x_mean=x_scaler.mean_.astype(np.float64),
            x_scale=x_scaler.scale_.astype(np.float64),
            y_mean=y_scaler.mean_.astype(np.float64),
            y_scale=y_scaler.scale_.astype(np.float64),
        )
    return SklearnClusterNet(regressor, x_scaler, y_scaler)


def _drop_step_size(mlp: Any, factor: float) -> None:
    """Divide the step size of a fitted MLPRegressor's live optimizer by ``factor``.

    scikit-learn has no public handle for this: ``set_params(learning_rate_init=...)``
    reaches the optimizer only when ``fit`` rebuilds it, which would also reset Adam's
    moment estimates (and so change every later step). Adam recomputes ``learning_rate``
    from ``learning_rate_init`` every step (bias correction), so the latter is what must
    change; SGD uses ``learning_rate``.
    """
    opt = mlp._optimizer  # the live optimizer of partial_fit; see the docstring
    opt.learning_rate_init = float(opt.learning_rate_init) / factor
    opt.learning_rate = float(opt.learning_rate) / factor


def _validation_split(
    mlp: Any, x: np.ndarray, y: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, y_train, x_val, y_val) float32, the validation share as the regressor's
    ``validation_fraction`` (none without ``early_stopping``)."""
    n = len(x)
    idx = rng.permutation(n)
    n_val = max(1, round(mlp.validation_fraction * n)) if mlp.early_stopping else 0
    val, tr = idx[:n_val], idx[n_val:]
    return (
        x[tr].astype(np.float32),
        y[tr].astype(np.float32),
        x[val].astype(np.float32),
        y[val].astype(np.float32),
    )


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
    first ``lr_drops`` plateaus the step size drops :data:`LR_DROP_FACTOR` x instead of
    stopping. Float32 training data (scikit-learn keeps the dtype, and trains faster
    than on float64; see benchmarks/results/design_choices.md).
    """
    xt, yt, xv, yv = _validation_split(mlp, x, y, rng)
    n_val = len(xv)
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
                drops, stall = drops + 1, 0
                _drop_step_size(mlp, LR_DROP_FACTOR)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(
                loss=f"{mlp.loss_:.2e}", val=f"{curves['val_loss'][-1]:.2e}" if n_val else "-"
            )
    if best_w is not None:
        mlp.coefs_, mlp.intercepts_ = best_w
    return curves


# --------------------------------------------------------------------------- steps
def _checked_samples(
    arm: Arm, q: np.ndarray, features: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    if arm.feature_kind != POSE4:
        raise ValueError(
            f"train_learned_ik handles pose4 arms; {arm.name!r} is {arm.feature_kind!r}"
        )
    q, _ = arm.check_q(q)
    features, _ = arm.check_features(features)
    if len(q) != len(features):
        raise ValueError(f"q has {len(q)} rows but features has {len(features)}")
    return q, features


def _cluster_labels(
    q: np.ndarray, branch: np.ndarray | None, clustering: str, n_clusters: int, seed: int
) -> tuple[np.ndarray, np.ndarray | None, int]:
    """(labels (N,), KMeans centres or None, number of clusters)."""
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
        return labels, None, int(labels.max()) + 1
    if clustering == "kmeans":
        labels, centers = kmeans_clusters(q, n_clusters, seed)
        return labels, centers, n_clusters
    raise ValueError(f"clustering must be one of {CLUSTERINGS}, got {clustering!r}")


def _is_epoch_mode(regressor: Any) -> bool:
    from sklearn.neural_network import MLPRegressor

    return isinstance(regressor, MLPRegressor) and regressor.solver in ("adam", "sgd")


@dataclass
class _ClusterFit:
    """Everything one cluster's fit needs besides its index."""

    x_all: np.ndarray
    y_all: np.ndarray
    labels: np.ndarray
    train_idx: np.ndarray
    base: Any
    seed: int
    lr_drops: int
    rng: np.random.Generator


def _fit_cluster(job: _ClusterFit, c: int, bar: Any, progress: bool) -> tuple[Any, dict]:
    """Fit cluster ``c``'s regressor on its training samples -> (net, curves)."""
    from sklearn.base import clone
    from sklearn.preprocessing import StandardScaler

    idx = job.train_idx[job.labels[job.train_idx] == c]
    if len(idx) < 10:
        raise ValueError(f"cluster {c} has only {len(idx)} training samples")
    x_scaler = StandardScaler().fit(job.x_all[idx])
    y_scaler = StandardScaler().fit(job.y_all[idx])
    xs, ys = x_scaler.transform(job.x_all[idx]), y_scaler.transform(job.y_all[idx])
    reg = clone(job.base)
    if "random_state" in reg.get_params():
        reg.set_params(random_state=job.seed + c)
    if _is_epoch_mode(job.base):
        done_before = bar.n
        curves = _fit_mlp_epochs(reg, xs, ys, job.rng, job.lr_drops, bar if progress else None)
        if progress:
            bar.update(done_before + int(job.base.max_iter) - bar.n)  # skip epochs not needed
    else:
        reg.fit(xs, ys)
        curves = {}
        bar.update(1)
    return net_from_sklearn(reg, x_scaler, y_scaler), curves


def _test_report(
    model: LearnedIK,
    q: np.ndarray,
    features: np.ndarray,
    labels: np.ndarray,
    test_idx: np.ndarray,
    report: TrainReport,
) -> None:
    """Each cluster's regressor on its own test samples, then the full model on the
    pooled test set (into ``report.test`` and ``report.test_all``)."""
    arm, x_all = model.arm, ik_inputs(features)
    for c, net in enumerate(model.nets):
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


def _regressor_description(base: Any, lr_drops: int) -> str:
    if not _is_epoch_mode(base):
        return repr(base)
    return (
        f"MLPRegressor(hidden_layer_sizes={tuple(base.hidden_layer_sizes)}, solver={base.solver!r}, "
        f"batch_size={base.batch_size}, max_iter={base.max_iter}, lr_drops={lr_drops})"
    )


# ------------------------------------------------------------------------ training
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
        features: (N, 4) their poses ``[x, y, z, psi]`` (metres, radians).
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

    Raises:
        DependencyNotInstalled: scikit-learn or tqdm is missing (the ``[train]`` extra).
    """
    require_training("sklearn", "tqdm")
    from sklearn.model_selection import train_test_split

    q, features = _checked_samples(arm, q, features)
    t0 = time.perf_counter()
    labels, centers, n_clusters = _cluster_labels(q, branch, clustering, n_clusters, seed)
    train_idx, test_idx = train_test_split(
        np.arange(len(q)), test_size=test_fraction, stratify=labels, random_state=seed
    )
    base = regressor if regressor is not None else default_regressor(seed)
    job = _ClusterFit(
        ik_inputs(features), joint_targets(q), labels, train_idx, base, seed, lr_drops,
        np.random.default_rng(seed),
    )  # fmt: skip
    report = TrainReport()
    nets = _fit_all_clusters(
        job, n_clusters, report, f"train ik {arm.name} ({clustering})", progress
    )
    report.seconds = time.perf_counter() - t0
    model = LearnedIK(arm, nets, clustering, centers)
    _test_report(model, q, features, labels, test_idx, report)
    model.info = {
        "clustering": clustering,
        "n_samples": len(q),
        "n_train": len(train_idx),
        "n_test": len(test_idx),
        "seed": int(seed),
        "regressor": _regressor_description(base, lr_drops),
        "seconds": round(report.seconds, 1),
        "epochs": [len(c.get("loss", [])) for c in report.curves],
        "test_all": report.test_all,
    }
    return model, report


def _fit_all_clusters(
    job: _ClusterFit, n_clusters: int, report: TrainReport, desc: str, progress: bool
) -> list[ClusterNet | SklearnClusterNet]:
    """Fit every cluster in order under one progress bar (clusters x epochs)."""
    from tqdm.auto import tqdm

    epoch_mode = _is_epoch_mode(job.base)
    total = n_clusters * (int(job.base.max_iter) if epoch_mode else 1)
    nets = []
    with tqdm(total=total, desc=desc, disable=not progress,
              unit="epoch" if epoch_mode else "cluster") as bar:  # fmt: skip
        for c in range(n_clusters):
            net, curves = _fit_cluster(job, c, bar, progress)
            report.curves.append(curves)
            report.cluster_sizes.append(int(np.sum(job.labels == c)))
            nets.append(net)
    return nets


# ------------------------------------------------------------------------ plotting
def plot_training_curves(report: TrainReport, path: str | Path, title: str = "") -> Path:
    """Learning curves (train loss and validation loss per epoch, per cluster) to a PNG.

    Raises:
        DependencyNotInstalled: matplotlib is missing (the ``[plots]`` extra).
    """
    from ..plots import pyplot

    plt = pyplot()
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
