"""Files: atomic writes, datasets (.npz + JSON header), models (safetensors + JSON header).

Float tensors of models are flushed of subnormal entries when written and again
when read (:func:`flush_subnormals`).

Nothing here unpickles: datasets load with ``allow_pickle=False`` and model
weights are safetensors, so opening a file never executes code from it.

A model is two files side by side: ``NAME.safetensors`` (the arrays) and
``NAME.json`` (the header: format version, kind, arm name, URDF hash, package
version, the arrays' shapes, the SHA-256 of the weights file, and whatever the
model needs such as scalers and thresholds). Loading checks every one of these
and raises :class:`~ikml_gym.errors.ModelFileError` (or
:class:`~ikml_gym.errors.ArmMismatchError`) naming the file and the problem.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ArmMismatchError, ModelFileError, OutputPathError

MODEL_FORMAT_VERSION = 1
DATASET_FORMAT_VERSION = 1


@contextmanager
def atomic_path(final: str | Path, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path next to ``final``; on success rename it onto ``final``.

    A crash or signal midway leaves the previous ``final`` intact and removes
    (or, for SIGKILL, leaves only) a hidden ``.tmp`` file, never a partial file
    under the final name.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=suffix + ".tmp", dir=final.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp_path, 0o644)  # mkstemp creates 0600; results are meant to be shared
        os.replace(tmp_path, final)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def check_writable(path: str | Path, folder: bool = False, what: str = "output") -> Path:
    """Fail fast, before any long work, if ``path`` could not be written later.

    ``path`` is a file to be written (``folder=False``) or a folder to write into.
    The nearest existing ancestor must be a folder in which a file can be
    created (probed with a temporary file, removed at once); nothing is left
    behind. Raises :class:`~ikml_gym.errors.OutputPathError` naming the path and
    the reason; returns ``path`` as a ``Path``.
    """
    path = Path(path)
    if path.exists() and path.is_dir() != folder:
        kind = "a folder" if path.is_dir() else "a file"
        raise OutputPathError(f"cannot write {what} {path}: it is {kind}")
    ancestor = path if folder else path.parent
    ancestor = ancestor if str(ancestor) else Path(".")
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise OutputPathError(f"cannot write {what} {path}: {ancestor} is a file, not a folder")
    try:
        fd, probe = tempfile.mkstemp(prefix=".ikml_gym_probe.", dir=ancestor)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise OutputPathError(
            f"cannot write {what} {path}: folder {ancestor} is not writable ({exc.strerror or exc})"
        ) from exc
    return path


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (UTF-8)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def atomic_write_json(path: str | Path, obj: Any) -> None:
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def flush_subnormals(array: np.ndarray) -> np.ndarray:
    """A copy of a float array with its subnormal entries set to exactly zero.

    The floor is ``np.finfo(np.float32).tiny`` for float32 and float64 alike, so a
    float64 array stays free of float32 subnormals when it is cast for inference.
    Non-float arrays are returned unchanged.
    """
    a = np.asarray(array)
    if a.dtype.kind != "f":
        return a
    out = a.copy()
    out[np.abs(out) < np.finfo(np.float32).tiny] = 0.0
    return out


def count_subnormals(array: np.ndarray) -> int:
    """Entries of a float array that are non-zero but below float32's smallest normal."""
    a = np.asarray(array)
    if a.dtype.kind != "f":
        return 0
    return int(np.count_nonzero((np.abs(a) < np.finfo(np.float32).tiny) & (a != 0)))


# ------------------------------------------------------------------------- datasets
def save_dataset(path: str | Path, arrays: dict[str, np.ndarray], header: dict[str, Any]) -> None:
    """Save arrays and a JSON header to a ``.npz`` file atomically."""
    header = {"format_version": DATASET_FORMAT_VERSION, **header}
    payload = {k: np.asarray(v) for k, v in arrays.items()}
    payload["header"] = np.frombuffer(json.dumps(header, sort_keys=True).encode(), dtype=np.uint8)
    with atomic_path(path, suffix=".npz") as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **payload)


