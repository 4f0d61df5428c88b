"""Does the learned IK as an action prior make RL faster?

SAC + HER on ``Reach4DOF-v0`` (joint control) and ``Reach4DOFIKPrior-v0`` (the
action is a residual around the learned IK solution of the goal), goals kept
only where the classifier calls them reachable (``--goal-filter``; unfiltered,
about 30% of the sampled goal poses are unreachable and cap every policy's
success rate), a few seeds each: a learning-curve PNG (success vs env steps, mean and spread) and the env
steps each needs to reach 90% success.

    python examples/train_sac_prior.py --steps 30000 --seeds 0 1 2 --out sac_out
"""

import argparse
import json
from pathlib import Path

import numpy as np

from ikml_gym.agents.sb3 import train_sac_her

ENVS = {"joints": "ikml_gym/Reach4DOF-v0", "ik_prior": "ikml_gym/Reach4DOFIKPrior-v0"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--eval-every", type=int, default=1_000)
    parser.add_argument("--eval-episodes", type=int, default=20)
    parser.add_argument("--goal-filter", default="classifier", choices=["none", "ik", "classifier"])
    parser.add_argument("--out", default="sac_out")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    curves: dict[str, list] = {}
    summary = {}
    for name, env_id in ENVS.items():
        logs = []
        for seed in args.seeds:
            _, log = train_sac_her(
                env_id, args.steps, seed=seed, eval_every=args.eval_every,
                eval_episodes=args.eval_episodes, goal_filter=args.goal_filter,
            )  # fmt: skip
            logs.append(log)
            print(f"{name} seed {seed}: steps to 90% = {log.steps_to(0.9)}")
        curves[name] = logs
        reached = [log.steps_to(0.9) for log in logs]
        summary[name] = {"steps_to_90": reached, "final_success": [log.success_rate[-1] for log in logs]}

    print("| control | seeds | steps to 90% success (each seed) | final success |")
    print("|---|---|---|---|")
    for name, s in summary.items():
        print(f"| {name} | {len(args.seeds)} | {s['steps_to_90']} | {s['final_success']} |")
    a, b = summary["joints"]["steps_to_90"], summary["ik_prior"]["steps_to_90"]
    if all(v is not None for v in a + b):
        ratio = float(np.mean(b) / np.mean(a))
        summary["ratio_prior_over_joints"] = ratio
        print(f"the prior needs {ratio:.2f}x the env steps of joint control to reach 90%")
    (out / "summary.json").write_text(json.dumps(summary, indent=2))

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for name, logs in curves.items():
        steps = np.array(logs[0].steps)
        rates = np.array([log.success_rate for log in logs])
        ax.plot(steps, rates.mean(axis=0), label=f"{name} (mean of {len(logs)})")
        ax.fill_between(steps, rates.min(axis=0), rates.max(axis=0), alpha=0.25)
    ax.axhline(0.9, color="0.5", ls="--", lw=0.8)
    ax.set_xlabel("environment steps")
    ax.set_ylabel("success rate")
    ax.set_title("SAC + HER on Reach4DOF: joint control vs learned-IK action prior")
    ax.legend()
    fig.savefig(out / "learning_curves.png", dpi=110, bbox_inches="tight")
    print(f"curves: {out / 'learning_curves.png'}")


if __name__ == "__main__":
    main()
