"""Process resource probes for soak tests: resident memory, open file descriptors, PyBullet clients.

Used by ``tests/test_reliability.py``, ``tests/test_rllib_env.py`` and
``benchmarks/soak.py`` to check that long runs and make/close cycles of the
environments leak neither memory, file descriptors nor PyBullet clients::

    from leak_probes import snapshot
    before = snapshot()            # {"rss_mb": ..., "fds": ..., "clients": ..., "threads": ...}

This is test harness, not part of the installed package: it lives with the tests
because the tests are its main user and pytest already puts ``tests/`` on
``sys.path``; the soak benchmark adds ``tests/`` to ``sys.path`` to import it.

On Linux everything is read from ``/proc/self``. Elsewhere :func:`rss_mb` falls back
to the peak resident size of ``resource.getrusage`` and :func:`open_fds` to
``/dev/fd`` (``None`` where neither exists).
"""

from __future__ import annotations

import gc
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: pybullet 3.x keeps at most this many clients per process (``MAX_PHYSICS_CLIENTS``);
#: client ids are slots below it, reused after a disconnect
MAX_PYBULLET_CLIENTS = 1024


def _status_field(name: str) -> int | None:
    """An integer field of ``/proc/self/status`` (first number of the line), or None."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(name + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def rss_mb() -> float:
    """Current resident set size of this process, MB (2**20 bytes).

    Linux: ``VmRSS``. Elsewhere the *peak* resident size (``ru_maxrss``), which can only
    grow: good enough to bound growth, not to see memory given back.
    """
    kb = _status_field("VmRSS")
    if kb is not None:
        return kb / 1024.0
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024.0  # bytes on macOS


def open_fds() -> int | None:
    """Number of open file descriptors of this process (None where it cannot be listed).

    The descriptor that lists the directory is not counted.
    """
    for fd_dir in ("/proc/self/fd", "/dev/fd"):
        if Path(fd_dir).is_dir():
            try:
                return len(os.listdir(fd_dir)) - 1
            except OSError:
                continue
    return None


def live_pybullet_clients() -> list[int]:
    """Ids of the PyBullet clients connected in this process (every slot is asked).

    PyBullet has no call that lists clients; ``getConnectionInfo`` answers for any
    id. Returns ``[]`` without importing PyBullet when nothing has imported it.
    """
    if "pybullet" not in sys.modules:
        return []
    import pybullet

    return [
        i
        for i in range(MAX_PYBULLET_CLIENTS)
        if pybullet.getConnectionInfo(physicsClientId=i)["isConnected"]
    ]


def thread_count() -> int:
    """OS threads of this process (``Threads`` of /proc/self/status; else Python threads)."""
    n = _status_field("Threads")
    return n if n is not None else threading.active_count()


def trim_heap() -> bool:
    """Give the C heap's free memory back to the OS (glibc ``malloc_trim(0)``); False where
    there is no glibc. Makes RSS follow live memory: memory freed by an earlier env (a
    closed PyBullet client is ~30 MB) otherwise stays resident until the allocator trims it.
    """
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # musl or another libc
        return False
    return True


def snapshot(collect: bool = True) -> dict[str, Any]:
    """``rss_mb``, ``fds``, ``clients`` (number of live PyBullet clients) and ``threads``,
    after a full garbage collection and :func:`trim_heap` unless ``collect=False``."""
    if collect:
        gc.collect()
        trim_heap()
    return {
        "rss_mb": rss_mb(),
        "fds": open_fds(),
        "clients": len(live_pybullet_clients()),
        "threads": thread_count(),
    }


def soak_env(
    make_env: Callable[[], Any],
    steps: int,
    warmup: int = 2000,
    seed: int = 0,
    sample_every: int = 5000,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Run ``steps`` random-action steps of a fresh env (resetting when an episode ends) and
    measure resources after ``warmup`` steps and at the end.

    Args:
        make_env: builds the env (e.g. ``lambda: gymnasium.make(env_id)``).
        steps: steps in all, warm-up included (must exceed ``warmup``).
        warmup: steps before the start measurement (caches, allocator pools fill up).
        seed: seeds the first reset and the action space.
        sample_every: also record the RSS every this many steps (``rss_series``).
        progress: called with the step count at every sample.

    Returns:
        ``steps``, ``episodes`` (ended by termination or truncation), ``wall_s``,
        ``baseline`` (:func:`snapshot` before the env was made), ``start`` (after the
        warm-up), ``end`` (after the last step), ``closed`` (after ``close()``),
        ``rss_growth_mb`` (end - start), ``rss_peak_growth_mb`` (largest sample - start),
        ``rss_series`` ([step, MB] pairs).
    """
    if not 0 < warmup < steps:
        raise ValueError(f"need 0 < warmup < steps, got warmup={warmup}, steps={steps}")
    baseline = snapshot()
    env = make_env()
    try:
        env.action_space.seed(seed)
        env.reset(seed=seed)
        episodes = 0
        series: list[list[float]] = []
        start: dict[str, Any] = {}
        t0 = time.perf_counter()
        for i in range(1, steps + 1):
            _, _, terminated, truncated, _ = env.step(env.action_space.sample())
            if terminated or truncated:
                env.reset()
                episodes += 1
            if i == warmup:
                start = snapshot()
                series.append([i, start["rss_mb"]])
            elif i % sample_every == 0 or i == steps:
                series.append([i, rss_mb()])
                if progress is not None:
                    progress(i)
        end = snapshot()
        wall = time.perf_counter() - t0
    finally:
        env.close()
    closed = snapshot()
    return {
        "steps": steps,
        "warmup": warmup,
        "episodes": episodes,
        "wall_s": wall,
        "baseline": baseline,
        "start": start,
        "end": end,
        "closed": closed,
        "rss_growth_mb": end["rss_mb"] - start["rss_mb"],
        "rss_peak_growth_mb": max(mb for _, mb in series) - start["rss_mb"],
        "rss_series": series,
    }


