"""``twin eclipses FILE --start T --duration D [--format jsonl|csv]``: shadow passes.

Reads a TLE/3LE or OMM file (CCSDS 502.0-B-3 XML or KVN, or JSON/CSV as CelesTrak serves
them; the format is recognised by content), searches every satellite's passes through
Earth's shadow in ``[start, start + duration]`` and prints one record per pass, sorted by
satellite then time. Fields: satellite (name), norad_cat_id (the NORAD catalog number),
shadow_start, umbra_start, umbra_end, shadow_end. Times are UTC ISO-8601 with milliseconds;
``null`` (JSON) or an empty field (CSV) where the span cut the pass or there is no umbra.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from typing import Any, TextIO

from services.cli.common import add_documented_parser
from twin.constants import SECONDS_PER_DAY
from twin.errors import InputError
from twin.physics.eclipses import find_eclipses
from twin.physics.orbits import load_file
from twin.timeutil import format_sim, parse_duration, parse_time

FIELDS = ("satellite", "norad_cat_id", "shadow_start", "umbra_start", "umbra_end", "shadow_end")
MAX_DURATION_S = 366 * SECONDS_PER_DAY


def register(subparsers: Any) -> None:
    """Add the ``eclipses`` sub-command."""
    p = add_documented_parser(
        subparsers,
        "eclipses",
        __doc__,
        help="list shadow passes (penumbra/umbra entry and exit) of every satellite",
    )
    p.add_argument("file", metavar="FILE", help="TLE/3LE or OMM (XML, KVN, JSON or CSV) file")
    p.add_argument("--start", required=True, help="span start, UTC ISO-8601 (2026-11-23T00:00:00Z)")
    p.add_argument("--duration", required=True, help="span length, e.g. 90m, 6h, 1d")
    p.add_argument("--format", default="jsonl", choices=("jsonl", "csv"), help="output format")
    p.add_argument("--step", default="300s", help="coarse search grid, 30s..600s")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Validate options, search, write records to ``out`` (stdout). Returns the exit code."""
    out = out or sys.stdout
    fmt = args.format
    start = parse_time(args.start, field="--start")
    duration_s = parse_duration(args.duration, field="--duration")
    if not 0 < duration_s <= MAX_DURATION_S:
        raise InputError(
            f"duration {args.duration!r} out of range", field="--duration", allowed="0 < d <= 366d"
        )
    step_s = parse_duration(args.step, field="--step")
    if not 30.0 <= step_s <= 600.0:
        raise InputError(f"step {args.step!r} out of range", field="--step", allowed="30s..600s")
    fleet = load_file(args.file)
    passes = find_eclipses(fleet, start, 0.0, duration_s, step_s=step_s)

    def when(x: float | None) -> str | None:
        return None if x is None else format_sim(start, x)

    rows = [
        {
            "satellite": p.satellite,
            "norad_cat_id": int(fleet.satrecs[p.sat_index].satnum),
            "shadow_start": when(p.shadow_start),
            "umbra_start": when(p.umbra_start),
            "umbra_end": when(p.umbra_end),
            "shadow_end": when(p.shadow_end),
        }
        for p in passes
    ]
    # sorted by satellite name, then time (a pass cut at the span start comes first)
    rows.sort(key=lambda r: (r["satellite"], r["shadow_start"] or "", r["shadow_end"] or "~"))
    if fmt == "jsonl":
        for row in rows:
            out.write(json.dumps(row) + "\n")
    else:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(FIELDS)
        for row in rows:
            writer.writerow(["" if row[f] is None else row[f] for f in FIELDS])
    out.flush()
    return 0
