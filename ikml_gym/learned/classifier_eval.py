"""Evaluation of a :class:`FeasibilityClassifier` against the closed-form labels, and its plots.

Used by ``ikml-gym eval classifier`` and ``benchmarks/classifier.py``. The
split is the one the model was trained with (:func:`split_indices` with the
seed stored in the model header), so "test" means poses the training never saw.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..arms import Arm
from ..data import ReachabilityOracle, shell_poses
from ..labels import CLASS_NAMES, label_from_kinv
from ..plots import pyplot
from ..tables import markdown_table
from .classifier import FeasibilityClassifier
from .feasibility import DEFAULT_CONFIDENCE, DLS_FALLBACK, FeasibilityFilter
from .train_classifier import split_indices

ECE_BINS = 15
#: the reference study's reachability test set: FK poses of random configurations and
#: random poses in a ball of 1.5 x reach (uniform orientations), 20,000 of each
MIX_SIZES = (20_000, 20_000)
#: seed of the mix the trained model's operating point is chosen on (plus the data seed);
#: the benchmark's mix and band use other seeds
OPERATING_SEED = 777
#: where the edge of the workspace lies: poses between these multiples of the reach
BAND = (0.8, 1.1)
#: the DLSIK settings the filter row is measured with (see feasibility.DLS_FALLBACK)
FILTER_FALLBACK = DLS_FALLBACK


def expected_calibration_error(
    proba: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS
) -> float:
    """ECE of the max-probability confidence: sum over equal-width bins of |acc - conf| x share."""
    conf = proba.max(axis=1)
    correct = np.argmax(proba, axis=1) == labels
    edges = np.linspace(0.0, 1.0, bins + 1)
    idx = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, bins - 1)
    ece = 0.0
    for b in range(bins):
        m = idx == b
        if m.any():
            ece += m.mean() * abs(correct[m].mean() - conf[m].mean())
    return float(ece)


def binary_counts(said_reachable: np.ndarray, reachable: np.ndarray) -> dict[str, Any]:
    """Binary reachability answers against the truth: ``n``, ``binary_correct``,
    ``binary_accuracy``, ``false_reachable`` (unreachable poses called reachable: the
    costly kind) and ``false_unreachable``."""
    said, truth = np.asarray(said_reachable, bool), np.asarray(reachable, bool)
    correct = int(np.sum(said == truth))
    return {
        "n": len(truth),
        "binary_correct": correct,
        "binary_accuracy": correct / max(len(truth), 1),
        "false_reachable": int(np.sum(said & ~truth)),
        "false_unreachable": int(np.sum(~said & truth)),
    }


@dataclass
class LabelledPoses:
    """Poses with the oracle's answer: ``features`` (N, feature_dim), ``reachable`` (N,)
    bool, ``kinv`` (N,) (the best over the solutions; 0 where unreachable)."""

    name: str
    features: np.ndarray
    reachable: np.ndarray
    kinv: np.ndarray

    def labels(self, thresholds: np.ndarray) -> np.ndarray:
        """(N,) classes by a model's kinv ``thresholds``."""
        return label_from_kinv(self.reachable, self.kinv, thresholds)


def study_mix(
    arm: Arm,
    seed: int,
    sizes: tuple[int, int] = MIX_SIZES,
    oracle: ReachabilityOracle | None = None,
) -> LabelledPoses:
    """The reference study's reachability test (:data:`MIX_SIZES`), labelled by the oracle."""
    rng = np.random.default_rng(seed)
    q = arm.scale_unit(rng.random((sizes[0], arm.dof)))
    feats = np.concatenate([arm.fk_features(q), shell_poses(arm, sizes[1], rng)])
    reach, kinv = (oracle or ReachabilityOracle(arm, seed=seed))(feats)
    return LabelledPoses("study-style mix", feats, reach, kinv)


