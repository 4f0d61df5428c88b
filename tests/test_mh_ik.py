"""Multi-hypothesis learned IK (v2): training through the torch FK, the numpy solver, its file."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import ikml_gym
from ikml_gym.closed_form import closed_form_for
from ikml_gym.errors import ArmMismatchError, InvalidInputError
from ikml_gym.learned.mh_encoding import input_spec, mh_inputs
from ikml_gym.learned.mh_ik import MultiHypothesisIK

torch = pytest.importorskip("torch")

from ikml_gym.learned.train_mh_ik import (
    MHTrainConfig,
    torch_inputs,
    train_multi_hypothesis_ik,
)

TINY = {"heads": 3, "hidden": (32, 32), "steps": 300, "batch": 256, "lr": 5e-3}
TINY |= {"eval_every": 100, "n_eval": 500}


@pytest.fixture(scope="module")
def trained(arm4, arm6):
    """Tiny models of a pose4 and a pose7 arm, with their reports."""
    out = {}
    for arm in (arm4, arm6):
        out[arm.name] = train_multi_hypothesis_ik(
            arm, MHTrainConfig(**TINY), progress=False, command="ikml-gym train ik --method fk"
        )
    return out


@pytest.mark.parametrize("name", ["arm4", "arm6"])
def test_training_lowers_the_heldout_error(trained, name):
    model, report = trained[name]
    assert report.finished and report.steps == 300 and len(report.curve) == 3
    first, last = report.curve[0], report.curve[-1]
    assert last["loss"] < 0.8 * first["loss"]
    assert last["pos_mean_mm"] < 0.95 * first["pos_mean_mm"]
    assert report.final["pos_mean_mm"] == last["pos_mean_mm"]
    assert model.info["command"] == "ikml-gym train ik --method fk"
    assert model.numerical is False and model.n_heads == 3


@pytest.mark.parametrize("name", ["arm4", "arm6"])
def test_solver_shapes_single_and_batch(trained, name, rng):
    model, _ = trained[name]
    arm = model.arm
    f = arm.fk_features(arm.random_q(50, rng))
    res = model.solve(f)
    assert res.q.shape == (50, arm.dof) and res.success.shape == (50,)
    assert res.success.dtype == bool and res.pos_err.shape == res.rot_err.shape == (50,)
    assert np.all(arm.within_limits(res.q))
    pos, rot = arm.pose_error(res.q, f)
    np.testing.assert_allclose(res.pos_err, pos)
    np.testing.assert_allclose(res.rot_err, rot)
    one = model.solve(f[0])
    assert one.q.shape == (arm.dof,) and np.ndim(one.pos_err) == 0
    np.testing.assert_allclose(one.q, res.q[0], atol=1e-5)  # float32 products, other shapes
    assert model.propose(f).shape == (50, 3, arm.dof)
    assert model.solve(np.zeros((0, arm.feature_dim))).q.shape == (0, arm.dof)
    assert model.calls == 0  # free: no numerical call is counted


@pytest.mark.parametrize("name", ["arm4", "arm6"])
def test_bad_input_raises(trained, name):
    model, _ = trained[name]
    f = np.zeros(model.arm.feature_dim)
    f[0] = np.nan
    with pytest.raises(InvalidInputError):
        model.solve(f)
    with pytest.raises(InvalidInputError):
        model.solve(np.zeros(model.arm.feature_dim + 1))
    with pytest.raises(InvalidInputError):
        model.solve(np.ones((2, model.arm.feature_dim)), q0=np.zeros((3, model.arm.dof)))


@pytest.mark.parametrize("name", ["arm4", "arm6"])
def test_torch_inputs_equal_the_numpy_encoding(trained, name, rng):
    arm = trained[name][0].arm
    q = arm.random_q(300, rng)
    t = torch.tensor(ikml_gym.kinematics.chain_fk(arm.chain, q)[0])
    got = torch_inputs(arm, t).numpy()
    assert got.shape == (300, len(input_spec(arm)))
    np.testing.assert_allclose(got, mh_inputs(arm, arm.fk_features(q)), atol=1e-9)


@pytest.mark.parametrize("name", ["arm4", "arm6"])
def test_save_load_round_trip(trained, name, tmp_path, rng):
    model, _ = trained[name]
    weights, header = model.save(tmp_path / "mh")
    assert weights.suffix == ".safetensors" and header.suffix == ".json"
    loaded = MultiHypothesisIK.load(tmp_path / "mh", arm=model.arm)
    f = model.arm.fk_features(model.arm.random_q(300, rng))
    np.testing.assert_array_equal(loaded.solve(f).q, model.solve(f).q)
    assert loaded.info["command"] == "ikml-gym train ik --method fk"
    assert loaded.hidden == (32, 32) and loaded.activation == "silu"
    same = MultiHypothesisIK.load(header)  # a shipped arm: found from the header
    np.testing.assert_array_equal(same.solve(f).q, model.solve(f).q)


def test_saved_weights_hold_no_subnormals(arm6, tmp_path):
    from safetensors.numpy import load_file

    from ikml_gym.io import count_subnormals

    n_in, n_out = 9, 2 * arm6.dof * 2
    w = [np.full((n_in, 8), 1e-40, np.float32), np.ones((8, n_out), np.float32)]
    w[0][0] = 0.5  # one live input row
    b = [np.zeros(8, np.float32), np.full(n_out, 1e-39, np.float32)]
    MultiHypothesisIK(arm6, w, b, n_heads=2).save(tmp_path / "m")
    saved = load_file(str(tmp_path / "m.safetensors"))
    assert sum(count_subnormals(a) for a in saved.values()) == 0
    assert saved["w0"][0, 0] == np.float32(0.5)


def test_a_model_for_another_arm_is_refused(trained, arm4, arm6, tmp_path):
    trained["arm4"][0].save(tmp_path / "arm4_mh")
    with pytest.raises(ArmMismatchError):
        MultiHypothesisIK.load(tmp_path / "arm4_mh", arm=arm6)


def test_resume_ends_with_the_weights_of_an_uninterrupted_run(arm6, tmp_path):
    cfg = MHTrainConfig(heads=2, hidden=(16, 16), steps=40, batch=64, eval_every=10, n_eval=50)
    whole, whole_report = train_multi_hypothesis_ik(arm6, cfg, progress=False)
    ckpt = tmp_path / "run.ckpt"
    _, part_report = train_multi_hypothesis_ik(
        arm6, cfg, checkpoint=ckpt, stop_after=25, progress=False
    )
    assert ckpt.is_file() and part_report.steps == 25 and not part_report.finished
    resumed, report = train_multi_hypothesis_ik(arm6, cfg, checkpoint=ckpt, progress=False)
    assert report.resumed_from == 25 and report.finished
    for a, b in zip(resumed.weights + resumed.biases, whole.weights + whole.biases):
        np.testing.assert_array_equal(a, b)
    assert [p["loss"] for p in report.curve] == [p["loss"] for p in whole_report.curve]
    other = MHTrainConfig(heads=2, hidden=(16, 16), steps=40, batch=64, eval_every=10, seed=1)
    with pytest.raises(ValueError, match="another run"):
        train_multi_hypothesis_ik(arm6, other, checkpoint=ckpt, progress=False)


def test_same_seed_same_weights(arm4):
    cfg = MHTrainConfig(heads=2, hidden=(16,), steps=20, batch=64, eval_every=10, n_eval=50)
    a, _ = train_multi_hypothesis_ik(arm4, cfg, progress=False)
    b, _ = train_multi_hypothesis_ik(arm4, cfg, progress=False)
    np.testing.assert_array_equal(a.weights[0], b.weights[0])


def _constant_heads(arm, heads: np.ndarray) -> MultiHypothesisIK:
    """A model whose heads propose the same (K, dof) joint vectors for every pose."""
    n_in, out = len(input_spec(arm)), np.stack([np.cos(heads), np.sin(heads)], axis=-1)
    weights = [np.zeros((n_in, 4)), np.zeros((4, out.size))]
    biases = [np.zeros(4), out.reshape(-1)]
    return MultiHypothesisIK(arm, weights, biases, n_heads=len(heads))


def test_q0_tracking_picks_the_plausible_head_nearest_q0(arm4):
    q = np.array([0.3, 0.4, 0.9, -0.5])
    f = arm4.fk_features(q[None])
    branches = arm4.wrap_to_limits(closed_form_for(arm4).solve(f)[0])
    pos, rot = arm4.pose_error(branches, np.repeat(f, 4, axis=0))
    good = branches[(pos < 1e-6) & (rot < 1e-6) & arm4.within_limits(branches)]
    assert len(good) >= 2
    far = good[0] + 1.0  # an implausible head, never chosen
    model = _constant_heads(arm4, np.vstack([far[None], good]).astype(np.float32))
    for k, branch in enumerate(good):
        res = model.solve(f[0], q0=branch + 0.05)
        assert res.success
        np.testing.assert_allclose(res.q, branch, atol=1e-5)
    assert model.solve(f[0]).success  # without q0: a plausible head, not the far one


def test_a_pybullet_data_arm_trains_saves_and_loads(resolve_arm, tmp_path, rng):
    xarm = resolve_arm("xarm/xarm6_robot.urdf")
    cfg = MHTrainConfig(heads=2, hidden=(16,), steps=30, batch=64, eval_every=10, n_eval=50)
    model, report = train_multi_hypothesis_ik(xarm, cfg, progress=False)
    assert report.steps == 30 and len(report.curve) == 3
    model.save(tmp_path / "xarm")
    f = xarm.fk_features(xarm.random_q(20, rng))
    loaded = MultiHypothesisIK.load(tmp_path / "xarm", arm=xarm)
    np.testing.assert_array_equal(loaded.solve(f).q, model.solve(f).q)
    with pytest.raises(ArmMismatchError, match="not shipped"):
        MultiHypothesisIK.load(tmp_path / "xarm")


def test_cli_train_ik_fk_records_its_command_and_repeats(tmp_path, capsys):
    import json

    from ikml_gym.cli import main

    words = ["train", "ik", "--method", "fk", "--arm", "arm4", "--heads", "2", "--hidden", "16"]
    words += ["--steps", "40", "--batch", "64", "--eval-every", "20", "--seed", "5", "--quiet"]
    assert main([*words, "--out", str(tmp_path / "a")]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["steps"] == 40 and out["finished"]
    assert main([*words, "--out", str(tmp_path / "b")]) == 0
    a, b = (MultiHypothesisIK.load(tmp_path / s) for s in "ab")
    for wa, wb in zip(a.weights, b.weights):
        np.testing.assert_array_equal(wa, wb)
    header = json.loads((tmp_path / "a.json").read_text())
    assert header["kind"] == "multi_hypothesis_ik" and header["n_heads"] == 2
    assert header["training"]["command"].startswith("ikml-gym train ik --method fk --arm arm4")
    assert header["training"]["config"]["seed"] == 5


def test_training_curves_png(trained, tmp_path):
    pytest.importorskip("matplotlib")
    from ikml_gym.learned.train_mh_ik import plot_mh_curves

    png = plot_mh_curves(trained["arm4"][1], tmp_path / "curves.png")
    assert png.is_file() and png.stat().st_size > 10_000


def test_checkpoint_state_round_trips_exactly_without_pickle(tmp_path):
    from ikml_gym.errors import ModelFileError
    from ikml_gym.learned.torch_state import load_torch_state, save_torch_state

    tiny = np.float32(1e-40)  # subnormal: kept, so a resumed run continues bit for bit
    state = {
        "opt": {0: {"step": torch.tensor(3.0), "avg": torch.tensor([tiny, 1.0])}},
        "groups": [{"betas": (0.9, 0.999), "fused": None, "lr": 0.1 + 0.2}],
        "gen": torch.Generator().manual_seed(1).get_state(),
        "curve": [{"step": 10, "loss": 0.5}],
    }
    save_torch_state(tmp_path / "c.ckpt", state)
    back = load_torch_state(tmp_path / "c.ckpt")
    assert list(back["opt"]) == [0] and back["groups"][0]["betas"] == (0.9, 0.999)
    assert back["groups"][0]["lr"] == 0.1 + 0.2 and back["groups"][0]["fused"] is None
    assert back["opt"][0]["avg"][0].item() == tiny and back["curve"] == state["curve"]
    assert torch.equal(back["gen"], state["gen"])
    (tmp_path / "bad.ckpt").write_bytes(b"not a checkpoint")
    with pytest.raises(ModelFileError, match="checkpoint"):
        load_torch_state(tmp_path / "bad.ckpt")
    with pytest.raises(TypeError, match="set"):
        save_torch_state(tmp_path / "x.ckpt", {"a": {1, 2}})


def test_a_prismatic_arm_is_refused_with_a_reason(tmp_path):
    urdf = tmp_path / "slider.urdf"
    urdf.write_text(
        """<robot name="slider">
  <link name="base"/><link name="l1"/><link name="tool"/>
  <joint name="j1" type="revolute"><parent link="base"/><child link="l1"/>
    <origin xyz="0 0 0.1"/><axis xyz="0 0 1"/><limit lower="-3" upper="3" effort="1" velocity="1"/></joint>
  <joint name="j2" type="prismatic"><parent link="l1"/><child link="tool"/>
    <origin xyz="0.2 0 0"/><axis xyz="1 0 0"/><limit lower="0" upper="0.3" effort="1" velocity="1"/></joint>
