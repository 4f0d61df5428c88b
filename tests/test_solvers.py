"""Solvers: success rates on random reachable targets, call counting, the shared interface."""

from __future__ import annotations

import numpy as np
import pytest

import ikml_gym
from ikml_gym.errors import InvalidInputError
from ikml_gym.solvers import DLSIK, AnalyticIK, HybridIK, IKResult, IKSolver, PyBulletIK


def _targets(arm, n, seed=2024):
    """Reachable targets: FK of random configurations (a seed unlike any solver's)."""
    q = arm.random_q(n, np.random.default_rng(seed))
    return q, arm.fk_features(q)


@pytest.mark.parametrize("name", ["arm4", "arm6"])
def test_analytic_solves_everything(name, resolve_arm):
    arm = resolve_arm(name)
    _, f = _targets(arm, 2000)
    solver = AnalyticIK(arm)
    res = solver.solve(f)
    assert res.success.all()
    assert res.pos_err.max() < 1e-9 and res.rot_err.max() < 1e-6
    assert solver.calls == 0  # closed form: no numerical calls


def test_analytic_picks_the_branch_nearest_q0(arm6):
    q, f = _targets(arm6, 200)
    res = AnalyticIK(arm6).solve(f, q0=q + 0.01)
    assert np.abs(res.q - q).max() < 1e-6


@pytest.mark.parametrize("name,min_rate", [("arm4", 0.995), ("arm6", 0.99)])
def test_dls_success_rate(name, min_rate, resolve_arm):
    arm = resolve_arm(name)
    _, f = _targets(arm, 500)
    solver = DLSIK(arm)
    res = solver.solve(f)
    assert res.success.mean() >= min_rate
    assert solver.calls == len(f)
    assert arm.within_limits(res.q).all()
    # converged poses are polished far below the tolerances
    assert np.median(res.pos_err) < 1e-5


def test_dls_on_a_generic_urdf(resolve_arm):
    arm = resolve_arm("kuka_iiwa/model.urdf")
    _, f = _targets(arm, 100)
    res = DLSIK(arm).solve(f)
    assert res.success.mean() >= 0.95
    assert arm.within_limits(res.q).all()


def test_dls_refine_improves_a_nearby_guess(arm6):
    q, f = _targets(arm6, 100)
    guess = q + np.random.default_rng(1).normal(0, 0.05, q.shape)
    dls = DLSIK(arm6)
    before = dls.evaluate(guess, f)
    refined = dls.refine(guess, f, 5)
    after = dls.evaluate(refined, f)
    assert after.success.mean() > 0.95 > before.success.mean()
    assert dls.calls == 0  # refine is a polish, not a counted solve


@pytest.mark.parametrize("name", ["arm4", "arm6"])
def test_pybullet_tuned_solves_nearly_all_defaults_almost_none(name, resolve_arm):
    arm = resolve_arm(name)
    _, f = _targets(arm, 60)
    tuned = PyBulletIK(arm)
    defaults = PyBulletIK.pybullet_defaults(arm)
    try:
        r_tuned = tuned.solve(f)
        r_default = defaults.solve(f)
    finally:
        tuned.close()
        defaults.close()
    assert r_tuned.success.mean() >= 0.95
    assert r_default.success.mean() <= 0.3
    assert tuned.calls == defaults.calls == len(f)
    assert arm.within_limits(r_tuned.q).all()


def test_pybullet_client_is_released_when_the_solver_is_dropped(arm4):
    import gc

    import pybullet

    s = PyBulletIK(arm4)
    client = s._client
    assert pybullet.isConnected(physicsClientId=client)
    del s
    gc.collect()
    assert not pybullet.isConnected(physicsClientId=client)


def test_pybullet_close_is_idempotent(arm4):
    s = PyBulletIK(arm4)
    s.close()
    s.close()
    with pytest.raises(RuntimeError, match="closed"):
        s.solve(np.array([0.2, 0.0, 0.2, 0.0]))


class _HalfRight(IKSolver):
    """A free 'learned' solver that is exact on even rows and wrong on odd rows."""

    numerical = False

    def __init__(self, arm, q_true):
        super().__init__(arm)
        self.q_true = q_true

    def _solve(self, features, q0):
        q = self.q_true[: len(features)].copy()
        q[1::2] = 0.0
        return self.evaluate(q, features)


