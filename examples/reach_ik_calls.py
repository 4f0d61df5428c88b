"""Reaching with far fewer numerical IK calls.

A scripted agent drives the end-effector of the 4-DOF and the 6-DOF arm to position
goals, once with the baseline stack (PyBullet IK every step, goals checked by
PyBullet IK) and once with the plug-in stack (goals and commanded targets screened
by the classifier; the arm's learned IK answers, PyBullet IK only where its FK
check fails). Same seeds, same goals; the numerical calls are read
from the solvers' counters.

    python examples/reach_ik_calls.py --episodes 200 [--json out.json]
"""

import argparse
import json

from ikml_gym import demo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--arms", nargs="+", default=["arm4", "arm6"], choices=["arm4", "arm6"])
    parser.add_argument("--json", help="write the numbers here")
    args = parser.parse_args()

    results = [demo.reach_ik_calls(arm, args.episodes, args.seed) for arm in args.arms]
    print(demo.reach_table(results))
    for r in results:
        print(f"{r['arm']}: {100 * r['reduction']:.1f}% fewer numerical IK calls ({r['note']})")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2)


if __name__ == "__main__":
    main()
