"""Does retraining from the CLI with the same seed reproduce the shipped models?

For each shipped model asked for, re-runs the ``ikml-gym train`` command recorded
in its header into a scratch folder, evaluates the shipped and
the retrained model on the same data, and compares the numbers (target: within
0.1 percentage point) and the weight files (SHA-256)::

    python benchmarks/reproduce.py                      # arm4 classifier (~15 min CPU)
    python benchmarks/reproduce.py --models arm4_classifier arm4_ik arm6_classifier arm6_ik

Classifiers: 4-class and binary accuracy on the 80,000 test poses of the seed-0
dataset (the split the model never trained on). Learned IK: the raw answer's
position error (mean, median) and the share within 1 mm / 1 deg on 10,000 held-out
targets (test seed 12345). Prints a table; writes ``benchmarks/results/reproduce.json``.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import ikml_gym
from ikml_gym.io import atomic_write_json, model_paths, sha256_file
from ikml_gym.tables import markdown_table

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
PRETRAINED = Path(ikml_gym.__file__).resolve().parent / "pretrained"
TOLERANCE_PP = 0.1


def training_command(name: str) -> list[str]:
    """The ``ikml-gym train`` arguments the shipped model ``name`` was made with (recorded
    in its header), minus the paths of that run: --out, --checkpoint (a retraining must
    start from scratch, not resume the original run's checkpoint) and --plots."""
    header = json.loads(model_paths(PRETRAINED / name)[1].read_text())
    command = header.get("training", {}).get("command")
    if not command:
        raise SystemExit(f"{name}: its header records no training command to reproduce")
    words = shlex.split(command)
    for flag in ("--out", "--checkpoint", "--plots"):
        if flag in words:
            i = words.index(flag)
            del words[i : i + 2]
    return words[1:]  # without the program name


def classifier_metrics(path: Path, arm_name: str) -> dict[str, float]:
    from ikml_gym.data import make_classifier_dataset
    from ikml_gym.learned.classifier import load_classifier
    from ikml_gym.learned.classifier_eval import split_metrics
    from ikml_gym.learned.train_classifier import split_indices

    model = load_classifier(path)
    arrays, _ = make_classifier_dataset(model.arm, seed=0, progress=False)
    labels = arrays["label"].astype(np.int64)
    _, _, test = split_indices(labels, int(model.info.get("seed", 0)))
    m = split_metrics(model, arrays["features"][test], labels[test])
    return {
        "test_accuracy_pct": 100 * m["accuracy"],
        "binary_accuracy_pct": 100 * m["binary_accuracy"],
    }


def ik_metrics(path: Path, arm_name: str) -> dict[str, float]:
    from ikml_gym.data import make_ik_dataset
    from ikml_gym.learned.ik import load_ik

    model = load_ik(path)
    data, _ = make_ik_dataset(model.arm, 10_000, seed=12345, progress=False)
    res = model.solve(data["features"])
    return {
        "pos_err_mean_mm": 1e3 * float(res.pos_err.mean()),
        "pos_err_median_mm": 1e3 * float(np.median(res.pos_err)),
        "within_1mm_1deg_pct": 100 * float(res.success.mean()),
    }


def reproduce(name: str, scratch: Path) -> dict:
    arm_name = name.split("_")[0]
    args = [*training_command(name), "--out", str(scratch / name), "--quiet"]
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "ikml_gym.cli", *args], check=True)
    seconds = time.perf_counter() - t0
    metrics = ik_metrics if name.endswith("_ik") else classifier_metrics
    shipped = metrics(PRETRAINED / name, arm_name)
    retrained = metrics(scratch / name, arm_name)
    same_weights = sha256_file(model_paths(PRETRAINED / name)[0]) == sha256_file(
        model_paths(scratch / name)[0]
    )
    rows = {}
    for key in shipped:
        diff = retrained[key] - shipped[key]
        ok = (
            abs(diff) <= TOLERANCE_PP
            if key.endswith("_pct")
            else abs(diff) <= 0.01 * abs(shipped[key])
        )
        rows[key] = {"shipped": shipped[key], "retrained": retrained[key], "diff": diff, "ok": ok}
    return {
        "command": "ikml-gym " + " ".join(args[:-3]),
        "train_seconds": round(seconds, 1),
        "weights_identical": same_weights,
        "metrics": rows,
        "ok": all(r["ok"] for r in rows.values()),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--models", nargs="+", default=["arm4_classifier"],
        choices=["arm4_classifier", "arm6_classifier", "arm4_ik", "arm6_ik"],
    )  # fmt: skip
    ap.add_argument("--json", default=str(RESULTS / "reproduce.json"))
    ap.add_argument(
        "--workdir", help="keep the retrained models here (default: a temporary folder)"
    )
    args = ap.parse_args()

    results = {}
    with tempfile.TemporaryDirectory(prefix="ikml_reproduce_") as tmp:
        workdir = Path(args.workdir or tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        for name in args.models:
            results[name] = reproduce(name, workdir)
            print(f"{name}: retrained in {results[name]['train_seconds']} s", flush=True)

    cells = []
    for name, r in results.items():
        for key, m in r["metrics"].items():
            cells.append([
                name, key, f"{m['shipped']:.4f}", f"{m['retrained']:.4f}", f"{m['diff']:+.4f}",
                "yes" if m["ok"] else "NO",
            ])  # fmt: skip
        cells.append(
            [name, "weights bit-identical", "", "", "", "yes" if r["weights_identical"] else "no"]
        )
    print(
        markdown_table(
            ["model", "metric", "shipped", "retrained", "difference", "within tolerance"], cells
        )
    )
    report = {
        "command": " ".join(["python benchmarks/reproduce.py", "--models", *args.models]),
        "tolerance_pp": TOLERANCE_PP,
        "results": results,
    }
    atomic_write_json(args.json, report)
    print(f"wrote {args.json}")
    return 0 if all(r["ok"] for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
