"""Training of the multi-hypothesis learned IK
(:class:`~ikml_gym.learned.mh_ik.MultiHypothesisIK`) through a differentiable FK, with torch.

No dataset: every step draws a fresh batch of joint vectors uniformly in the joint box,
computes their end-effector poses with :class:`~ikml_gym.learned.torch_fk.TorchFK`
(float32), encodes the poses as the network's inputs (:func:`torch_inputs`, the torch
twin of :func:`~ikml_gym.learned.mh_encoding.mh_inputs`) and asks the network for ``K``
joint vectors as ``(cos, sin)`` pairs (normalised to the unit circle). Each head's
answer goes through the same FK; its loss is

    ``|p - p_target| / reach + rot_weight * orientation error``

with the orientation error, unitless and close to the angle for small errors, of what
the arm controls: pose4, the distance between the third rows' ``(R20, R22) = (-sin psi,
cos psi)`` (the tool pitch); pose7, ``|R - R_target|_F / sqrt 2``. The heads compete in
a relaxed winner-take-all: per sample the best head gets weight ``1 - eps``, every other
``eps / (K - 1)``, so each head specialises on a part of the solution set and none stops
learning. A small penalty keeps the ``(cos, sin)`` pairs near unit norm. Adam with a
OneCycle learning-rate schedule.

Reproducible: ``torch.manual_seed(seed)`` initialises the network, a generator seeded
with ``seed`` draws the samples, and the torch CPU threads are fixed (``threads``), so
a seed gives the same weights on the same machine and torch build. A checkpoint (every
``checkpoint_seconds``, at an interruption and at the end; safetensors, no pickle:
:mod:`ikml_gym.learned.torch_state`) holds the network, the
optimiser, the schedule, the generator and the curves; resuming from it ends with the
weights an uninterrupted run would have. Revolute joints only (the heads output
angles). Needs the ``[train]`` extra (torch, tqdm), imported when training runs.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._extras import require_training
from .._version import __version__
from ..arms import POSE4, Arm
from ..solvers import AnalyticIK
from .mh_encoding import input_spec
from .mh_ik import MultiHypothesisIK
from .mlp import ACTIVATIONS
from .torch_state import load_torch_state, save_torch_state

#: how the heads are told apart (see :class:`MHTrainConfig`)
SUPERVISIONS = ("wta", "branch")
#: checkpoint layout version (a checkpoint of another layout is refused)
CHECKPOINT_FORMAT = 1
#: settings a run may change when it resumes (the run still continues where it stopped;
#: another thread count or device can round the float sums differently from then on)
_RUN_ONLY = ("threads", "device", "checkpoint_seconds")


@dataclass
class MHTrainConfig:
    """Training settings (defaults: the recipe measured on arm4, 4 heads, 3 x 256 SiLU)."""

    heads: int = 4
    hidden: tuple[int, ...] = (256, 256, 256)
    activation: str = "silu"
    steps: int = 40_000
    batch: int = 1024
    lr: float = 2e-3
    #: OneCycle: fraction of the steps spent warming up, and final lr = lr / this
    pct_start: float = 0.02
    final_div_factor: float = 1e3
    #: "wta": heads compete (relaxed winner-take-all, no labels, any arm); "branch": head k
    #: learns the closed form's branch k (arms with a closed form; heads = its branch count)
    supervision: str = "wta"
    #: relaxed winner-take-all: the weight shared by the heads that are not the best
    eps: float = 0.05
    #: "branch" supervision: weight of the (cos, sin) distance to the head's branch
    branch_weight: float = 1.0
    rot_weight: float = 0.3
    #: weight of the ((cos^2 + sin^2)^0.5 - 1)^2 penalty
    norm_weight: float = 1e-3
    seed: int = 0
    #: held-out evaluation: every this many steps, on this many poses from this seed
    eval_every: int = 1000
    n_eval: int = 5000
    eval_seed: int = 12345
    threads: int = 1
    device: str = "cpu"
    checkpoint_seconds: float = 120.0

    def check(self) -> None:
        """Raise ValueError for settings that cannot train."""
        if min(self.heads, self.steps, self.batch, self.eval_every, self.n_eval) < 1:
            raise ValueError("heads, steps, batch, eval_every and n_eval must be >= 1")
        if not self.hidden or min(self.hidden) < 1:
            raise ValueError(f"hidden widths must be >= 1, got {self.hidden}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}, got {self.activation!r}")
        if not (0.0 <= self.eps < 1.0 and self.lr > 0 and 0 < self.pct_start < 1):
            raise ValueError("need 0 <= eps < 1, lr > 0 and 0 < pct_start < 1")
        if self.supervision not in SUPERVISIONS:
            raise ValueError(f"supervision must be one of {SUPERVISIONS}, got {self.supervision!r}")


@dataclass
class MHTrainReport:
    """What a training run did: steps, time, the curves and the final held-out errors."""

    steps: int
    finished: bool
    seconds: float
    resumed_from: int = 0
    #: per evaluation: step, mean loss since the last one, lr and the held-out errors
    curve: list[dict[str, float]] = field(default_factory=list)
    final: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# ------------------------------------------------------------------- loss pieces
def torch_inputs(arm: Arm, t: Any) -> Any:
    """(B, 4, 4) target transforms (torch) -> (B, 5) pose4 / (B, 9) pose7 network inputs,
    as :func:`~ikml_gym.learned.mh_encoding.mh_inputs` computes them from features."""
    import torch

    center = torch.tensor(arm.reach_center, dtype=t.dtype, device=t.device)
    pos = (t[:, :3, 3] - center) / arm.reach
    if arm.feature_kind == POSE4:
        psi = torch.atan2(-t[:, 2, 0], t[:, 2, 2])
        return torch.cat([pos, torch.sin(psi)[:, None], torch.cos(psi)[:, None]], dim=1)
    return torch.cat([pos, t[:, :3, 0], t[:, :3, 1]], dim=1)


def orientation_error(feature_kind: str, t: Any, target: Any) -> Any:
    """Unitless orientation error (...) of transforms (..., 4, 4) against broadcastable
    targets: pose4 the distance of ``(R20, R22)``, pose7 ``|R - R_t|_F / sqrt 2``."""
    import torch

    if feature_kind == POSE4:
        d = t[..., 2, [0, 2]] - target[..., 2, [0, 2]]
        return torch.sqrt((d * d).sum(-1) + 1e-12)
    d = (t[..., :3, :3] - target[..., :3, :3]).flatten(-2)
    return torch.sqrt((d * d).sum(-1) + 1e-12) / math.sqrt(2.0)


def wta_weights(loss_k: Any, eps: float) -> Any:
    """(B, K) per-head losses -> (B, K) relaxed winner-take-all weights (rows sum to 1)."""
    import torch

    k = loss_k.shape[1]
    if k == 1:
        return torch.ones_like(loss_k)
    w = torch.full_like(loss_k, eps / (k - 1))
    w.scatter_(1, loss_k.detach().argmin(dim=1, keepdim=True), 1.0 - eps)
    return w


# ---------------------------------------------------------------------- the run
class _Run:
    """The state of one training run: network, optimiser, schedule, sampler, curves."""

    def __init__(self, arm: Arm, cfg: MHTrainConfig) -> None:
        import torch

        from .torch_fk import TorchFK

        self.arm, self.cfg, dev = arm, cfg, torch.device(cfg.device)
        torch.manual_seed(cfg.seed)
        self.net = _network(len(input_spec(arm)), cfg.heads * arm.dof * 2, cfg).to(dev)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=cfg.lr)
        self.sched = torch.optim.lr_scheduler.OneCycleLR(
            self.opt, max_lr=cfg.lr, total_steps=cfg.steps, pct_start=cfg.pct_start,
            final_div_factor=cfg.final_div_factor,
        )  # fmt: skip
        self.gen = torch.Generator(device=dev).manual_seed(cfg.seed)
        self.fk = TorchFK(arm.chain, dtype=torch.float32, device=dev)
        lo, hi = arm.joint_limits[:, 0], arm.joint_limits[:, 1]
        self.lo = torch.tensor(lo, dtype=torch.float32, device=dev)
        self.span = torch.tensor(hi - lo, dtype=torch.float32, device=dev)
        self.step, self.loss_sum, self.loss_n = 0, 0.0, 0
        self.curve: list[dict[str, float]] = []
        self.branches = _branch_solver(arm, cfg) if cfg.supervision == "branch" else None

    def train_step(self) -> float:
        """One optimiser step on a fresh batch -> its loss."""
        import torch

        cfg, arm = self.cfg, self.arm
        q = (
            self.lo
            + torch.rand(cfg.batch, arm.dof, generator=self.gen, device=self.lo.device) * self.span
        )
        with torch.no_grad():
            target = self.fk(q)
            x = torch_inputs(arm, target)
        y = self.net(x).reshape(cfg.batch, cfg.heads, arm.dof, 2)
        norm = torch.sqrt((y * y).sum(-1) + 1e-12)
        t = self.fk.from_cos_sin(y[..., 0] / norm, y[..., 1] / norm)  # (B, K, 4, 4)
        d = t[..., :3, 3] - target[:, None, :3, 3]
        loss_k = torch.sqrt((d * d).sum(-1) + 1e-12) / arm.reach
        loss_k = loss_k + cfg.rot_weight * orientation_error(arm.feature_kind, t, target[:, None])
        if self.branches is None:
            loss = (wta_weights(loss_k, cfg.eps) * loss_k).sum(1).mean()
        else:
            loss = self._branch_loss(loss_k, y / norm[..., None], q)
        loss = loss + cfg.norm_weight * ((norm - 1.0) ** 2).mean()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.sched.step()
        self.step += 1
        value = float(loss.detach())
        self.loss_sum, self.loss_n = self.loss_sum + value, self.loss_n + 1
        return value

    def _branch_loss(self, loss_k: Any, pairs: Any, q: Any) -> Any:
        """Branch supervision: head k's FK loss plus the distance of its unit (cos, sin)
        pairs (B, K, dof, 2) to the closed form's branch k of the sampled poses, over the
        branches that exist (the closed form runs in numpy, float64)."""
        import torch

        q_all, valid = self.branches.solve_all(self.arm.fk_features(q.cpu().double().numpy()))
        q_b = torch.as_tensor(q_all, dtype=pairs.dtype, device=pairs.device)
        target = torch.stack([torch.cos(q_b), torch.sin(q_b)], dim=-1)
        sup = ((pairs - target) ** 2).sum((-1, -2))
        mask = torch.as_tensor(valid, dtype=pairs.dtype, device=pairs.device)
        per_head = loss_k + self.cfg.branch_weight * sup
        return (mask * per_head).sum() / mask.sum().clamp(min=1.0)

    def model(self, info: dict[str, Any] | None = None) -> MultiHypothesisIK:
        """The network as it is now, as a numpy :class:`MultiHypothesisIK`."""
        import torch

        layers = [m for m in self.net if isinstance(m, torch.nn.Linear)]
        weights = [m.weight.detach().cpu().numpy().T.copy() for m in layers]
        biases = [m.bias.detach().cpu().numpy().copy() for m in layers]
        return MultiHypothesisIK(
            self.arm, weights, biases, self.cfg.heads, self.cfg.activation, info=info
        )

    def record(self, features: np.ndarray) -> dict[str, float]:
        """Evaluate on the held-out poses and append a curve point."""
        point = {
            "step": self.step,
            "loss": self.loss_sum / max(self.loss_n, 1),
            "lr": float(self.sched.get_last_lr()[0]),
            **heldout_errors(self.model(), features),
        }
        self.curve.append(point)
        self.loss_sum, self.loss_n = 0.0, 0
        return point

    def state(self) -> dict[str, Any]:
        """Everything a resumed run needs (saved by :func:`save_torch_state`)."""
        return {
            "format": CHECKPOINT_FORMAT, "arm": self.arm.name, "urdf_hash": self.arm.urdf_hash,
            "config": _weight_settings(self.cfg), "step": self.step,
            "net": self.net.state_dict(), "opt": self.opt.state_dict(),
            "sched": self.sched.state_dict(), "gen": self.gen.get_state(),
            "loss_sum": self.loss_sum, "loss_n": self.loss_n, "curve": self.curve,
        }  # fmt: skip

    def restore(self, state: dict[str, Any], path: Path) -> None:
        """Continue from :meth:`state`; ValueError if it is another run's."""
        mine = (CHECKPOINT_FORMAT, self.arm.name, self.arm.urdf_hash, _weight_settings(self.cfg))
        theirs = tuple(state.get(k) for k in ("format", "arm", "urdf_hash", "config"))
        if theirs != mine:
            raise ValueError(
                f"{path} is the checkpoint of another run (arm, URDF or settings differ: "
                f"{theirs[1]!r} {theirs[3]}); use another --checkpoint or the same settings"
            )
        self.net.load_state_dict(state["net"])
        self.opt.load_state_dict(state["opt"])
        self.sched.load_state_dict(state["sched"])
        self.gen.set_state(state["gen"].cpu())  # a generator state is a CPU tensor
        self.step, self.curve = int(state["step"]), list(state["curve"])
        self.loss_sum, self.loss_n = float(state["loss_sum"]), int(state["loss_n"])


