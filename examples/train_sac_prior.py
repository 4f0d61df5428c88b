"""Does the learned IK as an action prior make RL faster?

SAC + HER, the same hyperparameters for every run (``--hyperparams``: ``zoo``, the RL
Baselines3 Zoo's HER reaching settings, or ``sb3``, stable-baselines3's defaults), on
three tasks (``--task``):

* ``reach4``: ``Reach4DOF-v0`` / ``Reach4DOFIKPrior-v0``, goals anywhere in a ball of
  0.9 x reach around the arm (any yaw);
* ``reach4_local``: ``Reach4DOFLocal-v0`` / ``Reach4DOFLocalIKPrior-v0``, goals in a
  cube of side 0.35 x reach around the start pose (panda-gym's region and threshold,
  scaled to the arm);
* ``reach6_local``: the same for the 6-DOF arm (``Reach6DOFLocal-v0`` /
  ``Reach6DOFLocalIKPrior-v0``);
* ``panda``: panda-gym's ``PandaReachJoints-v3`` (joint control only; the reference
  that the hyperparameters learn a joint-space reach task), needs
  ``pip install --no-deps panda-gym==3.0.7``.

Controls (``--controls``): ``joints`` (the policy moves the joints), ``ik_prior`` (the
action is a residual around the learned IK solution of the goal, plain SAC) and
``residual`` (SAC as a residual policy: zero-initialised mean layer, small exploration
noise around the prior, critic-only warm-up; see ``ikml_gym.agents.sb3``). Goals of
the ikml_gym tasks are kept only where the classifier calls them reachable
(``--goal-filter``). Per run: success of the deterministic policy every
``--eval-every`` env steps; per task the env steps each control needs to reach 90%
and the ratio prior / joints.

    python examples/train_sac_prior.py --task reach4_local --controls joints ik_prior --seeds 0 1 2 --steps 40000 --out sac_out

Every run writes its curve to ``OUT/runs/<task>_<control>_seed<N>.json`` after each
evaluation, with the command that started it and its settings. Runs also evaluate at
step 0, before any training: for the prior controls that is the zero-action prior,
which the residual policy must never fall below. Runs can be
split over processes (``--controls joints --seeds 1``) and a run whose log already
covers ``--steps`` is not repeated; with ``--checkpoints DIR`` a run saves model and
replay buffer every ``--checkpoint-every`` env steps and a stopped run continues from
there (also to a larger ``--steps``); ``--report`` only rebuilds the table,
``summary.json`` and the PNG from the logs in ``OUT/runs``.
"""

import argparse
import json
import re
import shlex
import sys
from pathlib import Path

import numpy as np

from ikml_gym.agents.sb3 import SAC_PRESETS, Residual, TrainingLog, train_sac_her
from ikml_gym.plots import pyplot
from ikml_gym.tables import markdown_table

#: task -> control -> env id
TASKS = {
    "reach4": {
        "joints": "ikml_gym/Reach4DOF-v0",
        "ik_prior": "ikml_gym/Reach4DOFIKPrior-v0",
        "residual": "ikml_gym/Reach4DOFIKPrior-v0",
    },
    "reach4_local": {
        "joints": "ikml_gym/Reach4DOFLocal-v0",
        "ik_prior": "ikml_gym/Reach4DOFLocalIKPrior-v0",
        "residual": "ikml_gym/Reach4DOFLocalIKPrior-v0",
    },
    "reach6_local": {
        "joints": "ikml_gym/Reach6DOFLocal-v0",
        "ik_prior": "ikml_gym/Reach6DOFLocalIKPrior-v0",
        "residual": "ikml_gym/Reach6DOFLocalIKPrior-v0",
    },
    "panda": {"joints": "PandaReachJoints-v3"},
}
CONTROLS = ("joints", "ik_prior", "residual")
#: how far below the zero-action prior the residual policy's mean success may fall
ALLOWED_DROP = 0.03
#: the success rate whose first checkpoint is "steps to learn"
LEVEL = 0.9
_RUN_NAME = re.compile(rf"^({'|'.join(TASKS)})_({'|'.join(CONTROLS)})_seed(\d+)\.json$")


def run_log_path(out: Path, task: str, control: str, seed: int) -> Path:
    return out / "runs" / f"{task}_{control}_seed{seed}.json"


def collect(out: Path) -> dict[tuple[str, str], list[TrainingLog]]:
    """Every run log in ``out/runs`` by (task, control), in seed order."""
    found: dict[tuple[str, str], list[tuple[int, TrainingLog]]] = {}
    for path in sorted((out / "runs").glob("*.json")):
        match = _RUN_NAME.match(path.name)
        if match:
            task, control, seed = match.groups()
            found.setdefault((task, control), []).append((int(seed), TrainingLog.load(path)))
    order = sorted(found, key=lambda k: (list(TASKS).index(k[0]), CONTROLS.index(k[1])))
    return {key: [log for _, log in sorted(found[key], key=lambda r: r[0])] for key in order}


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


