"""BLAS threading for the small matrix products of per-step inference.

OpenBLAS with more than one thread is slow on small products and pathological
when the cores are busy: the classifier's forward pass for 64 poses took 46 ms
with 2 threads on the loaded 2-core machine here, 1.4 ms with one. Inference on
fewer than ``SMALL_BATCH`` rows therefore runs single-threaded; large batches
keep every thread (measured equal throughput at 100,000 rows).
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from functools import lru_cache
from typing import Any

SMALL_BATCH = 20_000


@lru_cache(maxsize=1)
def _controller() -> Any:
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def blas_threads_for(rows: int) -> AbstractContextManager[Any]:
    """Context: one BLAS thread for fewer than ``SMALL_BATCH`` rows, else unchanged."""
    if rows >= SMALL_BATCH:
        return nullcontext()
    return _controller().limit(limits=1, user_api="blas")
