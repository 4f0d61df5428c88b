"""IK solvers behind one interface, each counting its numerical calls.

Every solver maps task features (:meth:`ikml_gym.Arm.features`) to joint angles::

    result = solver.solve(features, q0=None)   # IKResult, batched
    solver.calls                               # numerical IK invocations so far

A *call* is one invocation of an iterative solver for one pose (restarts
included in that one call). Closed forms, networks and FK checks are free, so
``AnalyticIK`` and the learned solvers' networks never add to ``calls``; a
learned solver's DLS polish does. A solver that delegates (``HybridIK``,
``ScreenedIK``, ``PolishedIK``) declares its ``children()`` and its ``calls`` include theirs.
Objects that own solvers without being one (``FeasibilityFilter``, an env's
controller and goal filter) list them in ``solvers()``; :func:`total_calls`,
:func:`reset_calls` and :func:`reseed` work on any mix of both.

Success means position error < ``pos_tol`` (default 1 mm) and orientation error
< ``rot_tol`` (default 1 degree) on the angles the arm controls (psi for pose4
arms, the full orientation for pose7 arms).
"""

from __future__ import annotations

from .analytic import AnalyticIK
from .base import (
    DEFAULT_POS_TOL,
    DEFAULT_ROT_TOL,
    CallMeter,
    IKResult,
    IKSolver,
    MeteredPart,
    reseed,
    reset_calls,
    seeded_solvers,
    total_calls,
    walk_solvers,
)
from .dls import DLSIK
from .hybrid import HybridIK
from .polished import PolishedIK
from .pybullet import PyBulletIK
from .screened import SCREEN_CONFIDENCE, ScreenedIK

__all__ = [
    "DEFAULT_POS_TOL",
    "DEFAULT_ROT_TOL",
    "DLSIK",
    "SCREEN_CONFIDENCE",
    "AnalyticIK",
    "CallMeter",
    "HybridIK",
    "IKResult",
    "IKSolver",
    "MeteredPart",
    "PolishedIK",
    "PyBulletIK",
    "ScreenedIK",
    "reseed",
    "reset_calls",
    "seeded_solvers",
    "total_calls",
    "walk_solvers",
]
