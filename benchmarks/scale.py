"""How env sampling scales with worker processes: SB3, Gymnasium and RLlib.

    flock /tmp/ikml_bench.lock .venv/bin/python benchmarks/scale.py

For each env (:data:`CASES`: joint control, the learned-IK action prior, ee control
with the hybrid IK) and each engine, env steps per second sampled with random
actions by 1 and 2 worker processes (one env each):

* ``subproc``: stable-baselines3 ``SubprocVecEnv`` (spawn), stepped by the driver;
* ``async``: Gymnasium ``AsyncVectorEnv`` (spawn), stepped by the driver;
* ``rllib``: RLlib env runners (``num_env_runners`` = workers), each calling
  ``sample(num_timesteps=..., random_actions=True)`` in parallel: env steps plus
  RLlib's episode bookkeeping and connectors, no policy inference.

Random actions everywhere, so the numbers are the sampling machinery and the env,
not a policy. The 1- and the 2-worker sampler of a row are open at the same time
and timed in alternating chunks of ``--steps`` env steps per worker (after one
warm-up chunk each), so both see the same load of a shared machine; each cell is
the best of ``--repeats`` chunks (all chunks are in the JSON). One worker's cost is
measured too: ``env.step`` in the driver's own process (no IPC), from which the
table predicts a 64-core node (one worker per core, see ``predict``).

RLlib pins gymnasium 1.2.x, so its rows need the RLlib virtualenv: run in the main
one, this script measures the other rows and re-runs itself under
``.venv-rllib/bin/python --engines rllib`` (``make setup-rllib`` makes it) for the
RLlib rows; without that venv the table says the rows are missing and why.

Prints a Markdown table; writes JSON (default ``benchmarks/results/scale.json``) and
the table next to it (``.md``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

import ikml_gym
from ikml_gym.io import atomic_write_json, atomic_write_text
from ikml_gym.tables import markdown_table

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_JSON = ROOT / "benchmarks" / "results" / "scale.json"
RLLIB_PYTHON = ROOT / ".venv-rllib" / "bin" / "python"
ENGINES = ("subproc", "async", "rllib")
#: name -> (env id, gymnasium.make keywords)
CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "joints": ("ikml_gym/Reach4DOF-v0", {}),
    "ik_prior": ("ikml_gym/Reach4DOFIKPrior-v0", {}),
    "ee_hybrid": ("ikml_gym/Reach4DOFEE-v0", {"ik_solver": "hybrid"}),
}
#: the node the prediction is for
PREDICT_CORES = 64


# ------------------------------------------------------------------ timing
#: a sampler: (step one chunk -> env steps it took, close)
Sampler = tuple[Callable[[], int], Callable[[], None]]


def rate(chunk: Callable[[], int]) -> tuple[float, float]:
    """(env steps/s, CPU microseconds this process spent per env step) of one call of
    ``chunk``: the second is the driver's share, paid serially for every worker."""
    start, cpu = time.perf_counter(), time.process_time()
    steps = chunk()
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    return steps / wall, 1e6 * cpu / steps


def interleaved(
    open_sampler: Callable[[int], Sampler], repeats: int
) -> dict[int, list[tuple[float, float]]]:
    """:func:`rate` of ``repeats`` chunks with 1 and with 2 workers, alternating 1, 2, 1,
    2, ... after one warm-up chunk each, so both see the same load of a shared machine."""
    samplers: dict[int, Sampler] = {}
    try:
        for workers in (1, 2):
            samplers[workers] = open_sampler(workers)
            samplers[workers][0]()  # warm-up
        rates: dict[int, list[tuple[float, float]]] = {1: [], 2: []}
        for _ in range(repeats):
            for workers in (1, 2):
                rates[workers].append(rate(samplers[workers][0]))
        return rates
    finally:
        for _, close in samplers.values():
            close()


