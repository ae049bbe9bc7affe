"""Orbit sources: TLE/3LE files, OMM (JSON, CSV) and generated shells (Walker-delta, SSO).

Every source yields a :class:`Fleet`: names plus SGP4 ``Satrec`` objects, so generated
satellites propagate exactly like catalogued ones.

Formats read by :func:`parse_text` (and :func:`load_file`, the only function here that
touches the file system):

* **TLE / 3LE** as CelesTrak publishes them: two 69-column lines per satellite, optionally
  preceded by a name line (``ISS (ZARYA)`` or, in Space-Track's 3LE, ``0 ISS (ZARYA)``).
  Each element line is checked for its fixed column layout and its mod-10 checksum.
* **OMM JSON** (CelesTrak ``FORMAT=json``): a list of objects keyed by the CCSDS OMM
  names (``EPOCH``, ``MEAN_MOTION``, ...), or a single such object.
* **OMM CSV** (CelesTrak ``FORMAT=csv``): the same names in a header row.

Generated shells (:func:`walker_delta`, :func:`sun_synchronous`) build each ``Satrec``
with ``sgp4init`` from mean elements, so SGP4 propagates them with the same J2 secular and
short-period terms as any catalogued satellite.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from sgp4.api import SGP4_ERRORS, WGS72, Satrec
from sgp4.earth_gravity import wgs72 as _wgs72

from twin.constants import (
    EARTH_RADIUS_KM,
    J2,
    MU_KM3_S2,
    SECONDS_PER_DAY,
    TROPICAL_YEAR_DAYS,
)
from twin.errors import InputError
from twin.timeutil import julian_date, parse_time

MIN_ALTITUDE_KM = 160.0
MAX_ALTITUDE_KM = 40_000.0

_EPOCH0 = datetime(1949, 12, 31, tzinfo=UTC)  # sgp4init counts epoch days from here
_MAX_SATNUM = 339_999  # largest Alpha-5 catalog number SGP4 can store
# SGP4's own constants (WGS72), needed to invert its mean-motion conversion exactly.
_SGP4_RE_KM = float(_wgs72.radiusearthkm)
_SGP4_J2 = float(_wgs72.j2)
_SGP4_XKE = float(_wgs72.xke)  # sqrt(mu) in Earth radii^1.5 per minute


@dataclass
class Fleet:
    """A set of satellites to propagate together.

    ``names[i]`` is the satellite's name (or catalog number when the file has no name
    line); ``satrecs[i]`` its SGP4 record; ``shell[i]``/``plane[i]`` its shell and plane
    index for generated shells (0 for catalogued satellites).
    """

    names: list[str]
    satrecs: list[Satrec]
    shell: list[int] = field(default_factory=list)
    plane: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        n = len(self.satrecs)
        if not self.shell:
            self.shell = [0] * n
        if not self.plane:
            self.plane = [0] * n
        lengths = {len(self.names), n, len(self.shell), len(self.plane)}
        if len(lengths) != 1:
            raise ValueError(
                f"Fleet columns differ in length: names={len(self.names)}, satrecs={n}, "
                f"shell={len(self.shell)}, plane={len(self.plane)}"
            )

    def __len__(self) -> int:
        return len(self.satrecs)

    @classmethod
    def concat(cls, fleets: Iterable[Fleet]) -> Fleet:
        """One fleet holding the satellites of ``fleets`` in order (Satrecs are shared)."""
        names: list[str] = []
        satrecs: list[Satrec] = []
        shell: list[int] = []
        plane: list[int] = []
        for f in fleets:
            names.extend(f.names)
            satrecs.extend(f.satrecs)
            shell.extend(f.shell)
            plane.extend(f.plane)
        return cls(names, satrecs, shell, plane)

    def subset(self, indices: Sequence[int] | npt.NDArray[np.integer[Any]]) -> Fleet:
        """The satellites at ``indices`` (in that order; Satrecs are shared, not copied)."""
        idx = [int(i) for i in indices]
        return Fleet(
            [self.names[i] for i in idx],
            [self.satrecs[i] for i in idx],
            [self.shell[i] for i in idx],
            [self.plane[i] for i in idx],
        )


# --------------------------------------------------------------------------- loading


FORMATS = "TLE/3LE lines, or OMM (CCSDS 502.0-B-3) as XML, KVN, JSON or CSV"
"""The orbit file formats :func:`load_file` reads, for messages."""


def load_file(path: str) -> Fleet:
    """Read a TLE, 3LE or OMM (XML, KVN, JSON, CSV) file into a :class:`Fleet`.

    This is the only function in the module that reads from disk; the format is
    recognised from the content by :func:`parse_text`.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(
            "orbit file not found", file=path, allowed="an existing TLE/3LE/OMM file"
        ) from None
    except IsADirectoryError:
        raise InputError(
            "is a directory, not an orbit file", file=path, allowed="a TLE/3LE/OMM file"
        ) from None
    except UnicodeDecodeError as exc:
        raise InputError(
            f"not a text file ({exc.reason} at byte {exc.start})",
            file=path,
            allowed="UTF-8 or ASCII text",
        ) from None
    except OSError as exc:
        raise InputError(
            f"cannot read orbit file: {exc.strerror or exc}",
            file=path,
            allowed="a readable file",
        ) from None
    return parse_text(text, path)


