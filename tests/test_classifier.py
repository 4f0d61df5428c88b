"""FeasibilityClassifier: API, persistence, errors, the shipped pretrained models.

Unit tests train a tiny model (3000 poses, two hidden layers of 32, 3 epochs on
CPU); the shipped-model tests run only where ``ikml_gym/pretrained/<arm>_classifier``
exists.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import ikml_gym
from ikml_gym import ArmMismatchError, InvalidInputError, ModelFileError
from ikml_gym.data import make_classifier_dataset
from ikml_gym.learned.classifier import (
    FeasibilityClassifier,
    input_features,
    input_spec,
    load_classifier,
    pretrained_path,
)
from ikml_gym.learned.classifier_eval import (
    choose_confidence,
    confusion_matrix,
    expected_calibration_error,
)
from ikml_gym.learned.train_classifier import TrainConfig, split_indices, train_classifier


def _tiny(arm, n=3000, seed=0):
    data, header = make_classifier_dataset(
        arm, n_reachable=int(n * 5 / 7), n_unreachable=n - int(n * 5 / 7), seed=seed, progress=False
    )
    cfg = TrainConfig(seed=seed, epochs=3, hidden=(32, 32), batch_size=256)
    model, hist = train_classifier(
        arm, data["features"], data["label"], np.array(header["thresholds"]), cfg, progress=False
    )
    return model, hist, data


@pytest.fixture(scope="module")
def tiny6():
    return _tiny(ikml_gym.load_arm("arm6"))


@pytest.fixture(scope="module")
def tiny4():
    return _tiny(ikml_gym.load_arm("arm4"))


@pytest.mark.parametrize("which", ["tiny6", "tiny4"])
def test_api_shapes(which, request):
    model, hist, data = request.getfixturevalue(which)
    f = data["features"][:50]
    proba = model.predict_proba(f)
    assert proba.shape == (50, 4)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-9)
    assert np.all(proba >= 0)
    pred = model.predict(f)
    assert pred.shape == (50,) and pred.dtype.kind == "i"
    # the decision rule: reachable above the operating point, then the likeliest class 1-3
    t = model.reach_threshold
    assert 0.02 <= t <= 0.98
    reachable = 1.0 - proba[:, 0] > t
    np.testing.assert_array_equal(pred, np.where(reachable, np.argmax(proba[:, 1:], axis=1) + 1, 0))
    conf = model.confidence(f)
    np.testing.assert_allclose(conf, proba.max(axis=1))
    reach = model.is_reachable(f)
    assert reach.shape == (50,) and reach.dtype == bool
    np.testing.assert_array_equal(reach, reachable)
    assert len(hist["val_loss"]) == 3 and 1 <= hist["best_epoch"] <= 3


def test_single_pose_and_empty(tiny6):
    model, _, data = tiny6
    one = data["features"][0]
    assert model.predict_proba(one).shape == (4,)
    assert np.ndim(model.predict(one)) == 0
    assert isinstance(bool(model.is_reachable(one)), bool)
    assert model.predict(data["features"][0:1]).shape == (1,)
    np.testing.assert_allclose(
        model.predict_proba(one), model.predict_proba(data["features"][:3])[0], atol=1e-6
    )
    assert model.predict_proba(np.zeros((0, 7))).shape == (0, 4)


def test_quaternion_sign_does_not_matter(tiny6):
    model, _, data = tiny6
    f = data["features"][:20].copy()
    g = f.copy()
    g[:, 3:] *= -1
    np.testing.assert_allclose(model.predict_proba(f), model.predict_proba(g), atol=1e-6)


@pytest.mark.parametrize(
    "bad",
    [np.zeros((3, 6)), np.full((2, 7), np.nan), np.zeros((2, 7)), "pose", np.zeros((2, 2, 7))],
)
def test_invalid_input(tiny6, bad):
    with pytest.raises(InvalidInputError):
        tiny6[0].predict(bad)


def test_save_load_identical(tiny6, tmp_path):
    model = tiny6[0]
    f = tiny6[2]["features"][:200]
    model.save(tmp_path / "m")
    assert (tmp_path / "m.safetensors").is_file() and (tmp_path / "m.json").is_file()
    back = FeasibilityClassifier.load(tmp_path / "m.safetensors")
    np.testing.assert_array_equal(back.predict_proba(f), model.predict_proba(f))
    np.testing.assert_array_equal(back.thresholds, model.thresholds)
    again = load_classifier(str(tmp_path / "m"))
    np.testing.assert_array_equal(again.predict(f), model.predict(f))


def test_arm_mismatch(tiny6, tmp_path):
    tiny6[0].save(tmp_path / "m")
    with pytest.raises(ArmMismatchError, match="arm6"):
        FeasibilityClassifier.load(tmp_path / "m", arm=ikml_gym.load_arm("arm4"))


def test_damaged_files(tiny6, tmp_path):
    tiny6[0].save(tmp_path / "m")
    weights = tmp_path / "m.safetensors"
    raw = bytearray(weights.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    weights.write_bytes(bytes(raw))
    with pytest.raises(ModelFileError, match="damaged"):
        FeasibilityClassifier.load(tmp_path / "m")
    tiny6[0].save(tmp_path / "t")
    (tmp_path / "t.safetensors").write_bytes(b"\x00" * 10)
    with pytest.raises(ModelFileError):
        FeasibilityClassifier.load(tmp_path / "t")
    tiny6[0].save(tmp_path / "h")
    (tmp_path / "h.json").write_text("{not json")
    with pytest.raises(ModelFileError):
        FeasibilityClassifier.load(tmp_path / "h")
    with pytest.raises(ModelFileError, match="missing"):
        FeasibilityClassifier.load(tmp_path / "nothing")


def test_header_fields(tiny6, tmp_path):
    tiny6[0].save(tmp_path / "m")
    header = json.loads((tmp_path / "m.json").read_text())
    assert header["kind"] == "feasibility_classifier" and header["arm"] == "arm6"
    assert len(header["thresholds"]) == 2 and header["thresholds"][0] < header["thresholds"][1]
    assert header["input_spec"]["feature_kind"] == "pose7"
    assert header["training"]["seed"] == 0 and "history" in header["training"]


def test_training_reproducible(arm4):
    data, header = make_classifier_dataset(arm4, 700, 300, seed=3, progress=False)
    cfg = TrainConfig(seed=1, epochs=2, hidden=(16,), batch_size=128)
    args = (arm4, data["features"], data["label"], np.array(header["thresholds"]), cfg)
    a, _ = train_classifier(*args, progress=False)
    b, _ = train_classifier(*args, progress=False)
    for (wa, ba), (wb, bb) in zip(a.layers, b.layers):
        np.testing.assert_array_equal(wa, wb)
        np.testing.assert_array_equal(ba, bb)


def test_split_is_stratified_and_disjoint():
    labels = np.repeat(np.arange(4), [700, 1400, 2100, 2800])
    tr, va, te = split_indices(labels, 0)
    assert len(tr) + len(va) + len(te) == len(labels)
    assert len(np.intersect1d(tr, va)) == len(np.intersect1d(tr, te)) == 0
    np.testing.assert_array_equal(np.bincount(labels[te]), [100, 200, 300, 400])
    np.testing.assert_array_equal(np.bincount(labels[va]), [100, 200, 300, 400])
    tr2, _, _ = split_indices(labels, 0)
    np.testing.assert_array_equal(tr, tr2)


def test_input_features_deterministic(arm6, arm4, rng):
    for arm, dim in ((arm6, 23), (arm4, 14)):
        f = arm.fk_features(arm.random_q(10, rng))
        x = input_features(f, input_spec(arm))
        assert x.shape == (10, dim) and np.all(np.isfinite(x))
    # arm6: the wrist point is the origin of the last joint
    q = arm6.random_q(5, rng)
    f = arm6.fk_features(q)
    x = input_features(f, input_spec(arm6))
    t = arm6.fk_matrix(q)
    tip = arm6.chain.tip[:3, 3]
    np.testing.assert_allclose(x[:, 16:19], t[:, :3, 3] - t[:, :3, :3] @ tip, atol=1e-12)


def test_metrics_helpers():
    proba = np.array([[0.9, 0.1, 0, 0], [0.2, 0.8, 0, 0], [0.6, 0.4, 0, 0]])
    labels = np.array([0, 1, 1])
    assert confusion_matrix(labels, np.array([0, 1, 0])).tolist()[1] == [1, 1, 0, 0]
    ece = expected_calibration_error(proba, labels)
    assert 0 <= ece <= 1


def test_choose_confidence(tiny6):
    model, _, data = tiny6
    r = choose_confidence(model, data["features"], data["label"])
    gate = np.maximum(model.p_reachable(data["features"]), 1 - model.p_reachable(data["features"]))
    wrong = model.is_reachable(data["features"]) != (data["label"] > 0)
    assert not np.any(wrong & (gate > r["confidence"]))


def test_cli_train_and_eval(tmp_path):
    from ikml_gym.cli import main
    from ikml_gym.io import save_dataset

    arm = ikml_gym.load_arm("arm4")
    data, header = make_classifier_dataset(arm, 1400, 600, seed=2, progress=False)
    save_dataset(tmp_path / "d.npz", data, header)
    out = tmp_path / "m"
    rc = main(["train", "classifier", "--arm", "arm4", "--data", str(tmp_path / "d.npz"),
               "--epochs", "2", "--out", str(out), "--plots", str(tmp_path), "--quiet"])  # fmt: skip
    assert rc == 0 and (tmp_path / "m.safetensors").is_file()
    assert (tmp_path / "arm4_classifier_learning_curve.png").is_file()
    rc = main(["eval", "classifier", "--arm", "arm4", "--model", str(out), "--data",
               str(tmp_path / "d.npz"), "--json", str(tmp_path / "r.json"), "--quiet",
               "--plots", str(tmp_path)])  # fmt: skip
    assert rc == 0
    res = json.loads((tmp_path / "r.json").read_text())
    assert res["test"]["n"] > 0 and "filter" in res
    assert (tmp_path / "arm4_classifier_confusion.png").is_file()
    # a model for arm4 evaluated as arm6: one-line error, exit 1
    assert main(["eval", "classifier", "--arm", "arm6", "--model", str(out), "--no-filter",
                 "--data", str(tmp_path / "d.npz")]) == 1  # fmt: skip


# --------------------------------------------------------------- shipped models
def _shipped(name):
    assert pretrained_path(name).with_suffix(".safetensors").is_file(), f"{name} weights must ship"
    return ikml_gym.load_classifier(name)


@pytest.mark.parametrize("name", ["arm6", "arm4"])
def test_shipped_model_accuracy(name):
    """On a fresh sample of the reference study's reachability test (FK poses of random
    configurations + random poses in a ball of 1.5 x reach, closed-form labels): the
    benchmark's 40,000-pose numbers, within sampling noise."""
    from ikml_gym.learned.classifier_eval import study_mix

    model = _shipped(name)
    assert model.arm.name == name
    mix = study_mix(model.arm, seed=2024, sizes=(2000, 2000))
    labels = mix.labels(model.thresholds)
    assert np.mean(model.predict(mix.features) == labels) > 0.97
    said = model.is_reachable(mix.features)
    assert np.mean(said == mix.reachable) > 0.997
    assert np.sum(said & ~mix.reachable) <= np.sum(~said & mix.reachable) + 3


def test_shipped_model_wrong_arm():
    _shipped("arm6")
    with pytest.raises(ArmMismatchError):
        load_classifier("arm6", arm=ikml_gym.load_arm("arm4"))
