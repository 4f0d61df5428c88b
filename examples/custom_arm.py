"""Bring your own URDF: the xArm6 from pybullet_data, from data to a filtered Reach env.

1. load the arm from its URDF (FK, Jacobian, conditioning, numerical IK come free);
2. label reachable / unreachable poses, and poses about the workspace edge, with multi-start
   DLS IK (no closed form here);
3. train a small feasibility classifier on them (fast settings);
4. register a Reach env that samples only goals the classifier calls reachable;
5. train a small multi-hypothesis learned IK through the arm's FK (no dataset, no closed
   form needed), print its accuracy, and use it as the action prior of a Reach env.

    python examples/custom_arm.py [--reachable 6000 --unreachable 2000 --epochs 15 --ik-steps 2000]
"""

import argparse
import os
import tempfile

import gymnasium as gym
import numpy as np
import pybullet_data

import ikml_gym
from ikml_gym.data import make_classifier_dataset
from ikml_gym.learned.classifier import load_classifier
from ikml_gym.learned.train_classifier import TrainConfig, train_classifier
from ikml_gym.learned.train_mh_ik import MHTrainConfig, train_multi_hypothesis_ik


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reachable", type=int, default=6000)
    parser.add_argument("--unreachable", type=int, default=2000)
    parser.add_argument(
        "--boundary", type=int, default=500,
        help="poses about the workspace edge (each costs ~9 multi-start oracle calls here)",
    )  # fmt: skip
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--episodes", type=int, default=3)
    parser.add_argument("--ik-steps", type=int, default=2000, help="learned IK training steps")
    parser.add_argument("--out", default=None, help="where to save the model (default: a temp dir)")
    args = parser.parse_args()

    urdf = os.path.join(pybullet_data.getDataPath(), "xarm", "xarm6_robot.urdf")
    arm = ikml_gym.load_arm(urdf)
    print(f"{arm}: reach {arm.reach:.3f} m, joint limits (rad):\n{np.round(arm.joint_limits, 2)}")

    data, header = make_classifier_dataset(
        arm, args.reachable, args.unreachable, seed=0, n_boundary=args.boundary
    )
    print(f"labelled by {header['oracle']}: class counts {header['class_counts']}")

    config = TrainConfig(epochs=args.epochs, hidden=(128, 128), early_stop=0)
    model, history = train_classifier(
        arm, data["features"], data["label"], np.array(header["thresholds"]), config
    )
    print(f"validation accuracy {history['val_acc'][-1]:.3f} after {args.epochs} epochs")
    out = args.out or os.path.join(tempfile.mkdtemp(), "xarm6_classifier")
    model.save(out)
    model = load_classifier(out, arm=arm)  # round trip through the safe format

    gym.register(
        "MyXArm6Reach-v0",
        entry_point="ikml_gym.envs.reach:ArmReachEnv",
        kwargs={"arm": urdf, "goal_filter": "classifier", "classifier": model},
        max_episode_steps=50,
    )
    env = gym.make("MyXArm6Reach-v0")
    for episode in range(args.episodes):
        obs, info = env.reset(seed=episode)
        print(
            f"episode {episode}: goal {np.round(obs['desired_goal'], 3)} class "
            f"{info['goal_class']} after {info['goal_tries']} candidate(s), "
            f"{info['ik_calls']} numerical IK calls"
        )
        for _ in range(10):
            obs, _, _, _, info = env.step(env.action_space.sample())
    env.close()
    learned_ik_prior(urdf, arm, args.ik_steps, args.episodes)


def learned_ik_prior(urdf: str, arm: ikml_gym.Arm, steps: int, episodes: int) -> None:
    """Step 5: a small multi-hypothesis IK of the arm as the action prior of a Reach env."""
    config = MHTrainConfig(heads=8, hidden=(256, 256), steps=steps, batch=512, lr=3e-3,
                           eval_every=steps, n_eval=2000)  # fmt: skip
    ik, report = train_multi_hypothesis_ik(arm, config, progress=False)
    e = report.final
    print(
        f"learned IK after {steps} steps (best of 8 heads, 2,000 held-out poses): position error "
        f"mean {e['pos_mean_mm']:.1f} mm, median {e['pos_median_mm']:.1f} mm; orientation median "
        f"{e['rot_median_deg']:.2f} deg; {100 * e['within_1mm_1deg']:.1f}% within 1 mm and 1 deg\n"
        f"(a short run for the example; a usable prior takes a long one, resumable: "
        f"ikml-gym train ik --method fk --arm {urdf} --heads 8 --steps 80000 --checkpoint CKPT)"
    )
    env = gym.make("ikml_gym/Reach6DOF-v0", arm=urdf, control_type="ik_prior", ik_prior=ik)
    for episode in range(episodes):  # a zero action drives the arm to the prior's answer
        env.reset(seed=episode)
        for _ in range(50):
            _, _, terminated, truncated, info = env.step(np.zeros(env.action_space.shape))
            if terminated or truncated:
                break
        print(
            f"ik_prior episode {episode}: zero action ends {1e3 * info['distance']:.1f} mm from "
            f"the goal, success {info['is_success']}, {info['ik_calls_episode']} numerical IK calls"
        )
    env.close()


if __name__ == "__main__":
    main()
