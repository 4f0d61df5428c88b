"""What ships inside the package: the arms' URDFs and the pretrained model files.

Everything is found through :mod:`importlib.resources`, so the paths are right
for an installed wheel, an editable install and a source checkout alike::

    shipped_urdf_path("arm6")                   # .../ikml_gym/urdf/arm6.urdf
    shipped_model_stem("arm4", "ik")            # .../ikml_gym/pretrained/arm4_ik
    shipped_model_stem("arm6", "classifier")    # .../ikml_gym/pretrained/arm6_classifier

A model is a ``STEM.safetensors`` + ``STEM.json`` pair (:mod:`ikml_gym.io`);
:func:`shipped_model_stem` gives the stem whether or not such a model ships
(:func:`has_shipped_model` says whether one does).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

#: names of the arms whose URDFs ship with the package
SHIPPED_ARMS = ("arm4", "arm6")
#: kinds of pretrained model files (the suffix of their stem)
MODEL_KINDS = ("ik", "classifier")


def _package_path(*parts: str) -> Path:
    return Path(str(resources.files("ikml_gym").joinpath(*parts)))


def shipped_urdf_path(name: str) -> Path:
    """Path of a shipped URDF (``arm4``, ``arm6``) inside the installed package."""
    return _package_path("urdf", f"{name}.urdf")


def shipped_model_stem(arm_name: str, kind: str) -> Path:
    """Stem of the shipped ``kind`` model (``"ik"`` or ``"classifier"``) of ``arm_name``:
    ``ikml_gym/pretrained/<arm>_<kind>`` (add ``.safetensors`` / ``.json`` for the files)."""
    if kind not in MODEL_KINDS:
        raise ValueError(f"kind must be one of {MODEL_KINDS}, got {kind!r}")
    return _package_path("pretrained", f"{arm_name}_{kind}")


def has_shipped_model(arm_name: str, kind: str) -> bool:
    """True if the package holds the header file of that pretrained model."""
    stem = shipped_model_stem(arm_name, kind)
    return stem.with_name(stem.name + ".json").is_file()
