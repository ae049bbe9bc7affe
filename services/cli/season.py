"""`twin season SOURCE [--start T] [--days 365] [--out season.png] [--csv FILE]`: eclipse seasons.

For every satellite of a TLE/3LE/OMM file or a scenario (preset name or TOML), day by day
over the span: the beta angle at the day's start, the number of shadow passes, the longest
pass and the minutes in shadow — the numbers that tell a planner when a "sunlit" orbit
is not. Prints a per-satellite summary (days with eclipses, longest eclipse, share of the
span in shadow); ``--csv`` writes the daily table; ``--out`` draws it (needs matplotlib):
beta angle, longest pass and minutes in shadow per day over the dates, one curve per orbit
family (satellites of one plane and altitude share a season), PNG at 200 dpi or vector
PDF/SVG.
"""

from __future__ import annotations

import argparse
import csv
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from services import figures
from services.cli import options
from services.cli.common import add_documented_parser, progress
from twin.constants import EARTH_RADIUS_KM, SECONDS_PER_DAY, SUN_RADIUS_KM, WGS84_FLATTENING
from twin.physics.eclipses import eclipse_table
from twin.physics.geometry import fleet_beta_angles_rad
from twin.physics.orbits import Fleet, load_file
from twin.timeutil import format_time, parse_time

DAY_S = SECONDS_PER_DAY


def register(sub: argparse._SubParsersAction[Any]) -> None:
    p = add_documented_parser(
        sub, "season", __doc__, help="eclipse seasons: beta angle and daily shadow time over a span"
    )
    p.add_argument(
        "source",
        metavar="SOURCE",
        help="TLE/3LE/OMM (XML, KVN, JSON, CSV) file, scenario preset or TOML",
    )
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
    p.add_argument(
        "--out", default=None, help="write the plot here: .png (200 dpi), .pdf or .svg (vector)"
    )
    p.set_defaults(func=run)


def _fleet_and_start(source: str, start: str | None) -> tuple[Fleet, Any]:
    path = Path(source)
    if path.suffix.lower() == ".toml" or (not path.exists() and "/" not in source):
        from twin.sim.scenario import build_fleet, resolve_scenario

        scenario = resolve_scenario(source)
        epoch = scenario.scenario.epoch
        return build_fleet(scenario), parse_time(start, field="--start") if start else epoch
    return load_file(source), parse_time(start or "2026-11-23T00:00:00Z", field="--start")


FAMILY_BETA_DEG = 0.5
"""Satellites whose beta angles stay within this of each other every day of the span…"""
FAMILY_ALTITUDE_KM = 5.0
"""…and whose mean altitudes differ by less than this share one orbit family (one curve)."""


@dataclass(frozen=True)
class Season:
    """Day-by-day eclipse figures of a fleet: arrays of shape (satellites, days)."""

    start: datetime
    beta_deg: npt.NDArray[np.float64]
    passes: npt.NDArray[np.int64]
    longest_min: npt.NDArray[np.float64]
    shadow_min: npt.NDArray[np.float64]

    @property
    def days(self) -> int:
        return int(self.beta_deg.shape[1])