def parse_text(text: str, source: str) -> Fleet:
    """Parse orbit text into a :class:`Fleet`; ``source`` names it in error messages.

    The format is recognised by content: text starting with ``[`` or ``{`` is OMM JSON,
    ``<`` OMM XML, a first ``KEYWORD = value`` line (after comments) OMM KVN, a first
    line that is a comma-separated header containing ``MEAN_MOTION`` OMM CSV; anything else
    is read as TLE/3LE.
    """
    stripped = text.lstrip("\ufeff \t\r\n")
    if not stripped:
        raise InputError("orbit file is empty", file=source, allowed=FORMATS)
    if stripped[0] in "[{":
        return _parse_omm_json(text, source)
    if stripped[0] == "<":
        return _parse_omm_xml(text, source)
    first_line = stripped.splitlines()[0]
    first_keyword = next(
        (ln.strip() for ln in stripped.splitlines() if not ln.strip().startswith("COMMENT")), ""
    )
    if _KVN_LINE.match(first_keyword):
        return _parse_omm_kvn(text, source)
    if "," in first_line and "MEAN_MOTION" in first_line.upper():
        return _parse_omm_csv(text, source)
    return _parse_tle(text, source)


# --------------------------------------------------------------------------- TLE / 3LE

# The fixed column layout (python-sgp4's templates): N digit, C classification,
# A launch piece, + sign or blank, - exponent sign, '.' and ' ' literal; last N checksum.
TLE_LINE1_TEMPLATE = "1 NNNNNC NNNNNAAA NNNNN.NNNNNNNN +.NNNNNNNN +NNNNN-N +NNNNN-N N NNNNN"
TLE_LINE2_TEMPLATE = "2 NNNNN NNN.NNNN NNN.NNNN NNNNNNN NNN.NNNN NNN.NNNN NN.NNNNNNNNNNNNNN"
_TLE_LENGTH = 69

_DIGITS = set("0123456789")
_UPPER = set("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_COLUMN_RULES: dict[str, tuple[set[str], str]] = {
    "N": (_DIGITS | {" "}, "a digit"),
    "C": (_UPPER | {" "}, "a classification letter (U, C or S)"),
    "A": (_UPPER | _DIGITS | {" "}, "a launch-piece letter or blank"),
    "+": ({"+", "-", " "}, "a sign (+, - or blank)"),
    "-": ({"+", "-", " "}, "an exponent sign (+ or -)"),
    ".": ({"."}, "a '.'"),
    " ": ({" "}, "a blank"),
}

# Numeric fields checked after the layout: (0-based start, end, label, lo, hi).
_LINE1_FIELDS = [(20, 32, "epoch day of year", 1.0, 367.0)]
_LINE2_FIELDS = [
    (8, 16, "inclination (deg)", 0.0, 180.0),
    (17, 25, "right ascension of the ascending node (deg)", 0.0, 360.0),
    (34, 42, "argument of perigee (deg)", 0.0, 360.0),
    (43, 51, "mean anomaly (deg)", 0.0, 360.0),
    (52, 63, "mean motion (rev/day)", 1e-9, 20.0),
]


def tle_checksum(line: str) -> int:
    """TLE mod-10 checksum of the first 68 columns: digits count their value, '-' counts 1."""
    return sum(int(c) if c in _DIGITS else (1 if c == "-" else 0) for c in line[:68]) % 10


def _tle_context(template: str, line: str, lineno: int, column: int | None = None) -> str:
    """The expected column template above the user's line, with a caret at ``column``."""
    label = f"line {lineno}"
    width = max(len("expected"), len(label))
    out = [f"  {'expected':<{width}} | {template}", f"  {label:<{width}} | {line}"]
    if column is not None:
        out.append(f"  {'':<{width}} | {' ' * column}^")
    return "\n".join(out)


def _tle_error(
    problem: str,
    source: str,
    lineno: int,
    line: str,
    number: int,
    allowed: str,
    column: int | None = None,
) -> InputError:
    """An error at ``line`` (file line ``lineno``), shown under the TLE line ``number`` template."""
    template = TLE_LINE1_TEMPLATE if number == 1 else TLE_LINE2_TEMPLATE
    return InputError(
        problem,
        file=source,
        line=lineno,
        allowed=allowed,
        context=_tle_context(template, line, lineno, column),
    )


def _check_element_line(line: str, number: int, source: str, lineno: int) -> None:
    """Raise InputError unless ``line`` is a well-formed TLE line ``number`` (1 or 2)."""
    template = TLE_LINE1_TEMPLATE if number == 1 else TLE_LINE2_TEMPLATE
    allowed = f"TLE line {number}: 69 columns laid out as the 'expected' template"

    def fail(problem: str, column: int | None, what: str = allowed) -> InputError:
        return _tle_error(problem, source, lineno, line, number, what, column)

    if len(line) != _TLE_LENGTH:
        raise fail(
            f"TLE line {number} has {len(line)} columns instead of {_TLE_LENGTH}",
            min(len(line), _TLE_LENGTH),
        )
    if not line.isascii():
        col = next(i for i, c in enumerate(line) if not c.isascii())
        raise fail(f"TLE line {number} contains a non-ASCII character", col)
    for col in range(1, 68):
        rule = template[col]
        chars, what = _COLUMN_RULES[rule]
        if col == 2 and line[col] in _UPPER:  # Alpha-5 catalog numbers (A0000 = 100000)
            continue
        if line[col] not in chars:
            raise fail(
                f"column {col + 1} of TLE line {number} is {line[col]!r} where the format "
                f"has {what} (wrong column layout)",
                col,
            )
    if line[68] not in _DIGITS:
        raise fail(f"column 69 of TLE line {number} must be the checksum digit", 68)
    expected = tle_checksum(line)
    if int(line[68]) != expected:
        raise fail(
            f"checksum mismatch on TLE line {number}: the line ends in {line[68]} but its "
            f"columns 1-68 give {expected}",
            68,
            "last column = (sum of digits + number of '-' signs in columns 1-68) mod 10",
        )
    for start, end, label, lo, hi in _LINE1_FIELDS if number == 1 else _LINE2_FIELDS:
        text = line[start:end]
        try:
            value = float(text)
        except ValueError:
            raise fail(
                f"columns {start + 1}-{end} ({label}) of TLE line {number} are not a number: "
                f"{text!r}",
                start,
            ) from None
        if not lo <= value <= hi:
            raise fail(
                f"columns {start + 1}-{end} ({label}) of TLE line {number} are {value}, "
                "out of range",
                start,
                f"{lo:g} to {hi:g}",
            )