def load_dataset(path: str | Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Load a dataset written by :func:`save_dataset` -> (arrays, header)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"dataset not found: {path} (make one with `ikml-gym data`)")
    with open(path, "rb") as fh:
        if fh.read(4) != b"PK\x03\x04":  # np.load would take any other bytes for a pickle
            raise ModelFileError(
                f"{path}: not a readable ikml_gym dataset (not an .npz archive: truncated, "
                "damaged or another kind of file)"
            )
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        header = json.loads(bytes(arrays.pop("header")).decode())
    except ValueError as exc:
        if "pickle" in str(exc):  # numpy's message suggests unsafe loading; never do that
            raise ModelFileError(
                f"{path}: not a readable ikml_gym dataset (it holds pickled Python objects, "
                "which ikml_gym never loads: they can run code)"
            ) from exc
        raise ModelFileError(f"{path}: not a readable ikml_gym dataset ({exc})") from exc
    except KeyError as exc:
        raise ModelFileError(
            f"{path}: has no ikml_gym header; make datasets with `ikml-gym data`"
        ) from exc
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise ModelFileError(f"{path}: not a readable ikml_gym dataset ({exc})") from exc
    if not isinstance(header, dict):
        raise ModelFileError(f"{path}: dataset header must be a JSON object")
    version = header.get("format_version", 0)
    if not isinstance(version, int) or version > DATASET_FORMAT_VERSION:
        raise ModelFileError(
            f"{path}: dataset format {version!r} is newer than this "
            f"ikml_gym reads ({DATASET_FORMAT_VERSION}); upgrade ikml_gym"
        )
    return arrays, header


# --------------------------------------------------------------------------- models
def model_paths(path: str | Path) -> tuple[Path, Path]:
    """(weights, header) paths of a model given either file or the common stem.

    A stem may contain dots (``runs/arm4_ik.v2`` -> ``runs/arm4_ik.v2.safetensors``).
    """
    path = Path(path)
    stem = path.with_suffix("") if path.suffix in (".safetensors", ".json") else path
    return stem.with_name(stem.name + ".safetensors"), stem.with_name(stem.name + ".json")


def save_model(
    path: str | Path, tensors: dict[str, np.ndarray], kind: str, arm: Any, extra: dict[str, Any]
) -> tuple[Path, Path]:
    """Save a model as safetensors + JSON header, both atomically.

    Args:
        path: stem or either file name; ``.safetensors`` and ``.json`` are written.
        tensors: name -> array (saved as float32/float64/int64 as given).
        kind: model kind, e.g. ``"learned_ik"`` or ``"feasibility_classifier"``.
        arm: the :class:`~ikml_gym.arms.Arm` the model is for.
        extra: model-specific JSON-serialisable header fields.
    """
    from safetensors.numpy import save_file

    from ._version import __version__

    weights, header_path = model_paths(path)
    # no subnormal floats in any model file: they make every product touching them slow
    arrays = {k: np.ascontiguousarray(flush_subnormals(v)) for k, v in tensors.items()}
    with atomic_path(weights, suffix=".safetensors") as tmp:
        save_file(arrays, str(tmp))
        digest = sha256_file(tmp)
    header = {
        "format_version": MODEL_FORMAT_VERSION,
        "kind": kind,
        "arm": arm.name,
        "urdf_hash": arm.urdf_hash,
        "package_version": __version__,
        "weights_sha256": digest,
        "tensors": {k: {"shape": list(v.shape), "dtype": str(v.dtype)} for k, v in arrays.items()},
        **extra,
    }
    atomic_write_json(header_path, header)
    return weights, header_path