def _branch_solver(arm: Arm, cfg: MHTrainConfig) -> AnalyticIK:
    """The closed form whose branch k head k learns; ValueError where there is none or the
    head count differs from its branch count."""
    try:
        solver = AnalyticIK(arm)
    except ValueError as exc:
        raise ValueError(f"branch supervision needs a closed form: {exc}") from exc
    if cfg.heads != solver.n_branches:
        raise ValueError(
            f"branch supervision trains one head per branch: arm {arm.name!r} has "
            f"{solver.n_branches} branches, got heads={cfg.heads}"
        )
    return solver


def _network(n_in: int, n_out: int, cfg: MHTrainConfig) -> Any:
    import torch

    act = {"relu": torch.nn.ReLU, "silu": torch.nn.SiLU}[cfg.activation]
    layers: list[Any] = []
    for width in cfg.hidden:
        layers += [torch.nn.Linear(n_in, width), act()]
        n_in = width
    return torch.nn.Sequential(*layers, torch.nn.Linear(n_in, n_out))


def _weight_settings(cfg: MHTrainConfig) -> dict[str, Any]:
    """The settings that decide the weights and curves (all but :data:`_RUN_ONLY`)."""
    out = {k: v for k, v in asdict(cfg).items() if k not in _RUN_ONLY}
    out["hidden"] = list(out["hidden"])
    return out