def season(fleet: Fleet, start: datetime, days: int, *, show_progress: bool = True) -> Season:
    """Beta angle at each day's start and the day's shadow passes, longest pass and minutes
    in shadow (penumbra included), a pass counted on the day it begins. The fleet is searched
    a few satellites at a time so a long span shows its progress."""
    n = len(fleet)
    span = days * DAY_S
    minutes = np.zeros((n, days))
    longest = np.zeros((n, days))
    passes = np.zeros((n, days), dtype=np.int64)
    chunk = max(1, -(-n // 50))
    bar = progress(total=n, desc="eclipse search", unit="sat", enabled=show_progress)
    for lo in range(0, n, chunk):
        idx = np.arange(lo, min(lo + chunk, n))
        table = eclipse_table(fleet.subset(idx), start, 0.0, span)
        a = np.where(np.isnan(table.shadow_start_s), 0.0, table.shadow_start_s)
        b = np.where(np.isnan(table.shadow_end_s), span, table.shadow_end_s)
        day = np.minimum((a // DAY_S).astype(int), days - 1)
        sat = idx[table.sat]
        np.add.at(minutes, (sat, day), (b - a) / 60.0)
        np.maximum.at(longest, (sat, day), (b - a) / 60.0)
        np.add.at(passes, (sat, day), 1)
        bar.update(idx.size)
    bar.close()
    beta = np.degrees(fleet_beta_angles_rad(fleet, start, np.arange(days) * DAY_S))
    return Season(start, beta, passes, longest, minutes)


def season_table(fleet: Fleet, start: datetime, days: int) -> list[dict[str, Any]]:
    """Daily rows per satellite: beta (deg), passes, longest pass (min), shadow (min)."""
    return table_rows(fleet, season(fleet, start, days))


def table_rows(fleet: Fleet, s: Season) -> list[dict[str, Any]]:
    """:class:`Season` as one row per satellite and day (the ``--csv`` table)."""
    rows = []
    for i, name in enumerate(fleet.names):
        for d in range(s.days):
            rows.append(
                {
                    "satellite": name,
                    "date": format_time(s.start + timedelta(days=d))[:10],
                    "day": d,
                    "beta_deg": round(float(s.beta_deg[i, d]), 3),
                    "passes": int(s.passes[i, d]),
                    "longest_min": round(float(s.longest_min[i, d]), 3),
                    "shadow_min": round(float(s.shadow_min[i, d]), 3),
                }
            )
    return rows


@dataclass(frozen=True)
class Family:
    """Satellites that see the same season: one orbital plane at one altitude."""

    members: list[int]
    inclination_deg: float
    altitude_km: float

    def label(self, names: list[str]) -> str:
        first = names[self.members[0]]
        more = f" and {len(self.members) - 1} more" if len(self.members) > 1 else ""
        return f"{first}{more} (i {self.inclination_deg:.1f}°, {self.altitude_km:.0f} km)"


def families(fleet: Fleet, s: Season) -> list[Family]:
    """Group satellites whose seasons coincide: beta within :data:`FAMILY_BETA_DEG` on every
    day and mean altitude within :data:`FAMILY_ALTITUDE_KM` (the shadow's length follows from
    both). Satellites of one plane, or of one formation, fall into one family; the first
    member stands for it."""
    alt = np.array([sat.a * sat.radiusearthkm - sat.radiusearthkm for sat in fleet.satrecs])
    incl = np.degrees([sat.inclo for sat in fleet.satrecs])
    out: list[Family] = []
    for i in range(len(fleet)):
        for fam in out:
            j = fam.members[0]
            if (
                abs(alt[i] - alt[j]) < FAMILY_ALTITUDE_KM
                and np.max(np.abs(s.beta_deg[i] - s.beta_deg[j])) < FAMILY_BETA_DEG
            ):
                fam.members.append(i)
                break
        else:
            out.append(Family([i], float(incl[i]), float(alt[i])))
    return out


def run(args: argparse.Namespace) -> int:
    out = figures.check_out(args.out) if args.out else None
    fleet, start = _fleet_and_start(args.source, args.start)
    if len(fleet) > args.max_satellites:
        pick = sorted({(k * len(fleet)) // args.max_satellites for k in range(args.max_satellites)})
        fleet = fleet.subset(pick)
    result = season(fleet, start, args.days)
    rows = table_rows(fleet, result)
    print(f"{'satellite':<24} {'days with eclipses':>18} {'longest min':>12} {'in shadow':>10}")
    for i, name in enumerate(fleet.names):
        days_ecl = int(np.count_nonzero(result.passes[i]))
        longest = float(result.longest_min[i].max(initial=0.0))
        share = float(result.shadow_min[i].sum()) / (args.days * 1440.0)
        print(f"{name:<24} {days_ecl:>18} {longest:>12.1f} {share * 100:>9.2f}%")
    if args.csv:
        with open(args.csv, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    if out is not None:
        fig = build_figure(fleet, result, source=args.source)
        print(figures.save(fig, out))
    return 0


def build_figure(fleet: Fleet, s: Season, *, source: str) -> Any:
    """Three panels over the span's dates, one curve per orbit family (:func:`families`):
    the beta angle, the longest shadow pass of each day, and the minutes in shadow per day
    (with the share of the day on the right-hand axis)."""
    plt = figures.pyplot("--out")
    fams = families(fleet, s)
    t = figures.dates(s.start, np.arange(s.days) * DAY_S)
    fig, (ax1, ax2, ax3) = plt.subplots(3, 1, figsize=(11, 10), sharex=True, layout="constrained")
    colours = plt.get_cmap("tab10" if len(fams) <= 10 else "tab20")
    for k, fam in enumerate(fams):
        i = fam.members[0]
        style = {"lw": 1.0, "color": colours(k % colours.N)}
        ax1.plot(t, s.beta_deg[i], label=fam.label(fleet.names), **style)
        ax2.plot(t, s.longest_min[i], **style)
        ax3.plot(t, s.shadow_min[i], **style)
    ax1.axhline(0, color="0.6", lw=0.6)
    ax1.set_ylabel("beta angle, deg")
    ax1.set_title(
        "Sun angle above the orbit plane (beta), at each day's start", fontsize=9, loc="left"
    )
    ax2.set_ylabel("minutes")
    ax2.set_title("longest pass through Earth's shadow that day", fontsize=9, loc="left")
    ax3.set_ylabel("minutes per day")
    ax3.set_title("time in Earth's shadow per day (penumbra included)", fontsize=9, loc="left")
    share = ax3.secondary_yaxis("right", functions=(lambda m: m / 14.4, lambda p: p * 14.4))
    share.set_ylabel("% of the day")
    figures.from_zero(ax2, ax3)
    for ax in (ax1, ax2, ax3):
        ax.grid(alpha=0.3)
    what = "orbit family" if len(fams) == 1 else "orbit families"
    figures.legend_outside(ax1, title=f"{len(fams)} {what} of {len(fleet)} satellites")
    figures.date_axis(ax3)
    ax3.set_xlim(t[0], t[-1])
    end = format_time(s.start + timedelta(days=s.days))[:10]
    fig.suptitle(
        f"Eclipse seasons of {Path(source).name}, {format_time(s.start)[:10]} to {end} (UTC)"
    )
    figures.caption(
        fig,
        f"Shadow: dual cone (umbra and penumbra; Sun radius {SUN_RADIUS_KM:,.0f} km) of the "
        f"WGS-84 ellipsoid (a = {EARTH_RADIUS_KM} km, f = {WGS84_FLATTENING:.6g}); "
        f"orbit elements from {Path(source).name}. {figures.SIM_SOURCES}",
    )
    return fig
