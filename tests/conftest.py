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
