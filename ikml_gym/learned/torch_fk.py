"""Differentiable forward kinematics in torch, built from the same :class:`~ikml_gym.kinematics.Chain`
as the numpy FK.

Each joint's transform from its parent frame is one linear map of ``[cos q, sin q, q, 1]``
(:attr:`Chain.joint_basis <ikml_gym.kinematics.Chain.joint_basis>`); the end-effector
transform is their product times the chain's fixed ``tip``. :class:`TorchFK` evaluates that
for any leading batch shape, from joint values or (for revolute joints) from ``(cos, sin)``
pairs, which is what a network that outputs angles as points on the circle trains through.

Needs the ``[train]`` extra (torch), imported when a :class:`TorchFK` is made.
"""

from __future__ import annotations

from typing import Any

from .._extras import require_training
from ..kinematics import Chain


class TorchFK:
    """End-effector transforms of a serial chain as a differentiable torch function.

    Args:
        chain: the chain (``arm.chain``).
        dtype: ``torch.float64`` (default) or ``torch.float32``.
        device: torch device of the constants (default CPU).

    Raises:
        DependencyNotInstalled: torch is missing (the ``[train]`` extra).
    """

    def __init__(self, chain: Chain, dtype: Any = None, device: Any = None) -> None:
        require_training("torch")
        import torch

        self.dtype = torch.float64 if dtype is None else dtype
        self.dof = chain.dof
        self.has_prismatic = chain.has_prismatic
        #: (3 dof + 1, 16 dof) per-joint linear map, and the (4, 4) end-effector tip
        self.basis = torch.as_tensor(chain.joint_basis.copy(), dtype=self.dtype, device=device)
        self.tip = torch.as_tensor(chain.tip, dtype=self.dtype, device=device)

    def __call__(self, q: Any) -> Any:
        """Joint values (..., dof) radians (metres for prismatic joints) -> (..., 4, 4)."""
        import torch

        return self.from_cos_sin(torch.cos(q), torch.sin(q), q)

    def from_cos_sin(self, cos: Any, sin: Any, q: Any = None) -> Any:
        """(..., dof) cosines and sines of the joint angles -> (..., 4, 4) transforms.

        The pairs need not be of unit norm (the map is linear in them). A chain with a
        prismatic joint also needs its values ``q`` (..., dof) (metres; the entries of
        revolute joints are ignored).

        Raises:
            ValueError: a prismatic chain without ``q``, or shapes that do not match.
        """
        import torch

        if cos.shape != sin.shape or cos.shape[-1:] != (self.dof,):
            raise ValueError(
                f"cos and sin must both be (..., {self.dof}), got {tuple(cos.shape)} and "
                f"{tuple(sin.shape)}"
            )
        if self.has_prismatic:
            if q is None or q.shape != cos.shape:
                raise ValueError("this chain has a prismatic joint: pass q (..., dof) too")
            lin = q
        else:
            lin = torch.zeros_like(cos)
        ones = torch.ones(cos.shape[:-1] + (1,), dtype=cos.dtype, device=cos.device)
        u = torch.cat([cos, sin, lin, ones], dim=-1)
        t = (u @ self.basis).reshape(cos.shape[:-1] + (self.dof, 4, 4))
        out = t[..., 0, :, :]
        for j in range(1, self.dof):
            out = out @ t[..., j, :, :]
        return out @ self.tip

    def __repr__(self) -> str:
        return f"TorchFK(dof={self.dof}, dtype={self.dtype})"
