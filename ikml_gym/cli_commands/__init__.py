"""Subcommands of ``ikml-gym``, one module per feature (see :mod:`ikml_gym.cli`)."""
