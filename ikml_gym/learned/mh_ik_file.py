"""The multi-hypothesis learned IK's model file: safetensors + JSON header through :mod:`ikml_gym.io`.

Tensors: per layer ``i`` the weight ``w{i}`` (d_in, d_out) and bias ``b{i}`` (d_out,),
float32 (no subnormals: :func:`ikml_gym.io.save_model` flushes them). The header adds the
head count, the joint count, the feature kind, the hidden widths, the activation, the
input names (:func:`~ikml_gym.learned.mh_encoding.input_spec`), the output layout and the
training metadata (its command line, seed and settings).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..arms import Arm
from ..errors import ModelFileError
from ..io import model_paths, read_model_header, read_model_tensors, save_model
from .mh_encoding import input_spec
from .mlp import ACTIVATIONS
from .model_files import arm_for_model

#: model kind in the file header
KIND = "multi_hypothesis_ik"
#: how the last layer's outputs are laid out
OUTPUTS = "heads x dof x (cos q, sin q)"
_REQUIRED = ("n_heads", "n_layers", "dof", "activation", "inputs", "outputs")
_RETRAIN = "ikml-gym train ik --method fk"


@dataclass
class MHModelParts:
    """What a multi-hypothesis IK model file holds (the arguments of ``MultiHypothesisIK``)."""

    arm: Arm
    weights: list[np.ndarray]
    biases: list[np.ndarray]
    n_heads: int
    activation: str
    info: dict[str, Any]


def write_mh_model(
    path: str | Path,
    arm: Arm,
    weights: Sequence[np.ndarray],
    biases: Sequence[np.ndarray],
    n_heads: int,
    activation: str,
    inputs: Sequence[str],
    info: dict[str, Any],
) -> tuple[Path, Path]:
    """Write ``<path>.safetensors`` + ``<path>.json`` (no pickle) -> (weights, header) paths."""
    tensors: dict[str, np.ndarray] = {}
    for i, (w, b) in enumerate(zip(weights, biases)):
        tensors[f"w{i}"] = np.asarray(w, dtype=np.float32)
        tensors[f"b{i}"] = np.asarray(b, dtype=np.float32)
    extra = {
        "method": "fk",
        "n_heads": int(n_heads),
        "n_layers": len(weights),
        "dof": arm.dof,
        "feature_kind": arm.feature_kind,
        "hidden": [int(w.shape[1]) for w in weights[:-1]],
        "activation": activation,
        "inputs": list(inputs),
        "outputs": OUTPUTS,
        "training": info,
    }
    return save_model(path, tensors, KIND, arm, extra)


def read_mh_model(path: str | Path, arm: Arm | None = None) -> MHModelParts:
    """Read and verify a multi-hypothesis IK model file.

    Args:
        path: file stem or either file.
        arm: the arm to check the model against; by default the shipped arm named in
            the header.

    Raises:
        ModelFileError: missing, truncated or damaged files, or an unexpected layout.
        ArmMismatchError: the model is for another arm or another URDF.
    """
    header = read_model_header(path, KIND, _REQUIRED)
    arm = arm_for_model(path, header, arm, retrain=_RETRAIN)
    header_path = model_paths(path)[1]
    _check_layout(header, header_path, arm)
    tensors = read_model_tensors(path, header)
    n_layers = int(header["n_layers"])
    try:
        weights = [tensors[f"w{i}"] for i in range(n_layers)]
        biases = [tensors[f"b{i}"] for i in range(n_layers)]
    except KeyError as exc:
        raise ModelFileError(f"{header_path}: weights lack tensor {exc}") from exc
    _check_shapes(weights, biases, int(header["n_heads"]) * arm.dof * 2, len(header["inputs"]))
    return MHModelParts(
        arm, weights, biases, int(header["n_heads"]), header["activation"],
        header.get("training", {}),
    )  # fmt: skip


def _check_layout(header: dict[str, Any], header_path: Path, arm: Arm) -> None:
    if header["activation"] not in ACTIVATIONS:
        raise ModelFileError(f"{header_path}: unsupported activation {header['activation']!r}")
    if list(header["inputs"]) != list(input_spec(arm)) or header["outputs"] != OUTPUTS:
        raise ModelFileError(
            f"{header_path}: model inputs {header['inputs']} / outputs {header['outputs']!r} "
            f"differ from this version's {list(input_spec(arm))} / {OUTPUTS!r}; retrain with "
            f"`{_RETRAIN}`"
        )
    if header["dof"] != arm.dof:
        raise ModelFileError(f"{header_path}: model has {header['dof']} joints, arm {arm.dof}")


def _check_shapes(
    weights: list[np.ndarray], biases: list[np.ndarray], n_out: int, n_in: int
) -> None:
    dims = [n_in] + [w.shape[1] for w in weights]
    ok = all(w.ndim == 2 and w.shape[0] == d for w, d in zip(weights, dims))
    ok = ok and all(b.shape == (w.shape[1],) for w, b in zip(weights, biases))
    if not ok or dims[-1] != n_out:
        raise ModelFileError(
            f"layer shapes {[tuple(w.shape) for w in weights]} do not chain from {n_in} "
            f"inputs to {n_out} outputs"
        )
