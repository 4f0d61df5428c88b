"""Classifier v2: the boundary samples of the training set, the operating point and the
decision rule that follows it, and the evaluation sets (the reference study's mix, the
boundary band)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from ikml_gym import ModelFileError
from ikml_gym.data import (
    ReachabilityOracle,
    boundary_candidates,
    make_classifier_dataset,
    shell_poses,
)
from ikml_gym.learned.classifier import FeasibilityClassifier
from ikml_gym.learned.classifier_eval import (
    binary_counts,
    boundary_band,
    oracle_disagreement,
    study_mix,
)
from ikml_gym.learned.train_classifier import TrainConfig, operating_point, train_classifier


@pytest.fixture(scope="module")
def tiny4(arm4):
    data, header = make_classifier_dataset(arm4, 1500, 600, seed=1, progress=False)
    cfg = TrainConfig(seed=0, epochs=3, hidden=(32, 32), batch_size=256)
    model, _ = train_classifier(
        arm4, data["features"], data["label"], np.array(header["thresholds"]), cfg, progress=False
    )
    return model, data


# ------------------------------------------------------------------ boundary samples
@pytest.mark.parametrize("name", ["arm4", "arm6"])
def test_boundary_candidates_straddle_the_edge(name, request):
    """Pushed along the reach direction to about the edge the oracle finds, roughly half
    of the candidates are reachable (random poses in the 1.5 x reach ball: ~17%, FK
    poses: 100%): the training set gets poses where the answer is hard."""
    arm = request.getfixturevalue(name)
    oracle = ReachabilityOracle(arm)
    feats = boundary_candidates(arm, 2000, np.random.default_rng(0), oracle)
    assert feats.shape == (2000, arm.feature_dim) and np.all(np.isfinite(feats))
    reachable, _ = oracle(feats)
    assert 0.3 < reachable[:1000].mean() < 0.75  # the radial half
    assert 0.3 < reachable.mean() < 0.9
    if arm.feature_kind == "pose7":
        np.testing.assert_allclose(np.linalg.norm(feats[:, 3:7], axis=1), 1.0, atol=1e-12)


def test_boundary_rows_leave_the_reference_rows_and_thresholds_alone(arm4):
    """The boundary rows are drawn after the reference study's rows: the same seed gives
    the same class thresholds (kinv percentiles), so adding them moves no class edge."""
    ref, h_ref = make_classifier_dataset(arm4, 600, 200, seed=4, progress=False, n_boundary=0)
    more, h_more = make_classifier_dataset(arm4, 600, 200, seed=4, progress=False, n_boundary=300)
    assert len(ref["label"]) == 800 and len(more["label"]) == 1100
    assert h_ref["thresholds"] == h_more["thresholds"]
    assert h_more["n_boundary"] == 300 and h_ref["n_boundary"] == 0
    default, h_default = make_classifier_dataset(arm4, 600, 200, seed=4, progress=False)
    assert h_default["n_boundary"] == 360 and len(default["label"]) == 1160


def test_dataset_sizes_are_checked(arm4):
    with pytest.raises(ValueError, match="n_boundary"):
        make_classifier_dataset(arm4, 100, 10, progress=False, n_boundary=-1)


# ------------------------------------------------------------------- operating point
def test_operating_point_is_the_fewest_errors_with_false_reachable_the_rarer():
    rng = np.random.default_rng(0)
    y = rng.random(5000) < 0.6
    p = np.clip(np.where(y, rng.normal(0.75, 0.2, 5000), rng.normal(0.35, 0.25, 5000)), 0, 1)
    op = operating_point(p, y)
    t = op["reach_threshold"]
    said = p > t
    assert op["false_reachable"] == int(np.sum(said & ~y))
    assert op["false_unreachable"] == int(np.sum(~said & y))
    assert op["false_reachable"] <= op["false_unreachable"]
    assert 0.02 <= t <= 0.98
    # no threshold on a fine grid does better under the same constraint
    for g in np.linspace(0.02, 0.98, 961):
        fr, fu = np.sum((p > g) & ~y), np.sum((p <= g) & y)
        if fr <= fu:
            assert fr + fu >= op["false_reachable"] + op["false_unreachable"]


def test_operating_point_may_lie_below_one_half():
    """A model that calls reachable poses unreachable too readily gets a point below 0.5,
    midway between the probabilities it separates."""
    p = np.array([0.1, 0.2, 0.45, 0.7, 0.9])
    y = np.array([False, False, True, True, True])  # one false unreachable at 0.5
    op = operating_point(p, y)
    assert op["reach_threshold"] == pytest.approx(0.325)
    assert op["false_reachable"] == op["false_unreachable"] == 0


def test_trained_model_carries_its_operating_point(tiny4, tmp_path):
    model, _ = tiny4
    op = model.info["operating_point"]
    assert op["reach_threshold"] == model.reach_threshold
    assert op["false_reachable"] <= op["false_unreachable"]
    model.save(tmp_path / "m")
    header = json.loads((tmp_path / "m.json").read_text())
    assert header["reach_threshold"] == model.reach_threshold
    assert FeasibilityClassifier.load(tmp_path / "m").reach_threshold == model.reach_threshold


def test_decision_rule_follows_the_operating_point(tiny4):
    model, data = tiny4
    f = data["features"][:400]
    strict = dataclasses.replace(model, reach_threshold=0.9)
    p = strict.p_reachable(f)
    np.testing.assert_array_equal(strict.is_reachable(f), p > 0.9)
    labels = strict.predict(f)
    np.testing.assert_array_equal(labels > 0, p > 0.9)
    np.testing.assert_array_equal(strict.evaluate(f).label, labels)
    one_by_one = [strict.predict(x) for x in f[:100]]  # the one-pose path: Python floats
    np.testing.assert_array_equal(one_by_one, labels[:100])
    assert isinstance(one_by_one[0], np.integer)
    assert strict.is_reachable(f).sum() <= model.is_reachable(f).sum()
    with pytest.raises(ValueError, match="reach_threshold"):
        dataclasses.replace(model, reach_threshold=1.0)


def test_model_file_operating_point_checked_and_defaulted(tiny4, tmp_path):
    model, _ = tiny4
    model.save(tmp_path / "m")
    header_path = tmp_path / "m.json"
    header = json.loads(header_path.read_text())
    del header["reach_threshold"]  # a file from before the operating point
    header_path.write_text(json.dumps(header))
    assert FeasibilityClassifier.load(tmp_path / "m").reach_threshold == 0.5
    header["reach_threshold"] = 1.5
    header_path.write_text(json.dumps(header))
    with pytest.raises(ModelFileError, match="reach_threshold"):
        FeasibilityClassifier.load(tmp_path / "m")


# ------------------------------------------------------------------- evaluation sets
def test_study_mix_and_band(arm6):
    mix = study_mix(arm6, seed=3, sizes=(500, 500))
    assert mix.features.shape == (1000, 7)
    assert mix.reachable[:500].all()  # FK poses: reachable by construction
    assert 0.05 < mix.reachable[500:].mean() < 0.4  # random poses in the 1.5 x reach ball
    band = boundary_band(arm6, seed=3, n=500)
    r = np.linalg.norm(band.features[:, :3] - arm6.reach_center, axis=1) / arm6.reach
    assert r.min() >= 0.8 and r.max() <= 1.1
    labels = band.labels(np.array([0.03, 0.1]))
    np.testing.assert_array_equal(labels > 0, band.reachable)


def test_shell_poses_checks_its_radii(arm4):
    with pytest.raises(ValueError, match="inner"):
        shell_poses(arm4, 10, np.random.default_rng(0), 1.2, 1.1)


def test_binary_counts():
    c = binary_counts(np.array([True, True, False, False]), np.array([True, False, True, False]))
    assert (c["false_reachable"], c["false_unreachable"], c["binary_correct"]) == (1, 1, 2)


def test_exact_oracle_never_disagrees_with_itself(arm4):
    mix = study_mix(arm4, seed=5, sizes=(100, 100))
    d = oracle_disagreement(arm4, mix, n=100, starts=2)
    assert d["disagree"] == 0 and d["n"] == 100
