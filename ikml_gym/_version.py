"""The package version, in one place (read by ``setup.cfg`` and every file header)."""

__version__ = "0.1.0"