def heldout_errors(model: MultiHypothesisIK, features: np.ndarray) -> dict[str, float]:
    """Best-of-K errors of ``model`` on (N, feature_dim) reachable targets: mean and median
    position error (mm), median orientation error (degrees), and the fraction within
    1 mm and 1 degree."""
    res = model.solve(features)
    pos_mm, rot_deg = res.pos_err * 1e3, np.rad2deg(res.rot_err)
    return {
        "pos_mean_mm": float(pos_mm.mean()),
        "pos_median_mm": float(np.median(pos_mm)),
        "rot_median_deg": float(np.median(rot_deg)),
        "within_1mm_1deg": float(np.mean((pos_mm < 1.0) & (rot_deg < 1.0))),
    }


def heldout_features(arm: Arm, n: int, seed: int) -> np.ndarray:
    """(n, feature_dim) targets of configurations uniform in the joint box (numpy FK)."""
    return arm.fk_features(arm.random_q(n, np.random.default_rng(seed)))


# ------------------------------------------------------------------- entry point
def train_multi_hypothesis_ik(
    arm: Arm,
    config: MHTrainConfig | None = None,
    checkpoint: str | Path | None = None,
    stop_after: int | None = None,
    progress: bool = True,
    command: str | None = None,
) -> tuple[MultiHypothesisIK, MHTrainReport]:
    """Train a :class:`MultiHypothesisIK` for ``arm`` (see the module docstring).

    Args:
        arm: any serial-chain arm with revolute joints (pose4 or pose7).
        config: the settings (default :class:`MHTrainConfig`).
        checkpoint: a file to save the run to, and to resume from if it exists.
        stop_after: end this run after that many steps in all (checkpointed; a later
            call with the same checkpoint continues), e.g. to split a long run into jobs.
        progress: show a tqdm bar over the steps.
        command: the command line that ran this (kept in the model file's header).

    Returns:
        ``(model, report)``: the model as the run left it and what the run did.

    Raises:
        DependencyNotInstalled: torch or tqdm is missing (the ``[train]`` extra).
        ValueError: settings that cannot train, a prismatic joint, or a checkpoint of
            another run.
    """
    require_training("torch", "tqdm")
    import torch

    cfg = config or MHTrainConfig()
    cfg.check()
    if arm.chain.has_prismatic:
        raise ValueError(f"arm {arm.name!r} has a prismatic joint; this IK needs revolute joints")
    threads = torch.get_num_threads()
    torch.set_num_threads(cfg.threads)
    try:
        return _train(arm, cfg, checkpoint, stop_after, progress, command)
    finally:
        torch.set_num_threads(threads)


