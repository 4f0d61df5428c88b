"""The built wheel carries the package data (URDFs, py.typed, pretrained weights)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_shipped_data_is_found_through_the_package():
    from ikml_gym.arms import shipped_urdf_path

    for name in ("arm4", "arm6"):
        assert shipped_urdf_path(name).is_file()
    assert (ROOT / "ikml_gym" / "py.typed").is_file()


@pytest.mark.slow
def test_wheel_contains_package_data(tmp_path):
    # build from a copy so that the build leaves no build/ or *.egg-info in the checkout
    src = tmp_path / "src"
    src.mkdir()
    for name in ("setup.cfg", "pyproject.toml", "README.md"):
        if (ROOT / name).exists():
            shutil.copy2(ROOT / name, src / name)
    shutil.copytree(
        ROOT / "ikml_gym", src / "ikml_gym", ignore=shutil.ignore_patterns("__pycache__")
    )
    out = tmp_path / "dist"
    cmd = [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--skip-dependency-check"]
    proc = subprocess.run(
        [*cmd, "--outdir", str(out), str(src)],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    (wheel,) = out.glob("ikml_gym-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {"ikml_gym/urdf/arm4.urdf", "ikml_gym/urdf/arm6.urdf", "ikml_gym/py.typed"}
    # every sub-package ships too
    expected |= {p.relative_to(src).as_posix() for p in (src / "ikml_gym").rglob("__init__.py")}
    pretrained = ROOT / "ikml_gym" / "pretrained"
    for pattern in ("*.safetensors", "*.json"):
        expected |= {f"ikml_gym/pretrained/{p.name}" for p in pretrained.glob(pattern)}
    missing = expected - names
    assert not missing, f"wheel {wheel.name} lacks {sorted(missing)}"
    assert any(n.endswith("entry_points.txt") for n in names)
