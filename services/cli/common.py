"""Helpers the sub-command modules share: the help formatter, documented parsers and progress
bars."""

from __future__ import annotations

import argparse
import contextlib
import re
import signal
import sys
import textwrap
import threading
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")

_RST = (
    (re.compile(r":[a-z]+:`~?([^`]+)`"), r"\1"),  # :func:`name` -> name
    (re.compile(r"``([^`]+)``"), r"\1"),  # ``code`` -> code
)


def plain(text: str | None) -> str | None:
    """Docstring text as plain text for ``--help``: no reStructuredText roles or literals."""
    if text is None:
        return None
    for pattern, repl in _RST:
        text = pattern.sub(repl, text)
    return text


class HelpFormatter(argparse.HelpFormatter):
    """Descriptions wrapped paragraph by paragraph (indented lines, such as examples, kept
    as written), and every option's default shown unless its help already names it or there
    is nothing to show (None, False, an empty list)."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        out = []
        for para in textwrap.dedent(text).strip().split("\n\n"):
            lines = para.splitlines()
            if any(line.startswith(" ") for line in lines):
                out.append("\n".join(indent + line for line in lines))
            else:
                out.append(
                    textwrap.fill(
                        " ".join(lines), width, initial_indent=indent, subsequent_indent=indent
                    )
                )
        return "\n\n".join(out)

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if (
            "default" in text
            or default in (None, False, argparse.SUPPRESS)
            or (isinstance(default, list | tuple) and not default)
            or not (action.option_strings or action.nargs in ("?", "*"))
        ):
            return text
        return f"{text} (default: %(default)s)"


def add_documented_parser(subparsers: Any, name: str, doc: str | None, **kw: Any) -> Any:
    """A sub-command parser whose ``--help`` shows ``doc`` (its module docstring) as plain text."""
    return subparsers.add_parser(name, description=plain(doc), **kw)


def add_scenario_argument(parser: argparse.ArgumentParser) -> None:
    """The ``SCENARIO`` positional of the commands that simulate (``run``, ``sweep``)."""
    parser.add_argument(
        "scenario",
        metavar="SCENARIO",
        help="a preset name (see `twin scenarios`) or a scenario TOML file",
    )


def progress(
    iterable: Iterable[T] | None = None,
    *,
    total: float | None = None,
    desc: str,
    unit: str = "it",
    enabled: bool = True,
    **kw: Any,
) -> Any:
    """A progress bar on stderr (``tqdm``), shown only when stderr is a terminal and
    ``enabled``; otherwise a silent bar with the same interface."""
    from tqdm import tqdm

    return tqdm(
        iterable,
        total=total,
        desc=desc,
        unit=unit,
        file=sys.stderr,
        disable=None if enabled else True,  # None: off when stderr is not a terminal
        leave=False,
        dynamic_ncols=True,
        **kw,
    )


def counted(items: Iterable[T], bar: Any) -> Iterator[T]:
    """``items``, advancing ``bar`` by one per item (in batches, so the bar costs nothing)."""
    n = 0
    for item in items:
        yield item
        n += 1
        if n == 1000:
            bar.update(n)
            n = 0
    bar.update(n)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread so that it cleans up exactly as Ctrl-C does (no log
    and no hidden temporary files are left behind)."""


_sigterm_seen = False  # a plain flag: a handler must not take a lock (a second SIGTERM could
# arrive inside it and wait on that lock for ever)


def _on_sigterm(signum: int, frame: object) -> None:
    global _sigterm_seen
    if _sigterm_seen:  # already stopping: a second SIGTERM must not interrupt the clean-up
        return
    _sigterm_seen = True
    raise Terminated


@contextlib.contextmanager
def sigterm_raises() -> Iterator[None]:
    """While inside: SIGTERM (unblocked if it was blocked) raises :class:`Terminated` in the
    main thread (elsewhere this does nothing), once; :func:`stop_if_terminated` raises it
    again if that first raise was lost. Handler and signal mask are restored on exit."""
    global _sigterm_seen
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _sigterm_seen = False
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    mask: set[signal.Signals] | None = None
    try:
        # a mask inherited from whoever started us (a blocked SIGTERM stays pending for ever)
        mask = signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        if mask is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        _sigterm_seen = False


def stop_if_terminated() -> None:
    """Raise :class:`Terminated` if SIGTERM has arrived. A handler's exception can be lost:
    raised while C code runs a Python callback and clears its error, it never reaches the
    loop; long loops call this at their checkpoints, so such a run still stops."""
    if _sigterm_seen:
        raise Terminated
