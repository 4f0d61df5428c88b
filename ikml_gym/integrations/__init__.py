"""Bridges to distributed RL engines.

* :mod:`.envs`: the ray-free parts (the env creator, seeding, the flat observation
  wrapper, error context), usable with any engine that wants a ``Box`` observation.
* :mod:`.rllib`: Ray RLlib (``pip install "ikml_gym[rllib]"``): registers every id of
  :data:`ikml_gym.ENV_IDS` with RLlib and reports goal metrics. See docs/scaling.md.
"""