def test_hybrid_counts_only_fallback_calls(arm6):
    q, f = _targets(arm6, 40)
    fallback = DLSIK(arm6)
    hybrid = HybridIK(_HalfRight(arm6, q), fallback)
    res = hybrid.solve(f)
    assert res.success.all()
    assert fallback.calls == 20 and hybrid.calls == 20
    hybrid.reset_calls()
    assert hybrid.calls == 0 and fallback.calls == 0
    # a learned solver that is always right costs nothing
    exact = HybridIK(AnalyticIK(arm6), DLSIK(arm6))
    assert exact.solve(f).success.all()
    assert exact.calls == 0


@pytest.mark.parametrize("confidence", [1.0, 0.0])  # screen nothing / everything
def test_composite_answers_carry_the_errors_of_their_joints(arm6, confidence):
    """HybridIK and ScreenedIK report their children's measured errors (no second FK
    pass): they must be the errors of the joints they return."""
    from ikml_gym.solvers import ScreenedIK

    q, f = _targets(arm6, 40)
    hybrid = HybridIK(_HalfRight(arm6, q), DLSIK(arm6), tol=(0.002, 0.02))
    screened = ScreenedIK(hybrid, ikml_gym.load_classifier("arm6"), confidence=confidence)
    for solver in (hybrid, screened):
        res = solver.solve(f, q0=q + 0.05)
        pos, rot = arm6.pose_error(res.q, f)
        np.testing.assert_allclose(res.pos_err, pos, rtol=0, atol=1e-12)
        np.testing.assert_allclose(res.rot_err, rot, rtol=0, atol=1e-12)
        expected = (pos < 0.002) & (rot < 0.02)
        if solver is screened and confidence == 0.0:
            expected[:] = False  # every target refused
        np.testing.assert_array_equal(res.success, expected)


def test_a_composite_checks_its_input_once(arm6, monkeypatch):
    from ikml_gym.solvers import ScreenedIK

    q, f = _targets(arm6, 4)
    screened = ScreenedIK(
        HybridIK(_HalfRight(arm6, q), DLSIK(arm6)), ikml_gym.load_classifier("arm6"), 1.0
    )
    checks = []
    check = arm6.check_features
    monkeypatch.setattr(arm6, "check_features", lambda x: checks.append(1) or check(x))
    res = screened.solve(f, q0=q)
    assert res.success.all() and screened.calls == 2
    assert len(checks) == 1  # screened.solve; the children take the checked rows


def test_hybrid_refuses_mixed_arms(arm4, arm6):
    with pytest.raises(ValueError, match="different arms"):
        HybridIK(AnalyticIK(arm4), DLSIK(arm6))


def test_single_pose_and_empty_batch(arm4):
    solver = DLSIK(arm4)
    _q, f = _targets(arm4, 1)
    one = solver.solve(f[0])
    assert isinstance(one, IKResult) and one.q.shape == (4,)
    assert bool(one.success)
    empty = solver.solve(np.zeros((0, 4)))
    assert empty.q.shape == (0, 4) and len(empty) == 0
    assert solver.calls == 1


def test_solver_input_errors(arm6):
    solver = DLSIK(arm6)
    with pytest.raises(InvalidInputError, match=r"shape \(7,\) or \(N, 7\)"):
        solver.solve(np.zeros((3, 6)))
    with pytest.raises(InvalidInputError, match="NaN or inf"):
        solver.solve(np.array([[np.nan, 0, 0, 0, 0, 0, 1.0]]))
    with pytest.raises(InvalidInputError, match="unit quaternions"):
        solver.solve(np.array([[0.3, 0, 0.3, 0, 0, 0, 2.0]]))
    with pytest.raises(InvalidInputError, match="q0 has 2 rows"):
        solver.solve(np.tile([0.3, 0, 0.3, 0, 0, 0, 1.0], (3, 1)), q0=np.zeros((2, 6)))
    with pytest.raises(TypeError, match="Arm"):
        DLSIK("arm6")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        DLSIK(arm6, max_iters=0)
    assert solver.calls == 0  # nothing was attempted


def test_analytic_degenerate_and_unreachable_rows(arm6):
    q, f = _targets(arm6, 50)
    q[:10, 4] = 0.0  # wrist singularity: a continuum of solutions, the closed form picks one
    f = arm6.fk_features(q)
    far = np.array([[3.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]])
    res = AnalyticIK(arm6).solve(np.vstack([f, far]))
    assert res.success[:50].all()
    assert not res.success[50] and np.isfinite(res.pos_err[50]) and res.pos_err[50] > 1.0
    _, valid = AnalyticIK(arm6).solve_all(f[:10])
    assert valid.any(axis=1).all()