</robot>"""
    )
    arm = ikml_gym.load_arm(urdf, feature_kind="pose7")
    with pytest.raises(ValueError, match="prismatic"):
        train_multi_hypothesis_ik(arm, MHTrainConfig(steps=1), progress=False)


def _random_model(arm, heads: int, hidden: tuple[int, ...], **tols) -> MultiHypothesisIK:
    """Random normal (He-scaled) weights, as ``benchmarks/mh_ik_sizes.py`` times them."""
    rng = np.random.default_rng(0)
    dims = [len(input_spec(arm)), *hidden, heads * arm.dof * 2]
    weights = [rng.standard_normal((a, b)) * np.sqrt(2.0 / a) for a, b in itertools.pairwise(dims)]
    biases = [rng.standard_normal(b) * 0.1 for b in dims[1:]]
    return MultiHypothesisIK(arm, weights, biases, n_heads=heads, **tols)


def _assert_one_pose_equals_batch_path(model, f, q0):
    """solve(pose, q0) of each pose == the batch path (every head's proposal, then
    best_hypotheses) on that validated pose as a one-row batch."""
    for i in range(len(f)):
        start = None if q0 is None else q0[i : i + 1]
        one = model.solve(f[i], q0=None if q0 is None else q0[i])
        ref = model._best(model.arm.check_features(f[i])[0], start).first()
        assert np.array_equal(one.q, ref.q), i  # the same head, to the last bit
        assert one.success == ref.success and one.pos_err == ref.pos_err, i
        assert one.rot_err == ref.rot_err, i


@pytest.mark.parametrize("name", ["arm4", "arm6"])
@pytest.mark.parametrize("kind", ["random", "trained"])
def test_one_pose_solve_gives_the_batch_paths_answers(trained, name, kind, arm4, arm6):
    arm = arm4 if name == "arm4" else arm6
    if kind == "random":  # wide tolerances, so that q0 picks among plausible heads often
        pos_tol, rot_tol = {"arm4": (0.1, 0.3), "arm6": (0.2, 1.0)}[name]
        model = _random_model(arm, 8, (64, 64), pos_tol=pos_tol, rot_tol=rot_tol)
    else:
        model = trained[name][0]
    rng = np.random.default_rng(7)
    q = arm.random_q(2000, rng)
    f = arm.fk_features(q)
    q0 = arm.wrap_to_limits(q + rng.uniform(-0.3, 0.3, q.shape))
    q0[:5] = 1e200  # a q0 far outside the limits overflows the distance, as in a batch
    _assert_one_pose_equals_batch_path(model, f, None)
    _assert_one_pose_equals_batch_path(model, f, q0)
    if kind == "random":
        pos, rot = (
            x.reshape(2000, 8)
            for x in arm.pose_error(model.propose(f).reshape(-1, arm.dof), np.repeat(f, 8, axis=0))
        )
        plausible = ((pos < 3 * pos_tol) & (rot < 3 * rot_tol)).any(axis=1)
        assert 0.02 < plausible.mean() < 0.98  # both rules of the q0 choice were exercised
