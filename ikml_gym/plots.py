"""The one plotting entry point: matplotlib, off-screen, or a clear error naming the extra."""

from __future__ import annotations

from typing import Any

from ._extras import require


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the off-screen Agg backend (PNG files, no display needed).

    Raises:
        DependencyNotInstalled: matplotlib is missing (``pip install "ikml_gym[plots]"``).
    """
    require("plots", "matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
