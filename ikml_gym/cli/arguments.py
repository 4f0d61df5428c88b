"""Subcommand argument types of ``ikml-gym`` (see :mod:`ikml_gym.cli`).

The argparse types here check arguments when the command line is parsed, so a
bad value stops the command with a one-line usage error (exit 2) before any
data is generated or any model trained.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import OutputPathError
from ..io import check_writable, model_paths


def output_file(value: str) -> Path:
    """An output file (``--out``, ``--json``) that can be written."""
    try:
        return check_writable(value)
    except OutputPathError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def output_folder(value: str) -> Path:
    """An output folder (``--plots``, demo ``--out``) that can be created and written into."""
    try:
        return check_writable(value, folder=True)
    except OutputPathError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def output_model(value: str) -> Path:
    """A model stem whose ``.safetensors`` and ``.json`` files can be written."""
    for path in model_paths(value):
        output_file(str(path))
    return Path(value)


def _int_at_least(value: str, low: int) -> int:
    try:
        n = int(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected an integer, got {value!r}") from exc
    if n < low:
        raise argparse.ArgumentTypeError(f"must be >= {low}, got {n}")
    return n


def positive_int(value: str) -> int:
    """An integer >= 1."""
    return _int_at_least(value, 1)


def non_negative_int(value: str) -> int:
    """An integer >= 0."""
    return _int_at_least(value, 0)


def int_list(value: str) -> tuple[int, ...]:
    """Comma-separated positive integers, e.g. ``256,256,256``."""
    try:
        sizes = tuple(int(v) for v in value.split(","))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers such as 256,256,256, got {value!r}"
        ) from exc
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"sizes must be >= 1, got {value!r}")
    return sizes


def add_classifier_data_options(p: argparse.ArgumentParser) -> None:
    """The options of a generated classifier dataset beyond its size and seed (shared by
    ``ikml-gym data classifier`` and ``ikml-gym train|eval classifier``)."""
    p.add_argument(
        "--n-boundary", type=non_negative_int, default=None,
        help="poses about the workspace edge (default 3/5 of the reachable poses, 240000; "
        "0: the reference study's set)",
    )  # fmt: skip
    p.add_argument(
        "--oracle-starts", type=positive_int, default=4,
        help="DLS starts per pose of the oracle for arms without a closed form (default 4)",
    )  # fmt: skip
