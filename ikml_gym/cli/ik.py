"""``ikml-gym train ik`` and ``ikml-gym eval ik``: the learned IKs.

``--method sklearn`` (default): the clustered regressor of pose4 arms from a dataset;
``--method fk``: the multi-hypothesis network of any arm, trained through the FK.
"""

from __future__ import annotations

import argparse
import json
import time
from functools import partial
from pathlib import Path
from typing import Any

from .arguments import int_list, output_file, output_folder, output_model, positive_int


def _train_ik(args: argparse.Namespace) -> int:
    if args.method == "fk":
        return _train_ik_fk(args)
    from ..arms import load_arm
    from ..data import make_ik_dataset
    from ..io import load_dataset
    from ..learned.train_ik import default_regressor, plot_training_curves, train_learned_ik

    arm = load_arm(args.arm)
    t0 = time.perf_counter()
    if args.data:
        arrays, header = load_dataset(args.data)
        if header.get("arm") != arm.name or header.get("urdf_hash") != arm.urdf_hash:
            raise ValueError(
                f"{args.data} is a dataset for arm {header.get('arm')!r}, not {arm.name!r}"
            )
        seed = int(header.get("seed", args.seed))
    else:
        arrays, _ = make_ik_dataset(arm, args.n, seed=args.seed, progress=not args.quiet)
        seed = args.seed
    data_s = time.perf_counter() - t0
    regressor = default_regressor(seed, max_epochs=args.max_epochs)
    if args.hidden:
        regressor.set_params(hidden_layer_sizes=args.hidden)
    from threadpoolctl import threadpool_limits

    # one BLAS thread: the float32 sums then run in one fixed order, so the same seed
    # gives the same weights on any machine (the shipped model was trained this way)
    with threadpool_limits(limits=args.threads):
        model, report = train_learned_ik(
            arm, arrays["q"], arrays["features"], arrays.get("branch"),
            clustering=args.clustering, regressor=regressor, seed=seed, progress=not args.quiet,
        )  # fmt: skip
    model.info["data_seconds"] = round(data_s, 2)
    plot = partial(
        plot_training_curves, title=f"LearnedIK {arm.name} ({args.clustering}) training curves"
    )
    return _save_and_report(
        args, model, report.as_dict(), plot, report, f"{arm.name}_ik_{args.clustering}_curves.png"
    )


def _train_ik_fk(args: argparse.Namespace) -> int:
    from ..arms import load_arm
    from ..learned.train_mh_ik import MHTrainConfig, plot_mh_curves, train_multi_hypothesis_ik

    if args.data:
        raise ValueError("--data is for --method sklearn; --method fk samples its own poses")
    arm = load_arm(args.arm)
    config = MHTrainConfig(
        heads=args.heads, hidden=args.hidden or MHTrainConfig.hidden, activation=args.activation,
        steps=args.steps, batch=args.batch, lr=args.lr, seed=args.seed, threads=args.threads,
        device=args.device, eval_every=min(args.eval_every, args.steps),
        supervision=args.supervision,
    )  # fmt: skip
    model, report = train_multi_hypothesis_ik(
        arm, config, checkpoint=args.checkpoint, progress=not args.quiet,
        command=getattr(args, "command_line", None),
    )  # fmt: skip
    plot = partial(
        plot_mh_curves, title=f"MultiHypothesisIK {arm.name} ({args.heads} heads) training curves"
    )
    summary = {k: v for k, v in report.as_dict().items() if k != "curve"}
    return _save_and_report(args, model, summary, plot, report, f"{arm.name}_ik_fk_curves.png")


def _save_and_report(
    args: argparse.Namespace, model: Any, summary: dict, plot: Any, report: Any, png: str
) -> int:
    """Save ``model`` to ``--out``, draw its curves into ``--plots`` if asked, print the JSON
    line (the files and ``summary``)."""
    weights, header_path = model.save(args.out)
    if args.plots:
        print(f"curves: {plot(report, Path(args.plots) / png)}")
    print(json.dumps({"weights": str(weights), "header": str(header_path), **summary}))
    return 0


