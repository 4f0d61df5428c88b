"""Any free solver's answer, then a few DLS iterations on the poses that miss the tolerances."""

from __future__ import annotations

import numpy as np

from .base import IKResult, IKSolver
from .dls import DLSIK


class PolishedIK(IKSolver):
    """A non-numerical solver (a learned IK) polished by at most ``steps`` DLS iterations.

    The poses whose answer misses the tolerances go through :meth:`DLSIK.refine`
    from that answer (no restarts). Polishing *is* numerical work: each pose handed
    to the polish counts one call on the DLS child, so :attr:`calls` (the walk over
    :meth:`children`) includes it.

    Args:
        solver: a solver with ``numerical = False`` (``LearnedIK``, ``MultiHypothesisIK``).
        steps: DLS iterations at most per polished pose (0: the solver's answer as it is).
        tol: ``(pos_tol, rot_tol)`` (metres, radians) a pose must meet to skip the polish;
            default the solver's tolerances.

    Raises:
        ValueError: ``steps`` < 0, or a numerical ``solver`` (its calls are not free).
    """

    numerical = False  # counts through its DLS child

    def __init__(
        self, solver: IKSolver, steps: int = 3, tol: tuple[float, float] | None = None
    ) -> None:
        if solver.numerical:
            raise ValueError(
                f"PolishedIK polishes a free (numerical = False) solver, not {type(solver).__name__}"
            )
        if steps < 0:
            raise ValueError(f"steps must be >= 0, got {steps}")
        pos_tol, rot_tol = tol if tol is not None else (solver.pos_tol, solver.rot_tol)
        super().__init__(solver.arm, pos_tol=pos_tol, rot_tol=rot_tol)
        self.solver = solver
        self.steps = int(steps)
        self.dls = DLSIK(solver.arm, pos_tol=pos_tol, rot_tol=rot_tol)

    def children(self) -> tuple[IKSolver, ...]:
        return (self.solver, self.dls)

    @property
    def polish_calls(self) -> int:
        """Poses handed to the DLS polish so far (numerical calls)."""
        return self.dls.own_calls

    def _solve(self, features: np.ndarray, q0: np.ndarray | None) -> IKResult:
        res = self.evaluate(self.solver.solve(features, q0).q, features)
        if self.steps == 0 or np.all(res.success):
            return res
        bad = np.flatnonzero(~res.success)
        q = res.q.copy()
        q[bad] = self.dls.refine(res.q[bad], features[bad], self.steps)
        self.dls._count(len(bad))
        return self.evaluate(q, features)

    def __repr__(self) -> str:
        return f"PolishedIK({self.solver!r}, steps={self.steps}, calls={self.calls})"