def in_process_step_us(case: str, steps: int, repeats: int) -> float:
    """One env in this process: microseconds per ``step`` (resets included), best chunk."""
    env_id, kwargs = CASES[case]
    env = gym.make(env_id, **kwargs)
    env.reset(seed=0)
    env.action_space.seed(0)

    def chunk() -> int:
        for _ in range(steps):
            *_, terminated, truncated, _ = env.step(env.action_space.sample())
            if terminated or truncated:
                env.reset()
        return steps

    try:
        chunk()
        return 1e6 / max(rate(chunk)[0] for _ in range(repeats))
    finally:
        env.close()


def _vector_chunk(
    step: Callable[[np.ndarray], Any], sample: Callable[[], np.ndarray], workers: int, steps: int
) -> Callable[[], int]:
    def chunk() -> int:
        for _ in range(steps):
            step(sample())
        return steps * workers

    return chunk


def open_async(case: str, workers: int, steps: int) -> Sampler:
    """Gymnasium ``AsyncVectorEnv`` (spawn), autoreset by the vector env."""
    env_id, kwargs = CASES[case]
    envs = gym.make_vec(
        env_id,
        num_envs=workers,
        vectorization_mode="async",
        vector_kwargs={"context": "spawn"},
        **kwargs,
    )
    envs.reset(seed=0)
    envs.action_space.seed(0)
    return _vector_chunk(envs.step, envs.action_space.sample, workers, steps), envs.close


def open_subproc(case: str, workers: int, steps: int) -> Sampler:
    """stable-baselines3 ``SubprocVecEnv`` (spawn), autoreset by SB3."""
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import SubprocVecEnv

    env_id, kwargs = CASES[case]
    venv = make_vec_env(
        f"ikml_gym:{env_id}",  # spawned workers have not imported ikml_gym
        n_envs=workers,
        seed=0,
        vec_env_cls=SubprocVecEnv,
        vec_env_kwargs={"start_method": "spawn"},
        env_kwargs=kwargs,
    )
    space = venv.action_space
    space.seed(0)
    venv.reset()

    def sample() -> np.ndarray:
        return np.stack([space.sample() for _ in range(workers)])

    return _vector_chunk(venv.step, sample, workers, steps), venv.close


def _sample_random(runner: Any, steps: int) -> list[Any]:
    return runner.sample(num_timesteps=steps, random_actions=True)


def open_rllib(case: str, workers: int, steps: int) -> Sampler:
    """RLlib env runners (``num_env_runners=workers``) each sampling ``steps``
    random-action env steps, in parallel, their episodes returned to the driver as in
    training with a local learner (``ray.init`` done by the caller)."""
    from ikml_gym.integrations.rllib import ppo_config

    env_id, kwargs = CASES[case]
    config = ppo_config(env_id, num_env_runners=workers, env_config={"seed": 0, **kwargs})
    algo = config.build_algo()
    group = algo.env_runner_group

    def chunk() -> int:
        batches = group.foreach_env_runner(
            lambda r: _sample_random(r, steps), local_env_runner=False
        )
        return sum(len(episode) for episodes in batches for episode in episodes)

    return chunk, algo.stop


OPEN: dict[str, Callable[[str, int, int], Sampler]] = {
    "subproc": open_subproc,
    "async": open_async,
    "rllib": open_rllib,
}