def _train(
    arm: Arm,
    cfg: MHTrainConfig,
    checkpoint: str | Path | None,
    stop_after: int | None,
    progress: bool,
    command: str | None,
) -> tuple[MultiHypothesisIK, MHTrainReport]:
    import torch
    from tqdm.auto import tqdm

    run, t0 = _Run(arm, cfg), time.perf_counter()
    ckpt = Path(checkpoint) if checkpoint is not None else None
    if ckpt is not None and ckpt.is_file():
        run.restore(load_torch_state(ckpt), ckpt)
    start, end = run.step, min(cfg.steps, stop_after or cfg.steps)
    features = heldout_features(arm, cfg.n_eval, cfg.eval_seed)
    last_save = time.monotonic()
    with tqdm(total=cfg.steps, initial=start, disable=not progress, desc=f"train ik {arm.name}",
              unit="step") as bar:  # fmt: skip
        try:
            while run.step < end:
                loss = run.train_step()
                bar.update(1)
                if run.step % cfg.eval_every == 0 or run.step == cfg.steps:
                    point = run.record(features)
                    bar.set_postfix(loss=f"{loss:.2e}", mm=f"{point['pos_mean_mm']:.3f}")
                if ckpt is not None and time.monotonic() - last_save > cfg.checkpoint_seconds:
                    _save(run, ckpt)
                    last_save = time.monotonic()
        finally:  # an interruption keeps what was done
            if ckpt is not None:
                _save(run, ckpt)
    seconds = time.perf_counter() - t0
    final = run.curve[-1] if run.curve and run.curve[-1]["step"] == run.step else None
    final = final or heldout_errors(run.model(), features)
    report = MHTrainReport(
        steps=run.step, finished=run.step >= cfg.steps, seconds=round(seconds, 2),
        resumed_from=start, curve=list(run.curve),
        final={k: v for k, v in final.items() if k not in ("step", "loss", "lr")},
    )  # fmt: skip
    info = {
        "method": "fk", "command": command, "config": _weight_settings(cfg),
        "steps_done": run.step, "heldout": report.final, "seconds_this_run": report.seconds,
        "torch_version": torch.__version__, "package_version": __version__,
    }  # fmt: skip
    return run.model(info), report


