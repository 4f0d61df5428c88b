"""Which candidate trajectories can the 6-DOF arm execute, without IK on every waypoint?

1,000 candidate end-effector trajectories (lines and arcs, 50 waypoints each; some
leave the workspace, some cross near-singular regions). The FeasibilityFilter
answers each waypoint from the classifier and calls numerical IK only where the
classifier is unsure; the ground truth is IK on every waypoint.

    python examples/trajectory_filter.py --trajectories 1000 --out traj_out [--json out.json]
"""

import argparse
import json

from ikml_gym import demo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trajectories", type=int, default=1000)
    parser.add_argument("--waypoints", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="traj_out", help="folder for the PNG")
    parser.add_argument("--json", help="write the numbers here")
    args = parser.parse_args()

    r = demo.trajectory_filter(args.trajectories, args.waypoints, args.seed, args.out)
    print(demo.trajectory_table(r))
    print(f"{100 * r['reduction']:.1f}% fewer numerical IK calls; picture: {r['plot']}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(r, fh, indent=2)


if __name__ == "__main__":
    main()
