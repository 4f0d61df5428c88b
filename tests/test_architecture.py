"""The package's import graph points downward only.

Every module of ``ikml_gym`` is parsed with ``ast`` (imports inside functions
included) and each import is checked against the layer order below: a module may
import from its own layer or a lower one, never from a higher one. The package root
``ikml_gym/__init__.py`` is the top: nothing inside the package imports it. Nothing
in the package imports the tests or the benchmarks.

A new top-level module or subpackage must be given a layer here.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "ikml_gym"
ROOT = "__init__"

#: lowest first; a module may import from its own layer and the layers before it
LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors", "_version", "_extras", "pretrained", "labels", "tables", "plots"),
    ("kinematics", "bullet", "_validation", "io", "arms"),
    ("closed_form",),
    ("solvers",),
    ("data",),  # labels datasets with the solvers (closed form where one exists, DLS otherwise)
    ("learned",),
    ("planning",),
    ("envs",),
    ("agents",),
    ("demo",),
    ("integrations",),
    ("cli",),
    (ROOT,),
)
LAYER_OF = {name: level for level, names in enumerate(LAYERS) for name in names}
#: top-level names that are harness, not package code
OUTSIDE = {"tests", "benchmarks", "conftest", "leak_probes"}


def _modules() -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` file of the package."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _unit(module: str) -> str:
    """The layer unit of a dotted module: its top-level name under ikml_gym, or the root."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ROOT


def _is_package(module: str) -> bool:
    return MODULES[module].name == "__init__.py"


def _imports(module: str) -> list[tuple[int, str]]:
    """(line, imported dotted name) of every import in ``module``, relative ones resolved."""
    tree = ast.parse(MODULES[module].read_text(), filename=str(MODULES[module]))
    base = module.split(".") if _is_package(module) else module.split(".")[:-1]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = base[: len(base) - (node.level - 1)]
                target = ".".join(anchor + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:  # `from pkg import submodule` imports the submodule
                sub = f"{target}.{alias.name}"
                out.append((node.lineno, sub if sub in MODULES else target))
    return out


def test_every_module_has_a_layer():
    missing = sorted({_unit(m) for m in MODULES} - set(LAYER_OF))
    assert not missing, f"give these a layer in tests/test_architecture.py: {missing}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_imports_from_a_layer_above_it(module):
    here = _unit(module)
    upward = []
    for line, name in _imports(module):
        if name != "ikml_gym" and not name.startswith("ikml_gym."):
            continue
        there = _unit(name)
        if there == here and there != ROOT:
            continue
        if there == ROOT or LAYER_OF.get(there, -1) > LAYER_OF.get(here, len(LAYERS)):
            upward.append(f"line {line}: {name} ({there} is above {here})")
    assert not upward, f"{module} imports upward:\n" + "\n".join(upward)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_the_package_does_not_import_tests_or_benchmarks(module):
    bad = [
        f"line {line}: {name}" for line, name in _imports(module) if name.split(".")[0] in OUTSIDE
    ]
    assert not bad, f"{module} imports harness code: {bad}"
