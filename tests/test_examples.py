"""The examples and the demo run end to end with tiny budgets (marked slow)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def _run(args, cwd, timeout=600):
    proc = subprocess.run(
        [sys.executable, *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


@pytest.mark.slow
def test_reach_ik_calls_example(tmp_path):
    out = _run([EXAMPLES / "reach_ik_calls.py", "--episodes", "3", "--json", tmp_path / "r.json"],
               tmp_path)  # fmt: skip
    results = json.loads((tmp_path / "r.json").read_text())
    assert {r["arm"] for r in results} == {"arm4", "arm6"}
    assert "numerical IK calls" in out


@pytest.mark.slow
def test_trajectory_filter_example(tmp_path):
    _run([EXAMPLES / "trajectory_filter.py", "--trajectories", "6", "--out", tmp_path,
          "--json", tmp_path / "t.json"], tmp_path)  # fmt: skip
    r = json.loads((tmp_path / "t.json").read_text())
    assert r["ik_calls_baseline"] == 6 * 50
    assert r["ik_calls_filter"] < r["ik_calls_baseline"]
    assert (tmp_path / "trajectories.png").stat().st_size > 10_000


@pytest.mark.slow
def test_custom_arm_example(tmp_path):
    out = _run([EXAMPLES / "custom_arm.py", "--reachable", "600", "--unreachable", "200",
                "--epochs", "2", "--episodes", "1", "--ik-steps", "100",
                "--out", tmp_path / "xarm"], tmp_path)  # fmt: skip
    assert "episode 0" in out
    assert (tmp_path / "xarm.safetensors").is_file()
    assert "learned IK after 100 steps" in out  # step 5: the learned IK as action prior
    assert "ik_prior episode 0: zero action ends" in out


@pytest.mark.slow
def test_train_sac_prior_example(tmp_path):
    _run([EXAMPLES / "train_sac_prior.py", "--task", "reach4_local", "--steps", "300",
          "--seeds", "0", "--controls", "joints", "ik_prior", "residual", "--eval-every", "150",
          "--eval-episodes", "2", "--out", tmp_path], tmp_path)  # fmt: skip
    summary = json.loads((tmp_path / "summary.json").read_text())["reach4_local"]
    assert set(summary) >= {"joints", "ik_prior", "residual", "ratio_ik_prior_over_joints"}
    assert summary["joints"]["settings"]["gamma"] == 0.95  # the RL Zoo's settings by default
    assert (tmp_path / "learning_curves.png").is_file()
    residual = summary["residual"]["against_prior"]  # step 0 = the zero-action prior
    assert residual["steps"] == 300 and 0.0 <= residual["zero_action_success"] <= 1.0
    assert "train_sac_prior.py" in summary["residual"]["commands"][0]
    # --report rebuilds the same summary from the logs alone
    before = (tmp_path / "summary.json").read_text()
    (tmp_path / "summary.json").unlink()
    _run([EXAMPLES / "train_sac_prior.py", "--report", "--out", tmp_path], tmp_path)
    assert (tmp_path / "summary.json").read_text() == before


@pytest.mark.slow
def test_demo_command_writes_the_documented_keys(tmp_path):
    _run(["-m", "ikml_gym.cli", "demo", "--episodes", "2", "--trajectories", "4",
          "--out", tmp_path, "--json", tmp_path / "demo.json"], tmp_path)  # fmt: skip
    r = json.loads((tmp_path / "demo.json").read_text())
    for part in ("reach4", "reach6"):
        for key in ("ik_calls_baseline", "ik_calls_plugin", "success_baseline", "success_plugin"):
            assert key in r[part]
    for key in ("ik_calls_baseline", "ik_calls_plugin", "waypoint_agreement"):
        assert key in r["traj6"]
    for part in ("reach4", "reach6", "traj6"):  # wall times, in seconds, of both stacks
        assert r[part]["wall_s_baseline"] > 0 and r[part]["wall_s_plugin"] > 0
