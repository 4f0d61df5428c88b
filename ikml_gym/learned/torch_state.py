"""Training checkpoints without pickle: nested torch state as one safetensors file.

A state is a nest of dicts, lists and tuples whose leaves are tensors, numbers, strings,
booleans or None (what ``module.state_dict()``, ``optimizer.state_dict()``,
``scheduler.state_dict()`` and ``generator.get_state()`` return). :func:`save_torch_state`
stores every tensor as a safetensors tensor, exactly as it is (no rounding, subnormals
kept, so a resumed run continues bit for bit), and the structure with the other leaves
as JSON in the file's metadata (dict keys keep their type: an optimiser's state is keyed
by int). :func:`load_torch_state` reads it back; loading runs no code from the file.

Needs the ``[train]`` extra (torch), imported when a function runs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .._extras import require_training
from ..errors import ModelFileError
from ..io import atomic_path

_META_KEY = "ikml_gym_state"


def save_torch_state(path: str | Path, state: dict[str, Any]) -> Path:
    """Write ``state`` to ``path`` atomically (see the module docstring) -> the path.

    Raises:
        TypeError: a leaf that is not a tensor, number, string, boolean or None.
    """
    require_training("torch")
    from safetensors.torch import save_file

    tensors: dict[str, Any] = {}
    tree = _encode(state, "s", tensors)
    path = Path(path)
    with atomic_path(path, suffix=".safetensors") as tmp:
        save_file(tensors, str(tmp), metadata={_META_KEY: json.dumps(tree)})
    return path


def load_torch_state(path: str | Path) -> dict[str, Any]:
    """Read a state written by :func:`save_torch_state` (tensors on the CPU).

    Raises:
        ModelFileError: not such a file (unreadable, or written by something else).
    """
    require_training("torch")
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = fh.metadata() or {}
            tensors = {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118 (not a dict)
        tree = json.loads(meta[_META_KEY])
        return _decode(tree, tensors)
    except Exception as exc:  # safetensors raises its own error types
        raise ModelFileError(f"{path}: not a training checkpoint of this package ({exc})") from exc


def _encode(obj: Any, name: str, tensors: dict[str, Any]) -> Any:
    import torch

    if isinstance(obj, torch.Tensor):
        key = f"t{len(tensors)}"  # unique whatever the dict keys are
        tensors[key] = obj.detach().cpu().contiguous().clone()
        return {"tensor": key}
    if isinstance(obj, dict):
        return {"dict": [[k, _encode(v, f"{name}.{k}", tensors)] for k, v in obj.items()]}
    if isinstance(obj, (list, tuple)):
        kind = "list" if isinstance(obj, list) else "tuple"
        return {kind: [_encode(v, f"{name}.{i}", tensors) for i, v in enumerate(obj)]}
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return {"value": obj}
    raise TypeError(f"cannot store a {type(obj).__name__} in a checkpoint ({name})")


def _decode(tree: dict[str, Any], tensors: dict[str, Any]) -> Any:
    ((kind, body),) = tree.items()
    if kind == "tensor":
        return tensors[body]
    if kind == "dict":
        return {k: _decode(v, tensors) for k, v in body}
    if kind == "list":
        return [_decode(v, tensors) for v in body]
    if kind == "tuple":
        return tuple(_decode(v, tensors) for v in body)
    if kind == "value":
        return body
    raise ValueError(f"unknown entry {kind!r}")
