"""The one markdown-table writer of the package, its CLI, benchmarks and examples."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def format_cell(value: Any, digits: int = 4) -> str:
    """A table cell: floats with ``digits`` significant digits, anything else as ``str``."""
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def markdown_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[Any]],
    align: Sequence[str] | None = None,
    digits: int = 4,
) -> str:
    """A GitHub-markdown table, columns padded to their widest cell.

    Args:
        headers: column titles.
        rows: one sequence of cells per row (pre-formatted strings are kept as they are).
        align: per column ``"l"`` or ``"r"`` (default: all left); right-aligned columns get
            a ``---:`` separator, the way numbers are set in the README.
        digits: significant digits of float cells.
    """
    cells = [[format_cell(v, digits) for v in row] for row in rows]
    for row in cells:
        if len(row) != len(headers):
            raise ValueError(f"a row has {len(row)} cells for {len(headers)} headers: {row}")
    align = list(align) if align is not None else ["l"] * len(headers)
    widths = [
        max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)
    ]

    def line(vals: Sequence[str]) -> str:
        padded = [v.rjust(w) if a == "r" else v.ljust(w) for v, w, a in zip(vals, widths, align)]
        return "| " + " | ".join(padded) + " |"

    sep = (
        "|"
        + "|".join(
            ("-" * (w + 1) + ":") if a == "r" else "-" * (w + 2) for w, a in zip(widths, align)
        )
        + "|"
    )
    return "\n".join([line(headers), sep, *(line(r) for r in cells)])