def _parse_tle(text: str, source: str) -> Fleet:
    """TLE/3LE: element line pairs, each optionally preceded by a name line.

    A line starting ``1 `` is line 1, ``2 `` line 2; any other non-blank line is a name
    (a leading ``0 `` is dropped). Blank lines are ignored; line numbers in errors are
    those of the file.
    """
    lines = [(n + 1, ln.rstrip()) for n, ln in enumerate(text.splitlines()) if ln.strip()]
    names: list[str] = []
    satrecs: list[Satrec] = []
    pending: tuple[int, str] | None = None  # (line number, name) waiting for its line 1
    catalog = _Catalog(source)
    i = 0
    while i < len(lines):
        lineno, line = lines[i]
        if line.startswith("2 "):
            raise _tle_error(
                "TLE line 2 without its line 1",
                source,
                lineno,
                line,
                1,
                "line 2 directly after line 1 of the same satellite",
            )
        if not line.startswith("1 "):
            if pending is not None:
                raise _tle_error(
                    f"expected TLE line 1 after the name line {pending[0]} ({pending[1]!r})",
                    source,
                    lineno,
                    line,
                    1,
                    "an optional name line followed by TLE lines 1 and 2",
                )
            name = line.strip()
            if name.startswith("0 "):
                name = name[2:].strip()
            pending = (lineno, name)
            i += 1
            continue
        _check_element_line(line, 1, source, lineno)
        lineno2, line2 = lines[i + 1] if i + 1 < len(lines) else (lineno + 1, "")
        if not line2.startswith("2 "):
            raise _tle_error(
                f"TLE line 1 at line {lineno} is not followed by its line 2",
                source,
                lineno2,
                line2,
                2,
                "line 2 (starting '2 ') directly after line 1",
            )
        _check_element_line(line2, 2, source, lineno2)
        if line[2:7] != line2[2:7]:
            raise _tle_error(
                f"catalog numbers differ: line 1 has {line[2:7].strip()!r}, "
                f"line 2 has {line2[2:7].strip()!r}",
                source,
                lineno2,
                line2,
                2,
                "the same catalog number in columns 3-7 of both lines",
                column=2,
            )
        sat = Satrec.twoline2rv(line, line2)
        _check_sgp4_init(sat, source, lineno2, None)
        catalog.add(int(sat.satnum), lineno, None)
        names.append(pending[1] if pending is not None else line[2:7].strip())
        satrecs.append(sat)
        pending = None
        i += 2
    if pending is not None:
        raise InputError(
            f"name line {pending[1]!r} is not followed by TLE lines",
            file=source,
            line=pending[0],
            allowed="an optional name line followed by TLE lines 1 and 2",
        )
    if not satrecs:
        raise InputError("no satellites found", file=source, allowed="TLE/3LE, OMM JSON/CSV")
    return Fleet(names, satrecs)