# ------------------------------------------------------------------ rows
def measure_rows(engines: list[str], cases: list[str], steps: int, repeats: int) -> list[dict]:
    """One row per (engine, case): steps/s with 1 and 2 workers and their ratio."""
    rows = []
    if "rllib" in engines:
        import ray

        # 3 runners (the 1- and the 2-runner group) are alive at once, one sampling at a
        # time: CPUs here are Ray's scheduling units, the machine still has 2 cores
        ray.init(num_cpus=3, include_dashboard=False, log_to_driver=False)
    try:
        for engine in engines:
            for case in cases:
                chunks = interleaved(lambda w, e=engine, c=case: OPEN[e](c, w, steps), repeats)
                best = {w: max(r for r, _ in c) for w, c in chunks.items()}
                driver_us = statistics.median(us for _, us in chunks[2])
                rows.append(
                    {
                        "engine": engine,
                        "case": case,
                        "env_id": CASES[case][0],
                        "env_kwargs": CASES[case][1],
                        "steps_per_s_1": round(best[1], 1),
                        "steps_per_s_2": round(best[2], 1),
                        "speedup_2_over_1": round(best[2] / best[1], 3),
                        "driver_cpu_us_per_step": round(driver_us, 1),
                        "chunks_1": [round(r, 1) for r, _ in chunks[1]],
                        "chunks_2": [round(r, 1) for r, _ in chunks[2]],
                    }
                )
                print(f"  {engine:8s} {case:10s} {best[1]:8.1f} {best[2]:8.1f}", flush=True)
    finally:
        if "rllib" in engines:
            import ray

            ray.shutdown()
    return rows


def rllib_rows_elsewhere(cases: list[str], steps: int, repeats: int) -> tuple[list[dict], str]:
    """The RLlib rows measured by this script under the RLlib virtualenv, and a note."""
    if not RLLIB_PYTHON.exists():
        return [], f"RLlib rows missing: {RLLIB_PYTHON} not found (make setup-rllib)"
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "rllib.json"
        cmd = [
            str(RLLIB_PYTHON),
            __file__,
            "--engines",
            "rllib",
            "--cases",
            *cases,
            "--steps",
            str(steps),
            "--repeats",
            str(repeats),
            "--rows-out",
            str(out),
        ]
        done = subprocess.run(cmd, check=False)
        if done.returncode != 0:
            return [], f"RLlib rows missing: {' '.join(cmd)} exited {done.returncode}"
        payload = json.loads(out.read_text())
    return payload[
        "rows"
    ], f"RLlib rows from {RLLIB_PYTHON} (ray {payload['ray']}, gymnasium {payload['gymnasium']})"


def predict(per_step_us: dict[str, float], rows: list[dict]) -> dict[str, dict[str, Any]]:
    """Env steps/s a 64-core node would sample, from one worker's measured costs.

    Per case, ``env_bound``: 64 workers each stepping at the in-process cost
    (``1e6 / us_per_step``), the ceiling. Per row (engine, case): ``linear`` = 64 x the
    measured 1-worker rate (each worker on its own core, IPC included);
    ``driver_bound`` = ``1e6 / driver CPU us per env step``: the driver's share is paid
    serially for every env of every worker, so it caps one driver whatever the number
    of workers; ``predicted`` = the smaller. RLlib's driver receives whole episodes
    (no per-step round trip); the learner's own cost is not part of this sampling
    benchmark.
    """
    out: dict[str, dict[str, Any]] = {}
    for case, us in per_step_us.items():
        out[case] = {"env_bound": round(PREDICT_CORES * 1e6 / us)}
    for row in rows:
        linear = PREDICT_CORES * row["steps_per_s_1"]
        driver = 1e6 / max(row["driver_cpu_us_per_step"], 1e-3)
        out[row["case"]][row["engine"]] = {
            "linear": round(linear),
            "driver_bound": round(driver),
            "predicted": round(min(linear, driver)),
        }
    return out


