"""The learned-IK evaluation: PolishedIK's call counting, the rows for any arm, errors by FK."""

from __future__ import annotations

import itertools
import json
import re

import numpy as np
import pytest

from ikml_gym import kinematics as kin
from ikml_gym.bullet import load_in_bullet
from ikml_gym.errors import ArmMismatchError
from ikml_gym.learned.ik_eval import evaluate_ik, format_table, plot_eval
from ikml_gym.learned.mh_encoding import input_spec
from ikml_gym.learned.mh_ik import MultiHypothesisIK
from ikml_gym.solvers import DLSIK, AnalyticIK, HybridIK, IKResult, IKSolver, PolishedIK

SMALL = {"n_test": 24, "n_numerical": 4, "n_latency": 3, "progress": False}


def _random_model(arm, heads: int = 2, hidden: tuple[int, ...] = (16,)) -> MultiHypothesisIK:
    """A multi-hypothesis model with random weights: wrong answers, right shapes."""
    rng = np.random.default_rng(0)
    dims = [len(input_spec(arm)), *hidden, heads * arm.dof * 2]
    weights = [rng.standard_normal((a, b)) * np.sqrt(2.0 / a) for a, b in itertools.pairwise(dims)]
    biases = [rng.standard_normal(b) * 0.1 for b in dims[1:]]
    return MultiHypothesisIK(arm, weights, biases, n_heads=heads)


class NoisyExactIK(IKSolver):
    """The closed form, with ``noise`` rad added to every joint of the even rows: a free
    solver whose odd answers are exact and whose even ones miss by a few millimetres."""

    numerical = False

    def __init__(self, arm, noise: float = 0.01) -> None:
        super().__init__(arm)
        self.exact = AnalyticIK(arm)
        self.noise = noise

    def _solve(self, features: np.ndarray, q0: np.ndarray | None) -> IKResult:
        q = self.exact.solve(features).q.copy()
        q[::2] += self.noise
        return self.evaluate(self.arm.wrap_to_limits(q), features)


# ------------------------------------------------------------------ PolishedIK
def test_polished_ik_counts_one_call_per_polished_pose_and_fixes_them(arm4, rng):
    f = arm4.fk_features(arm4.random_q(40, rng))
    free = NoisyExactIK(arm4)
    raw = free.solve(f)
    polished = PolishedIK(free, steps=3)
    res = polished.solve(f)
    missed = int(np.sum(~raw.success))
    assert missed >= 15  # the noisy rows miss 1 mm / 1 deg
    assert polished.calls == polished.polish_calls == missed
    assert res.success.all() and np.all(res.pos_err <= raw.pos_err + 1e-12)
    # the counter sits on the DLS child, so an owner's walk counts it once
    hybrid = HybridIK(polished, DLSIK(arm4))
    hybrid.solve(f)
    assert hybrid.calls == 2 * missed  # no fallback call: every polished answer passes
    hybrid.reset_calls()
    assert polished.calls == 0


def test_polished_ik_with_no_steps_is_the_solvers_answer(arm4, rng):
    f = arm4.fk_features(arm4.random_q(10, rng))
    free = NoisyExactIK(arm4)
    polished = PolishedIK(free, steps=0)
    np.testing.assert_array_equal(polished.solve(f).q, free.solve(f).q)
    assert polished.calls == 0


def test_polished_ik_refuses_a_numerical_solver_and_negative_steps(arm4):
    with pytest.raises(ValueError, match="free"):
        PolishedIK(DLSIK(arm4))
    with pytest.raises(ValueError, match="steps"):
        PolishedIK(NoisyExactIK(arm4), steps=-1)


# ------------------------------------------------------------------ rows
def _methods(result) -> list[str]:
    return [r["method"] for r in result["summary"]["rows"]]


def test_rows_of_a_closed_form_arm(arm4):
    result = evaluate_ik(
        arm4, {"noisy": NoisyExactIK(arm4), "random": _random_model(arm4)}, **SMALL
    )
    assert _methods(result) == [
        "noisy", "noisy + polish (<= 3 DLS steps)", "random", "random + polish (<= 3 DLS steps)",
        "HybridIK (noisy -> PyBulletIK tuned)", "PyBulletIK tuned", "PyBulletIK defaults",
        "DLSIK", "AnalyticIK (exact reference)",
    ]  # fmt: skip
    rows = {r["method"]: r for r in result["summary"]["rows"]}
    noisy, hybrid = rows["noisy"], rows["HybridIK (noisy -> PyBulletIK tuned)"]
    assert noisy["numerical_calls"] == 0 and noisy["within_1mm_1deg"] == 0.5  # odd rows exact
    assert rows["noisy + polish (<= 3 DLS steps)"]["numerical_calls"] == 12
    assert hybrid["numerical_calls"] == 12 and hybrid["within_1mm_1deg"] == 1.0  # the misses only
    assert rows["PyBulletIK tuned"]["n"] == 4 and rows["PyBulletIK tuned"]["numerical_calls"] == 4
    exact = rows["AnalyticIK (exact reference)"]
    assert exact["joint_mae_rad"] < 1e-9 and exact["pos_err_p99_m"] < 1e-9
    assert noisy["joint_mae_rad"] == pytest.approx(0.005, abs=5e-4)  # half the rows off by 0.01
    assert all(r["one_pose_us"] > 0 for r in rows.values())
    assert "within 1 mm & 1 deg" in format_table(result)


