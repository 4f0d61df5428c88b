"""The `ikml-gym` command: help, one-line errors with non-zero exits, no tracebacks."""

import pytest

from ikml_gym.cli import main


def test_help_lists_every_subcommand(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    for cmd in ("data", "train", "eval", "demo", "envs"):
        assert cmd in out


def test_group_without_target_is_an_error(capsys):
    assert main(["data"]) == 2
    err = capsys.readouterr().err
    assert "choose a target" in err and "ikml-gym data ik" in err


def test_unknown_subcommand_exits_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["bogus"])
    assert exc.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_missing_required_argument_exits_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["data", "ik", "--n", "10"])
    assert exc.value.code == 2
    assert "--out" in capsys.readouterr().err


def test_unknown_arm_is_one_line_without_traceback(tmp_path, capsys):
    assert main(["data", "ik", "--arm", "no_such_arm", "--n", "10", "--out",
                 str(tmp_path / "x.npz"), "--quiet"]) == 1  # fmt: skip
    err = capsys.readouterr().err
    assert err.startswith("ikml-gym: error: unknown arm 'no_such_arm'")
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x.npz").exists()


def test_data_ik_writes_a_loadable_dataset(tmp_path, capsys):
    from ikml_gym.io import load_dataset

    out = tmp_path / "d.npz"
    assert main(["data", "ik", "--n", "200", "--seed", "3", "--out", str(out), "--quiet"]) == 0
    arrays, header = load_dataset(out)
    assert arrays["q"].shape == (200, 4) and header["seed"] == 3 and header["arm"] == "arm4"


def _run(argv, capsys):
    """Exit code and stderr of ``ikml-gym argv`` (argparse usage errors raise SystemExit)."""
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    return code, capsys.readouterr().err


# (argument list with {d} for a scratch folder, expected exit code, text the error must contain)
BAD_COMMAND_LINES = [
    ("data ik --n 10 --out {d}/afile/x.npz", 2, "afile is a file, not a folder"),
    ("data ik --n -5 --out {d}/x.npz", 2, "argument --n: must be >= 1"),
    ("data ik --n ten --out {d}/x.npz", 2, "expected an integer"),
    ("data classifier --n-reachable 10 --out /proc/ikml/x.npz", 2, "not writable"),
    ("data ik --arm {d}/afile --n 10 --out {d}/x.npz", 1, "URDF"),
    ("train ik --hidden 64,abc --out {d}/m", 2, "comma-separated integers"),
    ("train ik --n 100 --out {d}/afile/m", 2, "afile is a file"),
    ("train ik --data {d}/missing.npz --out {d}/m", 1, "dataset not found"),
    ("train classifier --data {d}/garbage.npz --out {d}/m", 1, "not a readable ikml_gym dataset"),
    ("train classifier --epochs 0 --out {d}/m", 2, "argument --epochs: must be >= 1"),
    ("train classifier --data {d}/missing.npz --plots {d}/afile", 2, "it is a file"),
    ("eval ik --model {d}/missing", 1, "model file missing"),
    ("eval ik --n-test 10 --json {d}/afile/r.json", 2, "afile is a file"),
    ("eval classifier --model {d}/missing --no-filter", 1, "model file missing"),
    ("eval classifier --arm arm4 --model arm6 --no-filter", 1, "model is for arm 'arm6'"),
    ("demo --episodes 0", 2, "argument --episodes: must be >= 1"),
    ("demo --out {d}/afile", 2, "it is a file"),
    ("demo --json {d}/adir", 2, "it is a folder"),
    ("envs --bogus", 2, "unrecognized arguments: --bogus"),
    ("train bogus", 2, "invalid choice: 'bogus'"),
]


@pytest.mark.parametrize(("line", "code", "text"), BAD_COMMAND_LINES)
def test_bad_command_lines_fail_in_one_line_before_any_work(tmp_path, capsys, line, code, text):
    (tmp_path / "afile").write_text("")
    (tmp_path / "adir").mkdir()
    (tmp_path / "garbage.npz").write_bytes(b"\x00not a zip file")
    before = sorted(p.name for p in tmp_path.rglob("*"))
    argv = line.format(d=tmp_path).split()
    if argv[0] == "eval" and "--model" in argv and argv[argv.index("--model") + 1] == "arm6":
        from ikml_gym.learned.classifier import pretrained_path

        argv[argv.index("--model") + 1] = str(pretrained_path("arm6"))
    got, err = _run(argv, capsys)
    assert got == code, err
    assert text in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # nothing written


def test_debug_shows_the_traceback(tmp_path, capsys):
    from ikml_gym.errors import ModelFileError

    with pytest.raises(ModelFileError, match="model file missing"):
        main(["--debug", "eval", "ik", "--model", str(tmp_path / "missing")])
