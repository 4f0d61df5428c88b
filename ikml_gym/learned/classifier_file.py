"""The feasibility classifier's model file: safetensors + JSON header through :mod:`ikml_gym.io`.

Tensors: ``input_mean`` / ``input_std`` (d,) float64 (standardisation of
:func:`~ikml_gym.learned.classifier_encoding.input_features`), ``thresholds`` (2,)
(kinv between classes 1|2 and 2|3), and per layer ``layer{i}.weight`` (in, out) and
``layer{i}.bias`` (out,) float32. The header adds the layer count, hidden widths,
class names, thresholds, the operating point ``reach_threshold`` (optional: 0.5 when
absent, as in the first files), the input spec and the training metadata.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..arms import Arm
from ..errors import ModelFileError
from ..io import read_model_header, read_model_tensors, save_model
from ..labels import CLASS_NAMES, N_CLASSES
from .classifier_encoding import INPUT_SPEC_VERSION
from .model_files import arm_for_model

KIND = "feasibility_classifier"
_REQUIRED = ("n_layers", "input_spec", "thresholds")


def write_classifier_model(
    path: str | Path,
    arm: Arm,
    layers: list[tuple[np.ndarray, np.ndarray]],
    mean: np.ndarray,
    std: np.ndarray,
    thresholds: np.ndarray,
    spec: dict[str, Any],
    info: dict[str, Any],
    reach_threshold: float = 0.5,
) -> tuple[Path, Path]:
    """Write ``PATH.safetensors`` + ``PATH.json`` atomically (no pickle) -> both paths."""
    tensors: dict[str, np.ndarray] = {
        "input_mean": mean,
        "input_std": std,
        "thresholds": thresholds,
    }
    for i, (w, b) in enumerate(layers):
        tensors[f"layer{i}.weight"] = w
        tensors[f"layer{i}.bias"] = b
    extra = {
        "n_layers": len(layers),
        "hidden": [int(w.shape[1]) for w, _ in layers[:-1]],
        "class_names": list(CLASS_NAMES),
        "thresholds": thresholds.tolist(),
        "reach_threshold": float(reach_threshold),
        "input_spec": spec,
        "training": info,
    }
    return save_model(path, tensors, KIND, arm, extra)


def read_classifier_model(path: str | Path, arm: Arm | None = None) -> dict[str, Any]:
    """Read and verify a classifier model file -> the keyword arguments of
    ``FeasibilityClassifier`` (``arm``, ``layers``, ``mean``, ``std``, ``thresholds``,
    ``spec``, ``info``, ``reach_threshold``); ``arm`` defaults to the shipped arm named in the header.

    Raises:
        ModelFileError: missing, damaged or malformed files.
        ArmMismatchError: the file was made for another arm (name or URDF hash), or names
            an arm that does not ship (with ``arm=None``).
    """
    header = read_model_header(path, KIND, _REQUIRED)
    arm = arm_for_model(path, header, arm, retrain="ikml-gym train classifier")
    tensors = read_model_tensors(
        path, header, check=lambda head, tens: check_classifier_tensors(path, head, tens, arm)
    )
    # a check on the derived inputs: the spec must describe this arm
    if not np.allclose(header["input_spec"]["tip_offset"], arm.chain.tip[:3, 3]):
        raise ModelFileError(f"{path}: input_spec does not match arm {arm.name!r}")
    n = header["n_layers"]
    reach_threshold = header.get("reach_threshold", 0.5)
    if not isinstance(reach_threshold, (int, float)) or not 0.0 < reach_threshold < 1.0:
        raise ModelFileError(f"{path}: reach_threshold must be a number in (0, 1)")
    return {
        "arm": arm,
        "layers": [(tensors[f"layer{i}.weight"], tensors[f"layer{i}.bias"]) for i in range(n)],
        "mean": tensors["input_mean"],
        "std": tensors["input_std"],
        "thresholds": tensors["thresholds"],
        "spec": header["input_spec"],
        "info": header.get("training", {}),
        "reach_threshold": float(reach_threshold),
    }


def check_classifier_tensors(
    path: str | Path, header: dict[str, Any], tensors: dict[str, np.ndarray], arm: Arm
) -> None:
    """The classifier's own checks of a model file's tensors (raise ModelFileError)."""
    n = header["n_layers"]
    if not isinstance(n, int) or n < 1:
        raise ModelFileError(f"{path}: bad n_layers {n!r}")
    names = {"input_mean", "input_std", "thresholds"} | {
        f"layer{i}.{k}" for i in range(n) for k in ("weight", "bias")
    }
    if set(tensors) != names:
        raise ModelFileError(f"{path}: tensors {sorted(tensors)} != expected {sorted(names)}")
    spec = header["input_spec"]
    if not isinstance(spec, dict) or spec.get("version") != INPUT_SPEC_VERSION:
        raise ModelFileError(f"{path}: unknown input_spec {spec!r}")
    if spec.get("feature_kind") != arm.feature_kind:
        raise ModelFileError(f"{path}: model takes {spec.get('feature_kind')} features")
    _check_layer_chain(path, tensors, n)
    d = len(tensors["input_mean"])
    if tensors["input_std"].shape != (d,) or not np.all(tensors["input_std"] > 0):
        raise ModelFileError(f"{path}: input_std must be ({d},) and positive")
    for k, v in tensors.items():
        if not np.all(np.isfinite(v)):
            raise ModelFileError(f"{path}: tensor {k!r} has non-finite values")


def _check_layer_chain(path: str | Path, tensors: dict[str, np.ndarray], n: int) -> None:
    prev = len(tensors["input_mean"])
    for i in range(n):
        w, b = tensors[f"layer{i}.weight"], tensors[f"layer{i}.bias"]
        if w.ndim != 2 or w.shape[0] != prev or b.shape != (w.shape[1],):
            raise ModelFileError(f"{path}: layer {i} shapes {w.shape}, {b.shape} do not chain")
        prev = w.shape[1]
    if prev != N_CLASSES or tensors["thresholds"].shape != (2,):
        raise ModelFileError(f"{path}: expected {N_CLASSES} outputs and 2 thresholds")
