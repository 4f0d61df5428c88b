"""The training extra: torch, scikit-learn and tqdm are imported only by the functions that
train, and a missing one raises :class:`~ikml_gym.errors.DependencyNotInstalled` naming
``pip install "ikml_gym[train]"``."""

from __future__ import annotations

import importlib

from ..errors import DependencyNotInstalled

#: the command that installs what training needs
TRAIN_EXTRA = 'pip install "ikml_gym[train]"'


def require_training(*modules: str) -> None:
    """Import each of ``modules`` (e.g. ``"sklearn"``, ``"tqdm"``, ``"torch"``) or raise.

    Raises:
        DependencyNotInstalled: one is missing; the message names it and :data:`TRAIN_EXTRA`.
    """
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise DependencyNotInstalled(
                f"training needs {name} (torch, scikit-learn and tqdm): {TRAIN_EXTRA}"
            ) from exc
