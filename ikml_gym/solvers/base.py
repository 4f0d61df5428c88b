"""The solver interface: IKResult, the IKSolver base class, default tolerances, call accounting."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._validation import as_batch
from ..arms import Arm
from ..errors import InvalidInputError

DEFAULT_POS_TOL = 1e-3  # metres
DEFAULT_ROT_TOL = float(np.deg2rad(1.0))  # radians


@dataclass
class IKResult:
    """Solutions of a batch of N poses.

    Attributes:
        q: (N, dof) joint angles, within the joint limits (best attempt where unsolved).
        success: (N,) bool, errors below the solver's tolerances.
        pos_err: (N,) metres.
        rot_err: (N,) radians.
    """

    q: np.ndarray
    success: np.ndarray
    pos_err: np.ndarray
    rot_err: np.ndarray

    def __len__(self) -> int:
        return len(self.success)

    def first(self) -> IKResult:
        """The first row, unbatched (q (dof,), scalars); used for single-pose calls."""
        return IKResult(self.q[0], self.success[0], self.pos_err[0], self.rot_err[0])


class IKSolver(ABC):
    """Base class: input validation, error measurement and the IK-call accounting.

    Accounting: every solver counts its *own* numerical calls (a numerical solver one
    per pose it is asked; a solver may also count numerical steps it runs itself, like
    a learned IK's polish) and declares the solvers it delegates to in
    :meth:`children`. :attr:`calls` sums the own calls of :meth:`walk` (this solver
    and its descendants, each once, so a solver shared by two branches counts once);
    :meth:`reset_calls` and :meth:`reseed` act on the same tree.
    """

    #: whether :meth:`solve` counts one own numerical call per pose (iterative solvers)
    numerical: bool = True
    #: the restart / start generator of a solver that draws random numbers, else None
    rng: np.random.Generator | None = None
    _own_calls: int = 0

    def __init__(
        self, arm: Arm, pos_tol: float = DEFAULT_POS_TOL, rot_tol: float = DEFAULT_ROT_TOL
    ) -> None:
        if not isinstance(arm, Arm):
            raise TypeError(f"expected an ikml_gym.Arm, got {type(arm).__name__}")
        if not (pos_tol > 0 and rot_tol > 0):
            raise ValueError("pos_tol and rot_tol must be positive")
        self.arm = arm
        self.pos_tol = float(pos_tol)
        self.rot_tol = float(rot_tol)
        self._own_calls = 0

    # ------------------------------------------------------------------ accounting
    @property
    def calls(self) -> int:
        """Numerical IK calls spent so far by this solver and the solvers it uses."""
        return total_calls([self])

    @property
    def own_calls(self) -> int:
        """Numerical IK calls this solver made itself (its children's excluded)."""
        return self._own_calls

    def children(self) -> tuple[IKSolver, ...]:
        """The solvers this one delegates to (none by default)."""
        return ()

    @property
    def free(self) -> bool:
        """Whether :meth:`solve` never spends a numerical call, so a batch of extra poses
        costs nothing counted: not numerical, no child solver and no numerical step of its
        own (solvers that polish override this)."""
        return not self.numerical and not self.children()

    def walk(self) -> list[IKSolver]:
        """This solver and its descendants, depth first, each once."""
        return walk_solvers([self])

    def reset_calls(self) -> None:
        """Set the call counters of this solver and its descendants back to zero."""
        reset_calls([self])

    def reseed(self, seed: int) -> None:
        """New generators for every solver of :meth:`walk` that has one (see :func:`reseed`)."""
        reseed([self], seed)

    def _count(self, n: int) -> None:
        """Add ``n`` own numerical calls (for solvers that run numerical steps themselves)."""
        self._own_calls += int(n)

    def solve(self, features: object, q0: object | None = None) -> IKResult:
        """Solve IK for task features (feature_dim,) or (N, feature_dim).

        Args:
            features: target poses, see :meth:`Arm.features`.
            q0: optional initial guess (dof,) or (N, dof) radians.

        Returns:
            IKResult, unbatched (``first()``) when ``features`` is one pose.

        Raises:
            InvalidInputError: ``features`` or ``q0`` of the wrong shape or dtype, with NaN or
                inf, a position beyond +-1e6 m, or (pose7) a quaternion not of unit norm;
                ``q0`` with neither 1 nor N rows.
        """
        f, single = self.arm.check_features(features)
        q_init = None
        if q0 is not None:
            q_init, _ = as_batch(q0, self.arm.dof, "q0")
            if len(q_init) == 1 and len(f) != 1:  # one start for every pose (none for none)
                q_init = np.repeat(q_init, len(f), axis=0)
            if len(q_init) != len(f):
                raise InvalidInputError(f"q0 has {len(q_init)} rows but features has {len(f)}")
        result = self.solve_checked(f, q_init)
        return result.first() if single else result

    def solve_checked(self, features: np.ndarray, q0: np.ndarray | None = None) -> IKResult:
        """:meth:`solve` of targets validated already: (N, feature_dim) float64 rows from
        ``arm.check_features`` and ``q0`` None or (N, dof) radians; always batched.

        What a solver built on other solvers (``HybridIK``, ``ScreenedIK``) hands its
        children, so that one call checks its input once. Counted like :meth:`solve`.
        """
        if len(features) == 0:
            z = np.zeros(0)
            return IKResult(np.zeros((0, self.arm.dof)), z.astype(bool), z, z)
        result = self._solve(features, q0)
        if self.numerical:
            self._count(len(features))
        return result

    @abstractmethod
    def _solve(self, features: np.ndarray, q0: np.ndarray | None) -> IKResult:
        """Batched solve on validated (N, feature_dim) features, N >= 1."""

    def evaluate(self, q: np.ndarray, features: np.ndarray) -> IKResult:
        """Measure (N, dof) ``q`` against (N, feature_dim) targets -> IKResult."""
        pos_err, rot_err = self.arm.pose_error(q, features)
        success = (pos_err < self.pos_tol) & (rot_err < self.rot_tol)
        return IKResult(q, success, pos_err, rot_err)

    def judged(self, res: IKResult) -> IKResult:
        """A result another solver measured (its ``pos_err``, ``rot_err`` are those of its
        ``q``), with ``success`` by this solver's tolerances: no second FK pass."""
        success = (res.pos_err < self.pos_tol) & (res.rot_err < self.rot_tol)
        return IKResult(res.q, success, res.pos_err, res.rot_err)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(arm={self.arm.name!r}, calls={self.calls})"


# ------------------------------------------------------------------ the solver tree
def walk_solvers(parts: Iterable[Any]) -> list[IKSolver]:
    """Every :class:`IKSolver` reachable from ``parts``, depth first, each once.

    A part is an ``IKSolver`` (itself, then its :meth:`~IKSolver.children`) or an
    object that owns solvers and lists them in a ``solvers()`` method (a feasibility
    filter, a trajectory answerer, an env's controller or goal filter); anything else
    owns no solver.
    """
    seen: set[int] = set()
    out: list[IKSolver] = []

    def visit(part: Any) -> None:
        if id(part) in seen:
            return
        seen.add(id(part))
        if isinstance(part, IKSolver):
            out.append(part)
            nested = part.children()
        else:
            owned = getattr(type(part), "solvers", None)
            nested = owned(part) if callable(owned) else ()
        for child in nested:
            visit(child)

    for part in parts:
        visit(part)
    return out


def total_calls(parts: Iterable[Any]) -> int:
    """Numerical IK calls spent by every solver of ``parts`` (each solver counted once)."""
    return sum(s.own_calls for s in walk_solvers(parts))


class CallMeter:
    """The numerical calls spent by a fixed set of parts, read in O(solvers) per call.

    :func:`total_calls` walks the solver tree at every call; a part that reads the count
    around every env step (a controller, a goal check) makes a meter instead, when its
    solver is set: the tree is walked once then, so wire the solvers together first.
    """

    __slots__ = ("solvers",)

    def __init__(self, parts: Iterable[Any]) -> None:
        self.solvers = tuple(walk_solvers(parts))

    def __call__(self) -> int:
        """Numerical calls spent so far by every solver of the parts (each counted once)."""
        total = 0
        for s in self.solvers:
            total += s._own_calls
        return total


class MeteredPart:
    """A class attribute holding the solver (or owner of solvers) a part calls: setting it
    also sets the part's ``_calls``, a :class:`CallMeter` of it. Used by the env's
    controllers and goal checks: ``solver = MeteredPart()``, then ``self._calls()``."""

    def __set_name__(self, owner: type, name: str) -> None:
        self._slot = f"_{name}"

    def __get__(self, obj: Any, objtype: type | None = None) -> Any:
        return self if obj is None else getattr(obj, self._slot)

    def __set__(self, obj: Any, value: Any) -> None:
        setattr(obj, self._slot, value)
        obj._calls = CallMeter([value])


def reset_calls(parts: Iterable[Any]) -> None:
    """Set the call counters of every solver of ``parts`` back to zero."""
    for s in walk_solvers(parts):
        s._own_calls = 0


def seeded_solvers(parts: Iterable[Any]) -> list[IKSolver]:
    """The solvers of ``parts`` that draw random numbers (an ``rng``), in walk order."""
    return [s for s in walk_solvers(parts) if s.rng is not None]


def reseed(parts: Iterable[Any], seed: int) -> None:
    """Give every seeded solver of ``parts`` a new generator derived from ``seed``.

    The k-th seeded solver in walk order gets ``SeedSequence(seed, spawn_key=(k,))``,
    except the first, which gets ``seed`` itself: distinct streams, and one seeded
    solver is reseeded exactly as ``np.random.default_rng(seed)``.
    """
    for k, s in enumerate(seeded_solvers(parts)):
        spawn_key = (k,) if k else ()
        s.rng = np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=spawn_key))
