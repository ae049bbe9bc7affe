"""One time model: a scenario epoch in UTC and simulation seconds since it.

Times on the wire are UTC ISO-8601 with milliseconds and a ``Z``
(``2026-11-23T00:21:46.244Z``). Durations are written ``90s``, ``90m``, ``36h``,
``30d``, ``1w`` or ``5y`` (a Julian year, 365.25 days; combinations such as ``1d12h`` are
accepted): :func:`parse_duration` and :func:`parse_time` are the project's only parsers of
durations and times, shared by scenario files and command-line options.
For SGP4 a time is a split Julian date ``(jd, fr)`` to keep sub-millisecond precision.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta

import numpy as np
import numpy.typing as npt

from twin.constants import (
    SECONDS_PER_DAY,
    SECONDS_PER_HOUR,
    SECONDS_PER_MINUTE,
    SECONDS_PER_WEEK,
    SECONDS_PER_YEAR,
)
from twin.errors import InputError

_UNITS = {
    "ms": 0.001,
    "s": 1.0,
    "m": SECONDS_PER_MINUTE,
    "min": SECONDS_PER_MINUTE,
    "h": SECONDS_PER_HOUR,
    "d": SECONDS_PER_DAY,
    "w": SECONDS_PER_WEEK,
    "y": SECONDS_PER_YEAR,
}
_DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)(ms|min|s|m|h|d|w|y)")
_SECONDS_RE = re.compile(r"\d+(?:\.\d+)?(?:e[+-]?\d+)?")
_NOT_FINITE = frozenset({"nan", "inf", "infinity"})
JD_UNIX_EPOCH = 2440587.5

MAX_DURATION_YEARS = 1000
MAX_DURATION_S = MAX_DURATION_YEARS * SECONDS_PER_YEAR
"""The longest duration accepted anywhere (1000 Julian years): longer spans would overflow
the calendar (year 9999) when added to an epoch."""
DURATION_ALLOWED = (
    "a duration NUMBER+UNIT with units ms, s, m (minutes), h, d, w, y (365.25 d), "
    f'e.g. "90m", "36h", "30d", "5y", "1d12h"; from 0 to {MAX_DURATION_YEARS}y'
)
"""What :func:`parse_duration` accepts (with ``unit_required``), for error messages."""
SECONDS_ALLOWED = f"{DURATION_ALLOWED}, or a plain number of seconds"
"""What :func:`parse_duration` accepts (without ``unit_required``), for error messages."""
TIME_ALLOWED = 'an ISO-8601 UTC time such as "2026-11-23T00:00:00Z"'
"""What :func:`parse_time` accepts, for error messages."""


def parse_duration(text: str, *, field: str = "duration", unit_required: bool = False) -> float:
    """Seconds (float) from ``90m``, ``36h``, ``30d``, ``5y``, ``1d12h`` or plain seconds.

    The one duration parser of the project: scenario files (which pass ``unit_required``, so
    that every duration says its unit) and command-line options both use it. Units are ms, s,
    m or min (minutes), h, d, w and y, a Julian year of 365.25 days; terms add up
    (``1y6h``). Refuses, with an :class:`InputError` naming ``field`` and what is allowed:
    text it cannot read, negative values, ``nan``/``inf`` and values that are not finite
    (``1e400``) or longer than :data:`MAX_DURATION_S`.
    """
    allowed = DURATION_ALLOWED if unit_required else SECONDS_ALLOWED
    s = str(text).strip().lower().replace(" ", "")
    if not s:
        raise InputError("empty duration", field=field, allowed=allowed)
    if s.startswith("-"):
        raise InputError(f"negative duration {text!r}", field=field, allowed=allowed)
    if s.lstrip("+") in _NOT_FINITE:
        raise InputError(f"duration {text!r} is not a finite number", field=field, allowed=allowed)
    if not unit_required and _SECONDS_RE.fullmatch(s):
        value = float(s)
    else:
        pos = 0
        value = 0.0
        for m in _DURATION_RE.finditer(s):
            if m.start() != pos:
                break
            value += float(m.group(1)) * _UNITS[m.group(2)]
            pos = m.end()
        if pos != len(s) or pos == 0:
            raise InputError(f"cannot read duration {text!r}", field=field, allowed=allowed)
    if not value <= MAX_DURATION_S:  # also catches inf from "1e400" or 400 digits
        raise InputError(
            f"duration {text!r} is too long"
            + ("" if math.isfinite(value) else " (it overflows a float)"),
            field=field,
            allowed=allowed,
        )
    return value


def parse_time(text: str | datetime, *, field: str = "time") -> datetime:
    """Parse ISO-8601 into an aware UTC datetime. A naive time is read as UTC."""
    if isinstance(text, datetime):
        dt = text
    else:
        s = str(text).strip()
        if s.endswith(("Z", "z")):
            s = s[:-1] + "+00:00"
        try:
            dt = datetime.fromisoformat(s)
        except ValueError:
            raise InputError(
                f"cannot read time {text!r}",
                field=field,
                allowed=TIME_ALLOWED,
            ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def format_time(dt: datetime) -> str:
    """UTC ISO-8601 with milliseconds and ``Z``; rounds to the nearest millisecond."""
    dt = dt.astimezone(UTC)
    us = dt.microsecond
    ms = (us + 500) // 1000
    base = dt.replace(microsecond=0)
    if ms == 1000:
        base += timedelta(seconds=1)
        ms = 0
    return base.strftime("%Y-%m-%dT%H:%M:%S") + f".{ms:03d}Z"


def at(epoch: datetime, seconds: float) -> datetime:
    """The UTC datetime ``seconds`` after ``epoch``."""
    return epoch + timedelta(seconds=float(seconds))


class SimClock:
    """Formats simulation seconds since a UTC ``epoch`` as wire time strings, fast.

    Rounds to the nearest millisecond. The engine formats a time for every event, and
    ``datetime.strftime`` costs ~10 µs; this uses integer arithmetic and caches the date.
    """

    def __init__(self, epoch: datetime) -> None:
        epoch = epoch.astimezone(UTC)
        unix = datetime(1970, 1, 1, tzinfo=UTC)
        delta = epoch - unix
        self._epoch_ms = delta // timedelta(milliseconds=1)
        self._epoch_frac_s = (delta.microseconds % 1000) / 1e6
        self._minute = -1
        self._prefix = ""

    def format(self, seconds: float) -> str:
        t_ms = self._epoch_ms + math.floor((seconds + self._epoch_frac_s) * 1000.0 + 0.5)
        minute, ms = divmod(t_ms, 60_000)
        if minute != self._minute:  # "YYYY-MM-DDTHH:MM:" once a minute (events come in order)
            self._minute = minute
            day, rem = divmod(minute, 1440)
            date = (datetime(1970, 1, 1) + timedelta(days=day)).strftime("%Y-%m-%d")
            h, m = divmod(rem, 60)
            self._prefix = f"{date}T{h:02d}:{m:02d}:"
        sec, ms = divmod(ms, 1000)
        return self._prefix + _SECONDS_TEXT[sec] + _MILLIS_TEXT[ms]


_SECONDS_TEXT = [f"{sec:02d}." for sec in range(60)]
_MILLIS_TEXT = [f"{ms:03d}Z" for ms in range(1000)]
"""The end of a wire time, looked up: formatting ``{sec:02d}.{ms:03d}Z`` cost more than the
rest of :meth:`SimClock.format`."""


def format_sim(epoch: datetime, seconds: float) -> str:
    """Format simulation seconds since ``epoch`` as a wire time string."""
    return SimClock(epoch).format(seconds)


def seconds_since(epoch: datetime, dt: datetime) -> float:
    """Seconds from ``epoch`` to ``dt`` (negative if before)."""
    return (dt - epoch).total_seconds()


def julian_date(dt: datetime) -> tuple[float, float]:
    """Split Julian date ``(jd, fr)`` of a UTC datetime: jd at the preceding midnight (x.5)."""
    dt = dt.astimezone(UTC)
    midnight = dt.replace(hour=0, minute=0, second=0, microsecond=0)
    days = (midnight - datetime(1970, 1, 1, tzinfo=UTC)).days
    jd = JD_UNIX_EPOCH + days
    fr = (dt - midnight).total_seconds() / SECONDS_PER_DAY
    return jd, fr


def julian_dates(
    epoch: datetime, seconds: npt.ArrayLike
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Split Julian dates for an array of seconds since ``epoch`` (keeps precision)."""
    jd0, fr0 = julian_date(epoch)
    s = np.asarray(seconds, dtype=np.float64)
    days = np.floor(s / SECONDS_PER_DAY)
    fr = fr0 + (s - days * SECONDS_PER_DAY) / SECONDS_PER_DAY
    jd = jd0 + days + np.floor(fr)
    fr = fr - np.floor(fr)
    return jd, fr
