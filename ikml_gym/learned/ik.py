"""Learned inverse kinematics for pose4 arms (``arm4``): a clustered regressor.

The reference study's model, reproduced and made persistent without pickle:

* **Clusters.** The joint samples are split into ``n_clusters`` (4) groups,
  either by KMeans on ``[sin q, cos q]`` (``clustering="kmeans"``; sin/cos so
  that +-pi is not a seam) or by the closed-form branch each sample lies on
  (``clustering="branch"``: base flip x elbow up/down). Within one branch the
  pose -> joints map is single-valued and smooth away from singularities;
  KMeans clusters are not aligned with the branches, so a cluster can hold
  two solutions of one pose and its regressor averages them.
* **One regressor per cluster** (:mod:`ikml_gym.learned.ik_networks`), inputs and
  outputs encoded by :mod:`ikml_gym.learned.ik_encoding` (8 inputs per pose;
  ``[sin q, cos q]`` outputs turned back into angles with ``atan2``, then
  wrapped/clipped into the joint limits).
* **Inference**: every cluster proposes, forward kinematics scores each
  proposal against the target (``pos_err / pos_tol + rot_err / rot_tol``),
  the best is kept. Optionally ``refine_steps`` damped-least-squares
  iterations (:meth:`ikml_gym.solvers.DLSIK.refine`) polish the poses whose
  guess misses the tolerances. The network runs in numpy (float32 weights),
  batched. ``pitch_closure=True`` (off by default) replaces the last joint of
  every proposal by ``psi - (q_2 + ... + q_{dof-1})``, exact for
  yaw-pitch-...-pitch arms: zero pitch error, lower position error.

Counting (as in :mod:`ikml_gym.solvers`): the network and the FK scoring are free
(``numerical = False``). Polishing *is* a numerical step: every pose handed to the
DLS polish adds one to ``calls`` (also readable as ``polish_calls``).

Where the other jobs live: training in :mod:`ikml_gym.learned.train_ik`
(``train_learned_ik``, scikit-learn, the ``[train]`` extra), the model file in
:mod:`ikml_gym.learned.ik_file` (:meth:`LearnedIK.save`, :meth:`LearnedIK.load`),
the shipped files in :mod:`ikml_gym.pretrained`. :func:`load_ik` loads the shipped
learned IK of an arm (``ikml_gym/pretrained/<arm>_ik``, whichever kind its header
names) or any saved file; :func:`load_guess_ik` sets the shipped one up as the guess
of a ``HybridIK``. The training names are also
importable from this module (``from ikml_gym.learned.ik import train_learned_ik``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import kinematics as kin
from .._extras import lazy_attributes
from ..arms import POSE4, Arm, load_arm
from ..errors import ModelFileError
from ..io import model_kind
from ..pretrained import SHIPPED_ARMS, has_shipped_model, shipped_model_stem
from ..solvers import DEFAULT_POS_TOL, DEFAULT_ROT_TOL, DLSIK, IKResult, IKSolver
from .hypotheses import BRANCH_PLAUSIBLE, best_hypotheses, solve_in_chunks
from .ik_encoding import INPUT_SPEC, ik_inputs, joint_targets, joints_from_outputs
from .ik_file import KIND, read_ik_model, write_ik_model
from .ik_networks import ClusterNet, SklearnClusterNet, stack_cluster_nets
from .mh_ik_file import KIND as MH_KIND

if TYPE_CHECKING:
    from .mh_ik import MultiHypothesisIK

__all__ = [
    "BRANCH_PLAUSIBLE",
    "CHUNK",
    "CLUSTERINGS",
    "INPUT_SPEC",
    "KIND",
    "LearnedIK",
    "ik_inputs",
    "joint_targets",
    "joints_from_outputs",
    "load_guess_ik",
    "load_ik",
    "pretrained_path",
]

CLUSTERINGS = ("branch", "kmeans")
#: names that moved to :mod:`ikml_gym.learned.train_ik`, still importable from here
#: (imported on first use, so this module needs no scikit-learn)
_TRAINING_NAMES = (
    "TrainReport",
    "default_regressor",
    "kmeans_clusters",
    "plot_training_curves",
    "train_learned_ik",
)


__getattr__ = lazy_attributes(__name__, "ikml_gym.learned.train_ik", _TRAINING_NAMES)


# ---------------------------------------------------------------------------- solver
#: poses per chunk of a large batch (all heads' activations and FK checks stay in cache)
CHUNK = 4096


class LearnedIK(IKSolver):
    """Clustered-regressor IK of a pose4 arm (no numerical calls; see the module docstring).

    Build one with :func:`train_learned_ik` or load one with :func:`load_ik`.

    Args:
        arm: the arm (pose4 feature kind).
        nets: one regressor per cluster.
        clustering: ``"branch"`` or ``"kmeans"``.
        centers: (n_clusters, 2 dof) KMeans centres in ``[sin q, cos q]`` space
            (kept for reference; inference asks every cluster).
        refine_steps: DLS iterations polishing guesses that miss the tolerances (0 = none).
        pitch_closure: replace each proposal's last joint by ``psi - (q_2 + ... q_{dof-1})``
            (exact algebra, not a numerical step). For yaw-pitch-...-pitch arms psi is the
            sum of the pitch joints, so this makes the pitch error zero and leaves only the
            regressor's error in the earlier joints; checked at construction. Off by
            default: the plain model is the reference study's.
        pos_tol, rot_tol: success tolerances (m, rad).
        info: training metadata (saved in the header).

    Attributes:
        polish_calls: poses handed to the DLS polish so far (the solver's own numerical
            calls, counted in ``calls``).
    """

    numerical = False

    def __init__(
        self,
        arm: Arm,
        nets: list[ClusterNet | SklearnClusterNet],
        clustering: str = "branch",
        centers: np.ndarray | None = None,
        refine_steps: int = 0,
        pos_tol: float = DEFAULT_POS_TOL,
        rot_tol: float = DEFAULT_ROT_TOL,
        info: dict[str, Any] | None = None,
        pitch_closure: bool = False,
    ) -> None:
        super().__init__(arm, pos_tol=pos_tol, rot_tol=rot_tol)
        if arm.feature_kind != POSE4:
            raise ValueError(
                f"LearnedIK handles pose4 arms (x, y, z, psi); arm {arm.name!r} is "
                f"{arm.feature_kind!r} -- use DLSIK or AnalyticIK"
            )
        if clustering not in CLUSTERINGS:
            raise ValueError(f"clustering must be one of {CLUSTERINGS}, got {clustering!r}")
        if not nets:
            raise ValueError("LearnedIK needs at least one cluster regressor")
        if refine_steps < 0:
            raise ValueError("refine_steps must be >= 0")
        self.nets = list(nets)
        self._mlp = stack_cluster_nets(self.nets)
        self.clustering = clustering
        self.centers = None if centers is None else np.asarray(centers, dtype=np.float64)
        self.refine_steps = int(refine_steps)
        self.info: dict[str, Any] = dict(info or {})
        self._dls: DLSIK | None = None
        self.pitch_closure = bool(pitch_closure)
        if self.pitch_closure:
            q = arm.random_q(16, np.random.default_rng(0))
            gap = kin.wrap_angle(arm.fk_features(q)[:, 3] - q[:, 1:].sum(axis=1))
            if np.max(np.abs(gap)) > 1e-9:
                raise ValueError(
                    f"pitch_closure needs psi = q_2 + ... + q_dof; arm {arm.name!r} is not "
                    "a yaw-pitch-...-pitch chain"
                )

    # ------------------------------------------------------------------ properties
    @property
    def n_clusters(self) -> int:
        """Number of cluster regressors (each proposes a solution)."""
        return len(self.nets)

    @property
    def free(self) -> bool:
        """Free unless it polishes (``refine_steps > 0``: a counted numerical step)."""
        return self.refine_steps == 0

    @property
    def polish_calls(self) -> int:
        """Poses handed to the DLS polish so far: this solver's own numerical calls."""
        return self.own_calls

    def with_refine(self, refine_steps: int, pitch_closure: bool | None = None) -> LearnedIK:
        """A solver sharing these networks with other ``refine_steps`` (and, given,
        ``pitch_closure``); its counters start at zero."""
        closure = self.pitch_closure if pitch_closure is None else pitch_closure
        return LearnedIK(
            self.arm, self.nets, self.clustering, self.centers, refine_steps,
            self.pos_tol, self.rot_tol, self.info, closure,
        )  # fmt: skip

    # -------------------------------------------------------------------- inference
    def propose(self, features: object) -> np.ndarray:
        """Every cluster's proposal: (N, n_clusters, dof) radians within the joint limits."""
        f, _ = self.arm.check_features(features)
        if len(f) > CHUNK:
            return np.concatenate(
                [self._propose(f[s : s + CHUNK]) for s in range(0, len(f), CHUNK)]
            )
        return self._propose(f)

    def _propose(self, f: np.ndarray) -> np.ndarray:
        inputs = ik_inputs(f)
        if self._mlp is not None:  # (K, N, 2 dof) in one stacked pass
            q = joints_from_outputs(self._mlp.forward(inputs).transpose(1, 0, 2))
        else:
            q = np.stack([joints_from_outputs(net.predict(inputs)) for net in self.nets], axis=1)
        if self.pitch_closure:
            q[:, :, -1] = kin.wrap_angle(f[:, 3, None] - q[:, :, 1:-1].sum(axis=2))
        return self.arm.wrap_to_limits(q)

    def _best(self, features: np.ndarray, q0: np.ndarray | None = None) -> IKResult:
        """Pick one proposal per pose, measured by FK (:func:`best_hypotheses`: the
        best-scoring one, or with ``q0`` the plausible one nearest to it; where none is
        plausible the best-scoring one -- a branch that does not exist for a pose still
        gets a proposal, which is garbage). If the chosen proposal misses the tolerances,
        a HybridIK fallback starts from it."""
        proposals = self._propose(features)
        return best_hypotheses(self.arm, proposals, features, self.pos_tol, self.rot_tol, q0)

    def _solve(self, features: np.ndarray, q0: np.ndarray | None) -> IKResult:
        # q0 selects the branch (see _best); the network itself needs no seed. Chunks
        # keep every head's activations and FK check in cache, which is faster than one
        # large batch (see benchmarks/results/design_choices.md)
        res = solve_in_chunks(self._best, features, q0, CHUNK)
        if self.refine_steps > 0 and not np.all(res.success):
            bad = np.flatnonzero(~res.success)
            if self._dls is None:
                self._dls = DLSIK(self.arm, pos_tol=self.pos_tol, rot_tol=self.rot_tol)
            q = res.q.copy()
            q[bad] = self._dls.refine(res.q[bad], features[bad], self.refine_steps)
            self._count(len(bad))
            res = self.evaluate(q, features)
        return res

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> tuple[Path, Path]:
        """Write ``<path>.safetensors`` + ``<path>.json`` (no pickle; :mod:`ikml_gym.learned.ik_file`).

        Raises:
            TypeError: a cluster regressor is not a ReLU ``MLPRegressor``.
        """
        return write_ik_model(path, self.arm, self.nets, self.clustering, self.centers, self.info)

    @classmethod
    def load(cls, path: str | Path, arm: Arm | None = None, **kwargs: Any) -> LearnedIK:
        """Load a model written by :meth:`save`.

        Args:
            path: file stem or either file.
            arm: the arm to check the model against; by default the shipped arm named
                in the header.
            kwargs: ``refine_steps``, ``pos_tol``, ``rot_tol``, ``pitch_closure``.

        Raises:
            ModelFileError: missing, truncated or damaged files, or an unexpected layout.
            ArmMismatchError: the model is for another arm or another URDF.
        """
        parts = read_ik_model(path, arm)
        return cls(
            parts.arm, parts.nets, parts.clustering, parts.centers, info=parts.info, **kwargs
        )

    def __repr__(self) -> str:
        return (
            f"LearnedIK(arm={self.arm.name!r}, clustering={self.clustering!r}, "
            f"n_clusters={self.n_clusters}, refine_steps={self.refine_steps}, "
            f"pitch_closure={self.pitch_closure}, "
            f"polish_calls={self.polish_calls})"
        )