def boundary_band(
    arm: Arm, seed: int, n: int = 20_000, oracle: ReachabilityOracle | None = None
) -> LabelledPoses:
    """``n`` random poses in the :data:`BAND` of the reach (uniform orientations), labelled."""
    feats = shell_poses(arm, n, np.random.default_rng(seed), *BAND)
    reach, kinv = (oracle or ReachabilityOracle(arm, seed=seed))(feats)
    return LabelledPoses(f"boundary band {BAND[0]}-{BAND[1]} x reach", feats, reach, kinv)


def oracle_disagreement(
    arm: Arm, poses: LabelledPoses, n: int = 2_000, starts: int = 32, seed: int = 1
) -> dict[str, Any]:
    """How often a stronger oracle (``starts`` DLS starts, another seed) answers ``n`` of
    the poses otherwise: a multi-start oracle can miss solutions, so its labels have an
    error of their own. Zero by construction where the closed form labels the poses."""
    idx = np.random.default_rng(seed).choice(
        len(poses.reachable), min(n, len(poses.reachable)), replace=False
    )
    strong, _ = ReachabilityOracle(arm, starts=starts, seed=seed)(poses.features[idx])
    weak = poses.reachable[idx]
    return {
        "n": len(idx),
        "starts": starts,
        "disagree": int(np.sum(strong != weak)),
        "found_by_stronger_only": int(np.sum(strong & ~weak)),
        "rate": float(np.mean(strong != weak)),
    }


def split_metrics(
    model: FeasibilityClassifier, feats: np.ndarray, labels: np.ndarray
) -> dict[str, Any]:
    """4-class accuracy, cross-entropy, binary reachability (by the model's decision rule)
    with its two kinds of error, and ECE on one labelled set."""
    r = model.evaluate(feats)
    p_true = np.clip(r.proba[np.arange(len(labels)), labels], 1e-12, 1.0)
    return {
        **binary_counts(r.label > 0, labels > 0),
        "accuracy": float(np.mean(r.label == labels)),
        "loss": float(-np.mean(np.log(p_true))),
        "ece": expected_calibration_error(r.proba, labels),
        "confusion": confusion_matrix(labels, r.label).tolist(),
    }


def confusion_matrix(truth: np.ndarray, pred: np.ndarray, k: int = len(CLASS_NAMES)) -> np.ndarray:
    """(k, k) counts, rows = truth, columns = prediction."""
    return np.bincount(truth * k + pred, minlength=k * k).reshape(k, k)


def throughput(
    model: FeasibilityClassifier, feats: np.ndarray, repeats: int = 3
) -> dict[str, float]:
    """Batched ``predict_proba`` speed over ``feats`` (best of ``repeats``).

    ``poses_per_s`` is wall-clock; ``poses_per_cpu_s`` divides by the process's CPU time
    (all threads), which does not count time the process waited for a core -- on a
    shared machine it shows what one core delivers.
    """
    model.predict_proba(feats[:1000])  # warm-up
    best, best_cpu = np.inf, np.inf
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        model.predict_proba(feats)
        best = min(best, time.perf_counter() - t0)
        best_cpu = min(best_cpu, time.process_time() - c0)
    return {
        "n": len(feats),
        "poses_per_s": float(len(feats) / best),
        "poses_per_cpu_s": float(len(feats) / max(best_cpu, 1e-9)),
        "load_average_1min": float(os.getloadavg()[0]) if hasattr(os, "getloadavg") else -1.0,
        "cpu_count": os.cpu_count(),
    }


def choose_confidence(
    model: FeasibilityClassifier, feats: np.ndarray, labels: np.ndarray, margin: float = 0.0
) -> dict[str, float]:
    """The smallest reachability-gate threshold with no wrong model answer on a labelled set.

    Returns ``{"confidence", "fraction_from_model"}``; the threshold is the largest gate
    probability among the wrong answers (the gate is strict), raised by ``margin`` (in
    units of 1 - p).
    """
    r = model.evaluate(feats)
    gate = np.maximum(r.p_reachable, 1.0 - r.p_reachable)
    wrong = (r.label > 0) != (labels > 0)
    c = float(gate[wrong].max()) if wrong.any() else 0.5
    c = 1.0 - (1.0 - c) * (1.0 - margin)
    return {"confidence": c, "fraction_from_model": float(np.mean(gate > c))}


