"""Benchmark of the reachability / conditioning classifier and the FeasibilityFilter.

Writes ``benchmarks/results/classifier_<arm>.json`` and ``.md`` (the table; arm6 keeps
the stem ``classifier``) next to this file, plus PNGs under ``benchmarks/results/plots/``::

    python benchmarks/classifier.py --arm arm6            # the shipped model vs v1
    python benchmarks/classifier.py --arm arm4
    python benchmarks/classifier.py --arm PATH.urdf --model M --data D.npz --name xarm6

Every model (the shipped one, or ``--model``; the baseline, by default the first
shipped classifier kept in ``benchmarks/models/<arm>_classifier_v1``) is measured on:

* its own dataset's test split (the dataset regenerated from the settings in its
  header, or ``--data``): 4-class accuracy, binary reachability by the model's decision
  rule, false "reachable" / false "unreachable", expected calibration error;
* the reference study's reachability test, fresh (``study_mix``: 20,000 FK poses of
  random configurations + 20,000 random poses in a ball of 1.5 x reach), and 20,000
  random poses in the band 0.8-1.1 x reach, both labelled by the oracle (closed form
  where one exists, multi-start DLS otherwise): the same metrics;
* the FeasibilityFilter at the default confidence on the test split and on the mix:
  share answered without a numerical call, wrong reachability answers with the exact
  closed-form fallback (the classifier's share alone) and with the DLS fallback;
* the filter's gate that would make no wrong model answer on the validation split and
  on the mix the operating point was chosen on (``choose_confidence``);
* inference: one ``predict`` call on one pose (median of 2,000, as an env calls it) and
  batched poses/s, in this process, side by side.

For an arm without a closed form the oracle's own error is measured too: a 32-start
oracle relabels 2,000 poses of the mix. Targets are printed met / MISSED.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np

import ikml_gym
from ikml_gym.closed_form import closed_form_for
from ikml_gym.data import ReachabilityOracle, make_classifier_dataset
from ikml_gym.io import atomic_write_json, atomic_write_text, load_dataset
from ikml_gym.learned.classifier import FeasibilityClassifier, load_classifier
from ikml_gym.learned.classifier_eval import (
    FILTER_FALLBACK,
    OPERATING_SEED,
    LabelledPoses,
    boundary_band,
    choose_confidence,
    filter_metrics,
    oracle_disagreement,
    split_metrics,
    study_mix,
    throughput,
    write_plots,
)
from ikml_gym.learned.feasibility import DEFAULT_CONFIDENCE
from ikml_gym.learned.train_classifier import split_indices
from ikml_gym.solvers import DLSIK, AnalyticIK
from ikml_gym.tables import markdown_table

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
MODELS = HERE / "models"
MIX_SEED, BAND_SEED = 20261202, 20261203
#: the reference study's binary reachability on its 80,000 test poses (79,988 / 80,000)
STUDY_BINARY = 79_988 / 80_000


def own_dataset(model: FeasibilityClassifier, data: str | None) -> tuple[np.ndarray, np.ndarray]:
    """The model's training set: ``data`` or regenerated from its header's settings."""
    if data:
        arrays, _ = load_dataset(data)
    else:
        d = model.info.get("data") or {}
        arrays, _ = make_classifier_dataset(
            model.arm,
            d.get("n_reachable", 400_000),
            d.get("n_unreachable", 160_000),
            seed=d.get("seed", 0),
            progress=False,
            n_boundary=d.get("n_boundary", 0),  # files from before boundary samples: none
        )
    return arrays["features"], arrays["label"].astype(np.int64)


def one_pose_us(model: FeasibilityClassifier, feats: np.ndarray, n: int = 2_000) -> float:
    """Median wall time of ``predict`` on one pose (microseconds)."""
    poses = [f for f in feats[:n]]
    for f in poses[:100]:
        model.predict(f)
    times = np.empty(len(poses))
    for i, f in enumerate(poses):
        t0 = time.perf_counter()
        model.predict(f)
        times[i] = time.perf_counter() - t0
    return float(np.median(times) * 1e6)


def filter_rows(
    model: FeasibilityClassifier, feats: np.ndarray, labels: np.ndarray, confidence: float
) -> dict[str, Any]:
    """The filter with the exact fallback (where a closed form exists) and with DLS."""
    out = {
        "dls": filter_metrics(
            model, DLSIK(model.arm, seed=0, **FILTER_FALLBACK), feats, labels, confidence
        )
    }
    if closed_form_for(model.arm) is not None:
        out["exact"] = filter_metrics(model, AnalyticIK(model.arm), feats, labels, confidence)
    return out


def measure(
    model: FeasibilityClassifier,
    data: str | None,
    sets: list[LabelledPoses],
    confidence: float,
    operating: LabelledPoses | None = None,
) -> dict[str, Any]:
    """Everything the table shows for one model."""
    feats, labels = own_dataset(model, data)
    _, va, te = split_indices(labels, int(model.info.get("seed", 0)))
    res: dict[str, Any] = {
        "reach_threshold": model.reach_threshold,
        "hidden": [int(w.shape[1]) for w, _ in model.layers[:-1]],
        "data": model.info.get("data"),
        "train_seconds": model.info.get("train_seconds"),
        "command": model.info.get("command"),
        "val": split_metrics(model, feats[va], labels[va]),
        "test": split_metrics(model, feats[te], labels[te]),
        "confidence_on_val": choose_confidence(model, feats[va], labels[va]),
    }
    if operating is not None:  # the mix the operating point was chosen on
        res["confidence_on_operating_mix"] = choose_confidence(
            model, operating.features, operating.labels(model.thresholds)
        )
    for s in sets:
        res[s.name] = split_metrics(model, s.features, s.labels(model.thresholds))
    res["filter_test"] = filter_rows(model, feats[te], labels[te], confidence)
    mix = sets[0]
    res["filter_mix"] = filter_rows(model, mix.features, mix.labels(model.thresholds), confidence)
    res["one_pose_us"] = one_pose_us(model, feats[te])
    res["throughput"] = throughput(model, feats[te][:200_000])
    res["_plots"] = (feats, labels)
    return res


def _binary(m: dict[str, Any]) -> str:
    return (
        f"{m['binary_correct']:,} / {m['n']:,} ({m['binary_accuracy']:.3%}); "
        f"false reachable {m['false_reachable']}, false unreachable {m['false_unreachable']}"
    )


def _filter(f: dict[str, Any]) -> str:
    d = f["dls"]
    text = f"{d['fraction_without_numerical_call']:.2%} w/o numerical call; wrong: "
    if "exact" in f:
        text += f"{f['exact']['wrong_reachability']} exact fallback, "
    return text + f"{d['wrong_reachability']} DLS fallback (of {d['n']:,})"


def table(results: dict[str, dict[str, Any]], set_names: list[str]) -> str:
    """Metrics down, models across."""
    names = list(results)
    rows: list[list[str]] = []

    def row(label: str, cell) -> None:
        rows.append([label, *(cell(results[n]) for n in names)])

    row(
        "hidden layers / operating point",
        lambda r: f"{r['hidden']} / P(reach) > {r['reach_threshold']:.3f}",
    )
    row("test split: poses (boundary share)", lambda r: _split_size(r))
    row("test: 4-class accuracy", lambda r: f"{r['test']['accuracy']:.3%}")
    row("test: binary reachability", lambda r: _binary(r["test"]))
    row("test: ECE", lambda r: f"{r['test']['ece']:.4f}")
    for s in set_names:
        row(f"{s}: binary reachability", lambda r, s=s: _binary(r[s]))
        row(
            f"{s}: 4-class accuracy / ECE",
            lambda r, s=s: f"{r[s]['accuracy']:.3%} / {r[s]['ece']:.4f}",
        )
    row("filter on test split", lambda r: _filter(r["filter_test"]))
    row("filter on the mix", lambda r: _filter(r["filter_mix"]))
    row("one pose predict (median)", lambda r: f"{r['one_pose_us']:.1f} us")
    row("batched predict", lambda r: f"{r['throughput']['poses_per_s']:,.0f} poses/s")
    return markdown_table(["metric", *names], rows)


def _split_size(r: dict[str, Any]) -> str:
    d = r.get("data") or {}
    total = sum(d.get(k) or 0 for k in ("n_reachable", "n_unreachable", "n_boundary"))
    share = (d.get("n_boundary") or 0) / total if total else 0.0
    return f"{r['test']['n']:,} ({share:.0%})"


def targets(res: dict[str, Any], mix: str) -> dict[str, bool]:
    """The classifier's targets, met or not, for one model's results."""
    t, m, f = res["test"], res[mix], res["filter_mix"]
    out = {
        "mix binary >= 99.985% (<= 6 errors in 40,000)": m["binary_accuracy"] >= STUDY_BINARY,
        "test binary >= 99.985%": t["binary_accuracy"] >= STUDY_BINARY,
        "test 4-class >= 98.5%": t["accuracy"] >= 0.985,
        "false reachable <= false unreachable (test)": t["false_reachable"]
        <= t["false_unreachable"],
        "false reachable <= false unreachable (mix)": m["false_reachable"]
        <= m["false_unreachable"],
    }
    out["filter >= 96% w/o numerical call (mix)"] = (
        f["dls"]["fraction_without_numerical_call"] >= 0.96
    )
    if "exact" in f:
        out["filter <= 1 wrong per 80,000, exact fallback (mix)"] = (
            f["exact"]["wrong_reachability"] <= f["exact"]["n"] / 80_000
        )
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arm", default="arm6", help="arm name or URDF path")
    ap.add_argument("--name", help="name in the output files (default: the arm's)")
    ap.add_argument("--model", help="model file (default: the shipped one)")
    ap.add_argument("--data", help="the model's dataset .npz (default: regenerated)")
    ap.add_argument(
        "--baseline", help="baseline model (default benchmarks/models/<arm>_classifier_v1)"
    )
    ap.add_argument(
        "--candidates", nargs="*", default=[], help="more model files to compare (LABEL=PATH)"
    )
    ap.add_argument("--confidence", type=float, default=DEFAULT_CONFIDENCE)
    ap.add_argument("--out", default=str(RESULTS))
    args = ap.parse_args()

    arm = ikml_gym.load_arm(args.arm)
    name = args.name or arm.name
    models: dict[str, tuple[FeasibilityClassifier, str | None]] = {
        "v2 shipped" if not args.model else "v2": (
            load_classifier(args.model or arm.name, arm=arm),
            args.data,
        )
    }
    base = args.baseline or (MODELS / f"{arm.name}_classifier_v1")
    if Path(f"{base}.json").exists():
        models["v1 (reference recipe)"] = (load_classifier(str(base), arm=arm), None)
    for spec in args.candidates:
        label, path = spec.split("=", 1)
        models[label] = (load_classifier(path, arm=arm), None)

    t0 = time.perf_counter()
    oracle = ReachabilityOracle(arm, seed=MIX_SEED)
    sets = [study_mix(arm, MIX_SEED, oracle=oracle), boundary_band(arm, BAND_SEED, oracle=oracle)]
    label_s = time.perf_counter() - t0
    operating = study_mix(arm, OPERATING_SEED, oracle=oracle)
    results = {
        label: measure(model, data, sets, args.confidence, operating)
        for label, (model, data) in models.items()
    }
    first = next(iter(results))
    feats, labels = results[first]["_plots"]
    for r in results.values():
        r.pop("_plots")
    out: dict[str, Any] = {
        "arm": name,
        "models": results,
        "sets": {
            s.name: {"n": len(s.reachable), "reachable_share": float(s.reachable.mean())}
            for s in sets
        },
        "set_seeds": {"mix": MIX_SEED, "band": BAND_SEED},
        "oracle": "closed_form" if oracle.exact else f"multi_start_dls x{oracle.starts}",
        "labelling_seconds": round(label_s, 1),
        "confidence": args.confidence,
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform()},
    }
    if not oracle.exact:
        out["oracle_disagreement"] = oracle_disagreement(arm, sets[0])
    out["targets"] = targets(results[first], sets[0].name)

    text = table(results, [s.name for s in sets])
    if "oracle_disagreement" in out:
        d = out["oracle_disagreement"]
        text += (
            f"\n\noracle check: a {d['starts']}-start oracle disagrees on {d['disagree']} of "
            f"{d['n']:,} mix poses ({d['rate']:.2%}; {d['found_by_stronger_only']} reachable "
            "poses the 4-start oracle missed)"
        )
    print(text)
    for k, v in out["targets"].items():
        print(f"target {k}: {'met' if v else 'MISSED'}")
    dest = Path(args.out)
    dest.mkdir(parents=True, exist_ok=True)
    write_plots(models[first][0], {"test": results[first]["test"]}, feats, labels, dest / "plots")
    stem = "classifier" if name == "arm6" else f"classifier_{name}"
    atomic_write_json(dest / f"{stem}.json", out)
    atomic_write_text(dest / f"{stem}.md", text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
