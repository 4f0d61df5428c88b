"""The `ikml-gym` command: help, one-line errors with non-zero exits, no tracebacks."""

import pytest

from ikml_gym.cli import main


def test_help_lists_every_subcommand(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    for cmd in ("data", "train", "eval", "demo", "bench", "envs"):
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
