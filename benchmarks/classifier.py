"""Benchmark of the reachability / conditioning classifier and the FeasibilityFilter.

Writes ``benchmarks/results/classifier.json`` (and ``classifier.md``, the table)
next to this file, plus PNGs under ``benchmarks/results/plots/``::

    python benchmarks/classifier.py [--arm arm6] [--data data/cls/arm6_cls.npz]

Measured on the shipped model and the 560,000-pose dataset of seed 0 (the one
it was trained on; the split is recomputed from the seed in the model header,
so "test" is the 80,000 poses training never saw):

* training / validation accuracy and loss, test accuracy (4-class), binary
  reachability "k / n", expected calibration error, confusion matrix;
* batched CPU throughput (poses/s, ``predict_proba`` on 200,000 poses, best of 3);
* the FeasibilityFilter on the 80,000 test poses with a DLSIK fallback
  (``classifier_eval.FILTER_FALLBACK``: 60 iterations, 30 restarts, success at
  0.1 mm / 1e-4 rad): share answered without a numerical call,
  wrong reachability answers counted against the closed-form oracle (split
  into the classifier's and the fallback's), fallback calls; and the same with
  the exact closed-form "fallback" to isolate the classifier's share;
* each target, met or not.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np

import ikml_gym
from ikml_gym.data import make_classifier_dataset
from ikml_gym.io import atomic_write_json, atomic_write_text, load_dataset
from ikml_gym.learned.classifier import load_classifier
from ikml_gym.learned.classifier_eval import (
    FILTER_FALLBACK,
    evaluate,
    filter_metrics,
    format_table,
    write_plots,
)
from ikml_gym.learned.feasibility import DEFAULT_CONFIDENCE
from ikml_gym.learned.train_classifier import split_indices
from ikml_gym.solvers import DLSIK, AnalyticIK

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arm", default="arm6")
    ap.add_argument("--data", help="dataset .npz (default: generate seed 0, ~45 s for arm6)")
    ap.add_argument("--confidence", type=float, default=DEFAULT_CONFIDENCE)
    ap.add_argument("--out", default=str(RESULTS))
    args = ap.parse_args()

    arm = ikml_gym.load_arm(args.arm)
    model = load_classifier(arm.name)
    t0 = time.perf_counter()
    if args.data:
        arrays, _ = load_dataset(args.data)
    else:
        arrays, _ = make_classifier_dataset(arm, seed=0)
    data_s = time.perf_counter() - t0
    feats, labels = arrays["features"], arrays["label"].astype(np.int64)
    res = evaluate(
        model,
        feats,
        labels,
        fallback=DLSIK(arm, seed=0, **FILTER_FALLBACK),
        confidence=args.confidence,
    )
    res["filter"]["fallback_settings"] = FILTER_FALLBACK
    _, _, te = split_indices(labels, int(model.info.get("seed", 0)))
    res["filter_exact_fallback"] = filter_metrics(
        model, AnalyticIK(arm), feats[te], labels[te], args.confidence
    )
    res["data_seconds"] = round(data_s, 1)
    res["machine"] = {"cpu_count": os.cpu_count(), "platform": platform.platform()}
    t, f = res["test"], res["filter"]
    res["targets"] = {
        "test_accuracy>=0.96": t["accuracy"] >= 0.96,
        "binary>=0.9998": t["binary_accuracy"] >= 0.9998,
        "filter_without_numerical_call>=0.95": f["fraction_without_numerical_call"] >= 0.95,
        "filter_wrong<=1_per_80000": f["wrong_reachability"] <= f["n"] / 80_000,
        "throughput>=200000": res["throughput_poses_per_s"] >= 200_000,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    table = format_table(res)
    fx = res["filter_exact_fallback"]
    table += (
        f"\nfilter with the exact closed-form fallback: wrong reachability "
        f"{fx['wrong_reachability']} / {fx['n']:,}"
    )
    print(table)
    for k, v in res["targets"].items():
        print(f"target {k}: {'met' if v else 'MISSED'}")
    write_plots(model, res, feats, labels, out / "plots")
    stem = "classifier" if arm.name == "arm6" else f"classifier_{arm.name}"
    atomic_write_json(out / f"{stem}.json", res)
    atomic_write_text(out / f"{stem}.md", "```\n" + table + "\n```\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
