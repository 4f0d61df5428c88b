"""Kinematics and IK solver speed vs PyBullet, side by side in one run.

    python benchmarks/kinematics.py [--quick] [--json PATH]

Prints a Markdown table and writes JSON (default ``benchmarks/results/kinematics.json``).
Same as ``ikml-gym bench --json PATH``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ikml_gym.cli.bench import _bench, add_arguments

DEFAULT_JSON = Path(__file__).resolve().parent / "results" / "kinematics.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_arguments(parser, default_json=str(DEFAULT_JSON))
    args = parser.parse_args(argv)
    args.command_line = " ".join(["python benchmarks/kinematics.py", *(argv or sys.argv[1:])])
    return _bench(args)


if __name__ == "__main__":
    sys.exit(main())
