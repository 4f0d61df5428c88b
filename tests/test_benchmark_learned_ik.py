"""``python benchmarks/learned_ik.py``: the learned-IK benchmark of one arm runs, leaves out
rows whose model file is missing (with a note), writes its JSON and .md and judges the
targets (tiny sizes and a random-weight model here: every target is missed)."""

from __future__ import annotations

import importlib.util
import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from ikml_gym.errors import ArmMismatchError
from ikml_gym.learned.mh_encoding import input_spec
from ikml_gym.learned.mh_ik import MultiHypothesisIK

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "learned_ik.py"
TINY = ["--n-test", "16", "--n-numerical", "2", "--n-latency", "2"]


def _benchmark():
    spec = importlib.util.spec_from_file_location("learned_ik_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _save_random_model(arm, stem: Path) -> Path:
    rng = np.random.default_rng(0)
    dims = [len(input_spec(arm)), 8, 2 * arm.dof * 2]
    weights = [rng.standard_normal((a, b)) for a, b in itertools.pairwise(dims)]
    MultiHypothesisIK(arm, weights, [np.zeros(b) for b in dims[1:]], n_heads=2).save(stem)
    return stem


@pytest.mark.parametrize("name", ["arm4", "arm6"])
def test_learned_ik_benchmark_runs_for_both_arms(resolve_arm, tmp_path, capsys, name):
    arm = resolve_arm(name)
    v2 = _save_random_model(arm, tmp_path / "v2")
    missing = [str(tmp_path / "nothing")]
    args = ["--arm", name, "--v2", str(v2), *TINY]
    args += ["--branch-sklearn", *missing, "--kmeans", *missing, "--v2-branch", *missing]
    args += ["--v2-wta", *missing]
    assert _benchmark().main([*args, "--out-dir", str(tmp_path / "out")]) == 0
    printed = capsys.readouterr().out
    assert "note: row 'branch sklearn' left out: no model file" in printed
    assert "note: row 'KMeans sklearn (reference study)' left out: no model file" in printed
    assert "note: row 'v2 branch-supervised' left out: no model file" in printed
    assert "note: row 'v2 winner-take-all' left out: no model file" in printed
    result = json.loads((tmp_path / "out" / f"learned_ik_{name}.json").read_text())
    methods = [r["method"] for r in result["table"]["rows"]]
    assert methods[:3] == [
        "v2 shipped: winner-take-all",
        "v2 shipped: winner-take-all + polish (<= 3 DLS steps)",
        "HybridIK (v2 shipped: winner-take-all -> PyBulletIK tuned)",
    ]
    assert methods[-1] == "AnalyticIK (exact reference)"
    assert len(result["targets"]) == 4 and not any(t["met"] for t in result["targets"].values())
    assert printed.count("MISS ") == 4
    md = (tmp_path / "out" / f"learned_ik_{name}.md").read_text()
    assert md.startswith("`python benchmarks/learned_ik.py --arm") and "| Method" in md
    assert (tmp_path / "out" / "plots" / f"{name}_ik_error_heatmap.png").is_file()


def test_learned_ik_benchmark_refuses_a_model_of_the_other_arm(arm4, tmp_path):
    v2 = _save_random_model(arm4, tmp_path / "v2")
    with pytest.raises(ArmMismatchError):
        _benchmark().main(["--arm", "arm6", "--v2", str(v2), *TINY, "--out-dir", str(tmp_path)])
