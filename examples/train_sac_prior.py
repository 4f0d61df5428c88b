"""Does the learned IK as an action prior make RL faster?

SAC + HER on ``Reach4DOF-v0`` (joint control, ``joints``) and ``Reach4DOFIKPrior-v0``
(the action is a residual around the learned IK solution of the goal): plain SAC
(``ik_prior``) and SAC as a residual policy (``residual``: zero-initialised mean layer,
small exploration noise around the prior, critic-only warm-up; see
``ikml_gym.agents.sb3``), goals kept
only where the classifier calls them reachable (``--goal-filter``; unfiltered,
about 30% of the sampled goal poses are unreachable and cap every policy's
success rate), a few seeds each: a learning-curve PNG (success vs env steps, mean
and spread) and the env steps each needs to reach 90% success.

    python examples/train_sac_prior.py --steps 30000 --seeds 0 1 2 --out sac_out

The README's RL numbers come from the commands in its "RL with the action prior" section.

Every run writes its curve to ``OUT/runs/<control>_seed<N>.json`` after each
evaluation, with the command that started it. Residual runs also evaluate at step 0:
the zero-action prior they must never fall below. Runs can be split over processes (``--controls joints --seeds 1``)
and a run whose log already covers ``--steps`` is not repeated; ``--report``
only rebuilds the table and the plot from the logs in ``OUT/runs``.
"""

import argparse
import json
import shlex
import sys
from pathlib import Path

import numpy as np

from ikml_gym.agents.sb3 import Residual, TrainingLog, train_sac_her
from ikml_gym.plots import pyplot
from ikml_gym.tables import markdown_table

ENVS = {
    "joints": "ikml_gym/Reach4DOF-v0",
    "ik_prior": "ikml_gym/Reach4DOFIKPrior-v0",
    "residual": "ikml_gym/Reach4DOFIKPrior-v0",
}
#: how far below the zero-action prior the residual policy's mean success may fall
ALLOWED_DROP = 0.03


def run_log_path(out: Path, control: str, seed: int) -> Path:
    return out / "runs" / f"{control}_seed{seed}.json"


def collect(out: Path) -> dict[str, list[TrainingLog]]:
    """Every run log in ``out/runs``, by control type, in seed order."""
    logs: dict[str, list[TrainingLog]] = {}
    for control in ENVS:
        paths = sorted((out / "runs").glob(f"{control}_seed*.json"))
        if paths:
            logs[control] = [TrainingLog.load(p) for p in paths]
    return logs


def second_half_mean(log: TrainingLog) -> float | None:
    """Mean success of the checkpoints in the second half of the steps trained (where a
    run has settled; one checkpoint is noisy at 20 evaluation episodes)."""
    if not log.steps:
        return None
    half = log.steps[-1] / 2
    return float(np.mean([r for s, r in zip(log.steps, log.success_rate) if s > half]))


def percentages(rates: list[float | None]) -> str:
    return ", ".join("-" if r is None else f"{100 * r:.0f}%" for r in rates)


def against_prior(runs: list[TrainingLog]) -> dict | None:
    """Residual runs: the seeds' mean success at each common checkpoint against the
    zero-action prior (their step-0 evaluation): the largest drop below it after step 0,
    in success-rate units, and the final mean."""
    n = min(len(r.steps) for r in runs)
    if n < 2 or any(r.steps[0] != 0 for r in runs):
        return None
    mean = np.mean([r.success_rate[:n] for r in runs], axis=0)
    prior = float(mean[0])
    return {
        "zero_action_success": prior,
        "largest_drop_below_prior": float(max(0.0, prior - mean[1:].min())),
        "final_mean_success": float(mean[-1]),
        "steps": int(runs[0].steps[n - 1]),
        "never_more_than_3_points_below": bool(prior - mean[1:].min() <= ALLOWED_DROP + 1e-9),
    }


def summarise(logs: dict[str, list[TrainingLog]]) -> dict:
    summary: dict = {}
    for control, runs in logs.items():
        summary[control] = {
            "env_id": ENVS[control],
            "steps_trained": [r.steps[-1] if r.steps else 0 for r in runs],
            "steps_to_90": [r.steps_to(0.9) for r in runs],
            "final_success": [r.success_rate[-1] if r.steps else None for r in runs],
            "best_success": [max(r.success_rate, default=None) for r in runs],
            "second_half_mean_success": [second_half_mean(r) for r in runs],
            "commands": [r.meta.get("command") for r in runs],
        }
        if control == "residual":
            summary[control]["against_prior"] = against_prior(runs)
    if "joints" in summary and "ik_prior" in summary:
        a, b = summary["joints"]["steps_to_90"], summary["ik_prior"]["steps_to_90"]
        if all(v is not None for v in a + b):
            summary["ratio_prior_over_joints"] = float(np.mean(b) / np.mean(a))
        elif all(v is not None for v in b) and not any(v is not None for v in a):
            # no joint-control seed got there: each needs more than the steps it trained,
            # so the ratio of the means is below mean(prior) / mean(steps trained)
            trained = summary["joints"]["steps_trained"]
            summary["ratio_prior_over_joints_below"] = float(np.mean(b) / np.mean(trained))
    return summary