def step_ratio(joints: dict, prior: dict, key: str) -> dict:
    """Env steps to :data:`LEVEL` (``key``: ``steps_to_90``, first checkpoint at the level,
    or ``steps_to_stay_90``, first from which every checkpoint is) with the prior over
    those without, from the seeds' means.

    A point estimate when every seed of both got there; when no joint-control seed did,
    only an upper bound (each needs more than the steps it trained).
    """
    a, b = joints[key], prior[key]
    if all(v is not None for v in a + b):
        return {"ratio": float(np.mean(b) / np.mean(a)), "kind": "point estimate"}
    if all(v is not None for v in b) and not any(v is not None for v in a):
        return {"ratio": float(np.mean(b) / np.mean(joints["steps_trained"])), "kind": "bound"}
    return {"ratio": None, "kind": "not every seed of one control reached the level"}


def start_to_goal(env_id: str, make_kwargs: dict, episodes: int = 300) -> dict | None:
    """How far the goals start from the end-effector, in success radii, over seeded resets
    (mean and largest); ``None`` where the env cannot be made (panda-gym missing)."""
    import gymnasium as gym

    try:
        if env_id.startswith("Panda"):
            import panda_gym  # noqa: F401
        env = gym.make(env_id, **make_kwargs)
    except (ImportError, gym.error.Error):
        return None
    try:
        radius = env.unwrapped.task.distance_threshold
        dist = []
        for seed in range(episodes):
            obs, _ = env.reset(seed=seed)
            dist.append(np.linalg.norm(obs["achieved_goal"] - obs["desired_goal"]) / radius)
    finally:
        env.close()
    return {"mean": float(np.mean(dist)), "max": float(np.max(dist)), "episodes": episodes}


def summarise(logs: dict[tuple[str, str], list[TrainingLog]]) -> dict:
    summary: dict = {}
    for (task, control), runs in logs.items():
        entry = {
            "env_id": runs[0].meta.get("env_id", TASKS[task][control]),
            "settings": runs[0].meta.get("settings"),
            "steps_trained": [r.steps[-1] if r.steps else 0 for r in runs],
            "steps_to_90": [r.steps_to(LEVEL) for r in runs],
            "mean_steps_to_90": None,
            "steps_to_stay_90": [r.steps_to_stay(LEVEL) for r in runs],
            "final_success": [r.success_rate[-1] if r.steps else None for r in runs],
            "best_success": [max(r.success_rate, default=None) for r in runs],
            "second_half_mean_success": [second_half_mean(r) for r in runs],
            "commands": [r.meta.get("command") for r in runs],
        }
        if all(v is not None for v in entry["steps_to_90"]):
            entry["mean_steps_to_90"] = float(np.mean(entry["steps_to_90"]))
        if control == "residual":
            entry["against_prior"] = against_prior(runs)
        summary.setdefault(task, {})[control] = entry
    for task, controls in summary.items():
        if "joints" in controls:
            joints = logs[task, "joints"][0].meta
            controls["start_to_goal_radii"] = start_to_goal(
                controls["joints"]["env_id"], joints.get("make_kwargs", {})
            )
        for prior in ("ik_prior", "residual"):
            if "joints" in controls and prior in controls:
                controls[f"ratio_{prior}_over_joints"] = {
                    key: step_ratio(controls["joints"], controls[prior], key)
                    for key in ("steps_to_90", "steps_to_stay_90")
                }
    return summary


def plot(logs: dict[tuple[str, str], list[TrainingLog]], path: Path) -> None:
    """One panel per task: each control's mean success (line) and its seeds' range (band)."""
    plt = pyplot()
    tasks = sorted({task for task, _ in logs}, key=list(TASKS).index)
    cols = min(2, len(tasks))
    rows = -(-len(tasks) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(6.5 * cols, 4.2 * rows), squeeze=False)
    for ax in axes.flat[len(tasks) :]:
        ax.set_visible(False)
    for ax, task in zip(axes.flat, tasks):
        for (t, control), runs in logs.items():
            if t != task:
                continue
            n = min(len(r.steps) for r in runs)  # the points every seed has
            steps = np.array(runs[0].steps[:n])
            rates = np.array([r.success_rate[:n] for r in runs])
            ax.plot(steps, rates.mean(axis=0), label=f"{control} (mean of {len(runs)} seeds)")
            ax.fill_between(steps, rates.min(axis=0), rates.max(axis=0), alpha=0.25)
        ax.axhline(LEVEL, color="0.5", ls="--", lw=0.8)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("environment steps")
        ax.set_ylabel("success rate (deterministic policy)")
        ax.set_title(f"{task}\n{', '.join(sorted(set(TASKS[task].values())))}", fontsize=9)
        ax.legend(fontsize=8)
    fig.suptitle("SAC + HER: joint control vs the learned-IK action prior")
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")


