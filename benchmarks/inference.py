"""Inference speed of the shipped learned parts, as a user calls them, side by side in one run.

    python benchmarks/inference.py [--quick] [--rounds 3] [--json benchmarks/results/inference.json]

A plain Python process that imports only ``ikml_gym`` (no torch). Rows:

* **batched**: ``load_classifier(arm).predict`` on 100,000 poses, ``load_ik(arm).solve``
  (all heads, FK check of every head) and ``.propose`` (the heads alone) on 100,000
  poses, each beside a plain numpy float32 forward pass of the same layer shapes
  with random normal weights on the same number of rows (the machine's own limit
  for that network); ``ratio`` = ours / plain.
* **one pose**: median latency of ``predict`` / ``solve`` on one pose, beside the
  plain forward pass of the same shapes on one row and one
  warm-started ``PyBulletIK`` call on the same targets (seeded 0.05 rad from a
  solution, the situation of per-step IK in an env). Latency is given hot (calls
  back to back) and as an env step sees it (20 PyBullet physics steps between calls,
  which evict the weights from the CPU caches).

Rounds are interleaved (every row once per round) and the best round is kept, so a
busy machine slows all rows alike; compare the ratios. Prints a Markdown table and
writes JSON + the table (``.md``).
"""

from __future__ import annotations

import argparse
import itertools
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import ikml_gym
from ikml_gym.io import atomic_write_json, atomic_write_text
from ikml_gym.solvers import PyBulletIK
from ikml_gym.tables import markdown_table

HERE = Path(__file__).resolve().parent
BATCH = 100_000


def plain_forward(shapes: list[tuple[int, int]], heads: int, seed: int = 0) -> Callable:
    """A bare float32 ReLU MLP (random normal weights) of the given layer shapes, per head."""
    rng = np.random.default_rng(seed)
    nets = [
        [(rng.standard_normal(s).astype(np.float32), rng.standard_normal(s[1]).astype(np.float32))
         for s in shapes]
        for _ in range(heads)
    ]  # fmt: skip

    def run(x: np.ndarray) -> None:
        for layers in nets:
            h = x
            for i, (w, b) in enumerate(layers):
                h = h @ w + b
                if i < len(layers) - 1:
                    np.maximum(h, 0.0, out=h)

    return run


def throughput(fn: Callable[[], Any], rows: int) -> float:
    t = time.perf_counter()
    fn()
    return rows / (time.perf_counter() - t)


def latency_us(fn: Callable[[int], Any], n: int, between: Callable[[], Any] | None) -> float:
    """Median seconds of ``fn(i)`` over ``n`` calls, in microseconds."""
    times = np.empty(n)
    for i in range(n):
        if between is not None:
            between()
        t = time.perf_counter()
        fn(i)
        times[i] = time.perf_counter() - t
    return float(np.median(times) * 1e6)


def physics_steps() -> Callable[[], None]:
    """20 PyBullet steps of an arm in its own client: what an env step does between IK calls."""
    import pybullet

    client = pybullet.connect(pybullet.DIRECT)
    arm = ikml_gym.load_arm("arm6")
    pybullet.loadURDF(str(arm.urdf_path), useFixedBase=True, physicsClientId=client)

    def run() -> None:
        for _ in range(20):
            pybullet.stepSimulation(physicsClientId=client)

    return run


def ik_rows(
    name: str, rng: np.random.Generator, batch: int, n_one: int, between: Callable[[], Any]
) -> list[dict[str, Any]]:
    """The learned IK rows of one arm (its shipped ``MultiHypothesisIK``) beside the plain
    forward pass of the same shapes and a warm-started ``PyBulletIK`` call."""
    ik = ikml_gym.load_ik(name)
    arm = ik.arm
    q = arm.random_q(batch, rng)
    poses = arm.fk_features(q)
    dims = [ik.weights[0].shape[0]] + [int(w.shape[1]) for w in ik.weights]
    plain = plain_forward(list(itertools.pairwise(dims)), heads=1)
    x = np.random.default_rng(2).standard_normal((batch, dims[0])).astype(np.float32)
    pb = PyBulletIK(arm)
    starts = q[:n_one] + 0.05
    shape = f"{'-'.join(map(str, dims))} ({ik.n_heads} heads)"
    return [
        {"group": "batched", "what": f"{name} learned IK solve (FK check of every head)",
         "unit": "poses/s", "run": lambda: throughput(lambda: ik.solve(poses), len(poses))},
        {"group": "batched", "what": f"{name} learned IK propose (heads only)", "unit": "poses/s",
         "run": lambda: throughput(lambda: ik.propose(poses), len(poses))},
        {"group": "batched", "what": f"{name} plain float32 forward {shape}", "unit": "poses/s",
         "run": lambda: throughput(lambda: plain(x), len(x))},
        {"group": "one pose", "what": f"{name} learned IK solve", "unit": "us",
         "run": lambda: latency_us(lambda i: ik.solve(poses[i]), n_one, None)},
        {"group": "one pose", "what": f"{name} plain float32 forward {shape}", "unit": "us",
         "run": lambda: latency_us(lambda i: plain(x[i : i + 1]), n_one, None)},
        {"group": "one pose", "what": f"{name} learned IK solve, 20 physics steps between",
         "unit": "us", "run": lambda: latency_us(lambda i: ik.solve(poses[i]), n_one, between)},
        {"group": "one pose", "what": f"{name} PyBulletIK warm-started", "unit": "us",
         "run": lambda: latency_us(lambda i: pb.solve(poses[i], q0=starts[i]), n_one, None)},
    ]  # fmt: skip