class _Catalog:
    """Catalog numbers seen so far in one file: a satellite listed twice is an error (it would
    fly twice under one name)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.seen: dict[int, str] = {}

    def add(self, satnum: int, line: int | None, field: str | None) -> None:
        where = f"line {line}" if line is not None else (field or "an earlier record")
        first = self.seen.get(satnum)
        if first is not None:
            raise InputError(
                f"satellite {satnum} is listed twice (first at {first})",
                file=self.source,
                line=line,
                field=field,
                allowed="each satellite (catalog number) once per file",
            )
        self.seen[satnum] = where


def _check_sgp4_init(sat: Satrec, source: str, line: int | None, where: str | None) -> None:
    """SGP4 flags impossible elements (e.g. a decayed orbit) when it initialises them."""
    if sat.error:
        raise InputError(
            f"SGP4 rejects these elements: {SGP4_ERRORS.get(sat.error, sat.error)}",
            file=source,
            line=line,
            field=where,
            allowed="elements of an orbit above the atmosphere",
        )


# --------------------------------------------------------------------------- OMM


def _as_float(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(value)
    out = float(value)
    if not math.isfinite(out):
        raise ValueError(value)
    return out


def _as_int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError(value)
    return int(value)


def _as_epoch(value: object) -> datetime:
    """ISO-8601 UTC, calendar (``2026-11-23T00:21:46``) or day-of-year (``2026-327T00:21:46``)
    as CCSDS 502.0 allows; no zone means UTC."""
    if not isinstance(value, str):
        raise ValueError(value)
    s = value.strip()
    if s.endswith(("Z", "z")):
        s = s[:-1]
    date, sep, clock = s.partition("T")
    if len(date) == 8 and date[4] == "-" and date[5:].isdigit():  # YYYY-DDD
        day = datetime.strptime(date, "%Y-%j")
        s = day.strftime("%Y-%m-%d") + sep + clock
    dt = datetime.fromisoformat(s)
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def _in_range(lo: float, hi: float, hi_open: bool = False) -> Callable[[object], float]:
    def conv(value: object) -> float:
        v = _as_float(value)
        if v < lo or v > hi or (hi_open and v == hi):
            raise ValueError(value)
        return v

    return conv


def _one_of(*allowed: str) -> Callable[[object], str]:
    def conv(value: object) -> str:
        if not isinstance(value, str) or value.strip().upper() not in allowed:
            raise ValueError(value)
        return value.strip().upper()

    return conv


# OMM keyword -> (converter, what is allowed). Missing or unreadable values are errors.
_OMM_REQUIRED: dict[str, tuple[Callable[[object], Any], str]] = {
    "EPOCH": (_as_epoch, "ISO-8601 UTC time such as 2026-11-23T00:21:46.244448"),
    "MEAN_MOTION": (_in_range(1e-9, 20.0), "revolutions per day, > 0 and <= 20"),
    "ECCENTRICITY": (_in_range(0.0, 1.0, hi_open=True), "a number 0 <= e < 1"),
    "INCLINATION": (_in_range(0.0, 180.0), "degrees, 0 to 180"),
    "RA_OF_ASC_NODE": (_in_range(-360.0, 360.0), "degrees, -360 to 360"),
    "ARG_OF_PERICENTER": (_in_range(-360.0, 360.0), "degrees, -360 to 360"),
    "MEAN_ANOMALY": (_in_range(-360.0, 360.0), "degrees, -360 to 360"),
    "NORAD_CAT_ID": (_as_int, f"an integer catalog number 0 to {_MAX_SATNUM}"),
    "BSTAR": (_as_float, "a number (SGP4 drag term, 1/Earth radii)"),
    "MEAN_MOTION_DOT": (_as_float, "a number (rev/day², TLE convention: half of dn/dt)"),
    "MEAN_MOTION_DDOT": (_as_float, "a number (rev/day³, TLE convention: dn²/dt² / 6)"),
}
# Metadata: optional (default used when absent), but must be readable when present.
_OMM_OPTIONAL: dict[str, tuple[Callable[[object], Any], str]] = {
    "OBJECT_NAME": (str, "a name"),
    "OBJECT_ID": (str, "an international designator such as 1998-067A"),
    "CLASSIFICATION_TYPE": (str, "U, C or S"),
    "EPHEMERIS_TYPE": (_as_int, "an integer (0 for SGP4)"),
    "ELEMENT_SET_NO": (_as_int, "an integer"),
    "REV_AT_EPOCH": (_as_int, "an integer"),
    # CCSDS metadata: when given, it must describe SGP4 mean elements of an Earth orbit
    "CENTER_NAME": (_one_of("EARTH"), "EARTH"),
    "REF_FRAME": (_one_of("TEME"), "TEME (the frame of SGP4 mean elements)"),
    "TIME_SYSTEM": (_one_of("UTC"), "UTC"),
    "MEAN_ELEMENT_THEORY": (_one_of("SGP4", "SGP/SGP4"), "SGP4 or SGP/SGP4"),
}


def _omm_satrec(
    record: Mapping[str, object],
    source: str,
    line: int | None,
    prefix: str,
    lines: Mapping[str, int] | None = None,
) -> tuple[str, Satrec]:
    """Build one Satrec from an OMM record (values as JSON types or CSV/KVN/XML strings).
    ``line`` is the record's line in errors; ``lines`` a line per keyword where the format
    has one (KVN, XML)."""
    keys = {str(k).strip().upper(): k for k in record}
    values: dict[str, Any] = {}
    for name, (conv, allowed) in (_OMM_REQUIRED | _OMM_OPTIONAL).items():
        key = keys.get(name)
        raw = record[key] if key is not None else None
        at = (lines or {}).get(name, line)
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            if name in _OMM_OPTIONAL:
                continue
            raise InputError(
                f"OMM field {name} is missing",
                file=source,
                line=at,
                field=f"{prefix}{name}",
                allowed=allowed,
            )
        try:
            values[name] = conv(raw)
        except (ValueError, TypeError, OverflowError):
            raise InputError(
                f"OMM field {name} has an unusable value {raw!r}",
                file=source,
                line=at,
                field=f"{prefix}{name}",
                allowed=allowed,
            ) from None
    satnum = values["NORAD_CAT_ID"]
    if not 0 <= satnum <= _MAX_SATNUM:
        raise InputError(
            f"NORAD_CAT_ID {satnum} is too large for SGP4",
            file=source,
            line=(lines or {}).get("NORAD_CAT_ID", line),
            field=f"{prefix}NORAD_CAT_ID",
            allowed=_OMM_REQUIRED["NORAD_CAT_ID"][1],
        )
    deg = math.pi / 180.0
    xpdotp = 1440.0 / (2.0 * math.pi)  # rev/day -> rad/min divisor, as in SGP4's twoline2rv
    sat = Satrec()
    sat.sgp4init(
        WGS72,
        "i",
        satnum,
        (values["EPOCH"] - _EPOCH0).total_seconds() / SECONDS_PER_DAY,
        values["BSTAR"],
        values["MEAN_MOTION_DOT"] / (xpdotp * 1440.0),
        values["MEAN_MOTION_DDOT"] / (xpdotp * 1440.0 * 1440.0),
        values["ECCENTRICITY"],
        values["ARG_OF_PERICENTER"] * deg,
        values["INCLINATION"] * deg,
        values["MEAN_ANOMALY"] * deg,
        values["MEAN_MOTION"] / xpdotp,
        values["RA_OF_ASC_NODE"] * deg,
    )
    _check_sgp4_init(sat, source, line, prefix.rstrip(".") or None)
    sat.classification = str(values.get("CLASSIFICATION_TYPE", "U")).strip()[:1] or "U"
    object_id = str(values.get("OBJECT_ID", ""))
    sat.intldesg = object_id[2:].replace("-", "")[:8]  # 1998-067A -> 98067A, as in TLEs
    sat.ephtype = values.get("EPHEMERIS_TYPE", 0)
    sat.elnum = values.get("ELEMENT_SET_NO", 999)
    sat.revnum = values.get("REV_AT_EPOCH", 0)
    name = str(values.get("OBJECT_NAME", "")).strip() or str(satnum)
    return name, sat


def _parse_omm_json(text: str, source: str) -> Fleet:
    """OMM JSON: a list of OMM objects (CelesTrak ``FORMAT=json``) or one object."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"not valid JSON: {exc.msg} (column {exc.colno})",
            file=source,
            line=exc.lineno,
            allowed="OMM JSON: a list of objects with EPOCH, MEAN_MOTION, ... keys",
        ) from None
    records = [(data, "")] if isinstance(data, dict) else None
    if records is None:
        if not isinstance(data, list):
            raise InputError(
                f"OMM JSON must be a list of objects, got {type(data).__name__}",
                file=source,
                allowed="a JSON list of OMM objects",
            )
        records = [(rec, f"[{i}].") for i, rec in enumerate(data)]
    names: list[str] = []
    satrecs: list[Satrec] = []
    catalog = _Catalog(source)
    for rec, prefix in records:
        if not isinstance(rec, dict):
            raise InputError(
                f"OMM record is a {type(rec).__name__}, not an object",
                file=source,
                field=prefix.rstrip("."),
                allowed="a JSON object with EPOCH, MEAN_MOTION, ... keys",
            )
        name, sat = _omm_satrec(rec, source, None, prefix)
        catalog.add(int(sat.satnum), None, f"{prefix}NORAD_CAT_ID")
        names.append(name)
        satrecs.append(sat)
    if not satrecs:
        raise InputError("OMM JSON list is empty", file=source, allowed="at least one object")
    return Fleet(names, satrecs)


