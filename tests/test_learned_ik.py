"""LearnedIK (the clustered regressor): solver interface, call accounting, persistence,
errors, and the branch-clustered sklearn model kept as a baseline in ``benchmarks/models``.

Unit tests train a tiny model (3000 samples, one hidden layer of 32, a few epochs).
The shipped learned IK of each arm is tested in test_shipped_ik.py.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

import ikml_gym
from ikml_gym import ArmMismatchError, ModelFileError
from ikml_gym.data import make_ik_dataset
from ikml_gym.learned.ik import (
    LearnedIK,
    ik_inputs,
    joint_targets,
    joints_from_outputs,
    load_ik,
)
from ikml_gym.learned.train_ik import default_regressor, train_learned_ik
from ikml_gym.solvers import DLSIK, HybridIK, IKResult


@pytest.fixture(scope="module")
def arm4():
    return ikml_gym.load_arm("arm4")


def _tiny(arm, clustering="branch", regressor=None, n=3000, seed=0):
    data, _ = make_ik_dataset(arm, n, seed=seed, progress=False)
    if regressor is None:
        regressor = default_regressor(seed, max_epochs=4).set_params(
            hidden_layer_sizes=(32,), batch_size=200
        )
    return train_learned_ik(
        arm, data["q"], data["features"], data["branch"], clustering=clustering,
        regressor=regressor, seed=seed, progress=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def tiny(arm4):
    model, report = _tiny(arm4)
    return model, report


@pytest.fixture(scope="module")
def targets(arm4):
    data, _ = make_ik_dataset(arm4, 200, seed=99, progress=False)
    return data["features"]


def test_encoding_round_trip():
    q = np.random.default_rng(0).uniform(-np.pi, np.pi, (50, 4))
    np.testing.assert_allclose(joints_from_outputs(joint_targets(q)), q, atol=1e-12)
    f = np.array([[0.1, -0.2, 0.3, np.pi]])
    x = ik_inputs(f)
    assert x.shape == (1, 8)
    np.testing.assert_allclose(x[0, 3:5], [0.0, -1.0], atol=1e-12)  # sin/cos psi: no seam


def test_interface_shapes_and_no_calls(tiny, targets):
    model, report = tiny
    assert isinstance(model, ikml_gym.solvers.IKSolver)
    assert model.numerical is False
    assert model.n_clusters == 4 and report.cluster_sizes and sum(report.cluster_sizes) == 3000
    res = model.solve(targets)
    assert isinstance(res, IKResult)
    assert res.q.shape == (200, 4) and res.success.shape == res.pos_err.shape == (200,)
    assert np.all(model.arm.within_limits(res.q))
    one = model.solve(targets[0])
    assert one.q.shape == (4,) and np.ndim(one.pos_err) == 0
    np.testing.assert_allclose(one.q, res.q[0], atol=1e-5)
    assert model.calls == 0 and model.polish_calls == 0
    assert model.propose(targets).shape == (200, 4, 4)


def test_best_of_clusters_is_the_minimum(tiny, targets):
    model, _ = tiny
    prop = model.propose(targets)
    errs = [model.arm.pose_error(prop[:, k], targets) for k in range(4)]
    score = np.stack([p / model.pos_tol + r / model.rot_tol for p, r in errs], axis=1)
    res = model.solve(targets)
    got = res.pos_err / model.pos_tol + res.rot_err / model.rot_tol
    np.testing.assert_allclose(got, score.min(axis=1), rtol=1e-9)


def test_polish_counts_numerical_calls(tiny, targets):
    model, _ = tiny
    raw = model.solve(targets)
    polished_model = model.with_refine(3)
    res = polished_model.solve(targets)
    assert polished_model.polish_calls == int(np.sum(~raw.success))
    assert polished_model.calls == polished_model.polish_calls  # the polish is what it spends
    assert np.mean(res.pos_err) < np.mean(raw.pos_err)  # DLS steps only accept improvements
    polished_model.reset_calls()
    assert polished_model.calls == 0 and polished_model.polish_calls == 0


def test_batched_matches_single(tiny, targets):
    model, _ = tiny
    batch = model.solve(targets[:5]).q
    for i in range(5):
        # float32 matmul kernels differ between batch sizes in the last bits
        np.testing.assert_allclose(model.solve(targets[i]).q, batch[i], atol=1e-5)


def test_save_load_round_trip(tiny, targets, tmp_path):
    model, _ = tiny
    weights, header = model.save(tmp_path / "m")
    assert weights.suffix == ".safetensors" and header.suffix == ".json"
    meta = json.loads(header.read_text())
    assert meta["kind"] == "learned_ik" and meta["arm"] == "arm4" and meta["clustering"] == "branch"
    loaded = load_ik(str(tmp_path / "m"))
    np.testing.assert_array_equal(loaded.solve(targets).q, model.solve(targets).q)
    also = ikml_gym.load_ik(str(weights))  # either file name works
    np.testing.assert_array_equal(also.solve(targets).q, model.solve(targets).q)


def test_kmeans_clustering_trains_and_saves(arm4, targets, tmp_path):
    model, _report = _tiny(arm4, clustering="kmeans")
    assert model.clustering == "kmeans" and model.centers.shape == (4, 8)
    model.save(tmp_path / "k")
    loaded = load_ik(tmp_path / "k")
    np.testing.assert_array_equal(loaded.solve(targets).q, model.solve(targets).q)
    np.testing.assert_array_equal(loaded.centers, model.centers)


def test_other_regressor_trains_but_cannot_be_saved(arm4, targets, tmp_path):
    from sklearn.linear_model import Ridge

    model, _ = _tiny(arm4, regressor=Ridge(alpha=1.0), n=2000)
    assert model.solve(targets).q.shape == (200, 4)
    with pytest.raises(TypeError, match="only ReLU MLPRegressor"):
        model.save(tmp_path / "ridge")


def test_branch_clustering_needs_branch_ids(arm4):
    data, _ = make_ik_dataset(arm4, 500, seed=0, progress=False)
    with pytest.raises(ValueError, match="branch"):
        train_learned_ik(arm4, data["q"], data["features"], None, progress=False)
    with pytest.raises(ValueError, match="clustering"):
        train_learned_ik(arm4, data["q"], data["features"], data["branch"], clustering="nope")


def test_pose7_arm_is_refused(tiny):
    model, _ = tiny
    with pytest.raises(ValueError, match="pose4"):
        LearnedIK(ikml_gym.load_arm("arm6"), model.nets)


def test_mismatched_arm(tiny, tmp_path):
    model, _ = tiny
    model.save(tmp_path / "m")
    with pytest.raises(ArmMismatchError):
        load_ik(tmp_path / "m", arm=ikml_gym.load_arm("arm6"))
    header = tmp_path / "m.json"
    meta = json.loads(header.read_text())
    meta["urdf_hash"] = "0" * 64
    header.write_text(json.dumps(meta))
    with pytest.raises(ArmMismatchError):
        load_ik(tmp_path / "m")


@pytest.mark.parametrize("damage", ["truncate", "flip", "missing_json", "bad_json"])
def test_damaged_file(tiny, tmp_path, damage):
    model, _ = tiny
    weights, header = model.save(tmp_path / "m")
    if damage == "truncate":
        data = weights.read_bytes()
        weights.write_bytes(data[: len(data) // 2])
    elif damage == "flip":
        data = bytearray(weights.read_bytes())
        data[-10] ^= 0xFF
        weights.write_bytes(bytes(data))
    elif damage == "missing_json":
        header.unlink()
    else:
        header.write_text("{not json")
    with pytest.raises(ModelFileError):
        load_ik(tmp_path / "m")


def test_hybrid_fallback_accounting(tiny, targets):
    model, _ = tiny
    raw = model.solve(targets)
    fallback = DLSIK(model.arm, seed=0)
    hybrid = HybridIK(model.with_refine(0), fallback)
    res = hybrid.solve(targets)
    assert fallback.calls == int(np.sum(~raw.success))  # only the failed guesses
    assert hybrid.calls == fallback.calls
    assert res.success.mean() >= raw.success.mean()
    assert res.success.mean() > 0.95


def test_unknown_shipped_name_is_clear(monkeypatch):
    import ikml_gym.learned.ik as ik_module

    monkeypatch.setattr(ik_module, "has_shipped_model", lambda arm, kind: False)
    with pytest.raises(ModelFileError, match="no pretrained learned IK ships for 'arm6'"):
        load_ik("arm6")


def test_branch_sklearn_baseline_accuracy(sklearn_ik):
    model = sklearn_ik.with_refine(0)
    data, _ = make_ik_dataset(model.arm, 3000, seed=2024, progress=False)
    res = model.solve(data["features"])
    assert model.calls == 0
    assert np.mean(res.pos_err) < 0.010  # metres
    polished = model.with_refine(3).solve(data["features"])
    assert np.mean(polished.success) > 0.98


def test_branch_sklearn_baseline_header():
    from conftest import BRANCH_SKLEARN_IK

    assert BRANCH_SKLEARN_IK.with_suffix(".safetensors").is_file()
    meta = json.loads(BRANCH_SKLEARN_IK.with_suffix(".json").read_text())
    assert meta["arm"] == "arm4" and meta["kind"] == "learned_ik"
    assert meta["clustering"] == "branch" and meta["n_clusters"] == 4
    assert meta["training"]["n_samples"] == 500_000 and meta["training"]["seed"] == 0


def test_load_guess_ik_gives_a_learned_ik_pitch_closure(sklearn_ik, monkeypatch):
    import ikml_gym.learned.ik as ik_module

    monkeypatch.setattr(ik_module, "load_ik", lambda *a, **k: sklearn_ik)
    guess = ik_module.load_guess_ik(sklearn_ik.arm)
    assert isinstance(guess, LearnedIK) and guess.pitch_closure
    assert sklearn_ik.pitch_closure is False


def test_pitch_closure_makes_pitch_exact(tiny, targets):
    model, _ = tiny
    closed = model.with_refine(0, pitch_closure=True)
    res = closed.solve(targets)
    assert np.max(res.rot_err) < 1e-9
    assert closed.calls == 0 and closed.polish_calls == 0
    assert model.pitch_closure is False  # the original is untouched


def test_pitch_closure_refuses_other_chains(tiny, arm4, tmp_path):
    model, _ = tiny
    text = arm4.urdf_path.read_text()
    bent = text.replace(
        '<origin xyz="0 0 0.124" rpy="0 0 0"/>', '<origin xyz="0 0 0.124" rpy="0.3 0 0"/>'
    )
    assert bent != text
    path = tmp_path / "bent.urdf"
    path.write_text(bent)
    other = ikml_gym.load_arm(str(path))
    assert other.feature_kind == "pose4"  # 4 DOF: pose4 features by default
    with pytest.raises(ValueError, match="pitch_closure"):
        LearnedIK(other, model.nets, pitch_closure=True)


def test_training_is_reproducible_from_the_seed(arm4, tiny, targets):
    model, _ = tiny
    again, _ = _tiny(arm4)
    for a, b in zip(model.nets, again.nets):
        for wa, wb in zip(a.weights, b.weights):
            np.testing.assert_array_equal(wa, wb)
    np.testing.assert_array_equal(again.solve(targets).q, model.solve(targets).q)


@pytest.mark.filterwarnings("ignore:Got `batch_size`:UserWarning")  # tiny clusters
def test_cli_train_is_reproducible_and_eval_writes_json(tmp_path, capsys):
    from ikml_gym.cli import main

    args = ["train", "ik", "--n", "3000", "--max-epochs", "2", "--hidden", "16", "--quiet"]
    assert main([*args, "--out", str(tmp_path / "a"), "--plots", str(tmp_path / "p")]) == 0
    assert main([*args, "--out", str(tmp_path / "b")]) == 0
    a = json.loads((tmp_path / "a.json").read_text())
    b = json.loads((tmp_path / "b.json").read_text())
    assert a["weights_sha256"] == b["weights_sha256"]
    assert (tmp_path / "p" / "arm4_ik_branch_curves.png").is_file()
    out = tmp_path / "eval.json"
    code = main(
        ["eval", "ik", "--model", str(tmp_path / "a"), "--n-test", "200", "--n-numerical", "20",
         "--json", str(out), "--plots", str(tmp_path / "p"), "--quiet"]
    )  # fmt: skip
    assert code == 0
    summary = json.loads(out.read_text())
    methods = [r["method"] for r in summary["rows"]]
    assert methods[0] == "sklearn branch-clustered (4)" and "PyBulletIK defaults" in methods
    assert summary["rows"][0]["numerical_calls"] == 0
    assert re.search(r"^\| Method +\| +n \|", capsys.readouterr().out, re.MULTILINE)  # the table
    assert (tmp_path / "p" / "arm4_ik_error_heatmap.png").is_file()