def pretrained_path(arm_name: str) -> Path:
    """Stem of the shipped model of ``arm_name`` (``ikml_gym/pretrained/<arm>_ik``)."""
    return shipped_model_stem(arm_name, "ik")


def load_ik(
    name_or_path: str | Path = "arm4", arm: Arm | None = None, **kwargs: Any
) -> LearnedIK | MultiHypothesisIK:
    """The pretrained learned IK of a shipped arm (``"arm4"``, ``"arm6"``) or a saved model by path.

    The file's header says which model it holds: a clustered :class:`LearnedIK`
    (``ikml-gym train ik``) or a :class:`~ikml_gym.learned.mh_ik.MultiHypothesisIK`
    (``ikml-gym train ik --method fk``).

    Args:
        name_or_path: a shipped arm's name, or a model file (stem or either file).
        arm: the arm to check the model against (default: the shipped arm it names).
        kwargs: solver settings: ``pos_tol``, ``rot_tol`` for both kinds; ``refine_steps``
            and ``pitch_closure`` for a :class:`LearnedIK` only.

    Raises:
        ModelFileError: no shipped model for that name, or a damaged file.
        ArmMismatchError: the model does not belong to ``arm`` (or to the shipped arm).
        ValueError: a setting the file's kind of model does not have.
    """
    stem: str | Path = name_or_path
    if isinstance(name_or_path, str) and name_or_path in SHIPPED_ARMS:
        stem = pretrained_path(name_or_path)
        if not has_shipped_model(name_or_path, "ik"):
            raise ModelFileError(
                f"no pretrained learned IK ships for {name_or_path!r}; train one with "
                f"`ikml-gym train ik --arm {name_or_path}` and load it by path"
            )
        if arm is None:
            arm = load_arm(name_or_path)
    if model_kind(stem) == MH_KIND:
        from .mh_ik import MultiHypothesisIK

        extra = sorted(set(kwargs) - {"pos_tol", "rot_tol"})
        if extra:
            raise ValueError(f"{extra} apply to the clustered LearnedIK only, not to {stem}")
        return MultiHypothesisIK.load(stem, arm, **kwargs)
    return LearnedIK.load(stem, arm, **kwargs)


def load_guess_ik(
    arm: Arm, pos_tol: float | None = None, rot_tol: float | None = None
) -> LearnedIK | MultiHypothesisIK:
    """The shipped learned IK of ``arm``, set up as the guess of a ``HybridIK``.

    Whatever kind the shipped file holds is used as it is, except that a clustered
    :class:`LearnedIK` gets pitch closure (the last joint from the target pitch, exact
    algebra for the yaw-pitch-...-pitch arms it handles): far fewer targets then need
    the numerical fallback.

    Args:
        arm: a shipped arm (its name picks the file; the model is checked against it).
        pos_tol, rot_tol: the guess's acceptance tolerances (m, rad); default the solvers'.

    Raises:
        ModelFileError: no learned IK ships for ``arm``.
    """
    tols = {k: v for k, v in (("pos_tol", pos_tol), ("rot_tol", rot_tol)) if v is not None}
    model = load_ik(arm.name, arm=arm, **tols)
    if isinstance(model, LearnedIK):
        return model.with_refine(model.refine_steps, pitch_closure=True)
    return model
