"""The learned IK's model file: safetensors + JSON header through :mod:`ikml_gym.io`.

Tensors, per cluster ``c`` and layer ``i``: ``c{c}.w{i}`` (in, out) and ``c{c}.b{i}``
(out,) float32, ``c{c}.x_mean`` / ``x_scale`` (8,) and ``c{c}.y_mean`` / ``y_scale``
(2 dof,) float64; ``centers`` (n_clusters, 2 dof) for KMeans clustering. The header
adds the clustering, cluster and layer counts, the activation, the input names
(:data:`~ikml_gym.learned.ik_encoding.INPUT_SPEC`) and the training metadata.
Only :class:`~ikml_gym.learned.ik_networks.ClusterNet` regressors can be saved.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..arms import Arm
from ..errors import ModelFileError
from ..io import model_paths, read_model_header, read_model_tensors, save_model
from .ik_encoding import INPUT_SPEC
from .ik_networks import ACTIVATIONS, ClusterNet, SklearnClusterNet
from .model_files import arm_for_model

#: model kind in the file header
KIND = "learned_ik"
_SCALERS = ("x_mean", "x_scale", "y_mean", "y_scale")
_REQUIRED = ("clustering", "n_clusters", "n_layers", "activation", "inputs")


@dataclass
class IKModelParts:
    """What a learned IK model file holds (the arguments of ``LearnedIK``)."""

    arm: Arm
    nets: list[ClusterNet]
    clustering: str
    centers: np.ndarray | None
    info: dict[str, Any]


def ik_tensors(nets: list[ClusterNet | SklearnClusterNet]) -> tuple[dict[str, np.ndarray], int]:
    """(tensors, layers per network) of the cluster networks.

    Raises:
        TypeError: a cluster regressor is not a ReLU ``MLPRegressor``, or the networks
            differ in depth.
    """
    tensors: dict[str, np.ndarray] = {}
    layers = None
    for c, net in enumerate(nets):
        if not isinstance(net, ClusterNet):
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
        for name in _SCALERS:
            tensors[f"c{c}.{name}"] = getattr(net, name).astype(np.float64)
    return tensors, int(layers or 0)


def write_ik_model(
    path: str | Path,
    arm: Arm,
    nets: list[ClusterNet | SklearnClusterNet],
    clustering: str,
    centers: np.ndarray | None,
    info: dict[str, Any],
) -> tuple[Path, Path]:
    """Write ``<path>.safetensors`` + ``<path>.json`` (no pickle) -> (weights, header) paths.

    Raises:
        TypeError: a cluster regressor is not a ReLU ``MLPRegressor``.
    """
    tensors, layers = ik_tensors(nets)
    if centers is not None:
        tensors["centers"] = centers
    extra = {
        "clustering": clustering,
        "n_clusters": len(nets),
        "n_layers": layers,
        "activation": "relu",
        "inputs": list(INPUT_SPEC),
        "outputs": "sin q (dof), cos q (dof)",
        "feature_kind": arm.feature_kind,
        "dof": arm.dof,
        "training": info,
    }
    return save_model(path, tensors, KIND, arm, extra)


def read_ik_model(path: str | Path, arm: Arm | None = None) -> IKModelParts:
    """Read and verify a learned IK model file.

    Args:
        path: file stem or either file.
        arm: the arm to check the model against; by default the shipped arm named in
            the header.

    Raises:
        ModelFileError: missing, truncated or damaged files, or an unexpected layout.
        ArmMismatchError: the model is for another arm or another URDF.
    """
    header = read_model_header(path, KIND, _REQUIRED)
    arm = arm_for_model(path, header, arm, retrain="ikml-gym train ik")
    tensors = read_model_tensors(path, header)
    header_path = model_paths(path)[1]
    _check_layout(header, header_path)
    nets = _cluster_nets(tensors, header, header_path)
    _check_shapes(nets, arm.dof, header_path)
    return IKModelParts(
        arm, nets, header["clustering"], tensors.get("centers"), header.get("training", {})
    )


def _check_layout(header: dict[str, Any], header_path: Path) -> None:
    if header["activation"] not in ACTIVATIONS:
        raise ModelFileError(f"{header_path}: unsupported activation {header['activation']!r}")
    if list(header["inputs"]) != list(INPUT_SPEC):
        raise ModelFileError(
            f"{header_path}: model inputs {header['inputs']} differ from this version's "
            f"{list(INPUT_SPEC)}; retrain with `ikml-gym train ik`"
        )


def _cluster_nets(
    tensors: dict[str, np.ndarray], header: dict[str, Any], header_path: Path
) -> list[ClusterNet]:
    nets = []
    try:
        for c in range(int(header["n_clusters"])):
            n_layers = int(header["n_layers"])
            nets.append(
                ClusterNet(
                    weights=[tensors[f"c{c}.w{i}"] for i in range(n_layers)],
                    biases=[tensors[f"c{c}.b{i}"] for i in range(n_layers)],
                    **{k: tensors[f"c{c}.{k}"] for k in _SCALERS},
                )
            )
    except KeyError as exc:
        raise ModelFileError(f"{header_path}: weights lack tensor {exc}") from exc
    return nets


def _check_shapes(nets: list[ClusterNet], dof: int, header_path: Path) -> None:
    for c, net in enumerate(nets):
        dims = [len(INPUT_SPEC)] + [w.shape[1] for w in net.weights]
        ok = all(w.shape[0] == d for w, d in zip(net.weights, dims)) and dims[-1] == 2 * dof
        if not ok:
            raise ModelFileError(f"{header_path}: cluster {c} layer shapes do not chain")
