"""The shipped learned IK of every shipped arm: what ``ikml_gym.load_ik(arm)`` promises.

Accuracy is the network's own answer (best of its heads after the FK check; no
numerical step), on held-out random reachable poses (a seed the training never used).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import ikml_gym
from ikml_gym.learned.ik import load_guess_ik, pretrained_path
from ikml_gym.learned.mh_ik import MultiHypothesisIK
from ikml_gym.learned.mh_ik_file import KIND

N_HELDOUT = 2000
HELDOUT_SEED = 2024
# What the shipped files achieve, with a small margin, as a guard against a worse model
# shipping (the README's learned-IK tables give the measured numbers and the targets).
#: arm4: share of poses within ARM4_POS_TOL and ARM4_ROT_TOL, and the mean position error
ARM4_POS_TOL_M, ARM4_ROT_TOL_DEG = 0.001, 1.0
ARM4_MIN_WITHIN = 0.93
ARM4_MAX_MEAN_POS_M = 0.0005
#: arm6: share of poses within a third of the reach env's success distance and 3 degrees,
#: and the median position (m) and orientation (deg) errors
ARM6_POS_TOL_M, ARM6_ROT_TOL_DEG = 0.017, 3.0
ARM6_MIN_WITHIN = 0.75
ARM6_MAX_MEDIAN_POS_M, ARM6_MAX_MEDIAN_ROT_DEG = 0.0055, 1.4


def _heldout_answers(name: str):
    model = ikml_gym.load_ik(name)
    arm = model.arm
    poses = arm.fk_features(arm.random_q(N_HELDOUT, np.random.default_rng(HELDOUT_SEED)))
    return model, model.solve(poses)


@pytest.mark.parametrize("name", ["arm4", "arm6"])
def test_load_ik_gives_the_multi_hypothesis_model(name):
    model = ikml_gym.load_ik(name)
    assert isinstance(model, MultiHypothesisIK) and model.arm.name == name
    assert model.numerical is False
    meta = json.loads(pretrained_path(name).with_suffix(".json").read_text())
    assert meta["kind"] == KIND and meta["arm"] == name
    assert pretrained_path(name).with_suffix(".safetensors").is_file()


@pytest.mark.parametrize("name", ["arm4", "arm6"])
def test_the_hybrid_guess_is_the_shipped_model(name):
    guess = load_guess_ik(ikml_gym.load_arm(name), pos_tol=0.006, rot_tol=0.05)
    assert isinstance(guess, MultiHypothesisIK)
    assert (guess.pos_tol, guess.rot_tol) == (0.006, 0.05)


def test_arm4_accuracy():
    model, res = _heldout_answers("arm4")
    within = (res.pos_err < ARM4_POS_TOL_M) & (np.rad2deg(res.rot_err) < ARM4_ROT_TOL_DEG)
    assert model.calls == 0
    assert within.mean() >= ARM4_MIN_WITHIN, f"{100 * within.mean():.1f}% within 1 mm / 1 deg"
    assert res.pos_err.mean() <= ARM4_MAX_MEAN_POS_M, f"mean {1e3 * res.pos_err.mean():.2f} mm"


def test_arm6_accuracy():
    model, res = _heldout_answers("arm6")
    within = (res.pos_err < ARM6_POS_TOL_M) & (np.rad2deg(res.rot_err) < ARM6_ROT_TOL_DEG)
    assert model.calls == 0
    assert within.mean() >= ARM6_MIN_WITHIN, f"{100 * within.mean():.1f}% within 17 mm / 3 deg"
    assert np.median(res.pos_err) <= ARM6_MAX_MEDIAN_POS_M
    assert np.median(np.rad2deg(res.rot_err)) <= ARM6_MAX_MEDIAN_ROT_DEG