def plot(logs: dict[str, list[TrainingLog]], path: Path) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    for control, runs in logs.items():
        n = min(len(r.steps) for r in runs)  # the points every seed has
        steps = np.array(runs[0].steps[:n])
        rates = np.array([r.success_rate[:n] for r in runs])
        ax.plot(steps, rates.mean(axis=0), label=f"{control} (mean of {len(runs)} seeds)")
        ax.fill_between(steps, rates.min(axis=0), rates.max(axis=0), alpha=0.25)
    ax.axhline(0.9, color="0.5", ls="--", lw=0.8)
    ax.set_xlabel("environment steps")
    ax.set_ylabel("success rate (deterministic policy)")
    ax.set_title("SAC + HER on Reach4DOF: joint control vs learned-IK action prior")
    ax.legend()
    fig.savefig(path, dpi=110, bbox_inches="tight")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--controls", nargs="+", default=list(ENVS), choices=list(ENVS))
    parser.add_argument("--eval-every", type=int, default=1_000)
    parser.add_argument("--eval-episodes", type=int, default=20)
    parser.add_argument("--goal-filter", default="classifier", choices=["none", "ik", "classifier"])
    parser.add_argument(
        "--critic-warmup",
        type=int,
        default=Residual.critic_warmup,
        help="residual: gradient steps with the actor frozen",
    )
    parser.add_argument(
        "--initial-std",
        type=float,
        default=Residual.initial_std,
        help="residual: exploration noise at the start (action units)",
    )
    parser.add_argument(
        "--residual-scale",
        type=float,
        help="ik_prior/residual: radians per unit action (default: the env's)",
    )
    parser.add_argument("--out", default="sac_out")
    parser.add_argument("--report", action="store_true", help="only summarise OUT/runs")
    args = parser.parse_args()
    out = Path(args.out)
    (out / "runs").mkdir(parents=True, exist_ok=True)

    if not args.report:
        for control in args.controls:
            for seed in args.seeds:
                path = run_log_path(out, control, seed)
                if path.exists() and TrainingLog.load(path).steps[-1:] >= [args.steps]:
                    print(f"{control} seed {seed}: {path} covers {args.steps} steps, kept")
                    continue
                extra = {}
                if control != "joints" and args.residual_scale is not None:
                    extra["residual_scale"] = args.residual_scale
                residual = control == "residual"
                _, log = train_sac_her(
                    ENVS[control], args.steps, seed=seed, eval_every=args.eval_every,
                    eval_episodes=args.eval_episodes, goal_filter=args.goal_filter,
                    log_path=path, eval_at_start=residual,
                    residual=Residual(args.critic_warmup, args.initial_std) if residual else None,
                    meta={"command": shlex.join([sys.executable.rsplit("/", 1)[-1], *sys.argv])},
                    **extra,
                )  # fmt: skip
                print(f"{control} seed {seed}: steps to 90% = {log.steps_to(0.9)}", flush=True)

    logs = collect(out)
    summary = summarise(logs)
    rows = [
        [control, len(logs[control]), str(s["steps_trained"]), str(s["steps_to_90"]),
         percentages(s["best_success"]), percentages(s["second_half_mean_success"]),
         percentages(s["final_success"])]
        for control, s in ((c, summary[c]) for c in logs)
    ]  # fmt: skip
    print(
        markdown_table(
            ["control", "seeds", "env steps trained", "steps to 90% success (each seed)",
             "best success", "second-half mean success", "final success"],
            rows,
        )
    )  # fmt: skip
    residual = summary.get("residual", {}).get("against_prior")
    if residual:
        print(
            f"residual policy: zero-action prior {residual['zero_action_success']:.1%}, largest "
            f"drop below it {100 * residual['largest_drop_below_prior']:.1f} points, final "
            f"{residual['final_mean_success']:.1%} after {residual['steps']:,} steps"
        )
    if "ratio_prior_over_joints" in summary:
        print(
            f"with the prior SAC needs {summary['ratio_prior_over_joints']:.2g}x the env steps "
            "of joint control to reach 90% success"
        )
    elif "ratio_prior_over_joints_below" in summary:
        print(
            "joint control did not reach 90%; the ratio is below "
            f"{summary['ratio_prior_over_joints_below']:.2g}"
        )
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    if logs:
        plot(logs, out / "learning_curves.png")
        print(f"curves: {out / 'learning_curves.png'}")


if __name__ == "__main__":
    main()
