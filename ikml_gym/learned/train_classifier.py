"""Training of the feasibility classifier (:class:`~ikml_gym.learned.classifier.FeasibilityClassifier`)
with torch.

The reference study's recipe: standardised inputs
(:func:`~ikml_gym.learned.classifier_encoding.input_features`), hidden layers of
width 256 with ReLU (:data:`HIDDEN`), 4 logits, ``CrossEntropyLoss``, Adam (lr
:data:`LR`, weight decay :data:`WEIGHT_DECAY`) and ``ReduceLROnPlateau`` on the
validation loss, up to :data:`EPOCHS` epochs, the best validation checkpoint kept.
Then the operating point (:func:`operating_point`) is chosen on held-out poses: the
model is trained for calibrated probabilities, and the decision rule, not the loss,
makes false "reachable" answers the rarer kind. The poses should be distributed as the
model's users query it (``ikml-gym train classifier`` uses a fresh sample of the
reference study's reachability mix); without them, the validation split (whose
boundary-heavy mix sets the point for that mix, not for a user's goals).
Three hidden layers: the two 256 x 256 products dominate inference (about 0.28
MFLOP per pose), and a fourth would add about half of that again.

The data split (:func:`split_indices`) is shared with the evaluation
(:mod:`ikml_gym.learned.classifier_eval`). Needs the ``[train]`` extra (torch, tqdm),
imported when :func:`train_classifier` runs.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._extras import require_training
from ..arms import Arm
from ..errors import InvalidInputError
from ..labels import N_CLASSES
from .classifier import FeasibilityClassifier
from .classifier_encoding import input_features, input_spec

#: default architecture and optimiser settings (reference study)
HIDDEN = (256, 256, 256)
LR = 8e-3
WEIGHT_DECAY = 1e-4
EPOCHS = 200
BATCH_SIZE = 2048
#: fraction of the data held out for validation and for test (each); 80,000 of 560,000
HOLDOUT_FRACTION = 1.0 / 7.0
#: range of the operating point (a model trained on boundary-heavy data may call poses
#: unreachable too readily for a user's mix of poses: its point can lie below 0.5)
OPERATING_RANGE = (0.02, 0.98)
#: rows per forward pass when a whole split is evaluated
_EVAL_CHUNK = 65_536


def split_indices(labels: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stratified, seeded train / validation / test split -> three sorted index arrays.

    The rows are shuffled (``default_rng(seed)``), stably sorted by label, and
    dealt round-robin in sevenths: every 7th row to test, the next to
    validation, the other five to training -- 5/7, 1/7, 1/7 of each class
    (400,000 / 80,000 / 80,000 of the 560,000-pose set).
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(labels))
    order = perm[np.argsort(labels[perm], kind="stable")]
    slot = np.arange(len(order)) % round(1.0 / HOLDOUT_FRACTION)
    return np.sort(order[slot >= 2]), np.sort(order[slot == 1]), np.sort(order[slot == 0])


def operating_point(p_reachable: np.ndarray, reachable: np.ndarray) -> dict[str, float]:
    """The reachability threshold t (reachable when P(reachable) > t) for labelled poses.

    Among thresholds in :data:`OPERATING_RANGE` whose false "reachable" count is at most
    the false "unreachable" count, the one with the fewest wrong answers (the lowest
    such t on ties), placed midway between the two probabilities it separates.

    Args:
        p_reachable: (N,) the model's P(reachable).
        reachable: (N,) bool truth.

    Returns:
        ``reach_threshold`` and, at it, ``false_reachable``, ``false_unreachable``, ``n``.
    """
    p = np.asarray(p_reachable, dtype=np.float64)
    y = np.asarray(reachable, dtype=bool)
    order = np.argsort(p, kind="stable")
    p, y = p[order], y[order]
    lo, hi = OPERATING_RANGE
    t = np.concatenate([[lo], (p[:-1] + p[1:]) / 2.0, [hi]])
    t = t[(t >= lo) & (t <= hi)]
    below = np.searchsorted(p, t, side="right")  # poses called unreachable at each t
    false_unreach = np.concatenate([[0], np.cumsum(y)])[below]
    false_reach = int((~y).sum()) - np.concatenate([[0], np.cumsum(~y)])[below]
    ok = false_reach <= false_unreach
    if ok.any():
        best = int(np.argmin(np.where(ok, false_reach + false_unreach, len(p) + 1)))
    else:  # even the highest threshold leaves more false "reachable": take it
        best = len(t) - 1
    return {
        "reach_threshold": float(t[best]),
        "false_reachable": int(false_reach[best]),
        "false_unreachable": int(false_unreach[best]),
        "n": len(p),
    }


def with_operating_point(
    model: FeasibilityClassifier, features: np.ndarray, reachable: np.ndarray, chosen_on: str
) -> FeasibilityClassifier:
    """The model with its :func:`operating_point` chosen on labelled poses (recorded in
    ``info["operating_point"]``)."""
    op = operating_point(model.evaluate(features).p_reachable, reachable)
    model.info["operating_point"] = {**op, "chosen_on": chosen_on}
    return dataclasses.replace(model, reach_threshold=op["reach_threshold"])


@dataclass
class TrainConfig:
    """Training settings (defaults: the reference study)."""

    seed: int = 0
    epochs: int = EPOCHS
    hidden: tuple[int, ...] = HIDDEN
    lr: float = LR
    weight_decay: float = WEIGHT_DECAY
    batch_size: int = BATCH_SIZE
    plateau_factor: float = 0.5
    plateau_patience: int = 3
    #: stop when validation loss has not improved for this many epochs (0 = never)
    early_stop: int = 15
    device: str = "cpu"
    #: torch CPU threads (0 = torch's default)
    threads: int = 0


@dataclass
class _Data:
    """The standardised training set: the split, the standardisation and the torch tensors."""

    spec: dict[str, Any]
    mean: np.ndarray
    std: np.ndarray
    tr: np.ndarray
    va: np.ndarray
    te: np.ndarray
    x_tr: Any
    y_tr: Any
    x_va: Any
    y_va: Any


@dataclass
class _History:
    """Per-epoch metrics and the best epoch so far (lowest validation loss)."""

    hist: dict[str, list[float]] = field(
        default_factory=lambda: {
            k: [] for k in ("train_loss", "train_acc", "val_loss", "val_acc", "lr")
        }
    )
    best_loss: float = math.inf
    best_epoch: int = -1
    best_state: dict[str, Any] | None = None
    t0: float = field(default_factory=time.perf_counter)


# --------------------------------------------------------------------------- steps
def _checked_labels(
    arm: Arm, features: np.ndarray, labels: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    f, _ = arm.check_features(features)
    labels = np.asarray(labels, dtype=np.int64)
    if labels.shape != (len(f),) or labels.min() < 0 or labels.max() >= N_CLASSES:
        raise InvalidInputError(f"labels must be ({len(f)},) ints in 0..{N_CLASSES - 1}")
    return f, labels


def _torch_device(cfg: TrainConfig) -> Any:
    """The device, torch seeded and set deterministic (``cfg.threads`` CPU threads)."""
    import torch

    device = torch.device(cfg.device)
    if device.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    return device


def _prepare_data(arm: Arm, f: np.ndarray, labels: np.ndarray, seed: int, device: Any) -> _Data:
    """Split, standardise on the training part, move train and validation to ``device``."""
    import torch

    spec = input_spec(arm)
    x_all = input_features(f, spec)
    tr, va, te = split_indices(labels, seed)
    mean = x_all[tr].mean(axis=0)
    std = x_all[tr].std(axis=0)
    std = np.where(std > 1e-12, std, 1.0)
    xs = ((x_all - mean) / std).astype(np.float32)

    def tensors(idx: np.ndarray) -> tuple[Any, Any]:
        return torch.from_numpy(xs[idx]).to(device), torch.from_numpy(labels[idx]).to(device)

    x_tr, y_tr = tensors(tr)
    x_va, y_va = tensors(va)
    return _Data(spec, mean, std, tr, va, te, x_tr, y_tr, x_va, y_va)


def _network(in_dim: int, hidden: tuple[int, ...], device: Any) -> Any:
    """``Linear -> ReLU`` per hidden width, then ``Linear`` to the class logits."""
    import torch

    dims = [in_dim, *hidden]
    mods: list[torch.nn.Module] = []
    for a, b in itertools.pairwise(dims):
        mods += [torch.nn.Linear(a, b), torch.nn.ReLU()]
    mods.append(torch.nn.Linear(dims[-1], N_CLASSES))
    return torch.nn.Sequential(*mods).to(device)


def _train_epoch(
    net: Any, opt: Any, loss_fn: Any, x: Any, y: Any, perm: Any, batch_size: int, device: Any
) -> tuple[float, float]:
    """One pass over the training set in ``perm`` order -> (mean loss, accuracy)."""
    import torch

    n = len(x)
    run_loss = torch.zeros((), device=device)
    run_correct = torch.zeros((), device=device, dtype=torch.int64)
    for s in range(0, n, batch_size):
        idx = perm[s : s + batch_size]
        xb, yb = x[idx], y[idx]
        z = net(xb)
        loss = loss_fn(z, yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        run_loss += loss.detach() * len(idx)
        run_correct += (z.detach().argmax(dim=1) == yb).sum()
    return float(run_loss) / n, int(run_correct) / n


def _evaluate_split(net: Any, loss_fn: Any, x: Any, y: Any) -> tuple[float, float]:
    """(mean loss, accuracy) of the network on a whole split, in eval mode."""
    import torch

    net.eval()
    loss_sum, correct = 0.0, 0
    with torch.no_grad():
        for s in range(0, len(x), _EVAL_CHUNK):
            z = net(x[s : s + _EVAL_CHUNK])
            loss_sum += float(loss_fn(z, y[s : s + _EVAL_CHUNK])) * len(z)
            correct += int((z.argmax(dim=1) == y[s : s + _EVAL_CHUNK]).sum())
    net.train()
    return loss_sum / len(x), correct / len(x)


@dataclass
class _Optimiser:
    """The network and what trains it."""

    net: Any
    opt: Any
    sched: Any
    loss_fn: Any
    gen: Any


def _optimiser(data: _Data, cfg: TrainConfig, device: Any) -> _Optimiser:
    """Network, Adam, ReduceLROnPlateau, cross-entropy and the seeded shuffling generator."""
    import torch

    net = _network(data.x_tr.shape[1], cfg.hidden, device)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
        opt, mode="min", factor=cfg.plateau_factor, patience=cfg.plateau_patience
    )
    loss_fn = torch.nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(cfg.seed)
    return _Optimiser(net, opt, sched, loss_fn, gen)


def _run_epoch(
    run: _Optimiser, data: _Data, cfg: TrainConfig, device: Any, history: _History
) -> dict[str, float]:
    """Train one epoch, evaluate on validation, step the scheduler; the metrics are
    returned and appended to ``history``."""
    import torch

    perm = torch.randperm(len(data.x_tr), generator=run.gen).to(device)
    train_loss, train_acc = _train_epoch(
        run.net, run.opt, run.loss_fn, data.x_tr, data.y_tr, perm, cfg.batch_size, device
    )
    val_loss, val_acc = _evaluate_split(run.net, run.loss_fn, data.x_va, data.y_va)
    run.sched.step(val_loss)
    lr = run.opt.param_groups[0]["lr"]
    metrics = {
        "train_loss": train_loss,
        "train_acc": train_acc,
        "val_loss": val_loss,
        "val_acc": val_acc,
        "lr": lr,
    }
    for k in history.hist:
        history.hist[k].append(metrics[k])
    return metrics


def _training_info(cfg: TrainConfig, data: _Data, history: _History, device: Any) -> dict[str, Any]:
    """The training metadata kept in the model header."""
    import torch

    hist, best = history.hist, history.best_epoch
    return {
        "seed": cfg.seed,
        "epochs_run": len(hist["val_loss"]),
        "threads": torch.get_num_threads(),
        "best_epoch": best + 1,
        "max_epochs": cfg.epochs,
        "hidden": list(cfg.hidden),
        "lr": cfg.lr,
        "weight_decay": cfg.weight_decay,
        "batch_size": cfg.batch_size,
        "plateau": {"factor": cfg.plateau_factor, "patience": cfg.plateau_patience},
        "early_stop": cfg.early_stop,
        "split": "stratified 5/7 train, 1/7 val, 1/7 test (split_indices, seed)",
        "n_train": len(data.tr),
        "n_val": len(data.va),
        "n_test": len(data.te),
        "device": str(device) if device.type == "cpu" else torch.cuda.get_device_name(device),
        "torch_version": torch.__version__,
        "train_seconds": round(time.perf_counter() - history.t0, 2),
        "best": {k: hist[k][best] for k in ("train_loss", "train_acc", "val_loss", "val_acc")},
        "history": {
            **{k: [round(v, 6) for v in vals] for k, vals in hist.items()},
            "best_epoch": best + 1,
        },
    }


def _best_model(
    arm: Arm, thresholds: np.ndarray, cfg: TrainConfig, data: _Data, history: _History, device: Any
) -> FeasibilityClassifier:
    """The classifier of the best epoch's weights (torch (out, in) -> numpy (in, out))."""
    state = history.best_state
    n_linear = len(cfg.hidden) + 1
    weights = [state[f"{i}.weight"] for i in range(0, 2 * n_linear, 2)]
    biases = [state[f"{i}.bias"] for i in range(0, 2 * n_linear, 2)]
    layers = [(w.numpy().T.copy(), b.numpy().copy()) for w, b in zip(weights, biases)]
    info = _training_info(cfg, data, history, device)
    return FeasibilityClassifier(arm, layers, data.mean, data.std, thresholds, data.spec, info)