def _eval_ik(args: argparse.Namespace) -> int:
    from ..arms import POSE7, load_arm
    from ..envs.task import default_distance_threshold, task_ik_tolerance
    from ..learned.ik import load_ik
    from ..learned.ik_eval import TEST_SEED, evaluate_ik, format_table, model_label, plot_eval

    arm = load_arm(args.arm)
    model = load_ik(args.model or arm.name, arm=arm)
    loose = None
    if arm.feature_kind == POSE7:  # a Reach env's IK tolerance, the arm6 target's
        loose = task_ik_tolerance(default_distance_threshold(arm))
    result = evaluate_ik(
        arm, {model_label(model): model}, n_test=args.n_test, n_numerical=args.n_numerical,
        seed=TEST_SEED if args.seed is None else args.seed, refine_steps=args.refine_steps,
        n_latency=args.n_latency, loose_tol=loose, progress=not args.quiet,
    )  # fmt: skip
    print(format_table(result))
    if args.plots:
        for png in plot_eval(result, args.plots):
            print(f"plot: {png}")
    if args.json:
        from ..io import atomic_write_json

        atomic_write_json(args.json, result["summary"])
        print(f"json: {args.json}")
    return 0


def register_cli(groups: dict[str, argparse._SubParsersAction]) -> None:
    p = groups["train"].add_parser(
        "ik", help="train a learned IK: clustered regressor (pose4) or multi-hypothesis (any arm)"
    )
    p.add_argument("--arm", default="arm4", help="arm name or URDF path (default arm4)")
    p.add_argument(
        "--method", choices=("sklearn", "fk"), default="sklearn",
        help="sklearn: clustered regressor from a dataset (pose4 arms, default); "
        "fk: multi-hypothesis network trained through the FK (any revolute arm)",
    )  # fmt: skip
    p.add_argument(
        "--n", type=positive_int, default=500_000, help="training samples (default 500000)"
    )
    p.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seeds data, clustering, split, networks (fk: network and samples)",
    )
    p.add_argument("--data", help="use this .npz from `ikml-gym data ik` instead of generating")
    p.add_argument("--clustering", choices=("branch", "kmeans"), default="branch")
    p.add_argument("--max-epochs", type=positive_int, default=80, help="epochs per cluster at most")
    p.add_argument("--hidden", type=int_list, help="hidden layer sizes, e.g. 256,256,256 (default)")
    p.add_argument(
        "--threads", type=int, default=1,
        help="BLAS / torch threads while training (default 1: reproducible weights)",
    )  # fmt: skip
    p.add_argument(
        "--out",
        type=output_model,
        default="runs/arm4_ik",
        help="output stem (default runs/arm4_ik)",
    )
    p.add_argument("--plots", type=output_folder, help="folder for the training-curves PNG")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    fk = p.add_argument_group("--method fk")
    fk.add_argument("--heads", type=positive_int, default=4, help="hypotheses K (default 4)")
    fk.add_argument("--steps", type=positive_int, default=40_000, help="steps (default 40000)")
    fk.add_argument(
        "--batch", type=positive_int, default=1024, help="poses per step (default 1024)"
    )
    fk.add_argument("--lr", type=float, default=2e-3, help="peak learning rate (default 2e-3)")
    fk.add_argument("--activation", choices=("silu", "relu"), default="silu")
    fk.add_argument(
        "--supervision", choices=("wta", "branch"), default="wta",
        help="wta: heads compete, no labels, any arm (default); branch: head k learns the "
        "closed form's branch k (arm4: --heads 4, arm6: --heads 8)",
    )  # fmt: skip
    fk.add_argument(
        "--eval-every", type=positive_int, default=1000,
        help="held-out evaluation every N steps (default 1000)",
    )  # fmt: skip
    fk.add_argument("--device", default="cpu", help="torch device, e.g. cuda (default cpu)")
    fk.add_argument(
        "--checkpoint", type=output_file,
        help="save the run here every few minutes and resume from it if it exists",
    )  # fmt: skip
    p.set_defaults(handler=_train_ik)

    p = groups["eval"].add_parser("ik", help="learned IK vs numerical solvers vs the closed form")
    p.add_argument("--arm", default="arm4", help="arm name or URDF path (default arm4)")
    p.add_argument("--model", help="model path (default: the pretrained model of --arm)")
    p.add_argument(
        "--n-test", type=positive_int, default=10_000, help="held-out targets (default 10000)"
    )
    p.add_argument(
        "--n-numerical", type=int, default=10_000,
        help="targets for the PyBullet/DLS rows: the first N of the test set (default 10000)",
    )  # fmt: skip
    p.add_argument("--refine-steps", type=int, default=3, help="polish steps of 'learned + polish'")
    p.add_argument(
        "--seed", type=int,
        help="test-set seed (default: a fixed seed that is neither training seed)",
    )  # fmt: skip
    p.add_argument(
        "--n-latency", type=int, default=500,
        help="single-pose calls timed per row (default 500, 0: none)",
    )  # fmt: skip
    p.add_argument("--json", type=output_file, help="write the summary JSON here")
    p.add_argument("--plots", type=output_folder, help="folder for the heatmap / histogram PNGs")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=_eval_ik)
