"""Screening commanded targets with a reachability classifier before solving them."""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import IKResult, IKSolver

#: classifier probability of "unreachable" above which ScreenedIK refuses a target
SCREEN_CONFIDENCE = 0.999


class ScreenedIK(IKSolver):
    """Refuse commanded targets the classifier is sure are unreachable; solve the rest.

    A refused target still gets a best-effort answer from ``guess`` (a free solver,
    e.g. the learned IK) when one is given, else ``q0``: like a failed numerical
    answer, the env applies it only if it brings the arm closer without a joint jump.

    Args:
        solver: the IK solver for the targets that pass (its ``calls`` count as this one's,
            as do any numerical steps of ``guess``).
        classifier: a ``FeasibilityClassifier`` of the same arm (``predict_proba``).
        confidence: refuse where P(unreachable) > confidence.
        guess: optional non-numerical solver for the refused targets.

    Attributes:
        screened: targets refused so far without a numerical call.
    """

    numerical = False  # counts through its children, see ``calls``

    def __init__(
        self,
        solver: IKSolver,
        classifier: Any,
        confidence: float = SCREEN_CONFIDENCE,
        guess: IKSolver | None = None,
    ) -> None:
        super().__init__(solver.arm, pos_tol=solver.pos_tol, rot_tol=solver.rot_tol)
        if classifier.arm.urdf_hash != solver.arm.urdf_hash:
            raise ValueError("classifier and solver are for different arms")
        if guess is not None and guess.numerical:
            raise ValueError("guess must be a solver without numerical calls (e.g. LearnedIK)")
        self.guess = guess
        self.solver = solver
        self.classifier = classifier
        self.confidence = float(confidence)
        self.screened = 0

    def children(self) -> tuple[IKSolver, ...]:
        return (self.solver,) if self.guess is None else (self.solver, self.guess)

    def close(self) -> None:
        close = getattr(self.solver, "close", None)
        if close is not None:
            close()

    def _solve(self, features: np.ndarray, q0: np.ndarray | None) -> IKResult:
        p_unreachable = self.classifier.predict_proba(features)[:, 0]
        refuse = p_unreachable > self.confidence
        self.screened += int(refuse.sum())
        if not np.any(refuse):  # the solver's own measured answers, no second FK pass
            return self.judged(self.solver.solve_checked(features, q0))
        q = np.tile(self.arm.joint_limits.mean(axis=1), (len(features), 1)) if q0 is None else q0
        q = q.copy()
        if self.guess is not None:
            ref = np.flatnonzero(refuse)
            q[ref] = self.guess.solve_checked(features[ref], None if q0 is None else q0[ref]).q
        if not np.all(refuse):
            keep = np.flatnonzero(~refuse)
            q[keep] = self.solver.solve_checked(features[keep], None if q0 is None else q0[keep]).q
        out = self.evaluate(q, features)
        out.success &= ~refuse
        return out
