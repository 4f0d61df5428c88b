"""The two learned components and their persistence.

* :mod:`ikml_gym.learned.ik` -- ``LearnedIK``: clustered regressor pose -> joints (4-DOF arm).
* :mod:`ikml_gym.learned.classifier` -- ``FeasibilityClassifier``: pose -> reachability /
  conditioning class; :mod:`ikml_gym.learned.feasibility` -- ``FeasibilityFilter``.

Submodules are imported on demand so ``import ikml_gym`` stays light (no torch).
"""
