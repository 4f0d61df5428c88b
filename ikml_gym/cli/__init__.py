"""The ``ikml-gym`` command.

Subcommands: ``data``, ``train``, ``eval`` (each with targets ``ik`` and
``classifier``), ``demo``, ``envs``. Each feature module adds its own
subcommands through a ``register_cli(groups)`` function listed in ``_PROVIDERS``,
so this file only wires them together and turns errors into one-line messages
(``--debug`` shows the traceback).
"""

from __future__ import annotations

import argparse
import importlib
import shlex
import sys
from collections.abc import Sequence

from .._version import __version__
from ..errors import IkmlGymError

#: modules that add subcommands: each has ``register_cli(groups: dict[str, _SubParsersAction])``
_PROVIDERS = (
    "ikml_gym.cli.data",
    "ikml_gym.cli.ik",
    "ikml_gym.cli.classifier",
    "ikml_gym.cli.envs",
    "ikml_gym.cli.demo",
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2 (argparse's code for usage errors)
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (feature modules that are not present are skipped)."""
    parser = _Parser(
        prog="ikml-gym",
        description="Robot-arm reaching tasks with learned IK and a reachability classifier.",
    )
    parser.add_argument("--version", action="version", version=f"ikml_gym {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    top = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    groups: dict[str, argparse._SubParsersAction] = {"top": top}
    for name, text in [
        ("data", "generate a dataset"),
        ("train", "train a model"),
        ("eval", "evaluate a model against the exact reference"),
    ]:
        p = top.add_parser(name, help=text, description=text)
        groups[name] = p.add_subparsers(dest="target", metavar="TARGET", parser_class=_Parser)
    for module in _PROVIDERS:
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:  # a real missing dependency inside the module: surface it
                raise
            continue
        mod.register_cli(groups)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``ikml-gym``; returns the process exit code."""
    parser = build_parser()
    words = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(words)
    #: the command as typed (recorded in the model files that training writes)
    args.command_line = shlex.join(["ikml-gym", *words])
    handler = getattr(args, "handler", None)
    if handler is None:  # a group without its target (e.g. `ikml-gym data`) or nothing at all
        if args.command is None:
            parser.print_help()
            return 0
        print(
            f"ikml-gym {args.command}: error: choose a target, e.g. `ikml-gym {args.command} ik`; "
            f"see `ikml-gym {args.command} --help`",
            file=sys.stderr,
        )
        return 2
    try:
        return int(handler(args) or 0)
    except KeyboardInterrupt:
        print("ikml-gym: interrupted", file=sys.stderr)
        return 130
    except (IkmlGymError, OSError, ValueError) as exc:
        if args.debug:
            raise
        print(f"ikml-gym: error: {exc}", file=sys.stderr)
        return 1