def _log_line(
    epoch: int, train_loss: float, train_acc: float, val_loss: float, val_acc: float, lr: float
) -> str:
    return (
        f"epoch {epoch + 1} loss {train_loss:.5f} acc {train_acc:.5f} "
        f"val_loss {val_loss:.5f} val_acc {val_acc:.5f} lr {lr:.2e}"
    )


# ------------------------------------------------------------------------ training
def train_classifier(
    arm: Arm,
    features: np.ndarray,
    labels: np.ndarray,
    thresholds: np.ndarray,
    config: TrainConfig | None = None,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
    checkpoint: str | Path | None = None,
    operating_poses: tuple[np.ndarray, np.ndarray, str] | None = None,
) -> tuple[FeasibilityClassifier, dict[str, Any]]:
    """Train a classifier on a labelled set (e.g. :func:`ikml_gym.data.make_classifier_dataset`).

    Splits with :func:`split_indices` (``config.seed``), standardises on the
    training part, trains with Adam + ReduceLROnPlateau on the validation loss,
    and keeps the epoch with the lowest validation loss. Reproducible for a seed
    on one device type (torch deterministic algorithms are switched on).

    Args:
        arm: the arm.
        features: (N, feature_dim) task features.
        labels: (N,) classes 0..3.
        thresholds: (2,) kinv thresholds stored with the model.
        config: settings (default :class:`TrainConfig`).
        progress: show a tqdm bar over epochs.
        log: called with one line per epoch.
        checkpoint: a model path rewritten (atomically) whenever validation loss
            improves, so an interrupted run still leaves its best model.
        operating_poses: (features (M, feature_dim), reachable (M,) bool, a name) the
            operating point is chosen on; default: the validation split.

    Returns:
        (model, history) -- history holds per-epoch train/val loss and accuracy and lr.

    Raises:
        DependencyNotInstalled: torch or tqdm is missing (the ``[train]`` extra).
    """
    require_training("torch", "tqdm")
    from tqdm.auto import tqdm

    cfg = config or TrainConfig()
    f, labels = _checked_labels(arm, features, labels)
    device = _torch_device(cfg)
    data = _prepare_data(arm, f, labels, cfg.seed, device)
    run = _optimiser(data, cfg, device)
    history = _History()
    bar = tqdm(
        range(cfg.epochs), desc=f"train classifier {arm.name}", disable=not progress, unit="ep"
    )
    for epoch in bar:
        metrics = _run_epoch(run, data, cfg, device, history)
        if metrics["val_loss"] < history.best_loss:
            history.best_loss, history.best_epoch = metrics["val_loss"], epoch
            history.best_state = {
                k: v.detach().cpu().clone() for k, v in run.net.state_dict().items()
            }
            if checkpoint is not None:
                _best_model(arm, thresholds, cfg, data, history, device).save(checkpoint)
        bar.set_postfix(
            loss=f"{metrics['train_loss']:.4f}",
            val_loss=f"{metrics['val_loss']:.4f}",
            val_acc=f"{metrics['val_acc']:.4f}",
            lr=f"{metrics['lr']:.1e}",
        )
        if log is not None:
            log(_log_line(epoch, **metrics))
        if cfg.early_stop and epoch - history.best_epoch >= cfg.early_stop:
            break
    seconds = time.perf_counter() - history.t0
    run.net.load_state_dict(history.best_state)
    model = _best_model(arm, thresholds, cfg, data, history, device)
    model.info["train_seconds"] = round(seconds, 2)
    if operating_poses is None:
        operating_poses = (f[data.va], labels[data.va] > 0, "validation split")
    model = with_operating_point(model, *operating_poses)
    return model, {**history.hist, "best_epoch": history.best_epoch + 1}
