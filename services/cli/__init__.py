"""The `twin` command line. Each sub-command lives in a module of this package (``run``,
``state``, ``log``, ``eclipses``, ``season``, ``plot``, ``misc``); ``sources`` opens the logs
they read and write; ``common`` holds what several sub-commands share.

Errors: a :class:`twin.errors.TwinError` becomes a one-paragraph message on stderr and
its exit code (2 for bad input); nothing else is printed and no partial output is left.
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from services.cli.common import HelpFormatter, Terminated, plain, sigterm_raises
from twin import __version__
from twin.errors import TwinError

# Sub-command modules; each exposes ``register(subparsers)`` which adds its parser(s)
# and sets ``func`` (args -> exit code) as the parser default.
COMMAND_MODULES = (
    "services.cli.eclipses",
    "services.cli.run",
    "services.cli.log",
    "services.cli.state",
    "services.cli.misc",
    "services.cli.plot",
    "services.cli.season",
    "services.cli.sweep",
    "services.cli.report",
)


class _Parser(argparse.ArgumentParser):
    """Plain-text help with every default shown (:class:`HelpFormatter`)."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        kw.setdefault("formatter_class", HelpFormatter)
        if kw.get("description"):
            kw["description"] = plain(kw["description"])
        super().__init__(*args, **kw)

    def error(self, message: str) -> NoReturn:
        """Exit 2. A bad option value reads like every other input error,
        ``twin: error: --seed: PROBLEM (allowed: ...)``, followed by the usage."""
        m = re.match(r"argument ([^:/ ]+)(?:/[^:]*)?: (.*)", message, re.DOTALL)
        if m is not None:
            sys.stderr.write(f"twin: error: {m.group(1)}: {m.group(2)}\n")
            self.print_usage(sys.stderr)
            self.exit(2)
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="twin", description="Orbital Twin: event-sourced constellation twin")
    parser.add_argument("--version", action="version", version=f"twin {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # not written yet
                continue
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a bad option (2, already reported)
        return exc.code if isinstance(exc.code, int) else 2
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        with sigterm_raises():
            code = args.func(args)
    except TwinError as exc:
        print(f"twin: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt as exc:
        terminated = isinstance(exc, Terminated)
        print(f"twin: {'terminated' if terminated else 'interrupted'}", file=sys.stderr)
        return 143 if terminated else 130
    except BrokenPipeError:
        return 0
    return int(code or 0)