def load_model(
    path: str | Path,
    kind: str,
    arm: Any | None = None,
    required: tuple[str, ...] = (),
    check: Callable[[dict[str, Any], dict[str, np.ndarray]], None] | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Load and verify a model written by :func:`save_model` -> (tensors, header).

    Checks, each with its own message: both files exist; the header is JSON with
    the required keys; the format version is not newer than this package reads;
    the kind matches; given ``arm``, that the arm name and URDF hash match
    (:class:`ArmMismatchError`); the weights' SHA-256 matches (truncation, bit
    flips); the tensors' names and shapes match the header.
    ``check(header, tensors)`` may add model-specific checks (raise ModelFileError).
    """
    header = read_model_header(path, kind, required)
    if arm is not None:
        check_model_arm(header, model_paths(path)[1], arm)
    return read_model_tensors(path, header, check), header


def read_model_header(
    path: str | Path, kind: str, required: tuple[str, ...] = ()
) -> dict[str, Any]:
    """The verified JSON header of a model (first half of :func:`load_model`).

    Raises:
        ModelFileError: a file of the pair is missing, the header is not a JSON object,
            lacks the base keys or ``required``, is of a newer format, or of another kind.
    """
    header, header_path = _header_json(path)
    _check_header_fields(header, header_path, kind, required)
    return header


def model_kind(path: str | Path) -> str:
    """The model kind a model file's header names (``"learned_ik"``, ...), to pick its loader.

    Raises:
        ModelFileError: a file of the pair is missing, or the header is not a JSON object
            with a string ``kind``.
    """
    header, header_path = _header_json(path)
    kind = header.get("kind")
    if not isinstance(kind, str):
        raise ModelFileError(f"{header_path}: header lacks the model's 'kind'")
    return kind


def _header_json(path: str | Path) -> tuple[dict[str, Any], Path]:
    """The parsed JSON header of a model file pair, and the header's path."""
    weights, header_path = model_paths(path)
    for f in (weights, header_path):
        if not f.is_file():
            raise ModelFileError(
                f"model file missing: {f} (a model is a NAME.safetensors + NAME.json pair; "
                "pass either file or NAME)"
            )
    try:
        header = json.loads(header_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{header_path}: header is not valid JSON ({exc})") from exc
    if not isinstance(header, dict):
        raise ModelFileError(f"{header_path}: header must be a JSON object")
    return header, header_path


def _check_header_fields(
    header: dict[str, Any], header_path: Path, kind: str, required: tuple[str, ...]
) -> None:
    base_keys = ("format_version", "kind", "arm", "urdf_hash", "weights_sha256", "tensors")
    missing = [k for k in base_keys + tuple(required) if k not in header]
    if missing:
        raise ModelFileError(f"{header_path}: header lacks key(s) {missing}")
    version = header["format_version"]
    if not isinstance(version, int) or version > MODEL_FORMAT_VERSION:
        raise ModelFileError(
            f"{header_path}: model format {version!r} is newer than this ikml_gym reads "
            f"({MODEL_FORMAT_VERSION}); upgrade ikml_gym or retrain with `ikml-gym train`"
        )
    if header["kind"] != kind:
        raise ModelFileError(f"{header_path}: holds a {header['kind']!r} model, expected {kind!r}")


def check_model_arm(header: dict[str, Any], header_path: Path, arm: Any) -> None:
    """Raise :class:`ArmMismatchError` unless the header names ``arm`` and its URDF hash."""
    if header["arm"] != arm.name or header["urdf_hash"] != arm.urdf_hash:
        raise ArmMismatchError(
            f"{header_path}: model is for arm {header['arm']!r} (URDF sha256 "
            f"{str(header['urdf_hash'])[:12]}...), not for arm {arm.name!r} (URDF sha256 "
            f"{arm.urdf_hash[:12]}...); retrain it for this arm with `ikml-gym train`"
        )


def read_model_tensors(
    path: str | Path,
    header: dict[str, Any],
    check: Callable[[dict[str, Any], dict[str, np.ndarray]], None] | None = None,
) -> dict[str, np.ndarray]:
    """The verified, subnormal-free tensors of a model whose header was read by
    :func:`read_model_header` (second half of :func:`load_model`).

    Raises:
        ModelFileError: the weights' SHA-256 differs from the header's, the file is not
            safetensors, the tensor names or shapes differ from the header, or ``check`` fails.
    """
    from safetensors.numpy import load_file

    weights, header_path = model_paths(path)
    digest = sha256_file(weights)
    if digest != header["weights_sha256"]:
        raise ModelFileError(
            f"{weights}: weights are damaged or were changed (SHA-256 {digest[:12]}... does not "
            f"match the header's {str(header['weights_sha256'])[:12]}...); restore or retrain them"
        )
    try:
        tensors = load_file(str(weights))
    except Exception as exc:  # safetensors raises its own error types
        raise ModelFileError(f"{weights}: not a readable safetensors file ({exc})") from exc
    _check_tensor_list(tensors, header["tensors"], weights, header_path)
    if check is not None:
        check(header, tensors)
    # a file written elsewhere may hold subnormal weights: flushed here, never used slow
    return {k: flush_subnormals(v) for k, v in tensors.items()}


def _check_tensor_list(
    tensors: dict[str, np.ndarray], spec: Any, weights: Path, header_path: Path
) -> None:
    if not isinstance(spec, dict) or set(spec) != set(tensors):
        raise ModelFileError(f"{header_path}: tensor list does not match {weights.name}")
    for name, arr in tensors.items():
        entry = spec[name]
        shape = entry.get("shape") if isinstance(entry, dict) else None
        if not isinstance(shape, list) or list(arr.shape) != shape:
            raise ModelFileError(
                f"{weights}: tensor {name!r} has shape {list(arr.shape)}, header says {shape}"
            )