def cycle_envs(
    make_env: Callable[[int], Any], n: int, close: bool = True, warmup: int = 10
) -> dict[str, Any]:
    """Make ``n`` envs one after another (``make_env(i)``), reset and step each once, then
    ``close()`` it (``close=True``) or just drop it; measure before and after.

    ``warmup`` cycles run first (closed), so one-off caches are not counted as growth.
    The ``end`` :func:`snapshot` follows a full garbage collection, so envs dropped without
    ``close()`` must have released their PyBullet clients through their finalizers.

    Returns:
        ``cycles``, ``wall_s``, ``start`` and ``end`` snapshots, ``rss_growth_mb``,
        ``peak_clients`` (most live clients seen right after an env was made or dropped).
    """
    for i in range(warmup):
        env = make_env(i)
        env.reset(seed=i)
        env.close()
    start = snapshot()
    peak = start["clients"]
    t0 = time.perf_counter()
    for i in range(n):
        env = make_env(i)
        env.reset(seed=i)
        env.step(env.action_space.sample())
        peak = max(peak, len(live_pybullet_clients()))
        if close:
            env.close()
        del env
    wall = time.perf_counter() - t0
    end = snapshot()
    return {
        "cycles": n,
        "close_called": close,
        "wall_s": wall,
        "start": start,
        "end": end,
        "rss_growth_mb": end["rss_mb"] - start["rss_mb"],
        "peak_clients": peak,
    }


def leak_free(result: dict[str, Any], max_rss_growth_mb: float = 50.0) -> bool:
    """Whether a :func:`soak_env` or :func:`cycle_envs` result shows no leak: RSS growth at
    most ``max_rss_growth_mb``, no more open fds or PyBullet clients at the end than at the
    start and, for a soak, none left once the env was closed."""
    start, end = result["start"], result["end"]
    ok = result["rss_growth_mb"] <= max_rss_growth_mb and end["clients"] <= start["clients"]
    if start["fds"] is not None and end["fds"] is not None:
        ok = ok and end["fds"] <= start["fds"]
    if "closed" in result:
        base, closed = result["baseline"], result["closed"]
        ok = ok and closed["clients"] <= base["clients"]
        if base["fds"] is not None and closed["fds"] is not None:
            ok = ok and closed["fds"] <= base["fds"]
    return bool(ok)