@pytest.mark.parametrize("name", ["arm4", "arm6"])
def test_dls_gives_up_on_unreachable_targets_with_bounded_work(name, resolve_arm):
    arm = resolve_arm(name)
    rng = np.random.default_rng(3)
    d = rng.normal(size=(100, 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    pos = arm.reach_center + d * arm.reach * 1.3
    quat = np.tile([0.0, 0.0, 0.0, 1.0], (100, 1))
    feats = arm.features(pos, quat)
    solver = DLSIK(arm, restarts=5)
    starts = []
    seeds = solver._seeds
    solver._seeds = lambda tpos, tgt: starts.append(tpos.shape[1]) or seeds(tpos, tgt)
    res = solver.solve(feats)
    assert not res.success.any()
    assert solver.calls == 100
    assert sum(starts) <= 100 * 6  # 1 + restarts starts per pose, never more
    assert np.all(res.pos_err > 0.1 * arm.reach)  # best attempts are reported, finite
    none = DLSIK(arm, restarts=0).solve(feats)
    assert not none.success.any()


# ------------------------------------------------------------------ call accounting
def test_calls_sum_the_solver_tree_counting_a_shared_solver_once(arm4, arm6):
    from ikml_gym.solvers import ScreenedIK

    q, f = _targets(arm6, 40)
    learned = _HalfRight(arm6, q)
    fallback = DLSIK(arm6)
    hybrid = HybridIK(learned, fallback)
    screened = ScreenedIK(hybrid, ikml_gym.load_classifier("arm6"), confidence=1.0, guess=learned)
    assert screened.walk() == [screened, hybrid, learned, fallback]  # learned listed once
    screened.solve(f)
    assert fallback.own_calls == 20 and hybrid.own_calls == screened.own_calls == 0
    assert screened.calls == hybrid.calls == fallback.calls == 20
    screened.reset_calls()
    assert screened.calls == fallback.calls == 0


def test_env_parts_meter_the_solver_they_are_given(arm6):
    """A controller reads its solver's calls through a meter made when the solver is set,
    so a solver swapped in later is the one counted."""
    from ikml_gym.envs.robot import EEControl
    from ikml_gym.solvers import CallMeter

    q, f = _targets(arm6, 10)
    first, second = DLSIK(arm6), DLSIK(arm6)
    meter = CallMeter([HybridIK(_HalfRight(arm6, q), first)])
    HybridIK(_HalfRight(arm6, q), first).solve(f)
    assert meter() == first.calls == 5
    control = EEControl(first, ee_step=0.01)
    control.solver = second
    second.solve(f[:3])
    assert control._calls() == 3


def test_reseed_reaches_nested_solvers_with_distinct_deterministic_streams(arm4):
    from ikml_gym.solvers import reseed, seeded_solvers

    def tree():
        return HybridIK(HybridIK(AnalyticIK(arm4), DLSIK(arm4, seed=5)), PyBulletIK(arm4, seed=6))

    a, b = tree(), tree()
    try:
        reseed([a], 123)
        b.reseed(123)
        draws_a = [s.rng.random(4) for s in seeded_solvers([a])]
        draws_b = [s.rng.random(4) for s in seeded_solvers([b])]
        assert len(draws_a) == 2
        np.testing.assert_array_equal(draws_a, draws_b)  # deterministic
        assert not np.array_equal(draws_a[0], draws_a[1])  # distinct per solver
        # the first seeded solver gets exactly default_rng(seed)
        np.testing.assert_array_equal(draws_a[0], np.random.default_rng(123).random(4))
    finally:
        a.fallback.close()
        b.fallback.close()


def test_owners_of_solvers_count_through_the_same_traversal(arm6):
    from ikml_gym.learned.feasibility import FeasibilityFilter
    from ikml_gym.planning import IKGroundTruth
    from ikml_gym.solvers import reset_calls, total_calls, walk_solvers

    _, f = _targets(arm6, 6)
    dls = DLSIK(arm6)
    filt = FeasibilityFilter(ikml_gym.load_classifier("arm6"), dls, confidence=1.0)
    truth = IKGroundTruth(dls, filt.classifier.thresholds)
    assert walk_solvers([filt, truth]) == [dls]
    filt.query(f)
    truth(f)
    assert filt.calls == truth.calls == total_calls([filt, truth]) == 12
    reset_calls([filt])
    assert truth.calls == 0
