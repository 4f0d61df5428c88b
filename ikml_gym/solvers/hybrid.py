"""A free guess, FK-checked, with a numerical fallback where the check fails."""

from __future__ import annotations

import numpy as np

from .base import IKResult, IKSolver


class HybridIK(IKSolver):
    """Learned guess, FK check, numerical fallback only where the check fails.

    ``learned`` is any non-numerical solver (``LearnedIK``, ``AnalyticIK``); its
    answers that meet ``tol`` (position m, orientation rad; default the fallback's
    tolerances) are kept. The others go to ``fallback`` (``PyBulletIK``, ``DLSIK``)
    seeded with the learned guess. ``calls`` is the numerical IK this solver
    spent: the fallback's calls plus the polish steps of the learned solver, if
    it polishes (both are its children).

    Args:
        learned: solver whose calls are free (``numerical = False``).
        fallback: numerical solver of the same arm.
        tol: ``(pos_tol, rot_tol)`` for accepting a learned guess.
    """

    numerical = False  # counts through its children, see ``calls``

    def __init__(
        self, learned: IKSolver, fallback: IKSolver, tol: tuple[float, float] | None = None
    ) -> None:
        if learned.arm.urdf_hash != fallback.arm.urdf_hash:
            raise ValueError("learned and fallback solvers are for different arms")
        pos_tol, rot_tol = tol if tol is not None else (fallback.pos_tol, fallback.rot_tol)
        super().__init__(fallback.arm, pos_tol=pos_tol, rot_tol=rot_tol)
        self.learned = learned
        self.fallback = fallback

    def children(self) -> tuple[IKSolver, ...]:
        return (self.learned, self.fallback)

    def _solve(self, features: np.ndarray, q0: np.ndarray | None) -> IKResult:
        guess = self.judged(self.learned.solve_checked(features, q0))  # the FK check
        if np.all(guess.success):
            return guess
        bad = np.flatnonzero(~guess.success)
        # seed: the caller's joints where given (tracking: the next target is a small
        # step away on the arm's own branch), else the learned guess
        fixed = self.fallback.solve_checked(features[bad], (guess.q if q0 is None else q0)[bad])
        better = (fixed.pos_err / self.pos_tol + fixed.rot_err / self.rot_tol) < (
            guess.pos_err[bad] / self.pos_tol + guess.rot_err[bad] / self.rot_tol
        )
        rows = bad[better]
        q, pos_err, rot_err = guess.q.copy(), guess.pos_err.copy(), guess.rot_err.copy()
        q[rows], pos_err[rows], rot_err[rows] = (
            fixed.q[better], fixed.pos_err[better], fixed.rot_err[better]
        )  # fmt: skip
        return self.judged(IKResult(q, guess.success, pos_err, rot_err))
