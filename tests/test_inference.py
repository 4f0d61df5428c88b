"""The numpy inference path (``ikml_gym.learned.mlp``) and the one-pose fast paths.

Speed is measured by ``benchmarks/inference.py``, never here; these tests hold the
answers: no subnormal weights anywhere, the stacked/compacted networks compute what
a plain loop over the networks computes, and one pose gets the same answer as the
same pose in a batch.
"""

from __future__ import annotations

import itertools
import json
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

import ikml_gym
from ikml_gym import kinematics as kin
from ikml_gym.io import count_subnormals, sha256_file
from ikml_gym.learned.classifier import input_features, load_classifier
from ikml_gym.learned.ik import ik_inputs, joints_from_outputs, load_ik
from ikml_gym.learned.mlp import StackedMLP

TINY = np.finfo(np.float32).tiny


def _random_net(rng, k, dims):
    w = [rng.standard_normal((k, a, b)) / np.sqrt(a) for a, b in itertools.pairwise(dims)]
    b = [0.1 * rng.standard_normal((k, d)) for d in dims[1:]]
    return w, b


def _loop_forward(w, b, x, shift, scale, out_scale, out_shift, activation="relu"):
    """K separate float32 networks, the way the package ran them before stacking."""
    act = (
        (lambda h: np.maximum(h, 0.0)) if activation == "relu" else (lambda h: h / (1 + np.exp(-h)))
    )
    outs = []
    for k in range(w[0].shape[0]):
        h = ((x - shift[k]) / scale[k]).astype(np.float32)
        for i in range(len(w)):
            h = h @ w[i][k].astype(np.float32) + b[i][k].astype(np.float32)
            if i < len(w) - 1:
                h = act(h)
        outs.append(h.astype(np.float64) * out_scale[k] + out_shift[k])
    return np.stack(outs)


# --------------------------------------------------------------------- subnormals
def test_shipped_model_files_have_no_subnormal_weights():
    files = sorted(Path(str(resources.files("ikml_gym") / "pretrained")).glob("*.safetensors"))
    assert len(files) >= 3
    for f in files:
        for name, tensor in load_file(str(f)).items():
            assert count_subnormals(tensor) == 0, f"{f.name}:{name}"


def test_loaded_models_hold_no_subnormals(arm6, sklearn_ik):
    clf = load_classifier("arm6")
    arrays = [w for w, b in clf.layers] + [b for w, b in clf.layers]
    arrays += [a for net in sklearn_ik.nets for a in (*net.weights, *net.biases)]
    for name in ("arm4", "arm6"):
        ik = load_ik(name)
        arrays += [*ik.weights, *ik.biases]
    assert sum(count_subnormals(a) for a in arrays) == 0


def test_a_file_with_subnormal_weights_loads_flushed_with_the_same_predictions(arm6, tmp_path, rng):
    """A model written elsewhere (not through ikml_gym's save) may hold subnormals."""
    clf = load_classifier("arm6")
    stem = tmp_path / "clf"
    clf.save(stem)
    tensors = load_file(str(stem.with_suffix(".safetensors")))
    w = tensors["layer1.weight"]
    zeros = np.flatnonzero(w == 0)[:5000]
    assert len(zeros) == 5000
    w.ravel()[zeros] = TINY / 4  # subnormal, the kind weight decay leaves behind
    save_file(tensors, str(stem.with_suffix(".safetensors")))
    header = json.loads(stem.with_suffix(".json").read_text())
    header["weights_sha256"] = sha256_file(stem.with_suffix(".safetensors"))
    stem.with_suffix(".json").write_text(json.dumps(header))
    assert count_subnormals(load_file(str(stem.with_suffix(".safetensors")))["layer1.weight"])

    loaded = load_classifier(stem, arm=arm6)
    assert sum(count_subnormals(w) for w, _ in loaded.layers) == 0
    poses = arm6.fk_features(arm6.random_q(5000, rng))
    np.testing.assert_array_equal(loaded.predict(poses), clf.predict(poses))
    np.testing.assert_allclose(loaded.predict_proba(poses), clf.predict_proba(poses), atol=1e-6)


