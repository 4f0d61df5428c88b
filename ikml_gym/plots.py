"""The one plotting entry point: matplotlib, off-screen, or a clear error naming the extra."""

from __future__ import annotations

from typing import Any

from .errors import DependencyNotInstalled


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the off-screen Agg backend (PNG files, no display needed).

    Raises:
        DependencyNotInstalled: matplotlib is missing (``pip install "ikml_gym[plots]"``).
    """
    try:
        import matplotlib
    except ImportError as exc:
        raise DependencyNotInstalled(
            'plots need matplotlib: pip install "ikml_gym[plots]"'
        ) from exc
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