def build_rows(quick: bool) -> list[dict[str, Any]]:
    """Every measured row as {name, kind, run, ...}; ``run()`` returns one measurement."""
    rng = np.random.default_rng(0)
    batch = 20_000 if quick else BATCH
    n_one = 300 if quick else 2000
    rows: list[dict[str, Any]] = []
    between = physics_steps()
    for name in ("arm4", "arm6"):
        clf = ikml_gym.load_classifier(name)
        arm = clf.arm
        poses = arm.fk_features(arm.random_q(batch, rng))
        dims = [len(clf.mean)] + [int(w.shape[1]) for w, _ in clf.layers]
        plain = plain_forward(list(itertools.pairwise(dims)), heads=1)
        x = np.random.default_rng(1).standard_normal((batch, dims[0])).astype(np.float32)
        one = poses[:n_one]
        rows += [
            {"group": "batched", "what": f"{name} classifier predict", "unit": "poses/s",
             "run": lambda c=clf, p=poses: throughput(lambda: c.predict(p), len(p))},
            {"group": "batched", "what": f"{name} plain float32 forward {'-'.join(map(str, dims))}",
             "unit": "poses/s", "run": lambda f=plain, x=x: throughput(lambda: f(x), len(x))},
            {"group": "one pose", "what": f"{name} classifier predict", "unit": "us",
             "run": lambda c=clf, p=one: latency_us(lambda i: c.predict(p[i]), len(p), None)},
            {"group": "one pose", "what": f"{name} plain float32 forward {'-'.join(map(str, dims))}",
             "unit": "us", "run": lambda f=plain, x=x: latency_us(lambda i: f(x[i : i + 1]), n_one, None)},
            {"group": "one pose", "what": f"{name} classifier predict, 20 physics steps between",
             "unit": "us",
             "run": lambda c=clf, p=one: latency_us(lambda i: c.predict(p[i]), len(p), between)},
        ]  # fmt: skip
    for name in ("arm4", "arm6"):
        rows += ik_rows(name, rng, batch, n_one, between)
    return rows


def measure(rows: list[dict[str, Any]], rounds: int) -> list[dict[str, Any]]:
    """Interleaved rounds; keep the best of each row (highest rate, lowest latency)."""
    samples: list[list[float]] = [[] for _ in rows]
    for r in range(rounds):
        for row, got in zip(rows, samples):
            got.append(row["run"]())
        print(f"round {r + 1}/{rounds} done", file=sys.stderr)
    out = []
    for row, got in zip(rows, samples):
        best = min(got) if row["unit"] == "us" else max(got)
        out.append({k: v for k, v in row.items() if k != "run"} | {"value": best, "rounds": got})
    return out


def ratios(results: list[dict[str, Any]]) -> dict[str, float]:
    """The target ratios: batched rate over the plain forward, PyBulletIK latency over ours."""
    batched = {r["what"]: r["value"] for r in results if r["group"] == "batched"}
    one = {r["what"]: r["value"] for r in results if r["group"] == "one pose"}

    def plain(name: str) -> float:  # the classifier's shapes (listed before the IK's)
        return next(v for k, v in batched.items() if k.startswith(f"{name} plain float32"))

    out = {}
    for name in ("arm4", "arm6"):
        out[f"batched: {name} classifier / plain forward"] = batched[
            f"{name} classifier predict"
        ] / plain(name)
    for name in ("arm4", "arm6"):
        heads = next(
            v for k, v in batched.items()
            if k.startswith(f"{name} plain float32 forward") and k.endswith("heads)")
        )  # fmt: skip
        out[f"batched: {name} learned IK solve / plain forward"] = (
            batched[f"{name} learned IK solve (FK check of every head)"] / heads
        )
        out[f"batched: {name} learned IK propose / plain forward"] = (
            batched[f"{name} learned IK propose (heads only)"] / heads
        )
        pb = one[f"{name} PyBulletIK warm-started"]
        out[f"one pose: PyBulletIK {name} / {name} learned IK solve"] = (
            pb / one[f"{name} learned IK solve"]
        )
        out[f"one pose: PyBulletIK {name} / {name} classifier predict"] = (
            pb / one[f"{name} classifier predict"]
        )
    return out


def table(results: list[dict[str, Any]], rat: dict[str, float]) -> str:
    """The Markdown tables of the measurements and of their ratios."""
    cells = [
        [r["group"], r["what"],
         f"{r['value']:,.0f}" if r["unit"] == "poses/s" else f"{r['value']:,.1f}", r["unit"]]
        for r in results
    ]  # fmt: skip
    values = markdown_table(["group", "what", "value", "unit"], cells, align="llrl")
    ratios = markdown_table(
        ["ratio", "value"], [[k, f"{v:.2f}"] for k, v in rat.items()], align="lr"
    )
    return f"{values}\n\n{ratios}\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="20,000-pose batches, 300 single poses")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", type=Path, default=HERE / "results" / "inference.json")
    args = ap.parse_args(argv)
    if args.rounds < 1:
        ap.error("--rounds must be >= 1")
    results = measure(build_rows(args.quick), args.rounds)
    rat = ratios(results)
    text = table(results, rat)
    print(text)
    report = {
        "command": " ".join(["python benchmarks/inference.py", *(argv or sys.argv[1:])]),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "machine": platform.machine(),
        "results": results,
        "ratios": rat,
    }
    atomic_write_json(args.json, report)
    atomic_write_text(args.json.with_suffix(".md"), text)
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
