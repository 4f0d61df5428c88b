"""Long property-based (hypothesis) run over every public entry point.

    python benchmarks/fuzz.py [--examples 5000] [--json benchmarks/results/fuzz.json]

Runs ``tests/test_properties.py`` in a pytest subprocess with ``IKML_FUZZ_EXAMPLES``
examples per cheap property (the expensive ones, numerical solvers and env
construction, get a fraction of that; see ``fuzz`` there) and test order fixed.
Every generated input must get a correct answer or one of the package's documented
exceptions naming the bad argument; a watchdog turns a hang into a failure.

Prints the inputs tried per entry point as a Markdown table; writes JSON (default
``benchmarks/results/fuzz.json``: examples, pytest exit status, seconds, hypothesis
version, inputs per entry point) and the table next to it (``.md``). Exits with
pytest's status. The default ``pytest`` run tries the same properties with ~1,000
inputs in all.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from ikml_gym.io import atomic_write_json, atomic_write_text
from ikml_gym.tables import markdown_table

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def table(report: dict) -> str:
    """The Markdown table of inputs tried per entry point, with the total."""
    rows = [[f"`{name}`", f"{n:,}"] for name, n in report["inputs_tried"].items()]
    rows.append(["**total**", f"**{report['total']:,}**"])
    return markdown_table(["entry point", "inputs tried"], rows, align="lr") + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--examples", type=int, default=5000, help="examples per cheap property")
    ap.add_argument("--json", type=Path, default=HERE / "results" / "fuzz.json")
    args = ap.parse_args()
    if args.examples < 1:
        ap.error(f"--examples must be >= 1, got {args.examples}")

    with tempfile.TemporaryDirectory(prefix="ikml_fuzz_report_") as tmp:
        raw = Path(tmp) / "report.json"  # the previous report stays until this run has one
        env = {**os.environ, "IKML_FUZZ_EXAMPLES": str(args.examples), "IKML_FUZZ_REPORT": str(raw)}
        command = [sys.executable, "-m", "pytest", "tests/test_properties.py", "-q"]
        status = subprocess.run([*command, "-p", "no:randomly"], check=False, cwd=ROOT, env=env)
        if not raw.is_file():
            print(f"pytest exited {status.returncode} without a report", file=sys.stderr)
            return status.returncode or 1
        report = json.loads(raw.read_text())
    text = table(report)
    print(
        f"\n{report['total']:,} generated inputs, {report['seconds']} s, pytest exit "
        f"{status.returncode} (hypothesis {report['hypothesis']})\n\n{text}"
    )
    atomic_write_json(args.json, report)
    atomic_write_text(args.json.with_suffix(".md"), text)
    return status.returncode


if __name__ == "__main__":
    sys.exit(main())