def filter_metrics(
    model: FeasibilityClassifier,
    fallback: Any,
    feats: np.ndarray,
    labels: np.ndarray,
    confidence: float = DEFAULT_CONFIDENCE,
) -> dict[str, Any]:
    """Run a :class:`FeasibilityFilter` over labelled poses; errors counted against ``labels``."""
    fallback.reset_calls()
    filt = FeasibilityFilter(model, fallback, confidence=confidence)
    t0 = time.perf_counter()
    res = filt.query(feats)
    seconds = time.perf_counter() - t0
    truth = labels > 0
    wrong = res.reachable != truth
    fm = res.from_model
    return {
        "n": len(labels),
        "confidence": confidence,
        "fallback": type(fallback).__name__,
        "answered_without_numerical_call": int(fm.sum()),
        "fraction_without_numerical_call": float(fm.mean()),
        "fallback_calls": int(fallback.calls),
        "wrong_reachability": int(wrong.sum()),
        "wrong_from_model": int((wrong & fm).sum()),
        "wrong_from_fallback": int((wrong & ~fm).sum()),
        "class_accuracy": float(np.mean(res.label == labels)),
        "seconds": round(seconds, 2),
    }


def evaluate(
    model: FeasibilityClassifier,
    feats: np.ndarray,
    labels: np.ndarray,
    fallback: Any | None = None,
    confidence: float = DEFAULT_CONFIDENCE,
    throughput_n: int = 200_000,
) -> dict[str, Any]:
    """The full table: per-split metrics, throughput, and (given a fallback) the filter row."""
    seed = int(model.info.get("seed", 0))
    tr, va, te = split_indices(labels, seed)
    out: dict[str, Any] = {
        "arm": model.arm.name,
        "split_seed": seed,
        "training": {
            k: model.info.get(k)
            for k in (
                "epochs_run",
                "best_epoch",
                "max_epochs",
                "batch_size",
                "device",
                "threads",
                "train_seconds",
                "torch_version",
                "hidden",
            )
        },
    }
    for name, idx in (("train", tr), ("val", va), ("test", te)):
        out[name] = split_metrics(model, feats[idx], labels[idx])
    rng = np.random.default_rng(seed)
    sample = feats[rng.integers(0, len(feats), throughput_n)]
    out["throughput"] = throughput(model, sample)
    out["throughput_poses_per_s"] = out["throughput"]["poses_per_s"]
    out["confidence_on_val"] = choose_confidence(model, feats[va], labels[va])
    if fallback is not None:
        out["filter"] = filter_metrics(model, fallback, feats[te], labels[te], confidence)
    return out


def format_table(res: dict[str, Any]) -> str:
    """The results as a Markdown table of two columns, metric and value (the reference
    study's rows)."""
    t = res["test"]
    rows = [
        (
            "training accuracy / loss",
            f"{res['train']['accuracy']:.4%} / {res['train']['loss']:.4f}",
        ),
        ("validation accuracy / loss", f"{res['val']['accuracy']:.4%} / {res['val']['loss']:.4f}"),
        ("test accuracy (4-class)", f"{t['accuracy']:.4%}"),
        (
            "binary reachability (test)",
            f"{t['binary_correct']:,} / {t['n']:,} ({t['binary_accuracy']:.4%})",
        ),
        ("expected calibration error (test)", f"{t['ece']:.4f}"),
        (
            "throughput (batched, CPU)",
            (
                f"{res['throughput_poses_per_s']:,.0f} poses/s wall "
                f"({res['throughput']['poses_per_cpu_s']:,.0f} per CPU-second; "
                f"load avg {res['throughput']['load_average_1min']:.1f} on "
                f"{res['throughput']['cpu_count']} cores)"
            ),
        ),
    ]
    f = res.get("filter")
    if f:
        rows += [
            (
                f"filter: answered w/o numerical call (c={f['confidence']})",
                f"{f['answered_without_numerical_call']:,} / {f['n']:,} ({f['fraction_without_numerical_call']:.2%})",
            ),
            (
                "filter: wrong reachability",
                (
                    f"{f['wrong_reachability']} / {f['n']:,} "
                    f"(model {f['wrong_from_model']}, fallback {f['wrong_from_fallback']})"
                ),
            ),
            (f"filter: fallback calls ({f['fallback']})", f"{f['fallback_calls']:,}"),
        ]
    return markdown_table(("metric", "value"), rows)


