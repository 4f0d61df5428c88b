"""``ikml-gym train classifier`` and ``ikml-gym eval classifier``: the reachability classifier."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from .arguments import (
    add_classifier_data_options,
    int_list,
    output_file,
    output_folder,
    output_model,
    positive_int,
)


def _dataset(args: argparse.Namespace, arm: Any) -> tuple[dict, dict]:
    from ..data import make_classifier_dataset
    from ..io import load_dataset

    if args.data:
        arrays, header = load_dataset(args.data)
        if header.get("arm") != arm.name or header.get("urdf_hash") != arm.urdf_hash:
            raise ValueError(
                f"{args.data} is a dataset for arm {header.get('arm')!r}, not {arm.name!r}"
            )
        if header.get("kind") != "classifier":
            raise ValueError(f"{args.data} is a {header.get('kind')!r} dataset, not 'classifier'")
        return arrays, header
    return make_classifier_dataset(
        arm, seed=args.data_seed, progress=not args.quiet, n_boundary=args.n_boundary,
        oracle_starts=args.oracle_starts,
    )  # fmt: skip


def _train_classifier(args: argparse.Namespace) -> int:
    import numpy as np

    from ..arms import load_arm
    from ..learned.classifier_eval import OPERATING_SEED, plot_learning_curve, study_mix
    from ..learned.train_classifier import HIDDEN, TrainConfig, train_classifier

    arm = load_arm(args.arm)
    t0 = time.perf_counter()
    arrays, header = _dataset(args, arm)
    data_s = time.perf_counter() - t0
    cfg = TrainConfig(
        seed=args.seed, epochs=args.epochs, batch_size=args.batch_size, device=args.device,
        threads=args.threads, hidden=args.hidden or HIDDEN,
    )  # fmt: skip
    operating = study_mix(arm, OPERATING_SEED + header["seed"])
    model, hist = train_classifier(
        arm, arrays["features"], arrays["label"].astype(np.int64),
        np.asarray(header["thresholds"]), cfg, progress=not args.quiet,
        checkpoint=args.checkpoint,
        operating_poses=(operating.features, operating.reachable,
                         f"{operating.name}, seed {OPERATING_SEED + header['seed']}"),
    )  # fmt: skip
    model.info["command"] = args.command_line
    model.info["data_seconds"] = round(data_s, 2)
    model.info["data"] = {
        k: header.get(k) for k in ("seed", "n_reachable", "n_unreachable", "n_boundary", "oracle")
    }
    out = args.out or f"runs/{arm.name}_classifier"
    weights, header_path = model.save(out)
    if args.plots:
        png = plot_learning_curve(
            hist, Path(args.plots) / f"{arm.name}_classifier_learning_curve.png",
            f"{arm.name} classifier",
        )  # fmt: skip
        print(f"learning curve: {png}")
    summary = {k: model.info[k] for k in ("epochs_run", "best_epoch", "train_seconds", "best")}
    print(json.dumps({"weights": str(weights), "header": str(header_path), **summary}))
    return 0


def _eval_classifier(args: argparse.Namespace) -> int:
    import numpy as np

    from ..arms import load_arm
    from ..learned.classifier import load_classifier
    from ..learned.classifier_eval import FILTER_FALLBACK, evaluate, format_table, write_plots
    from ..learned.feasibility import DEFAULT_CONFIDENCE
    from ..solvers import DLSIK

    arm = load_arm(args.arm)
    model = load_classifier(args.model or arm.name, arm=arm)
    arrays, _ = _dataset(args, arm)
    feats, labels = arrays["features"], arrays["label"].astype(np.int64)
    fallback = None if args.no_filter else DLSIK(arm, seed=args.seed, **FILTER_FALLBACK)
    conf = DEFAULT_CONFIDENCE if args.confidence is None else args.confidence
    res = evaluate(model, feats, labels, fallback=fallback, confidence=conf)
    print(format_table(res))
    if args.plots:
        for png in write_plots(model, res, feats, labels, args.plots):
            print(f"plot: {png}")
    if args.json:
        from ..io import atomic_write_json

        atomic_write_json(args.json, res)
        print(f"json: {args.json}")
    return 0


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--arm", default="arm6", help="arm name or URDF path (default arm6)")
    p.add_argument("--data", help="a .npz from `ikml-gym data classifier` (else one is generated)")
    p.add_argument("--data-seed", type=int, default=0, help="seed of a generated dataset")
    add_classifier_data_options(p)
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def register_cli(groups: dict[str, argparse._SubParsersAction]) -> None:
    from ..learned.train_classifier import BATCH_SIZE, EPOCHS

    p = groups["train"].add_parser(
        "classifier", help="train the reachability/conditioning classifier"
    )
    _common(p)
    p.add_argument("--seed", type=int, default=0, help="seeds the split, init and shuffling")
    p.add_argument(
        "--epochs", type=positive_int, default=EPOCHS, help=f"at most (default {EPOCHS})"
    )
    p.add_argument("--batch-size", type=positive_int, default=BATCH_SIZE)
    p.add_argument("--hidden", type=int_list, help="hidden layer widths (default 256,256,256)")
    p.add_argument("--device", default="cpu", help="torch device: cpu or cuda")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = default)")
    p.add_argument("--out", type=output_model, help="model stem (default runs/ARM_classifier)")
    p.add_argument("--plots", type=output_folder, help="directory for the learning-curve PNG")
    p.add_argument(
        "--checkpoint", type=output_model, help="model stem rewritten at every new best epoch"
    )
    p.set_defaults(handler=_train_classifier)

    p = groups["eval"].add_parser("classifier", help="accuracy, calibration, throughput, filter")
    _common(p)
    p.add_argument("--model", help="model file (default: the shipped one for --arm)")
    p.add_argument("--seed", type=int, default=0, help="seed of the DLS fallback's restarts")
    p.add_argument("--confidence", type=float, help="filter gate (default: the shipped default)")
    p.add_argument("--no-filter", action="store_true", help="skip the FeasibilityFilter row")
    p.add_argument("--json", type=output_file, help="write the results as JSON here")
    p.add_argument(
        "--plots", type=output_folder, help="directory for confusion-matrix / workspace PNGs"
    )
    p.set_defaults(handler=_eval_classifier)
