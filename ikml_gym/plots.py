"""The one plotting entry point: matplotlib, off-screen, or a clear error naming the extra."""

from __future__ import annotations

from typing import Any

from ._extras import install_command, require

#: what to print where a picture was skipped because matplotlib is missing
MISSING_NOTE = f"skipped: matplotlib is not installed ({install_command('plots')})"


def available() -> bool:
    """Whether matplotlib can be imported (the ``plots`` extra is installed)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


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