# ------------------------------------------------------------------------- plots
def plot_confusion(confusion: np.ndarray, path: str | Path, title: str = "") -> Path:
    """Row-normalised confusion matrix PNG (counts annotated)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    plt = pyplot()
    cm = np.asarray(confusion, dtype=float)
    norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(6, 5))
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            ax.text(
                j,
                i,
                f"{int(cm[i, j]):,}\n{norm[i, j]:.1%}",
                ha="center",
                va="center",
                color="white" if norm[i, j] > 0.5 else "black",
                fontsize=8,
            )
    ax.set_xticks(range(len(CLASS_NAMES)), CLASS_NAMES, rotation=20)
    ax.set_yticks(range(len(CLASS_NAMES)), CLASS_NAMES)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title or "confusion matrix (test)")
    fig.colorbar(im, ax=ax)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)


def plot_workspace(
    feats: np.ndarray,
    labels: np.ndarray,
    path: str | Path,
    n: int = 20_000,
    seed: int = 0,
    title: str = "",
) -> Path:
    """3D scatter of end-effector positions (m) coloured by class."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    plt = pyplot()
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(feats), size=min(n, len(feats)), replace=False)
    fig = plt.figure(figsize=(7, 6))
    ax = fig.add_subplot(projection="3d")
    colors = ("tab:gray", "tab:red", "tab:blue", "tab:green")
    for k, name in enumerate(CLASS_NAMES):
        m = idx[labels[idx] == k]
        ax.scatter(
            feats[m, 0],
            feats[m, 1],
            feats[m, 2],
            s=1,
            alpha=0.3 if k == 0 else 0.5,
            color=colors[k],
            label=name,
        )
    ax.set_xlabel("x (m)")
    ax.set_ylabel("y (m)")
    ax.set_zlabel("z (m)")
    ax.legend(markerscale=8, loc="upper left", fontsize=8)
    ax.set_title(title or "workspace by class")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)


def plot_learning_curve(history: dict[str, list[float]], path: str | Path, title: str = "") -> Path:
    """Train/val loss and accuracy per epoch PNG."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    plt = pyplot()
    ep = np.arange(1, len(history["val_loss"]) + 1)
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
    a1.plot(ep, history["train_loss"], label="train")
    a1.plot(ep, history["val_loss"], label="validation")
    a1.set_yscale("log")
    a1.set_xlabel("epoch")
    a1.set_ylabel("cross-entropy")
    a1.legend()
    a2.plot(ep, history["train_acc"], label="train")
    a2.plot(ep, history["val_acc"], label="validation")
    a2.set_xlabel("epoch")
    a2.set_ylabel("4-class accuracy")
    a2.legend()
    best = history.get("best_epoch")
    if best:
        for a in (a1, a2):
            a.axvline(best, color="gray", ls=":", lw=1)
    fig.suptitle(title or "learning curve")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)


def write_plots(
    model: FeasibilityClassifier,
    res: dict[str, Any],
    feats: np.ndarray,
    labels: np.ndarray,
    out_dir: str | Path,
) -> list[Path]:
    """Confusion matrix, workspace scatter and (if the header has it) learning curve PNGs."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    name = model.arm.name
    paths = [
        plot_confusion(
            np.array(res["test"]["confusion"]),
            out_dir / f"{name}_classifier_confusion.png",
            f"{name} classifier, test split",
        ),
        plot_workspace(
            feats,
            labels,
            out_dir / f"{name}_classifier_workspace.png",
            title=f"{name} workspace by class (closed-form labels)",
        ),
    ]
    hist = model.info.get("history")
    if hist:
        paths.append(
            plot_learning_curve(
                hist, out_dir / f"{name}_classifier_learning_curve.png", f"{name} classifier"
            )
        )
    return paths