def _parse_omm_csv(text: str, source: str) -> Fleet:
    """OMM CSV (CelesTrak ``FORMAT=csv``): a header row of OMM keywords, one row each."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip().upper() for h in reader.fieldnames or []]
    for name in _OMM_REQUIRED:
        if name not in header:
            raise InputError(
                f"OMM CSV header has no {name} column",
                file=source,
                line=1,
                field=name,
                allowed=f"a header naming {', '.join(_OMM_REQUIRED)}",
            )
    names: list[str] = []
    satrecs: list[Satrec] = []
    catalog = _Catalog(source)
    for row in reader:
        if not any((v or "").strip() for k, v in row.items() if k is not None):
            continue  # blank line
        if None in row:
            raise InputError(
                "OMM CSV row has more values than the header has columns",
                file=source,
                line=reader.line_num,
                allowed=f"{len(header)} comma-separated values",
            )
        name, sat = _omm_satrec(row, source, reader.line_num, "")
        catalog.add(int(sat.satnum), reader.line_num, "NORAD_CAT_ID")
        names.append(name)
        satrecs.append(sat)
    if not satrecs:
        raise InputError("OMM CSV has no data rows", file=source, allowed="one row per satellite")
    return Fleet(names, satrecs)


_KVN_LINE = re.compile(r"^[A-Z][A-Z0-9_]*\s*=")
_KVN_ALLOWED = "KEYWORD = value [unit] lines of CCSDS 502.0-B-3 OMM KVN, or COMMENT lines"
_XML_ALLOWED = "CCSDS 502.0-B-3 OMM XML: <omm> elements (or an <ndm> holding them)"


def _parse_omm_kvn(text: str, source: str) -> Fleet:
    """OMM KVN (CCSDS 502.0-B-3, CelesTrak ``FORMAT=kvn``): ``KEYWORD = value [unit]`` lines,
    each message starting with ``CCSDS_OMM_VERS``; several messages may follow each other.
    Units in brackets are dropped (the keywords fix them); errors give the keyword's line."""
    records: list[tuple[int, dict[str, str], dict[str, int]]] = []
    for lineno, raw in enumerate(text.lstrip("\ufeff").splitlines(), start=1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("COMMENT") and not stripped[7:8].strip("= "):
            continue
        key, eq, value = stripped.partition("=")
        key = key.strip().upper()
        if not eq or not key.replace("_", "").isalnum():
            raise InputError(
                f"not a KVN line: {stripped[:60]!r}", file=source, line=lineno, allowed=_KVN_ALLOWED
            )
        if key in ("META_START", "META_STOP", "DATA_START", "DATA_STOP"):
            continue
        value = value.strip()
        if value.endswith("]") and "[" in value:  # a unit, e.g. 15.49 [rev/day]
            value = value[: value.rindex("[")].strip()
        if key == "CCSDS_OMM_VERS":
            records.append((lineno, {}, {}))
        elif not records:
            raise InputError(
                f"{key} comes before CCSDS_OMM_VERS",
                file=source,
                line=lineno,
                field=key,
                allowed="each message starting with CCSDS_OMM_VERS = 3.0 (or 2.0)",
            )
        _, values, lines = records[-1]
        if key in values and key in (_OMM_REQUIRED.keys() | _OMM_OPTIONAL.keys()):
            raise InputError(
                f"{key} is given twice in one message (first at line {lines[key]})",
                file=source,
                line=lineno,
                field=key,
                allowed="each keyword once per message",
            )
        values[key] = value
        lines[key] = lineno
    return _omm_fleet(source, [(line, "", values, lines) for line, values, lines in records])


def _parse_omm_xml(text: str, source: str) -> Fleet:
    """OMM XML (CCSDS 502.0-B-3 NDM/XML, CelesTrak ``FORMAT=xml``): one ``<omm>`` root, or an
    ``<ndm>`` root holding several. The keywords are the leaf elements of each ``<omm>``
    (metadata, meanElements, tleParameters); others (covariance, user-defined) are ignored.
    A document type declaration is refused, so no entity can expand."""
    from xml.parsers import expat

    parser = expat.ParserCreate()
    records: list[tuple[int, str, dict[str, str], dict[str, int]]] = []
    stack: list[str] = []
    leaf: list[bool] = []
    text_parts: list[str] = []

    def refuse_doctype(*_: object) -> None:
        raise InputError(
            "XML document type declarations are not accepted",
            file=source,
            line=parser.CurrentLineNumber,
            allowed=_XML_ALLOWED,
        )

    def start(tag: str, _attrs: dict[str, str]) -> None:
        name = tag.rpartition("}")[2]  # drop a namespace, if any
        if leaf:
            leaf[-1] = False
        stack.append(name)
        leaf.append(True)
        text_parts.clear()
        if name == "omm":
            records.append((parser.CurrentLineNumber, f"omm[{len(records)}].", {}, {}))
        elif len(stack) == 1 and name != "ndm":
            raise InputError(
                f"the root element is <{name}>",
                file=source,
                line=parser.CurrentLineNumber,
                allowed=_XML_ALLOWED,
            )

    def end(_tag: str) -> None:
        name = stack.pop()
        is_leaf = leaf.pop()
        if is_leaf and records and "omm" in stack:
            _, _, values, lines = records[-1]
            key = name.upper()
            if key in values and key in (_OMM_REQUIRED.keys() | _OMM_OPTIONAL.keys()):
                raise InputError(
                    f"<{name}> is given twice in one <omm> (first at line {lines[key]})",
                    file=source,
                    line=parser.CurrentLineNumber,
                    field=key,
                    allowed="each keyword once per message",
                )
            values[key] = "".join(text_parts).strip()
            lines[key] = parser.CurrentLineNumber
        text_parts.clear()

    parser.StartDoctypeDeclHandler = refuse_doctype
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text_parts.append
    try:
        parser.Parse(text.lstrip("\ufeff").encode("utf-8"), True)
    except expat.ExpatError as exc:
        raise InputError(
            f"not well-formed XML: {expat.errors.messages[exc.code]} (column {exc.offset + 1})",
            file=source,
            line=exc.lineno,
            allowed=_XML_ALLOWED,
        ) from None
    return _omm_fleet(source, records)


def _omm_fleet(
    source: str, records: Sequence[tuple[int, str, Mapping[str, str], Mapping[str, int]]]
) -> Fleet:
    """The fleet of OMM messages ``(line, field prefix, values, line per keyword)``."""
    if not records:
        raise InputError("the file holds no OMM message", file=source, allowed="at least one")
    names: list[str] = []
    satrecs: list[Satrec] = []
    catalog = _Catalog(source)
    for line, prefix, values, lines in records:
        name, sat = _omm_satrec(values, source, line, prefix, lines)
        catalog.add(int(sat.satnum), lines.get("NORAD_CAT_ID", line), f"{prefix}NORAD_CAT_ID")
        names.append(name)
        satrecs.append(sat)
    return Fleet(names, satrecs)


# --------------------------------------------------------------------------- shells


def sso_inclination_deg(altitude_km: float, eccentricity: float = 0.0) -> float:
    """Inclination (deg) that makes the orbit's plane turn once per tropical year.

    Earth's oblateness (J2) makes the ascending node precess at
    ``dΩ/dt = −1.5 · n · J2 · (R/a)² · cos i / (1 − e²)²`` (rad/s), with ``n = √(μ/a³)``
    and ``a = R + altitude_km``. Setting it equal to the Sun's mean motion
    ``360° / 365.2422 d`` keeps the orbit plane at a fixed angle to the Sun: a
    sun-synchronous orbit. Retrograde (> 90°) because the node must move eastward.
    Results: ~97.59° at 550 km, ~97.99° at 650 km. No SSO exists above ~5,970 km.
    """
    _check_altitude(altitude_km)
    if not 0.0 <= eccentricity < 1.0:
        raise InputError(
            f"eccentricity {eccentricity} is out of range",
            field="eccentricity",
            allowed="0 <= e < 1",
        )
    a_km = EARTH_RADIUS_KM + altitude_km
    n_rad_s = math.sqrt(MU_KM3_S2 / a_km**3)
    sun_rate_rad_s = 2.0 * math.pi / (TROPICAL_YEAR_DAYS * SECONDS_PER_DAY)
    cos_i = (
        -sun_rate_rad_s
        * (1.0 - eccentricity**2) ** 2
        / (1.5 * n_rad_s * J2 * (EARTH_RADIUS_KM / a_km) ** 2)
    )
    if cos_i < -1.0:
        raise InputError(
            f"no sun-synchronous orbit exists at {altitude_km} km: J2 precession is too slow",
            field="altitude_km",
            allowed="altitudes below about 5,970 km (circular orbits)",
        )
    return math.degrees(math.acos(cos_i))


def walker_delta(
    *,
    altitude_km: float,
    inclination_deg: float,
    planes: int,
    sats_per_plane: int,
    phasing: int,
    epoch: datetime,
    raan0_deg: float = 0.0,
    shell: int = 0,
    name_prefix: str = "S",
    along_track_spacing_km: float | None = None,
) -> Fleet:
    """A Walker-delta shell ``i:t/p/f`` of circular orbits, as SGP4 mean elements.

    ``planes`` (p) orbit planes share ``inclination_deg`` (i) and are spread evenly in
    right ascension of the ascending node: plane ``k`` has RAAN ``raan0 + 360°·k/p``.
    Each holds ``sats_per_plane`` satellites (t = p × sats_per_plane in total), evenly
    spaced in mean anomaly (= argument of latitude, the orbits being circular), and plane
    ``k`` is shifted by ``phasing`` (f) × ``360°/t``: satellite ``j`` of plane ``k`` sits at
    ``360°·j/sats_per_plane + 360°·f·k/t``.

    With ``along_track_spacing_km`` the satellites of a plane instead fly as one tight
    formation (e.g. Google Suncatcher's clusters of 81 satellites within ~1 km): spaced by
    that arc length along the orbit and centred on the plane's slot ``360°·f·k/p``
    (Walker phasing with one slot, the cluster, per plane).

    ``altitude_km`` is the orbit-averaged geocentric distance SGP4 produces minus
    :data:`EARTH_RADIUS_KM`. SGP4's mean elements are Brouwer elements but ``sgp4init``
    takes a Kozai mean motion: we choose the Brouwer mean semi-major axis whose average
    radius (including SGP4's constant J2 short-period term) gives the altitude, then invert
    SGP4's Kozai→Brouwer conversion to get the Kozai mean motion to pass in. Eccentricity,
    argument of perigee, drag (B*) and mean-motion derivatives are 0; constants WGS72 (as
    for TLEs). ``epoch`` (UTC; naive means UTC) is the elements' epoch.

    Names are ``f"{name_prefix}{shell}-P{plane:02d}-{index:03d}"``; catalog numbers are
    positions in the returned fleet (mod 100000) and carry no meaning.
    """
    _check_altitude(altitude_km)
    if not 0.0 <= inclination_deg <= 180.0:
        raise InputError(
            f"inclination {inclination_deg}° is out of range",
            field="inclination_deg",
            allowed="0 to 180 degrees (above 90 is retrograde)",
        )
    _check_count(planes, "planes")
    _check_count(sats_per_plane, "sats_per_plane")
    if isinstance(phasing, bool) or not isinstance(phasing, (int, np.integer)):
        raise InputError(
            f"phasing {phasing!r} is not an integer",
            field="phasing",
            allowed=f"an integer from 0 to {planes - 1} (planes - 1)",
        )
    if not 0 <= phasing <= planes - 1:
        raise InputError(
            f"phasing {phasing} is out of range for {planes} planes",
            field="phasing",
            allowed=f"an integer from 0 to {planes - 1} (planes - 1)",
        )
    if not math.isfinite(raan0_deg):
        raise InputError(
            f"raan0_deg {raan0_deg} is not a number", field="raan0_deg", allowed="degrees"
        )
    epoch_utc = parse_time(epoch, field="epoch")
    incl_rad = math.radians(inclination_deg)
    a_km = _brouwer_semi_major_axis_km(altitude_km, incl_rad)
    n_kozai = _kozai_mean_motion_rad_min(a_km, incl_rad)

    total = planes * sats_per_plane
    k = np.repeat(np.arange(planes), sats_per_plane)
    j = np.tile(np.arange(sats_per_plane), planes)
    raan_deg = np.mod(raan0_deg + 360.0 * k / planes, 360.0)
    if along_track_spacing_km is None:
        anomaly_deg = 360.0 * j / sats_per_plane + 360.0 * phasing * k / total
    else:
        circumference_km = 2.0 * math.pi * (EARTH_RADIUS_KM + altitude_km)
        if not 0.0 < along_track_spacing_km * max(sats_per_plane, 2) <= circumference_km:
            raise InputError(
                f"along-track spacing {along_track_spacing_km} km does not fit "
                f"{sats_per_plane} satellites in one orbit",
                field="along_track_spacing_km",
                allowed=f"> 0 and at most {circumference_km / max(sats_per_plane, 2):.1f} km",
            )
        step_deg = math.degrees(along_track_spacing_km / (EARTH_RADIUS_KM + altitude_km))
        anomaly_deg = 360.0 * phasing * k / planes + (j - (sats_per_plane - 1) / 2.0) * step_deg
    anomaly_deg = np.mod(anomaly_deg, 360.0)

    epoch_days = (epoch_utc - _EPOCH0).total_seconds() / SECONDS_PER_DAY
    satrecs: list[Satrec] = []
    radians = math.radians
    # Python floats, not numpy scalars: indexing an array per satellite cost more than sgp4init
    for idx, (anomaly, raan) in enumerate(
        zip(anomaly_deg.tolist(), raan_deg.tolist(), strict=True)
    ):
        sat = Satrec()
        sat.sgp4init(
            WGS72,
            "i",
            idx % 100_000,
            epoch_days,
            0.0,  # bstar
            0.0,  # ndot
            0.0,  # nddot
            0.0,  # eccentricity
            0.0,  # argument of perigee
            incl_rad,
            radians(anomaly),
            n_kozai,
            radians(raan),
        )
        if sat.error:
            _check_sgp4_init(sat, "<generated shell>", None, None)
        satrecs.append(sat)
    plane_of = k.tolist()
    names = [
        f"{name_prefix}{shell}-P{p:02d}-{s:03d}" for p, s in zip(plane_of, j.tolist(), strict=True)
    ]
    return Fleet(names, satrecs, [shell] * total, plane_of)


def sun_synchronous(
    *,
    altitude_km: float,
    ltan_hours: float,
    planes: int,
    sats_per_plane: int,
    phasing: int,
    epoch: datetime,
    shell: int = 0,
    name_prefix: str = "S",
    along_track_spacing_km: float | None = None,
) -> Fleet:
    """A sun-synchronous shell: a Walker-delta shell at :func:`sso_inclination_deg`.

    The local time of the ascending node (LTAN, hours of mean solar time) fixes where the
    first plane crosses the equator northbound relative to the Sun:
    ``RAAN = RA of the mean Sun at epoch + (LTAN − 12 h) · 15°/h``. LTAN 06:00 or 18:00
    is a dawn–dusk orbit (the plane faces the Sun, riding the terminator); 12:00 is
    noon–midnight. Further planes are spread evenly in RAAN from there as in
    :func:`walker_delta`. J2 then turns every plane at the Sun's mean rate, so the LTAN
    stays put (apart from small SGP4 higher-order terms, ~0.5 % of the rate).
    """
    if not 0.0 <= ltan_hours < 24.0:
        raise InputError(
            f"local time of the ascending node {ltan_hours} h is out of range",
            field="ltan_hours",
            allowed="hours in [0, 24), e.g. 6.0 or 18.0 for dawn-dusk, 10.5 for mid-morning",
        )
    inclination_deg = sso_inclination_deg(altitude_km)
    jd, fr = julian_date(parse_time(epoch, field="epoch"))
    raan0_deg = (mean_sun_right_ascension_deg(jd, fr) + (ltan_hours - 12.0) * 15.0) % 360.0
    return walker_delta(
        altitude_km=altitude_km,
        inclination_deg=inclination_deg,
        planes=planes,
        sats_per_plane=sats_per_plane,
        phasing=phasing,
        epoch=epoch,
        raan0_deg=raan0_deg,
        shell=shell,
        name_prefix=name_prefix,
        along_track_spacing_km=along_track_spacing_km,
    )


def mean_sun_right_ascension_deg(jd: float, fr: float) -> float:
    """Right ascension (deg, 0–360) of the *mean* Sun at UTC split Julian date ``jd + fr``.

    The mean Sun moves uniformly along the equator and defines mean solar time; its right
    ascension is the Sun's mean longitude ``280.46061837° + 0.98564736629°/day · d``
    (``d`` days from J2000), the same expression as GMST minus the hour angle
    ``(UT − 12 h) · 15°/h``. It differs from the true Sun by the equation of time (≤ 4.1°).
    Referred to the mean equinox of date, like SGP4's TEME frame.
    """
    days = (jd - 2451545.0) + fr
    return (280.46061837 + 0.98564736629 * days) % 360.0


def _check_altitude(altitude_km: float) -> None:
    if not MIN_ALTITUDE_KM <= altitude_km <= MAX_ALTITUDE_KM:
        raise InputError(
            f"shell altitude {altitude_km} km is out of range",
            field="altitude_km",
            allowed=f"{MIN_ALTITUDE_KM:g} to {MAX_ALTITUDE_KM:g} km above the equator "
            "(lower orbits decay within days)",
        )


def _check_count(value: int, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise InputError(
            f"{name} must be a positive integer, got {value!r}",
            field=name,
            allowed="an integer >= 1",
        )


def _brouwer_semi_major_axis_km(altitude_km: float, incl_rad: float) -> float:
    """SGP4 mean semi-major axis (km) whose orbit-averaged radius is ``R + altitude_km``.

    For a circular orbit SGP4's short-period correction scales the radius by the constant
    ``1 − 0.75·J2·(Re/a)²·(3cos²i − 1)`` (Re, J2 of WGS72) plus terms that average to 0,
    which is up to ~10 km at LEO: solve ``a·factor = R + h`` by fixed-point iteration.
    """
    target = EARTH_RADIUS_KM + altitude_km
    con41 = 3.0 * math.cos(incl_rad) ** 2 - 1.0
    a = target
    for _ in range(8):
        a = target / (1.0 - 0.75 * _SGP4_J2 * (_SGP4_RE_KM / a) ** 2 * con41)
    return a


def _kozai_mean_motion_rad_min(a_km: float, incl_rad: float) -> float:
    """Kozai mean motion (rad/min) that SGP4 turns into Brouwer semi-major axis ``a_km``.

    Inverts the conversion in SGP4's ``initl`` (circular orbit, WGS72) by fixed-point
    iteration; it converges to machine precision in a few steps because J2 is small.
    """
    xke = _SGP4_XKE
    n_brouwer = xke / math.pow(a_km / _SGP4_RE_KM, 1.5)
    d1 = 0.75 * _SGP4_J2 * (3.0 * math.cos(incl_rad) ** 2 - 1.0)  # e = 0: 1/(sqrt(1-e²)(1-e²)) = 1
    n_kozai = n_brouwer
    for _ in range(10):
        ak = math.pow(xke / n_kozai, 2.0 / 3.0)
        d = d1 / (ak * ak)
        adel = ak * (1.0 - d * d - d * (1.0 / 3.0 + 134.0 * d * d / 81.0))
        n_kozai = n_brouwer * (1.0 + d1 / (adel * adel))
    return n_kozai
