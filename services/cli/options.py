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
from datetime import datetime
from typing import TypeVar

from twin.errors import InputError
from twin.sim.scenario import MAX_SEED, OVERRIDE_ALLOWED, override_value
from twin.sim.shards import Shard, parse_shard
from twin.timeutil import (
    SECONDS_ALLOWED,
    format_sim,
    format_time,
    parse_duration,
    parse_time,
    seconds_since,
)

__all__ = [
    "assignment",
    "assignments",
    "duration",
    "integer",
    "port",
    "positive_number",
    "seed",
    "shard",
    "until",
    "until_seconds",
]

T = TypeVar("T")


def _bounded(
    convert: Callable[[str], T], kind: str, ok: Callable[[T], bool], allowed: str
) -> Callable[[str], T]:
    """An argparse ``type``: ``convert`` the text (``kind`` names what it must be), then
    check it with ``ok``; both failures say what is allowed."""

    def parse(text: str) -> T:
        try:
            value = convert(text.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"cannot read {text!r} as {kind} (allowed: {allowed})"
            ) from None
        if not ok(value):
            raise argparse.ArgumentTypeError(f"{text!r} is out of range (allowed: {allowed})")
        return value

    return parse


def integer(lo: int, hi: int, what: str = "an integer") -> Callable[[str], int]:
    """An integer ``lo <= n <= hi``."""
    return _bounded(int, "an integer", lambda n: lo <= n <= hi, f"{what} from {lo:,} to {hi:,}")


seed = integer(0, MAX_SEED, "a random seed")
"""``--seed``: what the scenario's ``seed`` accepts, 0 to 2⁶³ − 1."""
port = integer(1, 65535, "a TCP port")
"""A TCP port number to listen on."""


def positive_number(hi: float, what: str) -> Callable[[str], float]:
    """A finite number ``0 < x <= hi`` (no nan, no inf)."""
    return _bounded(
        float, "a number", lambda x: math.isfinite(x) and 0 < x <= hi, f"{what}, 0 < x <= {hi:g}"
    )


class NotPositive(argparse.ArgumentTypeError):
    """A duration that reads as one but is zero or negative."""


def _not_positive(text: str) -> NotPositive:
    return NotPositive(f"duration {text.strip()!r} must be > 0 (allowed: {SECONDS_ALLOWED})")


def duration(text: str) -> float:
    """A positive duration (``36h``, ``30d``, ``5y`` or seconds): :func:`parse_duration`.
    Zero, or a duration with a minus sign (``0s``, ``-5h``), is told it must be > 0."""
    try:
        value = parse_duration(text)
    except InputError as exc:
        body = text.strip()
        if body.startswith("-"):
            try:
                parse_duration(body[1:])
            except InputError:
                pass
            else:
                raise _not_positive(text) from None
        raise argparse.ArgumentTypeError(f"{exc.problem} (allowed: {exc.allowed})") from None
    if value <= 0:
        raise _not_positive(text)
    return value


def assignments(text: str) -> tuple[str, tuple[object, ...]]:
    """``--set KEY=V1,V2,...`` (a sweep's values of one scenario key): the key path and the
    values typed as TOML would type them; the scenario then validates them."""
    key, sep, values = text.partition("=")
    key = key.strip()
    parts = [v for v in values.split(",")]
    if not sep or not key or any(not v.strip() for v in parts):
        raise argparse.ArgumentTypeError(
            f"cannot read {text!r} (allowed: {OVERRIDE_ALLOWED}; several values separated "
            "by commas)"
        )
    return key, tuple(override_value(v) for v in parts)


def assignment(text: str) -> tuple[str, object]:
    """``--set KEY=VALUE``: one scenario value (``twin run``)."""
    key, values = assignments(text)
    if len(values) != 1:
        raise argparse.ArgumentTypeError(f"{text!r} gives several values (allowed: one VALUE)")
    return key, values[0]


UNTIL_ALLOWED = (
    "a duration after the run's epoch (90m, 36h, 30d, 5y, 1d12h) or an ISO-8601 UTC time "
    "(2026-11-25T12:00:00Z)"
)


def shard(text: str) -> Shard:
    """``K/N``: shard K (from 0) of N (:func:`twin.sim.shards.parse_shard`)."""
    try:
        return parse_shard(text.strip())
    except InputError as exc:
        raise argparse.ArgumentTypeError(f"{exc.problem} (allowed: {exc.allowed})") from None


def until(text: str) -> float | datetime:
    """``--until`` (and its alias ``--at``): a point in simulated time, written as a duration
    after the scenario's epoch (``36h``, ``5y``) or as an ISO-8601 UTC time. The same
    vocabulary in ``twin run``, ``twin state`` and ``twin replay``."""
    try:
        return duration(text)
    except NotPositive:
        raise  # a duration, but zero or negative: say so rather than "cannot read"
    except argparse.ArgumentTypeError:
        pass
    try:
        return parse_time(text)
    except (InputError, ValueError, OverflowError):
        raise argparse.ArgumentTypeError(
            f"cannot read {text!r} as a duration or a time (allowed: {UNTIL_ALLOWED})"
        ) from None


def until_seconds(value: float | datetime, epoch: datetime, option: str = "--until") -> float:
    """Simulation seconds after ``epoch`` for an :func:`until` value; a time must be after
    the epoch."""
    if not isinstance(value, datetime):
        return value
    seconds = seconds_since(epoch, value)
    if seconds <= 0:
        raise InputError(
            f"{format_time(value)} is not after the run's epoch {format_time(epoch)}",
            field=option,
            allowed=UNTIL_ALLOWED,
        )
    return seconds


def until_time(value: float | datetime, epoch: datetime) -> str:
    """An :func:`until` value as a wire time string."""
    return format_time(value) if isinstance(value, datetime) else format_sim(epoch, value)
