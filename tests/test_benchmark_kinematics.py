"""``python benchmarks/kinematics.py``: the kinematics and IK speed benchmark runs and
writes its table and JSON (tiny sizes here; the benchmark is not part of the package)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "kinematics.py"


def _kinematics_benchmark():
    spec = importlib.util.spec_from_file_location("kinematics_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _table_rows(table: str) -> list[list[str]]:
    return [[c.strip() for c in line.strip("|").split("|")] for line in table.splitlines()]


def test_kinematics_benchmark_quick(tmp_path, capsys):
    """``--quick`` prints the table and writes its JSON and .md."""
    out = tmp_path / "k.json"
    assert _kinematics_benchmark().main(["--quick", "--quiet", "--json", str(out)]) == 0
    table = capsys.readouterr().out
    assert any(r[:3] == ["arm6", "IK", "DLSIK batched"] for r in _table_rows(table))
    result = json.loads(out.read_text())
    md_rows = _table_rows(out.with_suffix(".md").read_text().split("\n\n", 1)[1])
    assert any(r[:2] == ["arm4", "FK"] for r in md_rows)
    methods = {(r["arm"], r["method"]) for r in result["rows"]}
    for arm in ("arm4", "arm6"):
        assert (arm, "PyBulletIK tuned") in methods
        assert (arm, "PyBulletIK defaults (0.1, 20 it)") in methods
    fk = [r for r in result["rows"] if r["task"] == "FK" and r["speedup"] is not None]
    assert all(r["max_abs_diff_m"] < 1e-6 for r in fk)


def test_kinematics_benchmark_refuses_an_unwritable_json_before_any_work(tmp_path, capsys):
    (tmp_path / "afile").write_text("")
    with pytest.raises(SystemExit) as exc:
        _kinematics_benchmark().main(["--quick", "--json", str(tmp_path / "afile" / "b.json")])
    assert exc.value.code == 2
    assert "afile is a file" in capsys.readouterr().err