def _save(run: _Run, path: Path) -> None:
    save_torch_state(path, run.state())


# ------------------------------------------------------------------------ plotting
def plot_mh_curves(report: MHTrainReport, path: str | Path, title: str = "") -> Path:
    """Training loss and held-out best-of-K errors against the step, to a PNG.

    Raises:
        DependencyNotInstalled: matplotlib is missing (the ``[plots]`` extra).
    """
    from ..plots import pyplot

    plt = pyplot()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    steps = [p["step"] for p in report.curve]
    fig, (ax_loss, ax_err) = plt.subplots(1, 2, figsize=(11, 4.2))
    ax_loss.semilogy(steps, [p["loss"] for p in report.curve])
    ax_loss.set_xlabel("step")
    ax_loss.set_ylabel("training loss (WTA-weighted, unitless)")
    ax_err.semilogy(steps, [p["pos_mean_mm"] for p in report.curve], label="mean position (mm)")
    ax_err.semilogy(steps, [p["pos_median_mm"] for p in report.curve], label="median position (mm)")
    ax_err.semilogy(
        steps, [p["rot_median_deg"] for p in report.curve], label="median rotation (deg)"
    )
    ax_err.set_xlabel("step")
    ax_err.set_ylabel("held-out best-of-K error")
    share = ax_err.twinx()
    share.plot(
        steps, [p["within_1mm_1deg"] for p in report.curve], "k--", label="within 1 mm, 1 deg"
    )
    share.set_ylim(0, 1)
    share.set_ylabel("fraction within 1 mm and 1 degree")
    ax_err.legend(loc="upper center", fontsize=7)
    share.legend(loc="center right", fontsize=7)
    for ax in (ax_loss, ax_err):
        ax.grid(True, which="both", alpha=0.3)
    fig.suptitle(title or "MultiHypothesisIK training curves")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
