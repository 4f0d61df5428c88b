"""FeasibilityFilter: the classifier where it is sure, the fallback solver elsewhere (calls counted)."""

from __future__ import annotations

import numpy as np
import pytest

import ikml_gym
from ikml_gym.data import make_classifier_dataset
from ikml_gym.learned.classifier_eval import filter_metrics
from ikml_gym.learned.feasibility import FeasibilityFilter, FeasibilityResult
from ikml_gym.learned.train_classifier import TrainConfig, train_classifier
from ikml_gym.solvers import DLSIK, AnalyticIK


@pytest.fixture(scope="module")
def setup4():
    arm = ikml_gym.load_arm("arm4")
    data, header = make_classifier_dataset(arm, 2100, 900, seed=5, progress=False)
    cfg = TrainConfig(seed=0, epochs=3, hidden=(32, 32), batch_size=256)
    model, _ = train_classifier(
        arm, data["features"], data["label"], np.array(header["thresholds"]), cfg, progress=False
    )
    return arm, model, data


def test_confidence_one_sends_everything(setup4):
    arm, model, data = setup4
    f = data["features"][:40]
    filt = FeasibilityFilter(model, DLSIK(arm, seed=0), confidence=1.0)
    res = filt.query(f)
    assert isinstance(res, FeasibilityResult) and len(res) == 40
    assert not res.from_model.any()
    assert filt.calls == filt.fallback.calls == 40
    assert res.fraction_from_model == 0.0
    # where the fallback solved, q is its solution and reproduces the pose
    ok = res.reachable
    assert np.isnan(res.q[~ok]).all()
    if ok.any():
        pos_err, _ = arm.pose_error(res.q[ok], arm.check_features(f[ok])[0])
        assert pos_err.max() < 1e-3


def test_confidence_zero_sends_nothing(setup4):
    arm, model, data = setup4
    filt = FeasibilityFilter(model, DLSIK(arm), confidence=0.0)
    res = filt.query(data["features"][:300])
    assert res.from_model.all() and filt.calls == 0
    np.testing.assert_array_equal(res.reachable, model.is_reachable(data["features"][:300]))
    assert np.all((res.label > 0) == res.reachable)


def test_calls_only_where_unsure(setup4):
    arm, model, data = setup4
    f = data["features"][:500]
    filt = FeasibilityFilter(model, DLSIK(arm), confidence=0.9)
    gate = filt.gate_probability(f)
    res = filt.query(f)
    np.testing.assert_array_equal(res.from_model, gate > 0.9)
    assert filt.calls == int(np.sum(gate <= 0.9))
    np.testing.assert_allclose(res.confidence, gate)
    filt2 = FeasibilityFilter(model, DLSIK(arm), confidence=0.9, gate="class")
    res2 = filt2.query(f)
    np.testing.assert_array_equal(res2.from_model, model.confidence(f) > 0.9)
    assert filt2.calls == int((~res2.from_model).sum())


def test_exact_fallback_is_always_right(setup4):
    """With a closed-form fallback the filter's reachability equals the oracle where asked."""
    arm, model, data = setup4
    f, labels = data["features"][:300], data["label"][:300]
    m = filter_metrics(model, AnalyticIK(arm), f, labels, confidence=0.99)
    assert m["wrong_from_fallback"] == 0
    assert m["fallback_calls"] == 0  # closed form is not a numerical call
    assert m["n"] == 300 and 0 <= m["answered_without_numerical_call"] <= 300


def test_single_pose_and_validation(setup4):
    arm, model, data = setup4
    filt = FeasibilityFilter(model, DLSIK(arm), confidence=1.0)
    res = filt.query(data["features"][0])
    assert res.reachable.shape == (1,) and filt.calls == 1
    with pytest.raises(ValueError):
        FeasibilityFilter(model, DLSIK(arm), confidence=1.5)
    with pytest.raises(ValueError):
        FeasibilityFilter(model, DLSIK(arm), gate="other")
    with pytest.raises(ValueError, match="arm"):
        FeasibilityFilter(model, DLSIK(ikml_gym.load_arm("arm6")))
    with pytest.raises(TypeError):
        FeasibilityFilter(model, object())
    with pytest.raises(ikml_gym.InvalidInputError):
        filt.query(np.zeros((2, 3)))


def test_default_fallback_is_tight_dls(setup4):
    _arm, model, data = setup4
    filt = FeasibilityFilter(model, confidence=1.0)
    assert isinstance(filt.fallback, DLSIK) and filt.fallback.pos_tol == 1e-4
    res = filt.query(data["features"][:5])
    assert filt.calls == 5 and len(res) == 5
