"""Both learned models' files: one exception for one situation, the moved names, the extras.

A model file made for another arm raises ``ArmMismatchError`` (a ``ModelFileError``)
from both loaders, whether the arm is passed or taken from the header. The shipped
files are copied and their JSON headers edited (the weights' checksum covers the
weights only), so no training is needed.
"""

from __future__ import annotations

import json
import shutil

import pytest
from conftest import BRANCH_SKLEARN_IK

import ikml_gym
from ikml_gym import ArmMismatchError, DependencyNotInstalled, ModelFileError
from ikml_gym.learned.classifier import FeasibilityClassifier, load_classifier
from ikml_gym.learned.ik import LearnedIK, load_ik
from ikml_gym.learned.mh_ik import MultiHypothesisIK
from ikml_gym.pretrained import has_shipped_model, shipped_model_stem, shipped_urdf_path

#: kind -> (the file copied, its loader function, its class's load, another arm)
LOADERS = {
    "learned_ik": (BRANCH_SKLEARN_IK, load_ik, LearnedIK.load, "arm6"),
    "mh_ik": (shipped_model_stem("arm4", "ik"), load_ik, MultiHypothesisIK.load, "arm6"),
    "classifier": (
        shipped_model_stem("arm6", "classifier"), load_classifier, FeasibilityClassifier.load,
        "arm4",
    ),
}  # fmt: skip


def _copy_shipped(kind, tmp_path, **header_changes):
    stem = LOADERS[kind][0]
    for suffix in (".safetensors", ".json"):
        shutil.copy(stem.with_name(stem.name + suffix), tmp_path / f"m{suffix}")
    header = json.loads((tmp_path / "m.json").read_text())
    header.update(header_changes)
    (tmp_path / "m.json").write_text(json.dumps(header))
    return tmp_path / "m"


@pytest.mark.parametrize("kind", sorted(LOADERS))
def test_model_for_another_arm_passed_raises_arm_mismatch(kind, tmp_path):
    _, load, load_method, other = LOADERS[kind]
    path = _copy_shipped(kind, tmp_path)
    with pytest.raises(ArmMismatchError):
        load(path, arm=ikml_gym.load_arm(other))
    with pytest.raises(ArmMismatchError):
        load_method(path, arm=ikml_gym.load_arm(other))


@pytest.mark.parametrize("kind", sorted(LOADERS))
def test_model_for_an_arm_that_does_not_ship_raises_arm_mismatch(kind, tmp_path):
    _, load, _, _ = LOADERS[kind]
    path = _copy_shipped(kind, tmp_path, arm="my_arm")
    with pytest.raises(ArmMismatchError, match="my_arm"):
        load(path)


@pytest.mark.parametrize("kind", sorted(LOADERS))
def test_model_for_another_urdf_of_a_shipped_arm_raises_arm_mismatch(kind, tmp_path):
    _, load, _, _ = LOADERS[kind]
    path = _copy_shipped(kind, tmp_path, urdf_hash="0" * 64)
    with pytest.raises(ArmMismatchError, match="URDF"):
        load(path)


def test_arm_mismatch_is_a_model_file_error():
    assert issubclass(ArmMismatchError, ModelFileError)


def test_pretrained_finds_the_shipped_files():
    for name in ("arm4", "arm6"):
        assert shipped_urdf_path(name).is_file()
        assert has_shipped_model(name, "classifier")
        assert has_shipped_model(name, "ik")


def test_training_names_still_import_from_the_model_modules():
    from ikml_gym.learned import classifier, ik, train_classifier, train_ik

    assert ik.train_learned_ik is train_ik.train_learned_ik
    assert ik.default_regressor is train_ik.default_regressor
    assert ik.TrainReport is train_ik.TrainReport
    assert classifier.train_classifier is train_classifier.train_classifier
    assert classifier.TrainConfig is train_classifier.TrainConfig
    assert classifier.split_indices is train_classifier.split_indices
    with pytest.raises(AttributeError):
        ik.no_such_name  # noqa: B018


def test_missing_training_dependency_names_the_extra():
    from ikml_gym._extras import require_training

    with pytest.raises(DependencyNotInstalled, match=r'pip install "ikml_gym\[train\]"'):
        require_training("ikml_gym_no_such_module")


def test_load_ik_picks_the_loader_the_header_names(arm6, tmp_path):
    """``load_ik`` (and the package's ``ikml_gym.load_ik``) read a multi-hypothesis model
    file as such; settings of the clustered model are refused by name, a header without
    a kind is a ModelFileError."""
    import itertools

    import numpy as np

    from ikml_gym.learned.mh_ik import MultiHypothesisIK

    rng = np.random.default_rng(0)
    dims = [9, 16, arm6.dof * 2 * 2]
    model = MultiHypothesisIK(
        arm6,
        [rng.standard_normal((a, b)) for a, b in itertools.pairwise(dims)],
        [rng.standard_normal(b) for b in dims[1:]],
        n_heads=2,
    )
    model.save(tmp_path / "mh")
    loaded = ikml_gym.load_ik(tmp_path / "mh", arm=arm6)
    assert isinstance(loaded, MultiHypothesisIK)
    poses = arm6.fk_features(arm6.random_q(20, rng))
    np.testing.assert_array_equal(loaded.solve(poses).q, model.solve(poses).q)
    with pytest.raises(ValueError, match="pitch_closure"):
        load_ik(tmp_path / "mh", pitch_closure=True)
    header = json.loads((tmp_path / "mh.json").read_text())
    del header["kind"]
    (tmp_path / "mh.json").write_text(json.dumps(header))
    with pytest.raises(ModelFileError, match="kind"):
        load_ik(tmp_path / "mh")


def test_branch_supervision_puts_head_k_on_branch_k(arm4):
    """``supervision="branch"``: after a short run, each head's answer lies nearer the
    closed form's branch with its own index than any other branch for most poses; a head
    count other than the branch count is refused."""
    import numpy as np

    pytest.importorskip("torch")
    from ikml_gym.learned.train_mh_ik import MHTrainConfig, train_multi_hypothesis_ik
    from ikml_gym.solvers import AnalyticIK

    cfg = MHTrainConfig(heads=4, hidden=(64, 64), steps=400, batch=256, lr=5e-3,
                        supervision="branch", eval_every=400, n_eval=200)  # fmt: skip
    model, _ = train_multi_hypothesis_ik(arm4, cfg, progress=False)
    poses = arm4.fk_features(arm4.random_q(500, np.random.default_rng(3)))
    heads = model.propose(poses)  # (N, 4, dof)
    branches, valid = AnalyticIK(arm4).solve_all(poses)  # (N, 4, dof), (N, 4)
    gap = np.angle(np.exp(1j * (heads[:, :, None, :] - branches[:, None, :, :])))
    nearest = np.linalg.norm(gap, axis=-1).argmin(axis=2)  # (N, heads): nearest branch
    on_own = (nearest == np.arange(4)) & valid
    assert on_own.sum() / valid.sum() > 0.8  # chance: 0.25
    with pytest.raises(ValueError, match="4 branches"):
        train_multi_hypothesis_ik(arm4, MHTrainConfig(heads=3, supervision="branch"))
