"""The torch FK (training) against the numpy FK (inference), on every arm."""

from __future__ import annotations

import numpy as np
import pytest

from ikml_gym import kinematics as kin

torch = pytest.importorskip("torch")

from ikml_gym.learned.torch_fk import TorchFK

#: (shipped name or pybullet_data-relative URDF, ee_link) of every arm
ALL_ARMS = [
    ("arm4", None),
    ("arm6", None),
    ("xarm/xarm6_robot.urdf", None),
    ("kuka_iiwa/model.urdf", None),
    ("franka_panda/panda.urdf", "panda_hand"),
]


@pytest.mark.parametrize("spec,ee_link", ALL_ARMS, ids=[a[0] for a in ALL_ARMS])
def test_torch_fk_matches_numpy_fk(spec, ee_link, resolve_arm, rng):
    arm = resolve_arm(spec, ee_link)
    q = arm.random_q(1000, rng)
    ref = kin.chain_fk(arm.chain, q)[0]
    fk = TorchFK(arm.chain)
    qt = torch.tensor(q, dtype=torch.float64)
    np.testing.assert_allclose(fk(qt).numpy(), ref, rtol=0, atol=1e-6)
    got = fk.from_cos_sin(torch.cos(qt), torch.sin(qt)).numpy()
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-6)
    fk32 = TorchFK(arm.chain, dtype=torch.float32)
    np.testing.assert_allclose(fk32(qt.float()).numpy(), ref, rtol=0, atol=1e-4)


def test_any_leading_shape_and_gradients(arm6, rng):
    fk = TorchFK(arm6.chain)
    q = torch.tensor(arm6.random_q(3 * 5, rng).reshape(3, 5, 6), requires_grad=True)
    t = fk(q)
    assert t.shape == (3, 5, 4, 4)
    np.testing.assert_allclose(
        t.detach().numpy().reshape(15, 4, 4),
        kin.chain_fk(arm6.chain, q.detach().numpy().reshape(15, 6))[0],
        atol=1e-12,
    )
    t[..., :3, 3].sum().backward()  # d(sum of positions)/dq is the Jacobian's summed rows
    jac = arm6.jacobian(q.detach().numpy().reshape(15, 6))
    np.testing.assert_allclose(q.grad.numpy().reshape(15, 6), jac[:, :3].sum(axis=1), atol=1e-10)
    assert fk(torch.zeros(6, dtype=torch.float64)).shape == (4, 4)


def test_prismatic_chain_needs_q(rng):
    axes = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
    origins = np.array([kin.transform(rng.random(3), rng.random(3)) for _ in range(2)])
    chain = kin.Chain(
        origins=origins, axes=axes, types=np.array([kin.REVOLUTE, kin.PRISMATIC]), tip=np.eye(4)
    )
    fk = TorchFK(chain)
    q = rng.uniform(-1, 1, (50, 2))
    qt = torch.tensor(q)
    np.testing.assert_allclose(fk(qt).numpy(), kin.chain_fk(chain, q)[0], atol=1e-12)
    with pytest.raises(ValueError, match="prismatic"):
        fk.from_cos_sin(torch.cos(qt), torch.sin(qt))
    with pytest.raises(ValueError, match=r"\(\.\.\., 2\)"):
        fk.from_cos_sin(torch.ones(3), torch.ones(3))
