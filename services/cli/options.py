"""Validators for command-line options, as argparse ``type=`` functions.

Each one reads an option's text with the same rules the scenario TOML uses (one duration
parser, the same seed and number ranges), so ``--until``/``duration`` and ``--seed``/``seed``
accept exactly the same values. A bad value raises :class:`argparse.ArgumentTypeError`, which
argparse reports as ``twin run: error: argument --seed: ...`` with exit code 2, before any work.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

from twin.errors import InputError
from twin.sim.scenario import MAX_SEED
from twin.timeutil import SECONDS_ALLOWED, parse_duration

__all__ = ["duration", "integer", "port", "positive_number", "seed"]


def integer(lo: int, hi: int, what: str = "an integer") -> Callable[[str], int]:
    """An integer ``lo <= n <= hi``."""

    def parse(text: str) -> int:
        try:
            value = int(text.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"cannot read {text!r} as an integer (allowed: {what} from {lo:,} to {hi:,})"
            ) from None
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(
                f"{value} is out of range (allowed: {what} from {lo:,} to {hi:,})"
            )
        return value

    return parse


seed = integer(0, MAX_SEED, "a random seed")
"""``--seed``: what the scenario's ``seed`` accepts, 0 to 2⁶³ − 1."""
port = integer(1, 65535, "a TCP port")
"""A TCP port number to listen on."""


def positive_number(hi: float, what: str) -> Callable[[str], float]:
    """A finite number ``0 < x <= hi`` (no nan, no inf)."""

    def parse(text: str) -> float:
        try:
            value = float(text.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"cannot read {text!r} as a number (allowed: {what}, 0 < x <= {hi:g})"
            ) from None
        if not (math.isfinite(value) and 0 < value <= hi):
            raise argparse.ArgumentTypeError(
                f"{text!r} is out of range (allowed: {what}, 0 < x <= {hi:g})"
            )
        return value

    return parse


def duration(text: str) -> float:
    """A positive duration (``36h``, ``30d``, ``5y`` or seconds): :func:`parse_duration`."""
    try:
        value = parse_duration(text)
    except InputError as exc:
        raise argparse.ArgumentTypeError(f"{exc.problem} (allowed: {exc.allowed})") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(
            f"duration {text!r} is not positive (allowed: {SECONDS_ALLOWED})"
        )
    return value
