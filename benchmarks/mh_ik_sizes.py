"""One-pose latency of the multi-hypothesis learned IK by network size, beside PyBulletIK.

    python benchmarks/mh_ik_sizes.py [--quick] [--rounds 3] [--json benchmarks/results/mh_ik_sizes.json]

The speed half of the size / accuracy trade-off of :class:`~ikml_gym.learned.mh_ik.MultiHypothesisIK`:
for each arm and each candidate size (K heads, hidden widths, SiLU), a model with random
normal weights (inference time does not depend on the values: no weight is zero or
subnormal) answers one pose at a time, the way an env step calls it: ``solve(pose,
q0=q)`` (every head, FK check of every head, the head nearest ``q0`` kept), median
latency with 20 PyBullet physics steps between calls (which evict the weights from the
CPU caches). In the same rounds, one warm-started ``PyBulletIK`` call on the same targets
(started 0.05 rad from a solution). Rounds are interleaved and the best is kept; compare
the ratios. A plain process that imports only ``ikml_gym`` (no torch).

Accuracy for the same sizes needs trained models (``ikml-gym train ik --method fk``).
"""

from __future__ import annotations

import argparse
import itertools
import platform
import sys
from pathlib import Path
from typing import Any

import numpy as np

import ikml_gym
from ikml_gym.io import atomic_write_json, atomic_write_text
from ikml_gym.learned.mh_encoding import input_spec
from ikml_gym.learned.mh_ik import MultiHypothesisIK
from ikml_gym.solvers import PyBulletIK
from ikml_gym.tables import markdown_table

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the shared timing helpers
from inference import latency_us, physics_steps

HERE = Path(__file__).resolve().parent
#: (arm, heads, hidden widths) candidates
SIZES = (
    ("arm4", 4, (128, 128, 128)),
    ("arm4", 4, (256, 256)),
    ("arm4", 4, (256, 256, 256)),
    ("arm4", 8, (256, 256, 256)),
    ("arm6", 8, (256, 256, 256)),
    ("arm6", 8, (512, 512)),
    ("arm6", 8, (512, 512, 512)),
    ("arm6", 16, (512, 512, 512)),
)


def random_model(arm: ikml_gym.Arm, heads: int, hidden: tuple[int, ...]) -> MultiHypothesisIK:
    """A model of the given size with random normal (He-scaled) weights."""
    rng = np.random.default_rng(0)
    dims = [len(input_spec(arm)), *hidden, heads * arm.dof * 2]
    weights = [rng.standard_normal((a, b)) * np.sqrt(2.0 / a) for a, b in itertools.pairwise(dims)]
    biases = [rng.standard_normal(b) * 0.1 for b in dims[1:]]
    return MultiHypothesisIK(arm, weights, biases, n_heads=heads, activation="silu")


def targets(arm: ikml_gym.Arm, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(n, feature_dim) reachable poses and (n, dof) starts 0.05 rad from a solution."""
    rng = np.random.default_rng(1)
    q = arm.random_q(n, rng)
    start = arm.wrap_to_limits(q + rng.uniform(-0.05, 0.05, q.shape))
    return arm.fk_features(q), start


def build_rows(quick: bool) -> list[dict[str, Any]]:
    """Every measured row: {arm, what, heads, hidden, run}; ``run()`` gives microseconds."""
    n = 200 if quick else 1000
    between = physics_steps()
    rows: list[dict[str, Any]] = []
    for name in ("arm4", "arm6"):
        arm = ikml_gym.load_arm(name)
        f, q0 = targets(arm, n)
        pb = PyBulletIK(arm)
        rows.append({"arm": name, "what": "PyBulletIK warm-started", "heads": "", "hidden": "",
                     "run": lambda s=pb, f=f, q=q0: latency_us(
                         lambda i: s.solve(f[i], q0=q[i]), len(f), between)})  # fmt: skip
        for arm_name, heads, hidden in SIZES:
            if arm_name != name:
                continue
            model = random_model(arm, heads, hidden)
            rows.append({"arm": name, "what": "MultiHypothesisIK solve(pose, q0)", "heads": heads,
                         "hidden": "x".join(map(str, hidden)),
                         "run": lambda m=model, f=f, q=q0: latency_us(
                             lambda i: m.solve(f[i], q0=q[i]), len(f), between)})  # fmt: skip
    return rows


def measure(rows: list[dict[str, Any]], rounds: int) -> list[dict[str, Any]]:
    """Best (lowest) latency of each row over interleaved rounds, and its speed-up."""
    best = [float("inf")] * len(rows)
    for _ in range(rounds):
        for i, row in enumerate(rows):
            best[i] = min(best[i], row["run"]())
    out = []
    for row, us in zip(rows, best):
        pb = next(b for r, b in zip(rows, best) if r["arm"] == row["arm"] and not r["heads"])
        out.append({k: v for k, v in row.items() if k != "run"} | {"us": us, "speedup": pb / us})
    return out


def table(results: list[dict[str, Any]]) -> str:
    return markdown_table(
        ["arm", "what", "heads", "hidden (SiLU)", "one pose (us)", "PyBulletIK / this"],
        [[r["arm"], r["what"], r["heads"], r["hidden"], f"{r['us']:.1f}",
          "" if not r["heads"] else f"{r['speedup']:.1f}x"] for r in results],
        align="llrlrr",
    )  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="200 poses per row instead of 1,000")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", type=Path, default=HERE / "results" / "mh_ik_sizes.json")
    args = ap.parse_args()
    results = measure(build_rows(args.quick), args.rounds)
    text = table(results)
    print(text)
    command = "python benchmarks/mh_ik_sizes.py" + (" --quick" if args.quick else "")
    atomic_write_json(
        args.json,
        {
            "command": command,
            "rounds": args.rounds,
            "rows": results,
            "python": platform.python_version(),
            "numpy": np.__version__,
        },
    )
    atomic_write_text(args.json.with_suffix(".md"), f"`{command}`\n\n{text}\n")


if __name__ == "__main__":
    main()
