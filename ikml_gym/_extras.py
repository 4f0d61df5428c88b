"""Optional dependencies: imported only by the functions that need them, and a missing one
raises :class:`~ikml_gym.errors.DependencyNotInstalled` naming the extra to install.

Extras: ``train`` (torch, scikit-learn, tqdm), ``sb3`` (stable-baselines3), ``plots``
(matplotlib; see :func:`ikml_gym.plots.pyplot`), ``ompl`` (the OMPL planner plug-in,
:mod:`ikml_gym.planning.ompl_plugin`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from .errors import DependencyNotInstalled

#: distribution names of modules whose import name differs
_DISTRIBUTIONS = {"sklearn": "scikit-learn", "stable_baselines3": "stable-baselines3"}


def install_command(extra: str) -> str:
    """``pip install "ikml_gym[<extra>]"``."""
    return f'pip install "ikml_gym[{extra}]"'


def require(extra: str, *modules: str) -> None:
    """Import each of ``modules`` (e.g. ``"sklearn"``, ``"tqdm"``, ``"torch"``) or raise.

    Raises:
        DependencyNotInstalled: one is missing; the message names it and the
            :func:`install_command` of ``extra``.
    """
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise DependencyNotInstalled(
                f"this needs {_DISTRIBUTIONS.get(name, name)} (the {extra!r} extra): "
                f"{install_command(extra)}"
            ) from exc


def require_training(*modules: str) -> None:
    """:func:`require` for the ``train`` extra (torch, scikit-learn, tqdm)."""
    require("train", *modules)


def lazy_attributes(owner: str, module: str, names: tuple[str, ...]) -> Callable[[str], Any]:
    """A ``__getattr__`` for module ``owner`` that serves ``names`` from ``module`` (an
    absolute module name), imported on first use.

    So a model module can offer its training functions without importing the training
    dependencies (or the training module, which imports it) when it is itself imported.
    """

    def __getattr__(name: str) -> Any:
        if name in names:
            return getattr(importlib.import_module(module), name)
        raise AttributeError(f"module {owner!r} has no attribute {name!r}")

    return __getattr__