def test_rows_of_an_arm_without_a_closed_form(resolve_arm, tmp_path):
    xarm = resolve_arm("xarm/xarm6_robot.urdf")
    loose = (0.017, np.deg2rad(3.0))
    result = evaluate_ik(xarm, {"v2": _random_model(xarm)}, loose_tol=loose, **SMALL)
    methods = _methods(result)
    assert not any(m.startswith("AnalyticIK") for m in methods)
    assert methods[-3:] == ["PyBulletIK tuned", "PyBulletIK defaults", "DLSIK"]
    assert all(r["joint_mae_rad"] is None for r in result["summary"]["rows"])
    table = format_table(result)
    assert "within 17 mm & 3 deg" in table and "n/a" in table
    assert result["summary"]["meta"]["closed_form"] is False
    assert {p.name for p in plot_eval(result, tmp_path)} == {
        f"{xarm.name}_ik_error_heatmap.png",
        f"{xarm.name}_ik_error_hist.png",
    }


def test_bad_models_are_refused(arm4, arm6):
    with pytest.raises(ArmMismatchError, match="arm4"):
        evaluate_ik(arm6, {"wrong arm": _random_model(arm4)}, **SMALL)
    with pytest.raises(ValueError, match="learned"):
        evaluate_ik(arm4, {"dls": DLSIK(arm4)}, **SMALL)
    with pytest.raises(ValueError, match="raw model"):
        evaluate_ik(arm4, {"polished": PolishedIK(_random_model(arm4))}, **SMALL)
    with pytest.raises(ValueError, match="at least one"):
        evaluate_ik(arm4, {}, **SMALL)


# ------------------------------------------------------------------ errors by FK
def _bullet_errors(bullet, arm, q: np.ndarray, features: np.ndarray) -> tuple[np.ndarray, ...]:
    """Position (m) and orientation (rad) errors of (N, dof) ``q`` by PyBullet's FK."""
    p, c = bullet
    loaded = load_in_bullet(p, arm, c)
    pos, quat = np.empty((len(q), 3)), np.empty((len(q), 4))
    for i, qi in enumerate(q):
        for j, v in zip(loaded.joints, qi):
            p.resetJointState(loaded.body, j, float(v), physicsClientId=c)
        state = p.getLinkState(
            loaded.body, loaded.ee, computeForwardKinematics=True, physicsClientId=c
        )
        pos[i], quat[i] = state[4], state[5]
    quat /= np.linalg.norm(quat, axis=1, keepdims=True)
    pos_err = np.linalg.norm(pos - features[:, :3], axis=1)
    if arm.feature_kind == "pose4":
        psi = kin.tool_pitch(kin.quat_to_matrix(quat))
        return pos_err, np.abs(kin.wrap_angle(psi - features[:, 3]))
    return pos_err, kin.quat_angle(quat, features[:, 3:])


@pytest.mark.parametrize("name", ["arm4", "arm6"])
def test_evaluation_errors_agree_with_pybullets_fk(bullet, resolve_arm, name):
    arm = resolve_arm(name)
    result = evaluate_ik(arm, {"v2": _random_model(arm)}, **(SMALL | {"n_latency": 0}))
    rows = {r["method"]: r for r in result["summary"]["rows"]}
    for method in ("v2", "v2 + polish (<= 3 DLS steps)", "HybridIK (v2 -> PyBulletIK tuned)"):
        res = result["answers"][method]
        pos_err, rot_err = _bullet_errors(bullet, arm, res.q, result["features"])
        np.testing.assert_allclose(res.pos_err, pos_err, atol=1e-6)
        np.testing.assert_allclose(res.rot_err, rot_err, atol=1e-6)
        assert rows[method]["pos_err_median_m"] == pytest.approx(np.median(pos_err), abs=1e-6)
        assert rows[method]["rot_err_median_deg"] == pytest.approx(
            np.degrees(np.median(rot_err)), abs=1e-4
        )


def test_cli_eval_ik_of_a_pose7_model(arm6, tmp_path, capsys):
    from ikml_gym.cli import main

    _random_model(arm6).save(tmp_path / "m")
    out = tmp_path / "r.json"
    code = main(
        ["eval", "ik", "--arm", "arm6", "--model", str(tmp_path / "m"), "--n-test", "12",
         "--n-numerical", "2", "--n-latency", "2", "--json", str(out), "--quiet"]
    )  # fmt: skip
    assert code == 0
    summary = json.loads(out.read_text())
    assert summary["rows"][0]["method"] == "v2 multi-hypothesis (2 heads)"
    assert summary["meta"]["loose_tol"] == pytest.approx([0.05 * arm6.reach / 3, 3.0])
    assert re.search(r"within 17 mm & 3 deg", capsys.readouterr().out)
