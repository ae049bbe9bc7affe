"""`twin season SOURCE [--start T] [--days 365] [--out season.png] [--csv FILE]`: eclipse seasons.

For every satellite of a TLE/3LE/OMM file or a scenario (preset name or TOML), day by day
over the span: the beta angle at the day's start, the number of shadow passes, the longest
pass and the minutes in shadow — the numbers that tell a planner when a "sunlit" orbit
is not. Prints a per-satellite summary (days with eclipses, longest eclipse, share of the
span in shadow); ``--csv`` writes the daily table; ``--out`` draws it (needs matplotlib).
"""

from __future__ import annotations

import argparse
import csv
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np

from services.cli import options
from services.cli.common import add_documented_parser, pyplot
from twin.constants import SECONDS_PER_DAY
from twin.physics.eclipses import eclipse_table
from twin.physics.geometry import fleet_beta_angles_rad
from twin.physics.orbits import Fleet, load_file
from twin.timeutil import format_time, parse_time

DAY_S = SECONDS_PER_DAY


def register(sub: argparse._SubParsersAction[Any]) -> None:
    p = add_documented_parser(
        sub, "season", __doc__, help="eclipse seasons: beta angle and daily shadow time over a span"
    )
    p.add_argument("source", metavar="SOURCE", help="TLE/3LE/OMM file, scenario preset or TOML")
    p.add_argument(
        "--start",
        default=None,
        help="ISO-8601 UTC (default: the scenario's epoch; for a file 2026-11-23T00:00:00Z)",
    )
    p.add_argument(
        "--days", type=options.integer(1, 3660, "days"), default=365, help="span in days"
    )
    p.add_argument(
        "--max-satellites",
        type=options.integer(1, 100_000, "satellites"),
        default=12,
        help="satellites analysed (evenly picked)",
    )
    p.add_argument("--csv", default=None, help="write the daily table here")
    p.add_argument("--out", default=None, help="write a PNG plot here")
    p.set_defaults(func=run)


def _fleet_and_start(source: str, start: str | None) -> tuple[Fleet, Any]:
    path = Path(source)
    if path.suffix.lower() == ".toml" or (not path.exists() and "/" not in source):
        from twin.sim.scenario import build_fleet, resolve_scenario

        scenario = resolve_scenario(source)
        epoch = scenario.scenario.epoch
        return build_fleet(scenario), parse_time(start, field="--start") if start else epoch
    return load_file(source), parse_time(start or "2026-11-23T00:00:00Z", field="--start")


def season_table(fleet: Fleet, start: Any, days: int) -> list[dict[str, Any]]:
    """Daily rows per satellite: beta (deg), passes, longest pass (min), shadow (min)."""
    n = len(fleet)
    span = days * DAY_S
    table = eclipse_table(fleet, start, 0.0, span)
    a = np.where(np.isnan(table.shadow_start_s), 0.0, table.shadow_start_s)
    b = np.where(np.isnan(table.shadow_end_s), span, table.shadow_end_s)
    day = np.minimum((a // DAY_S).astype(int), days - 1)
    minutes = np.zeros((n, days))
    longest = np.zeros((n, days))
    passes = np.zeros((n, days), dtype=int)
    np.add.at(minutes, (table.sat, day), (b - a) / 60.0)
    np.maximum.at(longest, (table.sat, day), (b - a) / 60.0)
    np.add.at(passes, (table.sat, day), 1)
    beta = np.degrees(fleet_beta_angles_rad(fleet, start, np.arange(days) * DAY_S))
    rows = []
    for i in range(n):
        for d in range(days):
            rows.append(
                {
                    "satellite": fleet.names[i],
                    "date": format_time(start + timedelta(days=d))[:10],
                    "day": d,
                    "beta_deg": round(float(beta[i, d]), 3),
                    "passes": int(passes[i, d]),
                    "longest_min": round(float(longest[i, d]), 3),
                    "shadow_min": round(float(minutes[i, d]), 3),
                }
            )
    return rows


def run(args: argparse.Namespace) -> int:
    fleet, start = _fleet_and_start(args.source, args.start)
    if len(fleet) > args.max_satellites:
        pick = sorted({(k * len(fleet)) // args.max_satellites for k in range(args.max_satellites)})
        fleet = fleet.subset(pick)
    rows = season_table(fleet, start, args.days)
    print(f"{'satellite':<24} {'days with eclipses':>18} {'longest min':>12} {'in shadow':>10}")
    for name in fleet.names:
        mine = [r for r in rows if r["satellite"] == name]
        days_ecl = sum(1 for r in mine if r["passes"])
        longest = max((r["longest_min"] for r in mine), default=0.0)
        share = sum(r["shadow_min"] for r in mine) / (args.days * 1440.0)
        print(f"{name:<24} {days_ecl:>18} {longest:>12.1f} {share * 100:>9.2f}%")
    if args.csv:
        with open(args.csv, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    if args.out:
        _plot(rows, fleet.names, args.out, start)
    return 0


def _plot(rows: list[dict[str, Any]], names: list[str], out: str, start: Any) -> None:
    plt = pyplot("--out")
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(11, 7), sharex=True, constrained_layout=True)
    for name in names:
        mine = [r for r in rows if r["satellite"] == name]
        days = [r["day"] for r in mine]
        ax1.plot(days, [r["beta_deg"] for r in mine], lw=0.8, label=name)
        ax2.plot(days, [r["longest_min"] for r in mine], lw=0.8)
    ax1.set_ylabel("beta angle, deg")
    ax1.axhline(0, color="0.7", lw=0.5)
    if len(names) <= 12:
        ax1.legend(fontsize=7, ncol=3)
    ax2.set_ylabel("longest eclipse that day, min")
    ax2.set_xlabel(f"days from {format_time(start)[:10]}")
    fig.suptitle("Eclipse seasons")
    fig.savefig(out, dpi=110)
    print(out)