def table(rows: list[dict], per_step_us: dict[str, float], prediction: dict, note: str) -> str:
    """The Markdown report: scaling rows, then the 64-core prediction."""
    lines = [
        markdown_table(
            ["engine", "env", "1 worker (steps/s)", "2 workers (steps/s)", "2 / 1"],
            [
                [r["engine"], _env(r["case"]), f"{r['steps_per_s_1']:.0f}",
                 f"{r['steps_per_s_2']:.0f}", f"{r['speedup_2_over_1']:.2f}x"]
                for r in rows
            ],
        )
    ]  # fmt: skip
    by = {(r["engine"], r["case"]): r for r in rows}
    ratios = [
        f"{case} {by['rllib', case]['steps_per_s_2'] / by['async', case]['steps_per_s_2']:.2f}x"
        for case in per_step_us
        if ("rllib", case) in by and ("async", case) in by
    ]
    if ratios:
        lines += ["", "RLlib 2 runners / AsyncVectorEnv 2 workers: " + ", ".join(ratios)]
    predicted = []
    for r in rows:
        p = prediction[r["case"]][r["engine"]]
        predicted.append([
            r["engine"], _env(r["case"]), f"{per_step_us[r['case']]:.0f}",
            f"{r['driver_cpu_us_per_step']:.0f}", p["linear"], p["driver_bound"], p["predicted"],
        ])  # fmt: skip
    headers = [
        "engine", "env", "1 env in-process (us/step)", "driver CPU (us/env step)",
        f"{PREDICT_CORES} x 1-worker rate", "driver bound",
        f"predicted, {PREDICT_CORES} cores (steps/s)",
    ]  # fmt: skip
    lines += ["", markdown_table(headers, predicted)]
    bound = ", ".join(f"{case} {prediction[case]['env_bound']}" for case in per_step_us)
    lines += ["", f"Env-bound ceiling, {PREDICT_CORES} x 1e6 / in-process us per step: {bound}."]
    lines += ["", note]
    return "\n".join(lines)


def _env(case: str) -> str:
    env_id, kwargs = CASES[case]
    return env_id + (f" {kwargs}" if kwargs else "")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--engines", nargs="+", choices=ENGINES, default=list(ENGINES))
    p.add_argument("--cases", nargs="+", choices=list(CASES), default=list(CASES))
    p.add_argument("--steps", type=int, default=500, help="env steps per worker per chunk")
    p.add_argument("--repeats", type=int, default=5, help="timed chunks per cell (best)")
    p.add_argument("--json", type=Path, default=DEFAULT_JSON)
    p.add_argument(
        "--rows-out",
        type=Path,
        default=None,
        help="only measure and write the rows here (how the RLlib venv is used)",
    )
    args = p.parse_args(argv)
    if args.steps < 1 or args.repeats < 1:
        p.error("--steps and --repeats must be >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.rows_out is not None:
        import ray

        rows = measure_rows(args.engines, args.cases, args.steps, args.repeats)
        payload = {"rows": rows, "ray": ray.__version__, "gymnasium": gym.__version__}
        atomic_write_json(args.rows_out, payload)
        return 0
    try:
        import ray

        here = list(args.engines)
    except ImportError:
        here = [e for e in args.engines if e != "rllib"]
    print(f"  {'engine':8s} {'env':10s} {'1 worker':>8s} {'2':>8s}  (env steps/s)")
    rows = measure_rows(here, args.cases, args.steps, args.repeats)
    note = f"All rows: {sys.executable} (gymnasium {gym.__version__})."
    if "rllib" in args.engines and "rllib" not in here:
        rllib_rows, rllib_note = rllib_rows_elsewhere(args.cases, args.steps, args.repeats)
        rows += rllib_rows
        note = (
            f"SB3 / Gymnasium rows: {sys.executable} (gymnasium {gym.__version__}); {rllib_note}."
        )
    per_step_us = {c: in_process_step_us(c, args.steps, args.repeats) for c in args.cases}
    prediction = predict(per_step_us, rows)
    text = table(rows, per_step_us, prediction, note)
    print()
    print(text)
    report = {
        "command": "python benchmarks/scale.py "
        + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "ikml_gym": ikml_gym.__version__,
        "gymnasium": gym.__version__,
        "steps_per_chunk": args.steps,
        "repeats": args.repeats,
        "rows": rows,
        "in_process_us_per_step": {c: round(v, 1) for c, v in per_step_us.items()},
        "prediction_64_cores": prediction,
        "note": note,
    }
    atomic_write_json(args.json, report)
    atomic_write_text(args.json.with_suffix(".md"), text + "\n")
    print(f"\nwritten to {args.json} and {args.json.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
