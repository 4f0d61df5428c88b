"""``FeasibilityClassifier``: pose -> reachability / conditioning class.

Classes (:data:`ikml_gym.labels.CLASS_NAMES`): 0 unreachable, 1 near-singular
(bottom 20% of kinv over reachable poses), 2 adequate (middle 60%), 3 high
manipulability (top 20%); the two kinv thresholds are stored with the model.

The network is the reference study's MLP: standardised input, hidden layers of
width 256 with ReLU, 4 logits, trained with ``CrossEntropyLoss``, Adam
(lr 8e-3, weight decay 1e-4) and ``ReduceLROnPlateau``, up to 200 epochs, the
best validation checkpoint kept. Three hidden layers: the two 256 x 256
products dominate inference (about 0.28 MFLOP per pose), and a fourth would add
about 48% to it against the 200,000 poses/s CPU budget, while three already
fit the arm6 training set to 98.8% with validation 98.3% (the gap is at the
class boundaries, which are continuous in kinv). A four-layer variant was not
trained for comparison.

Input: the task features (:meth:`ikml_gym.Arm.features`) plus quantities derived from them
by :func:`input_features` -- a deterministic function of the features and of
the arm constants stored in the model header (``input_spec``):

* pose7 ``[x, y, z, qx, qy, qz, qw]`` -> position, quaternion, the 9 entries of
  the rotation matrix, the *wrist point* ``p - R @ tip`` (the last joint's
  origin; for a UR-type arm the wrist centre, which decides reachability), and
  the distances of the end-effector and the wrist point from ``reach_center``
  (3D and horizontal): 23 numbers.
* pose4 ``[x, y, z, psi]`` -> position, sin/cos psi, the wrist point for the
  heading ``atan2(y, x)`` and for the base-flipped heading, and the distances
  of the three points from ``reach_center``: 14 numbers.

Inference is a float32 numpy forward pass (no torch at import); torch is only
imported by :func:`train_classifier`.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from .. import kinematics as kin
from .._validation import expand_user
from ..arms import POSE4, POSE7, SHIPPED_ARMS, Arm, load_arm
from ..errors import InvalidInputError, ModelFileError
from ..io import flush_subnormals
from ..labels import CLASS_NAMES, N_CLASSES, UNREACHABLE
from .mlp import StackedMLP

KIND = "feasibility_classifier"
INPUT_SPEC_VERSION = 1
#: default architecture and optimiser settings (reference study)
HIDDEN = (256, 256, 256)
LR = 8e-3
WEIGHT_DECAY = 1e-4
EPOCHS = 200
BATCH_SIZE = 2048
#: fraction of the data held out for validation and for test (each); 80,000 of 560,000
HOLDOUT_FRACTION = 1.0 / 7.0
_CHUNK = 32_768  # rows per numpy forward chunk (keeps activations in cache)


# ----------------------------------------------------------------------- inputs
def input_spec(arm: Arm) -> dict[str, Any]:
    """Arm constants the derived inputs use (stored in the model header)."""
    return {
        "version": INPUT_SPEC_VERSION,
        "feature_kind": arm.feature_kind,
        "feature_dim": arm.feature_dim,
        "reach_center": [float(v) for v in arm.reach_center],
        "reach": float(arm.reach),
        "tip_offset": [float(v) for v in arm.chain.tip[:3, 3]],
    }


def input_features(features: np.ndarray, spec: dict[str, Any]) -> np.ndarray:
    """Network inputs (N, d) float64 from validated task features (N, feature_dim).

    See the module docstring for the layout; ``spec`` comes from :func:`input_spec`.
    Written in few numpy calls: for one pose the call overhead is the cost.
    """
    f = np.asarray(features, dtype=np.float64)
    if len(f) == 1:
        return np.array([_input_features_one(f[0].tolist(), spec)])
    center = np.asarray(spec["reach_center"], dtype=np.float64)
    tip = np.asarray(spec["tip_offset"], dtype=np.float64)
    p = f[:, :3]
    if spec["feature_kind"] == POSE7:
        rot = kin.quat_to_matrix(f[:, 3:7])
        points = np.stack([p, p - rot @ tip])  # (2, N, 3): end-effector, wrist point
        radial, horizontal = _distances(points, center, spec)
        # |p|, |p|_xy, |wrist|, |wrist|_xy
        dists = np.stack([radial, horizontal], axis=2).reshape(len(f), 4)
        return np.concatenate([f[:, :7], rot.reshape(-1, 9), points[1], dists], axis=1)
    if spec["feature_kind"] == POSE4:
        psi = f[:, 3]
        heading = np.arctan2(p[:, 1], p[:, 0])
        # R = Rz(h) Ry(s): wrist = p - R @ tip, for the heading and the base-flipped one
        h = np.stack([heading, heading + np.pi])[:, :, None]  # (2, N, 1)
        s = np.stack([psi, -psi])[:, :, None]
        ch, sh, cs, ss = np.cos(h), np.sin(h), np.cos(s), np.sin(s)
        r_tip_x = cs * tip[0] + ss * tip[2]
        wrists = p - np.concatenate(
            [ch * r_tip_x - sh * tip[1], sh * r_tip_x + ch * tip[1], -ss * tip[0] + cs * tip[2]],
            axis=2,
        )  # (2, N, 3)
        points = np.concatenate([p[None], wrists])  # (3, N, 3)
        radial = _distances(points, center, spec)[0]  # (N, 3): |p|, |wrist|, |flipped wrist|
        return np.concatenate([p, np.sin(s[0]), np.cos(s[0]), wrists[0], wrists[1], radial], axis=1)
    raise ModelFileError(f"unknown feature kind {spec['feature_kind']!r} in input spec")


def _input_features_one(row: list[float], spec: dict[str, Any]) -> list[float]:
    """:func:`input_features` of one pose in Python floats (its numpy calls would cost
    several times more than the arithmetic); the same formulas, term by term."""
    cx, cy, cz = spec["reach_center"]
    tx, ty, tz = spec["tip_offset"]
    reach = float(spec["reach"])
    x, y, z = row[:3]

    def radial(px: float, py: float, pz: float) -> tuple[float, float]:
        dx, dy, dz = (px - cx) / reach, (py - cy) / reach, (pz - cz) / reach
        horizontal = dx * dx + dy * dy
        return math.sqrt(horizontal + dz * dz), math.sqrt(horizontal)

    if spec["feature_kind"] == POSE7:
        qx, qy, qz, qw = row[3:7]
        rot = _rotation_one(qx, qy, qz, qw)
        wx = x - (rot[0] * tx + rot[1] * ty + rot[2] * tz)
        wy = y - (rot[3] * tx + rot[4] * ty + rot[5] * tz)
        wz = z - (rot[6] * tx + rot[7] * ty + rot[8] * tz)
        return [*row[:7], *rot, wx, wy, wz, *radial(x, y, z), *radial(wx, wy, wz)]
    if spec["feature_kind"] == POSE4:
        psi = row[3]
        heading = math.atan2(y, x)
        out, dists = [x, y, z, math.sin(psi), math.cos(psi)], [radial(x, y, z)[0]]
        for h, s in ((heading, psi), (heading + math.pi, -psi)):
            ch, sh, cs, ss = math.cos(h), math.sin(h), math.cos(s), math.sin(s)
            r_tip_x = cs * tx + ss * tz
            w = (
                x - (ch * r_tip_x - sh * ty),
                y - (sh * r_tip_x + ch * ty),
                z - (-ss * tx + cs * tz),
            )
            out.extend(w)
            dists.append(radial(*w)[0])
        return out + dists
    raise ModelFileError(f"unknown feature kind {spec['feature_kind']!r} in input spec")


def _rotation_one(qx: float, qy: float, qz: float, qw: float) -> list[float]:
    """Row-major rotation matrix of one unit xyzw quaternion, as :func:`kin.quat_to_matrix`."""
    xx, yy, zz, xy, xz, yz = qx * qx, qy * qy, qz * qz, qx * qy, qx * qz, qy * qz
    wx, wy, wz = qw * qx, qw * qy, qw * qz
    return [
        1.0 - 2.0 * yy - 2.0 * zz, 2.0 * xy - 2.0 * wz, 2.0 * xz + 2.0 * wy,
        2.0 * xy + 2.0 * wz, 1.0 - 2.0 * xx - 2.0 * zz, 2.0 * yz - 2.0 * wx,
        2.0 * xz - 2.0 * wy, 2.0 * yz + 2.0 * wx, 1.0 - 2.0 * xx - 2.0 * yy,
    ]  # fmt: skip


def _distances(
    points: np.ndarray, center: np.ndarray, spec: dict[str, Any]
) -> tuple[np.ndarray, np.ndarray]:
    """Distances of (P, N, 3) points from the reach centre over the reach: (N, P) 3D and
    (N, P) horizontal."""
    d = (points - center) / float(spec["reach"])
    sq = d * d
    horizontal = sq[:, :, 0] + sq[:, :, 1]
    return np.sqrt(horizontal + sq[:, :, 2]).T, np.sqrt(horizontal).T


# --------------------------------------------------------------------- the model
@dataclass
class ClassifierResult:
    """Batched classifier output.

    Attributes:
        label: (N,) int class (0 unreachable .. 3 high manipulability).
        proba: (N, 4) class probabilities, rows sum to 1.
        confidence: (N,) max class probability.
        p_reachable: (N,) probability of classes 1-3 (1 - proba[:, 0]).
    """

    label: np.ndarray
    proba: np.ndarray
    confidence: np.ndarray
    p_reachable: np.ndarray


@dataclass
class FeasibilityClassifier:
    """A trained pose -> class MLP for one arm; numpy inference.

    Args:
        arm: the arm the model is for.
        layers: [(W (in, out), b (out,)), ...] float32; ReLU between layers, logits last.
        mean, std: (d,) input standardisation of :func:`input_features`.
        thresholds: (2,) kinv thresholds between classes 1|2 and 2|3.
        spec: :func:`input_spec` of the arm.
        info: training metadata (seed, epochs, metrics, timings) kept in the header.
    """

    arm: Arm
    layers: list[tuple[np.ndarray, np.ndarray]]
    mean: np.ndarray
    std: np.ndarray
    thresholds: np.ndarray
    spec: dict[str, Any]
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.mean = np.asarray(self.mean, dtype=np.float64)
        self.std = np.asarray(self.std, dtype=np.float64)
        self.thresholds = np.asarray(self.thresholds, dtype=np.float64)
        self.layers = [
            (
                flush_subnormals(np.asarray(w, np.float32)),
                flush_subnormals(np.asarray(b, np.float32)),
            )
            for w, b in self.layers
        ]
        self._mlp = StackedMLP(
            [w for w, _ in self.layers],
            [b for _, b in self.layers],
            in_shift=self.mean,
            in_scale=self.std,
        )

    # -------------------------------------------------------------- inference
    @property
    def class_names(self) -> tuple[str, ...]:
        return CLASS_NAMES

    def logits(self, features: object) -> tuple[np.ndarray, bool]:
        """(N, 4) float32 logits of task features (feature_dim,) or (N, feature_dim) -> (logits, single)."""
        f, single = self.arm.check_features(features)
        return self._logits(f), single

    def _logits(self, f: np.ndarray) -> np.ndarray:
        if len(f) <= _CHUNK:
            return self._mlp.forward(input_features(f, self.spec))[0]
        out = np.empty((len(f), N_CLASSES), dtype=np.float32)
        for s in range(0, len(f), _CHUNK):
            out[s : s + _CHUNK] = self._mlp.forward(input_features(f[s : s + _CHUNK], self.spec))[0]
        return out

    def evaluate(self, features: object) -> ClassifierResult:
        """Everything at once (batched; single-pose input gives (1,)-shaped arrays)."""
        f, _ = self.arm.check_features(features)
        return self._evaluate(f)

    def _evaluate(self, f: np.ndarray) -> ClassifierResult:
        z = self._logits(f).astype(np.float64)
        z -= z.max(axis=1, keepdims=True)
        proba = np.exp(z)
        proba /= proba.sum(axis=1, keepdims=True)
        return ClassifierResult(
            label=np.argmax(proba, axis=1),
            proba=proba,
            confidence=proba.max(axis=1),
            p_reachable=1.0 - proba[:, UNREACHABLE],
        )

    def _unbatch(self, features: object, pick: Callable[[ClassifierResult], np.ndarray]):
        f, single = self.arm.check_features(features)
        out = pick(self._evaluate(f))
        return out[0] if single else out

    def predict_proba(self, features: object) -> np.ndarray:
        """Class probabilities (N, 4) (float64, rows sum to 1); (4,) for one pose."""
        return self._unbatch(features, lambda r: r.proba)

    def predict(self, features: object) -> np.ndarray:
        """Class labels (N,) int; a scalar for one pose (the argmax of the logits: the
        softmax does not change it, so it is not computed)."""
        f, single = self.arm.check_features(features)
        labels = self._logits(f).argmax(axis=1)
        return labels[0] if single else labels

    def confidence(self, features: object) -> np.ndarray:
        """Max class probability (N,); a scalar for one pose."""
        return self._unbatch(features, lambda r: r.confidence)

    def p_reachable(self, features: object) -> np.ndarray:
        """Probability that the pose is reachable (classes 1-3), (N,); a scalar for one pose."""
        return self._unbatch(features, lambda r: r.p_reachable)

    def is_reachable(self, features: object) -> np.ndarray:
        """(N,) bool: P(reachable) > 0.5; a bool for one pose."""
        return self._unbatch(features, lambda r: r.p_reachable > 0.5)

    # ----------------------------------------------------------- persistence
    def save(self, path: str | Path) -> tuple[Path, Path]:
        """Write ``PATH.safetensors`` + ``PATH.json`` atomically (no pickle)."""
        from ..io import save_model

        tensors: dict[str, np.ndarray] = {
            "input_mean": self.mean,
            "input_std": self.std,
            "thresholds": self.thresholds,
        }
        for i, (w, b) in enumerate(self.layers):
            tensors[f"layer{i}.weight"] = w
            tensors[f"layer{i}.bias"] = b
        extra = {
            "n_layers": len(self.layers),
            "hidden": [int(w.shape[1]) for w, _ in self.layers[:-1]],
            "class_names": list(CLASS_NAMES),
            "thresholds": self.thresholds.tolist(),
            "input_spec": self.spec,
            "training": self.info,
        }
        return save_model(path, tensors, KIND, self.arm, extra)

    @classmethod
    def load(cls, path: str | Path, arm: Arm | None = None) -> FeasibilityClassifier:
        """Load a model file; ``arm`` defaults to the shipped arm named in the header.

        Raises:
            ModelFileError: missing, damaged or malformed files.
            ArmMismatchError: the file was made for another arm (name or URDF hash).
        """
        from ..io import load_model, model_paths

        if arm is None:
            import json

            header_path = model_paths(path)[1]
            if not header_path.is_file():
                raise ModelFileError(f"model file missing: {header_path}")
            try:
                name = json.loads(header_path.read_text(encoding="utf-8")).get("arm")
            except (OSError, UnicodeDecodeError, ValueError, AttributeError) as exc:
                raise ModelFileError(
                    f"{header_path}: cannot read the model header ({exc})"
                ) from exc
            if name not in SHIPPED_ARMS:
                raise ModelFileError(
                    f"{header_path}: model is for arm {name!r}, which is not shipped; "
                    "pass arm=load_arm(<its URDF>)"
                )
            arm = load_arm(name)

        def check(header: dict[str, Any], tensors: dict[str, np.ndarray]) -> None:
            n = header["n_layers"]
            if not isinstance(n, int) or n < 1:
                raise ModelFileError(f"{path}: bad n_layers {n!r}")
            names = {"input_mean", "input_std", "thresholds"} | {
                f"layer{i}.{k}" for i in range(n) for k in ("weight", "bias")
            }
            if set(tensors) != names:
                raise ModelFileError(
                    f"{path}: tensors {sorted(tensors)} != expected {sorted(names)}"
                )
            spec = header["input_spec"]
            if not isinstance(spec, dict) or spec.get("version") != INPUT_SPEC_VERSION:
                raise ModelFileError(f"{path}: unknown input_spec {spec!r}")
            if spec.get("feature_kind") != arm.feature_kind:
                raise ModelFileError(f"{path}: model takes {spec.get('feature_kind')} features")
            d = len(tensors["input_mean"])
            prev = d
            for i in range(n):
                w, b = tensors[f"layer{i}.weight"], tensors[f"layer{i}.bias"]
                if w.ndim != 2 or w.shape[0] != prev or b.shape != (w.shape[1],):
                    raise ModelFileError(
                        f"{path}: layer {i} shapes {w.shape}, {b.shape} do not chain"
                    )
                prev = w.shape[1]
            if prev != N_CLASSES or tensors["thresholds"].shape != (2,):
                raise ModelFileError(f"{path}: expected {N_CLASSES} outputs and 2 thresholds")
            if tensors["input_std"].shape != (d,) or not np.all(tensors["input_std"] > 0):
                raise ModelFileError(f"{path}: input_std must be ({d},) and positive")
            for k, v in tensors.items():
                if not np.all(np.isfinite(v)):
                    raise ModelFileError(f"{path}: tensor {k!r} has non-finite values")

        tensors, header = load_model(
            path, KIND, arm, required=("n_layers", "input_spec", "thresholds"), check=check
        )
        n = header["n_layers"]
        layers = [(tensors[f"layer{i}.weight"], tensors[f"layer{i}.bias"]) for i in range(n)]
        model = cls(
            arm=arm,
            layers=layers,
            mean=tensors["input_mean"],
            std=tensors["input_std"],
            thresholds=tensors["thresholds"],
            spec=header["input_spec"],
            info=header.get("training", {}),
        )
        # a check on the derived inputs: the spec must describe this arm
        if not np.allclose(model.spec["tip_offset"], arm.chain.tip[:3, 3]):
            raise ModelFileError(f"{path}: input_spec does not match arm {arm.name!r}")
        return model

    def __repr__(self) -> str:
        hidden = [int(w.shape[1]) for w, _ in self.layers[:-1]]
        return f"FeasibilityClassifier(arm={self.arm.name!r}, hidden={hidden})"


def pretrained_path(name: str) -> Path:
    """Stem of the shipped pretrained classifier of arm ``name`` (inside the package)."""
    return Path(str(resources.files("ikml_gym") / "pretrained" / f"{name}_classifier"))


def load_classifier(
    name_or_path: str | Path = "arm6", arm: Arm | None = None
) -> FeasibilityClassifier:
    """The shipped pretrained classifier (``"arm4"``, ``"arm6"``) or a model file by path.

    Raises:
        ModelFileError: missing or damaged files; ArmMismatchError: ``arm`` differs from the file's.
    """
    key = str(name_or_path)
    if key in SHIPPED_ARMS:
        return FeasibilityClassifier.load(pretrained_path(key), arm=arm)
    return FeasibilityClassifier.load(expand_user(key), arm=arm)


# ---------------------------------------------------------------------- training
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


def train_classifier(
    arm: Arm,
    features: np.ndarray,
    labels: np.ndarray,
    thresholds: np.ndarray,
    config: TrainConfig | None = None,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
    checkpoint: str | Path | None = None,
) -> tuple[FeasibilityClassifier, dict[str, Any]]:
    """Train a classifier on a labelled set (e.g. :func:`ikml_gym.data.make_classifier_dataset`).

    Splits with :func:`split_indices` (``config.seed``), standardises on the
    training part, trains with Adam + ReduceLROnPlateau on the validation loss,
    and keeps the epoch with the lowest validation loss. Reproducible for a seed
    on one device type (torch deterministic algorithms are switched on).

    ``checkpoint``: a model path rewritten (atomically) whenever validation loss improves,
    so an interrupted run still leaves its best model.

    Returns:
        (model, history) -- history holds per-epoch train/val loss and accuracy and lr.
    """
    import os

    import torch
    from tqdm.auto import tqdm

    cfg = config or TrainConfig()
    f, _ = arm.check_features(features)
    labels = np.asarray(labels, dtype=np.int64)
    if labels.shape != (len(f),) or labels.min() < 0 or labels.max() >= N_CLASSES:
        raise InvalidInputError(f"labels must be ({len(f)},) ints in 0..{N_CLASSES - 1}")
    device = torch.device(cfg.device)
    if device.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    torch.use_deterministic_algorithms(True, warn_only=True)

    spec = input_spec(arm)
    x_all = input_features(f, spec)
    tr, va, te = split_indices(labels, cfg.seed)
    mean = x_all[tr].mean(axis=0)
    std = x_all[tr].std(axis=0)
    std = np.where(std > 1e-12, std, 1.0)
    xs = ((x_all - mean) / std).astype(np.float32)

    def tensor(idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        return (
            torch.from_numpy(xs[idx]).to(device),
            torch.from_numpy(labels[idx]).to(device),
        )

    x_tr, y_tr = tensor(tr)
    x_va, y_va = tensor(va)
    dims = [xs.shape[1], *cfg.hidden]
    mods: list[torch.nn.Module] = []
    for a, b in itertools.pairwise(dims):
        mods += [torch.nn.Linear(a, b), torch.nn.ReLU()]
    mods.append(torch.nn.Linear(dims[-1], N_CLASSES))
    net = torch.nn.Sequential(*mods).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
        opt, mode="min", factor=cfg.plateau_factor, patience=cfg.plateau_patience
    )
    loss_fn = torch.nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(cfg.seed)

    def full_eval(x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
        net.eval()
        loss_sum, correct = 0.0, 0
        with torch.no_grad():
            for s in range(0, len(x), 65_536):
                z = net(x[s : s + 65_536])
                loss_sum += float(loss_fn(z, y[s : s + 65_536])) * len(z)
                correct += int((z.argmax(dim=1) == y[s : s + 65_536]).sum())
        net.train()
        return loss_sum / len(x), correct / len(x)

    def make_model() -> FeasibilityClassifier:
        linears = [m for m in net if isinstance(m, torch.nn.Linear)]
        weights = [best[2][f"{i}.weight"] for i in range(0, 2 * len(linears), 2)]
        biases = [best[2][f"{i}.bias"] for i in range(0, 2 * len(linears), 2)]
        layers = [(w.numpy().T.copy(), b.numpy().copy()) for w, b in zip(weights, biases)]
        info = {
            "seed": cfg.seed,
            "epochs_run": len(hist["val_loss"]),
            "threads": torch.get_num_threads(),
            "best_epoch": best[1] + 1,
            "max_epochs": cfg.epochs,
            "hidden": list(cfg.hidden),
            "lr": cfg.lr,
            "weight_decay": cfg.weight_decay,
            "batch_size": cfg.batch_size,
            "plateau": {"factor": cfg.plateau_factor, "patience": cfg.plateau_patience},
            "early_stop": cfg.early_stop,
            "split": "stratified 5/7 train, 1/7 val, 1/7 test (split_indices, seed)",
            "n_train": len(tr),
            "n_val": len(va),
            "n_test": len(te),
            "device": str(device) if device.type == "cpu" else torch.cuda.get_device_name(device),
            "torch_version": torch.__version__,
            "train_seconds": round(time.perf_counter() - t0, 2),
            "best": {
                k: hist[k][best[1]] for k in ("train_loss", "train_acc", "val_loss", "val_acc")
            },
            "history": {
                **{k: [round(v, 6) for v in vals] for k, vals in hist.items()},
                "best_epoch": best[1] + 1,
            },
        }
        return FeasibilityClassifier(arm, layers, mean, std, thresholds, spec, info)

    hist: dict[str, list[float]] = {
        k: [] for k in ("train_loss", "train_acc", "val_loss", "val_acc", "lr")
    }
    best = (math.inf, -1, None)
    t0 = time.perf_counter()
    bar = tqdm(
        range(cfg.epochs), desc=f"train classifier {arm.name}", disable=not progress, unit="ep"
    )
    n = len(x_tr)
    for epoch in bar:
        perm = torch.randperm(n, generator=gen).to(device)
        run_loss = torch.zeros((), device=device)
        run_correct = torch.zeros((), device=device, dtype=torch.int64)
        for s in range(0, n, cfg.batch_size):
            idx = perm[s : s + cfg.batch_size]
            xb, yb = x_tr[idx], y_tr[idx]
            z = net(xb)
            loss = loss_fn(z, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            run_loss += loss.detach() * len(idx)
            run_correct += (z.detach().argmax(dim=1) == yb).sum()
        train_loss, train_acc = float(run_loss) / n, int(run_correct) / n
        val_loss, val_acc = full_eval(x_va, y_va)
        sched.step(val_loss)
        lr = opt.param_groups[0]["lr"]
        for k, v in zip(hist, (train_loss, train_acc, val_loss, val_acc, lr)):
            hist[k].append(v)
        if val_loss < best[0]:
            state = {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}
            best = (val_loss, epoch, state)
            if checkpoint is not None:
                make_model().save(checkpoint)
        bar.set_postfix(
            loss=f"{train_loss:.4f}",
            val_loss=f"{val_loss:.4f}",
            val_acc=f"{val_acc:.4f}",
            lr=f"{lr:.1e}",
        )
        if log is not None:
            log(
                f"epoch {epoch + 1} loss {train_loss:.5f} acc {train_acc:.5f} "
                f"val_loss {val_loss:.5f} val_acc {val_acc:.5f} lr {lr:.2e}"
            )
        if cfg.early_stop and epoch - best[1] >= cfg.early_stop:
            break
    seconds = time.perf_counter() - t0
    net.load_state_dict(best[2])
    model = make_model()
    model.info["train_seconds"] = round(seconds, 2)
    return model, {**hist, "best_epoch": best[1] + 1}
