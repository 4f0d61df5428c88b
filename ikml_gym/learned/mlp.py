"""The numpy float32 inference path shared by the learned IK and the classifier.

One class, :class:`StackedMLP`: ``K`` networks of one shape evaluated
together (the heads of a learned IK; ``K = 1`` for the classifier), ReLU by
default or SiLU (:data:`ACTIVATIONS`). What makes
it fast on a CPU, each measured by ``benchmarks/inference.py``:

* **No subnormal weights.** Weight decay pushes weights towards zero, and a
  float32 entry below ``np.finfo(np.float32).tiny`` (1.2e-38) makes every
  product touching it take a slow microcode path on many x86 CPUs. Such
  entries are flushed to exactly zero here, when a model is saved and when it
  is loaded (:func:`flush_subnormals`); their products were below 1e-37 anyway.
* **Dead units removed.** Weights below :data:`NEGLIGIBLE_WEIGHT` (1e-30) count
  as zero. A hidden unit whose incoming weights are all zero outputs the
  constant ``act(bias)``: it is folded into the next layer's
  bias and dropped; a unit whose outgoing weights are all zero is dropped too.
  The shipped reachability classifiers, trained with weight decay, keep well
  under the 256 units of their second and third hidden layers this way, and none
  of their labels changes (see ``benchmarks/results/design_choices.md`` for both
  measurements).
* **One product per layer for all heads.** Every layer is one stacked float32
  ``matmul`` of shape ``(K, N, width)`` (heads that share their input
  standardisation share one first-layer GEMM ``(d_in, K * width)``). The input
  standardisation and the output scaling are applied in float64 around the
  products, as a loop over the networks would; only the float32 rounding of the
  products differs (other BLAS call shapes), which moves a learned IK answer by
  less than 1e-6 rad.
* **BLAS threads by batch size.** OpenBLAS keeps products below about 2.6e5
  multiply-adds on one thread by itself, so a batch of a few poses needs no
  thread control at all. Mid-size batches run with one BLAS thread (several
  threads on small products are slower, and much slower on a busy machine);
  batches of :data:`ALL_THREADS_ROWS` rows or more use every thread.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from functools import lru_cache
from typing import Any

import numpy as np
from scipy.special import expit

from ..io import flush_subnormals

#: hidden-layer activations: ``relu`` max(x, 0); ``silu`` x * sigmoid(x) (smooth)
ACTIVATIONS = ("relu", "silu")

#: batches of at least this many rows use every BLAS thread
ALL_THREADS_ROWS = 20_000
#: weights below this magnitude are treated as zero by inference: at most 1e-30 times an
#: activation, they cannot move a float32 sum of order 1e-7 or more (subnormals are far below)
NEGLIGIBLE_WEIGHT = 1e-30
#: OpenBLAS runs a GEMM single-threaded when M * N * K is at most this (its default)
BLAS_SINGLE_THREAD_MACS = 65_536 * 4


@lru_cache(maxsize=1)
def _thread_controller() -> Any:
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def blas_threads_for(rows: int, macs_per_row: int) -> AbstractContextManager[Any]:
    """Context for a forward pass of ``rows`` rows (see the module docstring).

    Args:
        rows: batch size.
        macs_per_row: the largest single layer's multiply-adds per row.
    """
    if rows >= ALL_THREADS_ROWS or rows * macs_per_row <= BLAS_SINGLE_THREAD_MACS:
        return nullcontext()
    return _thread_controller().limit(limits=1, user_api="blas")


def _activate(x: np.ndarray, activation: str) -> np.ndarray:
    """The hidden activation, elementwise; float64 (biases) or float32 (in place)."""
    if activation == "relu":
        return np.maximum(x, 0.0, out=x if x.dtype == np.float32 else None)
    if x.dtype == np.float32:
        x *= expit(x)
        return x
    return x * expit(x)


class StackedMLP:
    """``K`` MLPs of equal depth sharing one input, as float32 arrays.

    ``y_k = out_scale_k * f_k((x - in_shift_k) / in_scale_k) + out_shift_k`` for
    every head ``k``, where ``f_k`` is the plain network ``W, b -> act -> ... ->
    W, b`` (no activation after the last layer; ``act`` is ReLU or SiLU).

    Args:
        weights: per layer ``(K, d_in, d_out)`` arrays (or ``(d_in, d_out)`` for K = 1).
        biases: per layer ``(K, d_out)`` (or ``(d_out,)``).
        in_shift, in_scale: ``(K, d_0)`` (or ``(d_0,)``) input standardisation; default none.
        out_scale, out_shift: ``(K, d_L)`` (or ``(d_L,)``) output scaling; default none.
        activation: ``"relu"`` (default) or ``"silu"`` (:data:`ACTIVATIONS`).

    Raises:
        ValueError: shapes that do not chain, non-finite values, or an unknown activation.
    """

    def __init__(
        self,
        weights: Sequence[np.ndarray],
        biases: Sequence[np.ndarray],
        in_shift: np.ndarray | None = None,
        in_scale: np.ndarray | None = None,
        out_scale: np.ndarray | None = None,
        out_shift: np.ndarray | None = None,
        activation: str = "relu",
    ) -> None:
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")
        self.activation = activation
        w = [_as_heads(x, 3) for x in weights]
        b = [_as_heads(x, 2) for x in biases]
        _check_chain(w, b)
        k, d_in, d_out = w[0].shape[0], w[0].shape[1], w[-1].shape[2]
        shift = np.zeros((k, d_in)) if in_shift is None else _as_heads(in_shift, 2)
        scale = np.ones((k, d_in)) if in_scale is None else _as_heads(in_scale, 2)
        o_scale = np.ones((k, d_out)) if out_scale is None else _as_heads(out_scale, 2)
        o_shift = np.zeros((k, d_out)) if out_shift is None else _as_heads(out_shift, 2)
        w = [np.where(np.abs(x) < NEGLIGIBLE_WEIGHT, 0.0, x) for x in w]
        w, b = _drop_dead_units(w, [flush_subnormals(x) for x in b], activation)
        self.n_heads, self.in_dim, self.out_dim = k, d_in, d_out
        #: hidden widths after dead units were dropped (padded to the widest head)
        self.widths = tuple(int(x.shape[2]) for x in w[:-1])
        # The standardisation stays float64 and outside the float32 products, as in a
        # per-network loop: folded into float32 weights it cancels badly for inputs far
        # from their mean, and even a float64 fold moves the IK answers by 1e-5 rad.
        self._shared_input = bool(np.all(shift == shift[0]) and np.all(scale == scale[0]))
        if self._shared_input:  # one GEMM for every head's first layer: (d_in, K * width)
            self._shift, self._scale = shift[0], scale[0]
            self._w0 = np.ascontiguousarray(w[0].transpose(1, 0, 2).reshape(d_in, -1), np.float32)
            self._b0 = np.ascontiguousarray(b[0].reshape(-1), np.float32)
        else:  # one stacked matmul over per-head standardised inputs (K, N, d_in)
            self._shift, self._scale = shift[:, None, :], scale[:, None, :]
            self._w0 = np.ascontiguousarray(w[0], np.float32)
            self._b0 = np.ascontiguousarray(b[0][:, None, :], np.float32)
        self._rest = [
            (np.ascontiguousarray(wi, np.float32), np.ascontiguousarray(bi[:, None, :], np.float32))
            for wi, bi in zip(w[1:], b[1:])
        ]
        self._out_identity = bool(np.all(o_scale == 1.0) and np.all(o_shift == 0.0))
        self._out_scale, self._out_shift = o_scale[:, None, :], o_shift[:, None, :]
        self.macs_per_row = max(int(np.prod(x.shape)) for x in w)

    def forward(self, x: np.ndarray) -> np.ndarray:
        """(N, d_in) float inputs -> (K, N, d_out) outputs: float32 without output scaling,
        float64 with it (applied in float64 after the float32 products)."""
        n, k = len(x), self.n_heads
        with blas_threads_for(n, self.macs_per_row):
            h = np.matmul(((x - self._shift) / self._scale).astype(np.float32), self._w0)
            h += self._b0
            if self._shared_input:
                # (N, K * w) -> (K, N, w): a strided view, which matmul hands to BLAS as is
                h = h[None] if k == 1 else h.reshape(n, k, -1).transpose(1, 0, 2)
            for w, b in self._rest:
                h = _activate(h, self.activation)
                h = np.matmul(h, w)
                h += b
        if self._out_identity:
            return h
        return h * self._out_scale + self._out_shift

    def __repr__(self) -> str:
        return (
            f"StackedMLP(heads={self.n_heads}, in={self.in_dim}, widths={self.widths}, "
            f"out={self.out_dim}, activation={self.activation!r})"
        )


def _as_heads(a: np.ndarray, ndim: int) -> np.ndarray:
    """Float64 copy with a leading head axis (added when ``a`` has ``ndim - 1`` axes)."""
    a = np.array(a, dtype=np.float64)
    if a.ndim == ndim - 1:
        a = a[None]
    if a.ndim != ndim:
        raise ValueError(f"expected a {ndim - 1}- or {ndim}-axis array, got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError("network parameters must be finite")
    return a


def _check_chain(w: list[np.ndarray], b: list[np.ndarray]) -> None:
    if not w or len(w) != len(b):
        raise ValueError(f"need as many weight as bias arrays (>= 1), got {len(w)} and {len(b)}")
    k = w[0].shape[0]
    for i, (wi, bi) in enumerate(zip(w, b)):
        ok = wi.shape[0] == k and bi.shape == (k, wi.shape[2])
        ok = ok and (i == 0 or wi.shape[1] == w[i - 1].shape[2])
        if not ok:
            raise ValueError(f"layer {i}: weight {wi.shape} and bias {bi.shape} do not chain")


def _drop_dead_units(
    w: list[np.ndarray], b: list[np.ndarray], activation: str = "relu"
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Remove hidden units that cannot change the output (exact; see the module docstring).

    Forward pass: a unit with all-zero incoming weights is the constant act(bias),
    added to the next layer's bias. Backward pass: a unit with all-zero outgoing
    weights contributes nothing. Heads keep equal widths: each layer is cut to the
    widest head's live units, the others padded with zero units (which stay zero).
    """
    live = [np.ones(wi.shape[:1] + wi.shape[2:], dtype=bool) for wi in w[:-1]]  # (K, width)
    for i in range(len(w) - 1):
        const = ~np.any(w[i] != 0, axis=1) & live[i]  # (K, width): constant units
        value = np.where(const, _activate(b[i], activation), 0.0)
        b[i + 1] = b[i + 1] + np.einsum("kj,kjo->ko", value, w[i + 1])
        live[i] &= ~const
        w[i + 1] = w[i + 1] * live[i][:, :, None]  # their outgoing rows now count for nothing
    for i in range(len(w) - 1, 0, -1):
        live[i - 1] &= np.any(w[i] != 0, axis=2)
        w[i - 1] = w[i - 1] * live[i - 1][:, None, :]
    for i, keep in enumerate(live):
        width = max(1, int(keep.sum(axis=1).max()))
        # per head: live units first (stable), then zero padding up to the common width
        order = np.argsort(~keep, axis=1, kind="stable")[:, :width]
        pad = np.take_along_axis(keep, order, axis=1)
        w[i] = np.take_along_axis(w[i], order[:, None, :], axis=2) * pad[:, None, :]
        b[i] = np.take_along_axis(b[i], order, axis=1) * pad
        w[i + 1] = np.take_along_axis(w[i + 1], order[:, :, None], axis=1) * pad[:, :, None]
    return w, b
