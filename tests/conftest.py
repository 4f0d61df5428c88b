"""Shared fixtures: the shipped arms, pybullet_data arms and a PyBullet client per test."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import ikml_gym


@pytest.fixture(scope="session")
def arm4() -> ikml_gym.Arm:
    return ikml_gym.load_arm("arm4")


@pytest.fixture(scope="session")
def arm6() -> ikml_gym.Arm:
    return ikml_gym.load_arm("arm6")


@pytest.fixture(scope="session")
def pybullet_data_path() -> Path:
    import pybullet_data

    return Path(pybullet_data.getDataPath())


@pytest.fixture(scope="session")
def resolve_arm():
    """``resolve_arm(spec, ee_link=None)``: a shipped arm by name or a pybullet_data URDF by
    relative path (see ``ALL_ARMS``)."""
    cache: dict = {}

    def load(spec: str, ee_link: str | None = None) -> ikml_gym.Arm:
        if (spec, ee_link) not in cache:
            if spec in ikml_gym.arms.SHIPPED_ARMS:
                cache[spec, ee_link] = ikml_gym.load_arm(spec, ee_link=ee_link)
            else:
                import pybullet_data

                path = Path(pybullet_data.getDataPath()) / spec
                cache[spec, ee_link] = ikml_gym.load_arm(path, ee_link=ee_link)
        return cache[spec, ee_link]

    return load


#: the clustered sklearn ``LearnedIK`` of arm4 (branch clustering): a benchmark baseline,
#: and the model the tests of the ``LearnedIK`` class load
BRANCH_SKLEARN_IK = Path(__file__).resolve().parents[1] / "benchmarks/models/arm4_ik_branch_sklearn"


@pytest.fixture(scope="session")
def sklearn_ik():
    """The arm4 branch-clustered ``LearnedIK`` of ``benchmarks/models`` (no polish, no
    pitch closure); share it read-only or derive one with ``with_refine``."""
    from ikml_gym.learned.ik import LearnedIK

    model = ikml_gym.load_ik(BRANCH_SKLEARN_IK)
    assert isinstance(model, LearnedIK)
    return model


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


@pytest.fixture
def bullet():
    """A private PyBullet DIRECT client, disconnected after the test."""
    import pybullet

    client = pybullet.connect(pybullet.DIRECT)
    yield pybullet, client
    pybullet.disconnect(client)


# ------------------------------------------------------ fuzz report (test_properties.py)
_FUZZ_COUNTS = pytest.StashKey[dict]()
_FUZZ_START = pytest.StashKey[float]()


def pytest_sessionstart(session: pytest.Session) -> None:
    import time

    session.config.stash[_FUZZ_START] = time.perf_counter()


@pytest.fixture(scope="session")
def fuzz_counts(request: pytest.FixtureRequest):
    """Generated inputs tried per public entry point (a ``Counter``), filled by
    tests/test_properties.py and reported at the end of the session: a table, and JSON
    written to ``$IKML_FUZZ_REPORT`` if that is set."""
    from collections import Counter

    return request.config.stash.setdefault(_FUZZ_COUNTS, Counter())


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    import os
    import time

    counts = config.stash.get(_FUZZ_COUNTS, None)
    if not counts:
        return
    width = max(len(name) for name in counts)
    terminalreporter.section("hypothesis: generated inputs tried per entry point")
    for name, n in sorted(counts.items()):
        terminalreporter.write_line(f"{name:<{width}}  {n:>8}")
    total = sum(counts.values())
    terminalreporter.write_line(f"{'total':<{width}}  {total:>8}")
    path = os.environ.get("IKML_FUZZ_REPORT")
    if path:
        import hypothesis

        report = {
            "IKML_FUZZ_EXAMPLES": os.environ.get("IKML_FUZZ_EXAMPLES") or None,
            "exitstatus": int(exitstatus),
            "seconds": round(time.perf_counter() - config.stash.get(_FUZZ_START, 0.0), 1),
            "hypothesis": hypothesis.__version__,
            "total": total,
            "inputs_tried": dict(sorted(counts.items())),
        }
        from ikml_gym.io import atomic_write_json

        atomic_write_json(path, report)
        terminalreporter.write_line(f"written to {path}")