# ------------------------------------------------------------------------ StackedMLP
@pytest.mark.parametrize("shared_input", [True, False])
def test_stacked_mlp_equals_a_loop_over_the_networks(rng, shared_input):
    k, dims = 3, [8, 64, 48, 32, 6]
    w, b = _random_net(rng, k, dims)
    shift = np.tile(rng.standard_normal(8), (k, 1)) if shared_input else rng.standard_normal((k, 8))
    scale = np.tile(rng.uniform(0.5, 2, 8), (k, 1)) if shared_input else rng.uniform(0.5, 2, (k, 8))
    out_scale, out_shift = rng.uniform(0.5, 2, (k, 6)), rng.standard_normal((k, 6))
    x = rng.standard_normal((257, 8)) * 3
    mlp = StackedMLP([a.astype(np.float32) for a in w], b, shift, scale, out_scale, out_shift)
    ref = _loop_forward(w, b, x, shift, scale, out_scale, out_shift)
    np.testing.assert_allclose(mlp.forward(x), ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(mlp.forward(x[:1]), ref[:, :1], rtol=1e-5, atol=1e-5)


def test_dead_units_are_dropped_without_changing_the_output(rng):
    k, dims = 2, [5, 40, 30, 4]
    w, b = _random_net(rng, k, dims)
    w[0][:, :, :10] = 0.0  # constant units (relu(bias)), folded into the next bias
    b[0][:, :5] = np.abs(b[0][:, :5]) + 0.5
    w[1][0, :, 7] = 1e-35  # negligible incoming weights: constant too
    w[2][:, 3:9, :] = 0.0  # units no one listens to
    x = rng.standard_normal((100, 5))
    one = np.ones((k, 5))
    mlp = StackedMLP(w, b)
    assert mlp.widths[0] == 30 and mlp.widths[1] <= 24
    ref = _loop_forward(w, b, x, 0 * one, one, np.ones((k, 4)), np.zeros((k, 4)))
    np.testing.assert_allclose(mlp.forward(x), ref, rtol=1e-5, atol=1e-5)


def test_silu_networks_and_their_constant_units(rng):
    """SiLU: the same stacked pass; a unit with no input is the constant silu(bias)."""
    k, dims = 2, [5, 40, 30, 4]
    w, b = _random_net(rng, k, dims)
    w[0][:, :, :10] = 0.0
    b[0][:, :5] = np.abs(b[0][:, :5]) + 0.5
    w[2][:, 3:9, :] = 0.0
    x = rng.standard_normal((100, 5)) * 3
    one = np.ones((k, 5))
    mlp = StackedMLP(w, b, activation="silu")
    assert mlp.widths[0] == 30 and mlp.widths[1] <= 24
    ref = _loop_forward(w, b, x, 0 * one, one, np.ones((k, 4)), np.zeros((k, 4)), "silu")
    np.testing.assert_allclose(mlp.forward(x), ref, rtol=1e-5, atol=1e-5)
    relu = _loop_forward(w, b, x, 0 * one, one, np.ones((k, 4)), np.zeros((k, 4)))
    assert np.abs(relu - ref).max() > 1e-2  # the activation is really used
    with pytest.raises(ValueError, match="activation"):
        StackedMLP(w, b, activation="tanh")


def test_stacked_mlp_rejects_bad_parameters(rng):
    w, b = _random_net(rng, 1, [3, 4, 2])
    with pytest.raises(ValueError, match="do not chain"):
        StackedMLP([w[0], w[0]], b)
    w[0][0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="finite"):
        StackedMLP(w, b)


# ------------------------------------------------------- shipped models vs reference
def test_learned_ik_answers_equal_the_per_network_reference(arm4, sklearn_ik):
    """10,000 poses: the chosen answer to 1e-6 rad, every head's proposal to 1e-5 rad.

    The stacked products sum in another order than per-network ones (other BLAS
    call shapes), so float32 rounding differs; a joint is atan2(sin, cos) of two
    outputs, which turns that into up to 2e-6 rad on well-posed heads and more where
    a head's (sin, cos) pair is short (|.| < 0.1: a head answering outside its
    branch), compared to 1e-4 rad.
    """
    model = sklearn_ik
    rng = np.random.default_rng(7)
    poses = arm4.fk_features(arm4.random_q(10_000, rng))
    x = ik_inputs(poses)
    proposals, lengths = [], []
    for net in model.nets:  # the loop the stacked pass replaced
        h = ((x - net.x_mean) / net.x_scale).astype(np.float32)
        for i, (w, bias) in enumerate(zip(net.weights, net.biases)):
            h = h @ w + bias
            if i < len(net.weights) - 1:
                h = np.maximum(h, 0.0)
        y = h.astype(np.float64) * net.y_scale + net.y_mean
        proposals.append(joints_from_outputs(y))
        lengths.append(np.hypot(y[:, :4], y[:, 4:]))
    ref = arm4.wrap_to_limits(np.stack(proposals, axis=1))
    well_posed = np.stack(lengths, axis=1) > 0.1
    assert well_posed.mean() > 0.95
    diff = np.abs(kin.wrap_angle(model.propose(poses) - ref))
    assert diff[well_posed].max() < 1e-5 and diff.max() < 1e-4
    n, k, dof = ref.shape
    pos, rot = arm4.pose_error(ref.reshape(n * k, dof), np.repeat(poses, k, axis=0))
    best = np.argmin((pos / model.pos_tol + rot / model.rot_tol).reshape(n, k), axis=1)
    answer = model.solve(poses).q
    assert np.max(np.abs(kin.wrap_angle(answer - ref[np.arange(n), best]))) < 1e-6


@pytest.mark.parametrize("name", ["arm4", "arm6"])
def test_classifier_labels_equal_an_uncompacted_float64_forward(name):
    """The compacted float32 network gives the labels of the plain network (20,000 poses)
    under the model's decision rule (reachable when P(reachable) > ``reach_threshold``,
    then the likeliest of classes 1-3), except where a decision is within float32 noise."""
    clf = load_classifier(name)
    arm = clf.arm
    rng = np.random.default_rng(11)
    q = arm.random_q(10_000, rng)
    far = rng.uniform(-1.5, 1.5, (10_000, 3)) * arm.reach
    poses = np.concatenate([arm.fk_features(q), arm.fk_features(q)])
    poses[10_000:, :3] = far  # many unreachable ones too
    h = (input_features(poses, clf.spec) - clf.mean) / clf.std
    for i, (w, b) in enumerate(clf.layers):
        h = h @ w.astype(np.float64) + b
        if i < len(clf.layers) - 1:
            h = np.maximum(h, 0.0)
    t = clf.reach_threshold
    # log P(reachable) - log P(unreachable) against log(t / (1 - t))
    margin = np.logaddexp.reduce(h[:, 1:], axis=1) - h[:, 0] - np.log(t / (1 - t))
    top2 = np.sort(h[:, 1:], axis=1)[:, -2:]
    clear = (np.abs(margin) > 1e-3) & (top2[:, 1] - top2[:, 0] > 1e-3)
    assert clear.mean() > 0.99
    expected = np.where(margin > 0, np.argmax(h[:, 1:], axis=1) + 1, 0)
    np.testing.assert_array_equal(clf.predict(poses)[clear], expected[clear])


# ---------------------------------------------------------------- one pose vs batch
@pytest.mark.parametrize("name", ["arm4", "arm6"])
def test_one_pose_gets_the_answer_it_gets_in_a_batch(name, rng):
    clf = load_classifier(name)
    arm = clf.arm
    poses = arm.fk_features(arm.random_q(200, rng))
    if arm.feature_kind == "pose7":
        poses[::2, 3:] *= -(1 + 5e-4)  # other sign, not quite unit: normalised, qw >= 0
    else:
        poses[::2, 3] += 2 * np.pi * rng.integers(-3, 4, 100)  # wrapped
    batch, _ = arm.check_features(poses)
    one = np.array([arm.check_features(p)[0][0] for p in poses])
    np.testing.assert_array_equal(one, batch)
    inputs = input_features(batch, clf.spec)
    np.testing.assert_allclose(
        [input_features(p[None], clf.spec)[0] for p in batch], inputs, rtol=0, atol=1e-15
    )
    np.testing.assert_array_equal([clf.predict(p) for p in poses], clf.predict(poses))
    if name == "arm4":  # the clustered LearnedIK's encoding
        np.testing.assert_allclose(
            [ik_inputs(p[None])[0] for p in batch], ik_inputs(batch), atol=1e-15
        )
    ik = load_ik(name)
    single = np.array([ik.solve(p).q for p in poses])
    # one row is a matrix-vector product, a batch a matrix product: float32 rounding,
    # which atan2 of a head's (cos, sin) pair turns into up to ~1e-5..1e-4 rad
    np.testing.assert_allclose(single, ik.solve(poses).q, atol=1e-4)


def test_one_pose_fast_path_still_rejects_bad_input(arm4, arm6):
    with pytest.raises(ikml_gym.InvalidInputError, match="unit quaternions"):
        arm6.check_features([0.3, 0.1, 0.2, 0.0, 0.0, 0.0, 1.1])
    with pytest.raises(ikml_gym.InvalidInputError, match="check the units"):
        arm4.check_features([2e6, 0.0, 0.1, 0.0])
    with pytest.raises(ikml_gym.InvalidInputError, match="NaN or inf"):
        arm4.check_features([np.nan, 0.0, 0.1, 0.0])
    huge, _ = arm4.check_features([0.1, 0.0, 0.1, 1e300])  # exact reduction of a huge pitch
    assert huge[0, 3] == pytest.approx(np.arctan2(np.sin(1e300), np.cos(1e300)))


# ----------------------------------------------------------------------- kinematics
ARMS = ["arm4", "arm6", "xarm/xarm6_robot.urdf", "kuka_iiwa/model.urdf"]


@pytest.mark.parametrize("spec", ARMS)
def test_small_batch_fk_equals_the_column_fk(spec, resolve_arm, rng):
    """Transforms and geometric Jacobians of the transform-product FK (small batches)."""
    arm = resolve_arm(spec)
    for n in (1, 4, kin.SMALL_FK_ROWS):
        q = arm.random_q(n, rng)
        big = np.concatenate([q] * (kin.SMALL_FK_ROWS // n + 1))  # the column FK
        t_ref, j_ref = kin.chain_fk(arm.chain, big, jacobian=True)
        t, j = kin.chain_fk(arm.chain, q, jacobian=True)
        np.testing.assert_allclose(t, t_ref[:n], atol=1e-12)
        np.testing.assert_allclose(j, j_ref[:n], atol=1e-12)
        np.testing.assert_allclose(kin.chain_fk(arm.chain, q)[0], t_ref[:n], atol=1e-12)


def test_prismatic_joint_in_the_small_batch_fk(tmp_path, rng):
    urdf = tmp_path / "slider.urdf"
    urdf.write_text(
        """<robot name="slider">
  <link name="base"/><link name="l1"/><link name="l2"/><link name="tool"/>
  <joint name="j1" type="revolute"><parent link="base"/><child link="l1"/>
    <origin xyz="0 0 0.1"/><axis xyz="0 0 1"/><limit lower="-3" upper="3" effort="1" velocity="1"/></joint>
  <joint name="j2" type="prismatic"><parent link="l1"/><child link="l2"/>
    <origin xyz="0.2 0 0" rpy="0 0.3 0"/><axis xyz="1 0 0"/><limit lower="0" upper="0.3" effort="1" velocity="1"/></joint>
  <joint name="j3" type="revolute"><parent link="l2"/><child link="tool"/>
    <origin xyz="0 0 0.05"/><axis xyz="0 1 0"/><limit lower="-2" upper="2" effort="1" velocity="1"/></joint>
</robot>"""
    )
    arm = ikml_gym.load_arm(urdf, feature_kind="pose7")
    q = arm.random_q(5, rng)
    t_ref, j_ref = kin.chain_fk(arm.chain, np.concatenate([q] * 20), jacobian=True)
    t, j = kin.chain_fk(arm.chain, q, jacobian=True)
    np.testing.assert_allclose(t, t_ref[:5], atol=1e-12)
    np.testing.assert_allclose(j, j_ref[:5], atol=1e-12)


def test_quaternion_matrix_and_rotation_angle_are_accurate():
    from scipy.spatial.transform import Rotation

    a = Rotation.random(2000, random_state=1)
    np.testing.assert_allclose(kin.quat_to_matrix(a.as_quat()), a.as_matrix(), atol=1e-14)
    for angle in (1e-9, 1e-3, 1.0, np.pi - 1e-6):
        d = Rotation.from_rotvec(Rotation.random(2000, random_state=2).as_rotvec() / np.pi * angle)
        got = kin.rotation_angle(a.as_matrix(), (d * a).as_matrix())
        np.testing.assert_allclose(got, d.magnitude(), atol=1e-13)
