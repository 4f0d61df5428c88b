"""``ikml-gym data ik|classifier``: generate datasets."""

from __future__ import annotations

import argparse
import json
import time

from ..arms import load_arm
from ..io import save_dataset
from .arguments import add_classifier_data_options, output_file, positive_int


def _data_ik(args: argparse.Namespace) -> int:
    from ..data import make_ik_dataset

    arm = load_arm(args.arm)
    t0 = time.perf_counter()
    arrays, header = make_ik_dataset(arm, args.n, seed=args.seed, progress=not args.quiet)
    header["seconds"] = round(time.perf_counter() - t0, 3)
    save_dataset(args.out, arrays, header)
    print(json.dumps({"out": str(args.out), **header}))
    return 0


def _data_classifier(args: argparse.Namespace) -> int:
    from ..data import make_classifier_dataset

    arm = load_arm(args.arm)
    t0 = time.perf_counter()
    arrays, header = make_classifier_dataset(
        arm, args.n_reachable, args.n_unreachable, seed=args.seed, progress=not args.quiet,
        n_boundary=args.n_boundary, oracle_starts=args.oracle_starts,
    )  # fmt: skip
    header["seconds"] = round(time.perf_counter() - t0, 3)
    save_dataset(args.out, arrays, header)
    print(json.dumps({"out": str(args.out), **header}))
    return 0


def register_cli(groups: dict[str, argparse._SubParsersAction]) -> None:
    p = groups["data"].add_parser("ik", help="joint samples -> poses (+ closed-form branch)")
    p.add_argument("--arm", default="arm4", help="arm name or URDF path (default arm4)")
    p.add_argument("--n", type=positive_int, default=500_000, help="samples (default 500000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--out", type=output_file, required=True, help="output .npz (written atomically)"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=_data_ik)

    p = groups["data"].add_parser("classifier", help="labelled reachable + unreachable poses")
    p.add_argument("--arm", default="arm6", help="arm name or URDF path (default arm6)")
    p.add_argument("--n-reachable", type=positive_int, default=400_000)
    p.add_argument("--n-unreachable", type=positive_int, default=160_000)
    add_classifier_data_options(p)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--out", type=output_file, required=True, help="output .npz (written atomically)"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=_data_classifier)