def report(out: Path) -> None:
    """Print the table and the ratios; write ``summary.json`` and the PNG."""
    logs = collect(out)
    summary = summarise(logs)
    rows = [
        [task, control, f"`{s['env_id']}`", len(logs[task, control]), str(s["steps_trained"]),
         str(s["steps_to_90"]), "-" if s["mean_steps_to_90"] is None else f"{s['mean_steps_to_90']:,.0f}",
         str(s["steps_to_stay_90"]),
         percentages(s["best_success"]), percentages(s["second_half_mean_success"]),
         percentages(s["final_success"])]
        for (task, control) in logs for s in [summary[task][control]]
    ]  # fmt: skip
    print(
        markdown_table(
            ["task", "control", "env", "seeds", "env steps trained",
             "steps to 90% success (each seed)", "mean steps to 90%",
             "steps from which it stays >= 90%", "best success",
             "second-half mean success", "final success"],
            rows,
        )
    )  # fmt: skip
    for task, controls in summary.items():
        distance = controls.get("start_to_goal_radii")
        if distance:
            print(f"{task}: goals start {distance['mean']:.1f} success radii from the "
                  f"end-effector on average (at most {distance['max']:.1f})")  # fmt: skip
        residual = controls.get("residual", {}).get("against_prior")
        if residual:
            print(
                f"{task} residual policy: zero-action prior {residual['zero_action_success']:.1%}, "
                f"largest drop below it {100 * residual['largest_drop_below_prior']:.1f} points, "
                f"final {residual['final_mean_success']:.1%} after {residual['steps']:,} steps"
            )
        for prior in ("ik_prior", "residual"):
            for key, ratio in controls.get(f"ratio_{prior}_over_joints", {}).items():
                if ratio["ratio"] is not None:
                    relation = "=" if ratio["kind"] == "point estimate" else "<"
                    print(f"{task}: {key}, {prior} / joints {relation} {ratio['ratio']:.3g} "
                          f"({ratio['kind']})")  # fmt: skip
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    if logs:
        plot(logs, out / "learning_curves.png")
        print(f"curves: {out / 'learning_curves.png'}")


def train(args: argparse.Namespace, out: Path) -> None:
    """Every (control, seed) run of ``args.task`` that its log does not already cover."""
    if args.task == "panda":
        try:
            import panda_gym  # noqa: F401  (registers PandaReachJoints-v3)
        except ImportError:
            sys.exit("--task panda needs panda-gym: pip install --no-deps panda-gym==3.0.7")
    command = shlex.join([sys.executable.rsplit("/", 1)[-1], *sys.argv])
    for control in args.controls:
        if control not in TASKS[args.task]:
            sys.exit(
                f"--task {args.task} has no {control!r} control (it has {list(TASKS[args.task])})"
            )
        for seed in args.seeds:
            path = run_log_path(out, args.task, control, seed)
            if path.exists() and TrainingLog.load(path).steps[-1:] >= [args.steps]:
                print(f"{args.task} {control} seed {seed}: {path} covers {args.steps} steps, kept")
                continue
            make_kwargs = {} if args.task == "panda" else {"goal_filter": args.goal_filter}
            if control != "joints" and args.residual_scale is not None:
                make_kwargs["residual_scale"] = args.residual_scale
            residual = control == "residual"
            _, log = train_sac_her(
                TASKS[args.task][control], args.steps, seed=seed, eval_every=args.eval_every,
                eval_episodes=args.eval_episodes, settings=SAC_PRESETS[args.hyperparams],
                log_path=path, eval_at_start=True, checkpoint_every=args.checkpoint_every,
                checkpoint=None if args.checkpoints is None else Path(args.checkpoints) / path.stem,
                residual=Residual(args.critic_warmup, args.initial_std) if residual else None,
                meta={"command": command, "hyperparams": args.hyperparams}, **make_kwargs,
            )  # fmt: skip
            print(
                f"{args.task} {control} seed {seed}: steps to 90% = {log.steps_to(LEVEL)}",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="reach4", choices=list(TASKS))
    parser.add_argument("--steps", type=int, default=30_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--controls", nargs="+", default=["joints", "ik_prior"], choices=CONTROLS)
    parser.add_argument("--hyperparams", default="zoo", choices=list(SAC_PRESETS))
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
    parser.add_argument(
        "--checkpoints",
        help="folder for resumable checkpoints (one subfolder a run); a run with one continues",
    )
    parser.add_argument("--checkpoint-every", type=int, default=10_000, help="env steps")
    parser.add_argument("--out", default="sac_out")
    parser.add_argument("--report", action="store_true", help="only summarise OUT/runs")
    args = parser.parse_args()
    out = Path(args.out)
    (out / "runs").mkdir(parents=True, exist_ok=True)
    if not args.report:
        train(args, out)
    report(out)


if __name__ == "__main__":
    main()
