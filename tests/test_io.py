"""Model and dataset files: round trips, damage, version and arm checks, atomic writes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ikml_gym import io
from ikml_gym.errors import ArmMismatchError, ModelFileError, OutputPathError

KIND = "test_model"


@pytest.fixture
def model(tmp_path, arm4):
    tensors = {"w": np.arange(12, dtype=np.float32).reshape(3, 4), "b": np.ones(4)}
    weights, header = io.save_model(tmp_path / "m", tensors, KIND, arm4, {"scale": 2.5})
    return tensors, weights, header


def test_model_round_trip(model, arm4):
    tensors, weights, header = model
    assert weights.suffix == ".safetensors" and header.suffix == ".json"
    loaded, head = io.load_model(weights, KIND, arm=arm4, required=("scale",))
    assert set(loaded) == set(tensors)
    for k, v in tensors.items():
        np.testing.assert_array_equal(loaded[k], v)
        assert loaded[k].dtype == v.dtype
    assert head["scale"] == 2.5 and head["arm"] == "arm4"
    # either file name or the stem works
    io.load_model(header, KIND)
    io.load_model(weights.with_suffix(""), KIND)


def test_truncated_weights(model):
    _, weights, _ = model
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match="damaged or were changed"):
        io.load_model(weights, KIND)


def test_bit_flipped_weights(model):
    _, weights, _ = model
    data = bytearray(weights.read_bytes())
    data[-3] ^= 0x10
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="SHA-256"):
        io.load_model(weights, KIND)


def _edit_header(header, fn):
    obj = json.loads(header.read_text())
    fn(obj)
    header.write_text(json.dumps(obj))


def test_missing_header_keys(model):
    _, weights, header = model
    _edit_header(header, lambda h: h.pop("urdf_hash"))
    with pytest.raises(ModelFileError, match=r"lacks key\(s\) \['urdf_hash'\]"):
        io.load_model(weights, KIND)
    with pytest.raises(ModelFileError, match="lacks"):
        io.load_model(weights, KIND, required=("thresholds",))


def test_newer_format_version(model):
    _, weights, header = model
    _edit_header(header, lambda h: h.update(format_version=io.MODEL_FORMAT_VERSION + 1))
    with pytest.raises(ModelFileError, match="newer than this ikml_gym reads.*upgrade"):
        io.load_model(weights, KIND)


def test_wrong_kind_and_bad_json(model):
    _, weights, header = model
    with pytest.raises(ModelFileError, match="expected 'other'"):
        io.load_model(weights, "other")
    header.write_text("{not json")
    with pytest.raises(ModelFileError, match="not valid JSON"):
        io.load_model(weights, KIND)


def test_other_arm(model, arm6):
    _, weights, _ = model
    with pytest.raises(ArmMismatchError, match="for arm 'arm4'.*not for arm 'arm6'.*retrain"):
        io.load_model(weights, KIND, arm=arm6)


def test_missing_file(model):
    _, weights, header = model
    header.unlink()
    with pytest.raises(ModelFileError, match="model file missing"):
        io.load_model(weights, KIND)


def test_atomic_write_keeps_previous_file_when_writer_raises(tmp_path):
    target = tmp_path / "out.json"
    io.atomic_write_json(target, {"v": 1})

    class Boom(RuntimeError):
        pass

    with pytest.raises(Boom), io.atomic_path(target) as tmp:
        tmp.write_text('{"v": 2, "partial')
        raise Boom
    assert json.loads(target.read_text()) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]  # no temp file left


def test_dataset_round_trip_and_version(tmp_path):
    path = tmp_path / "d.npz"
    io.save_dataset(path, {"x": np.arange(5.0)}, {"arm": "arm4", "seed": 3})
    arrays, header = io.load_dataset(path)
    np.testing.assert_array_equal(arrays["x"], np.arange(5.0))
    assert header["seed"] == 3 and header["format_version"] == io.DATASET_FORMAT_VERSION
    with pytest.raises(FileNotFoundError, match="ikml-gym data"):
        io.load_dataset(tmp_path / "none.npz")


def test_truncated_dataset(tmp_path):
    path = tmp_path / "d.npz"
    io.save_dataset(path, {"x": np.arange(5.0)}, {"arm": "arm4"})
    path.write_bytes(path.read_bytes()[:50])
    with pytest.raises(ModelFileError, match="not a readable"):
        io.load_dataset(path)


def test_pickled_dataset_is_refused_without_suggesting_unsafe_loading(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, header=np.array([{"format_version": 1}], dtype=object))
    with pytest.raises(ModelFileError, match="never loads") as exc:
        io.load_dataset(path)
    assert "allow_pickle" not in str(exc.value)


def test_dataset_without_header(tmp_path):
    path = tmp_path / "plain.npz"
    np.savez(path, x=np.arange(3.0))
    with pytest.raises(ModelFileError, match="no ikml_gym header"):
        io.load_dataset(path)


def test_header_with_wrong_tensor_entries(model):
    _, weights, header_path = model
    header = json.loads(header_path.read_text())
    header["tensors"]["w"] = "3x4"
    header_path.write_text(json.dumps(header))
    with pytest.raises(ModelFileError, match="tensor 'w'"):
        io.load_model(weights, KIND)


def test_header_shape_that_disagrees_with_the_weights(model):
    _, weights, header_path = model
    header = json.loads(header_path.read_text())
    header["tensors"]["w"]["shape"] = [4, 3]
    header_path.write_text(json.dumps(header))
    with pytest.raises(
        ModelFileError, match=r"tensor 'w' has shape \[3, 4\], header says \[4, 3\]"
    ):
        io.load_model(weights, KIND)


def test_model_stem_with_dots_and_other_suffixes(tmp_path, arm4):
    weights, header = io.save_model(tmp_path / "m.v2", {"w": np.ones(2)}, KIND, arm4, {})
    assert (weights.name, header.name) == ("m.v2.safetensors", "m.v2.json")
    io.load_model(tmp_path / "m.v2", KIND)
    with pytest.raises(ModelFileError, match="NAME.safetensors"):
        io.load_model(tmp_path / "m.npz", KIND)


@pytest.mark.parametrize(
    ("make", "folder", "match"),
    [
        (lambda d: d / "afile" / "x.npz", False, "afile is a file, not a folder"),
        (lambda d: d / "adir", False, "it is a folder"),
        (lambda d: d / "afile", True, "it is a file"),
        (lambda d: d / "new" / "deeper" / "x.json", False, None),
    ],
)
def test_check_writable(tmp_path, make, folder, match):
    (tmp_path / "afile").write_text("")
    (tmp_path / "adir").mkdir()
    before = sorted(p.name for p in tmp_path.rglob("*"))
    path = make(tmp_path)
    if match is None:
        assert io.check_writable(path, folder=folder) == path
    else:
        with pytest.raises(OutputPathError, match=match):
            io.check_writable(path, folder=folder)
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # nothing created


# A child process that writes a ~160 MB dataset over an existing one, reporting when it starts.
# SIGINT gets Python's own handler back: a shell that starts a job in the background
# (``cmd &``) makes it ignore SIGINT, and the child would then finish its write.
_SLOW_WRITER = """
import signal, sys, numpy as np
signal.signal(signal.SIGINT, signal.default_int_handler)
from ikml_gym.io import save_dataset
big = np.random.default_rng(0).random(20_000_000)
print("writing", flush=True)
save_dataset(sys.argv[1], {"x": big}, {"arm": "arm4", "version": 2})
"""


@pytest.mark.parametrize("sig", ["SIGKILL", "SIGTERM", "SIGINT"])
def test_killed_writer_leaves_the_previous_file_intact(tmp_path, sig):
    import signal
    import subprocess
    import sys
    import time

    target = tmp_path / "data.npz"
    io.save_dataset(target, {"x": np.arange(4.0)}, {"arm": "arm4", "version": 1})
    before = target.read_bytes()
    child = subprocess.Popen(
        [sys.executable, "-c", _SLOW_WRITER, str(target)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout.readline().strip() == "writing"
        deadline = time.monotonic() + 60
        # kill it once the temporary file has data in it: midway through the write
        while not any(p.stat().st_size > 0 for p in tmp_path.glob(".data.npz.*.tmp")):
            assert child.poll() is None, "the writer finished before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.001)
        child.send_signal(getattr(signal, sig))
        child.wait(timeout=60)
    finally:
        child.kill()
        child.wait()
    assert child.returncode != 0
    assert target.read_bytes() == before  # the previous file, byte for byte
    assert io.load_dataset(target)[1]["version"] == 1
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "data.npz"]
    # Python runs the cleanup on SIGINT (KeyboardInterrupt); SIGKILL/SIGTERM end the process
    # at once and can leave only the hidden temporary file, never a partial data.npz.
    if sig == "SIGINT":
        assert leftovers == []
    assert all(n.startswith(".data.npz.") and n.endswith(".tmp") for n in leftovers)


def _load_calls(tree):
    """(function name, keyword names) of every call in an AST."""
    import ast

    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            owner = getattr(func.value, "id", "") if isinstance(func, ast.Attribute) else ""
            yield f"{owner}.{name}".lstrip("."), node.keywords


def test_no_loader_in_the_package_can_run_code_from_a_file():
    """Static guard: no pickle/joblib/torch.load, and np.load only with allow_pickle=False."""
    import ast
    from pathlib import Path

    import ikml_gym

    offenders = []
    for path in Path(ikml_gym.__file__).parent.rglob("*.py"):
        for name, keywords in _load_calls(ast.parse(path.read_text())):
            if name in ("pickle.load", "pickle.loads", "joblib.load", "torch.load", "dill.load"):
                offenders.append(f"{path.name}: {name}")
            if name == "np.load":
                flags = {k.arg: getattr(k.value, "value", None) for k in keywords}
                if flags.get("allow_pickle") is not False:
                    offenders.append(f"{path.name}: np.load without allow_pickle=False")
    assert offenders == []
