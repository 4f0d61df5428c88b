"""With only the core dependencies installed, the envs and the shipped models work.

Each case runs in a fresh interpreter whose ``sys.meta_path`` refuses the optional
dependencies (torch, scikit-learn, stable-baselines3, matplotlib, tqdm, ompl), as on a
machine with ``pip install ikml_gym`` and no extras.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]

#: the optional dependencies: importing any of them fails in the subprocess
OPTIONAL = ("torch", "sklearn", "stable_baselines3", "matplotlib", "tqdm", "ompl")

_BLOCKER = f"""
import sys

class _NoOptionalDeps:
    blocked = {OPTIONAL!r}

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in self.blocked:
            raise ImportError(f"{{name}} is not installed (core install)", name=name)
        return None

sys.meta_path.insert(0, _NoOptionalDeps())
"""


def _run_core_only(script: str) -> dict:
    """Run ``script`` with the optional dependencies refused; its last stdout line is JSON."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.run(
        [sys.executable, "-c", _BLOCKER + textwrap.dedent(script)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_envs_and_shipped_models_work_without_the_extras():
    out = _run_core_only(
        """
        import json
        import sys

        import gymnasium as gym
        import numpy as np

        import ikml_gym

        stepped = []
        for env_id in ikml_gym.ENV_IDS:
            env = gym.make(env_id)
            obs, info = env.reset(seed=0)
            obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
            env.close()
            stepped.append(env_id)

        ik = ikml_gym.load_ik()
        goals = ik.arm.fk_features(ik.arm.random_q(8, np.random.default_rng(0)))
        solved = ik.solve(goals)
        clf = ikml_gym.load_classifier()
        labels = clf.predict(clf.arm.fk_features(clf.arm.random_q(8, np.random.default_rng(1))))

        blocked = ("torch", "sklearn", "stable_baselines3", "matplotlib", "tqdm", "ompl")
        print(json.dumps({
            "stepped": stepped,
            "ik_shape": list(np.asarray(solved.q).shape),
            "labels": np.asarray(labels).tolist(),
            "loaded": sorted(m for m in blocked if m in sys.modules),
        }))
        """
    )
    from ikml_gym import ENV_IDS

    assert out["stepped"] == list(ENV_IDS)
    assert out["ik_shape"][0] == 8
    assert len(out["labels"]) == 8 and all(0 <= c <= 3 for c in out["labels"])
    assert out["loaded"] == []


def test_training_and_plots_name_the_extra_to_install(tmp_path):
    out = _run_core_only(
        f"""
        import contextlib
        import io
        import json

        from ikml_gym import load_arm as ikml_gym_arm
        from ikml_gym.cli import main
        from ikml_gym.errors import DependencyNotInstalled
        from ikml_gym.plots import pyplot

        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            code = main(["train", "ik", "--n", "100", "--quiet", "--out", {str(tmp_path / "m")!r}])
        try:
            pyplot()
            plots = ""
        except DependencyNotInstalled as exc:
            plots = str(exc)
        try:
            from ikml_gym.planning.goal_sampling import NumericalGoalSampler
            from ikml_gym.planning.ompl_plugin import JointSpacePlanner
            from ikml_gym.solvers import DLSIK

            JointSpacePlanner(NumericalGoalSampler(DLSIK(ikml_gym_arm("arm6"))))
            ompl = ""
        except DependencyNotInstalled as exc:
            ompl = str(exc)
        try:
            from ikml_gym.agents.sb3 import train_sac_her

            train_sac_her("ikml_gym/Reach4DOF-v0", total_steps=10)
            sb3 = ""
        except DependencyNotInstalled as exc:
            sb3 = str(exc)
        print(json.dumps({{"train_code": code, "train": err.getvalue(), "plots": plots, "sb3": sb3, "ompl": ompl}}))
        """
    )
    assert out["train_code"] == 1
    assert 'pip install "ikml_gym[train]"' in out["train"]
    assert 'pip install "ikml_gym[plots]"' in out["plots"]
    assert 'pip install "ikml_gym[sb3]"' in out["sb3"]
    assert 'pip install "ikml_gym[ompl]"' in out["ompl"]


def test_trajectory_demo_keeps_its_numbers_without_matplotlib(tmp_path):
    out = _run_core_only(
        f"""
        import json

        from ikml_gym.demo.trajectories import trajectory_filter

        res = trajectory_filter(4, waypoints=10, seed=0, plot_dir={str(tmp_path)!r})
        print(json.dumps({{"plot": res["plot"], "calls": res["ik_calls_baseline"]}}))
        """
    )
    assert out["calls"] == 40  # the baseline's IK on every waypoint still ran
    assert 'pip install "ikml_gym[plots]"' in out["plot"]
    assert not list(tmp_path.iterdir())  # no half-written picture


def test_multi_hypothesis_ik_solves_without_the_extras(tmp_path):
    """A v2 model file loads and answers in a core install; training it names the extra."""
    pytest.importorskip("torch")  # to write the model file here
    import ikml_gym
    from ikml_gym.learned.train_mh_ik import MHTrainConfig, train_multi_hypothesis_ik

    arm = ikml_gym.load_arm("arm6")
    cfg = MHTrainConfig(heads=2, hidden=(16,), steps=20, batch=64, eval_every=10, n_eval=50)
    model, _ = train_multi_hypothesis_ik(arm, cfg, progress=False)
    model.save(tmp_path / "mh")
    f = arm.fk_features(arm.random_q(10, np.random.default_rng(0)))
    out = _run_core_only(
        f"""
        import contextlib
        import io
        import json

        import numpy as np

        from ikml_gym.cli import main
        from ikml_gym.learned.mh_ik import MultiHypothesisIK

        model = MultiHypothesisIK.load({str(tmp_path / "mh")!r})
        q = model.solve(np.array({f.tolist()!r})).q.tolist()
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            code = main(["train", "ik", "--method", "fk", "--steps", "5", "--quiet",
                         "--out", {str(tmp_path / "m")!r}])
        print(json.dumps({{"q": q, "train_code": code, "train": err.getvalue()}}))
        """
    )
    np.testing.assert_allclose(out["q"], model.solve(f).q, atol=1e-12)
    assert out["train_code"] == 1 and 'pip install "ikml_gym[train]"' in out["train"]
