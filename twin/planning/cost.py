"""Cost of an accelerator-hour, in orbit and on the ground, under stated assumptions: per
*delivered* accelerator-hour (computed at all) and, when the run has a workload, per *useful*
one (goodput: work kept, as the README defines useful work).

**Orbit**: a satellite costs its launch (mass × launch price per kg), its bus and its
accelerators; spread over its life, divided by the accelerator-hours it actually delivers
(nameplate × the run's compute share: delivered ÷ potential, after eclipses, the
power/thermal cap, faults, robots and launch failures). Energy is free once in orbit.

**Ground**: the same accelerators in a data centre: accelerators plus the facility's capital
cost per watt of IT load, over the same life, at the ground availability, plus electricity
(accelerator power × PUE × price) for each hour.

**Per goodput accelerator-hour**: the cost per delivered accelerator-hour divided by the run's
goodput ratio (goodput ÷ delivered). The ground figure uses the same ratio, that is the same
workload on the same accelerators with the same scheduling; interruptions the ground would not
have (eclipse load-shedding) make the real ground ratio higher, so the ground figure per goodput
hour is an upper bound.

Operations (ground stations, staff, insurance, financing) are left out of both: the
comparison is of the quantities the twin simulates. Every default below is an assumption
with its source (``docs/sources.md``); a TOML file can replace any of them
(:func:`load_assumptions`) and :func:`sensitivity` shows which one moves the result most.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from typing import Any

from twin.errors import InputError
from twin.sim.toml_errors import TomlIndex

HOURS_PER_YEAR = 8766.0  # 365.25 days


@dataclass(frozen=True)
class Assumption:
    value: float
    unit: str
    source: str
    low: float
    high: float
    """The range of the sensitivity table."""


DEFAULTS: dict[str, Assumption] = {
    "launch_usd_per_kg": Assumption(
        200.0, "USD/kg", "Suncatcher paper: launch ≲ $200/kg by the mid-2030s (arXiv 2511.19468)",
        100.0, 4000.0,  # high: Falcon 9 today, $69.75M list for ~17.5 t
    ),
    "satellite_bus_usd_per_kg": Assumption(
        1000.0, "USD/kg", "assumption: mass-produced bus, of the order of Starlink's", 300.0, 5000.0
    ),
    "accelerator_usd": Assumption(
        30000.0, "USD", "assumption: data-centre accelerator list prices of $25,000–40,000",
        15000.0, 45000.0,
    ),
    "lifetime_years": Assumption(
        5.0, "years", "Starlink ~5-year design life; accelerators are written off in 4–6 years",
        3.0, 7.0,
    ),
    "electricity_usd_per_kwh": Assumption(
        0.08, "USD/kWh", "US industrial average ~8 ¢/kWh (EIA Electric Power Monthly, 2024)",
        0.04, 0.15,
    ),
    "pue": Assumption(
        1.56, "ratio", "Uptime Institute Global Data Center Survey 2024: average PUE 1.56",
        1.1, 1.8,
    ),
    "datacenter_usd_per_w": Assumption(
        10.0, "USD/W", "assumption: ~$10M per MW of IT load (industry build-cost estimates)",
        7.0, 15.0,
    ),
    "ground_availability": Assumption(
        0.99, "ratio", "assumption: a well-run data centre's share of accelerator-hours delivered",
        0.95, 1.0,
    ),
}  # fmt: skip
"""Every cost input with its default, unit, source and sensitivity range."""


@dataclass(frozen=True)
class Fleet:
    """What the cost needs from a run (its state summary)."""

    satellite_mass_kg: float
    accelerators: int
    accelerator_w: float
    compute_share: float
    goodput_ratio: float | None = None
    """Goodput ÷ delivered accelerator-hours of the run's workload (None without one)."""

    @classmethod
    def from_summary(cls, summary: dict[str, Any]) -> Fleet | None:
        """None when the run lacks a figure (no satellite mass, no accelerators)."""
        plan = (summary.get("launch") or {}).get("plan") or {}
        run = summary.get("run") or {}
        share = (summary.get("losses") or {}).get("compute_share")
        mass = plan.get("satellite_mass_kg")
        if mass is None or not run.get("accelerators_per_satellite") or share is None:
            return None
        ratio = (summary.get("workload") or {}).get("goodput_ratio")
        return cls(
            float(mass),
            int(run["accelerators_per_satellite"]),
            float(run["accelerator_w"]),
            float(share),
            None if ratio is None else float(ratio),
        )


def costs(fleet: Fleet, a: dict[str, float]) -> dict[str, float]:
    """USD per delivered accelerator-hour, orbit and ground, with their parts."""
    hours = a["lifetime_years"] * HOURS_PER_YEAR
    launch = fleet.satellite_mass_kg * a["launch_usd_per_kg"]
    bus = fleet.satellite_mass_kg * a["satellite_bus_usd_per_kg"]
    chips = fleet.accelerators * a["accelerator_usd"]
    useful_orbit = fleet.accelerators * hours * fleet.compute_share
    facility = fleet.accelerator_w * a["datacenter_usd_per_w"]
    useful_ground = hours * a["ground_availability"]
    energy = fleet.accelerator_w / 1000.0 * a["pue"] * a["electricity_usd_per_kwh"]
    orbit = (launch + bus + chips) / useful_orbit if useful_orbit > 0 else math.inf
    ground = (a["accelerator_usd"] + facility) / useful_ground + energy / a["ground_availability"]
    return {
        "orbit_usd_per_accelerator_hour": orbit,
        "ground_usd_per_accelerator_hour": ground,
        "orbit_launch_usd_per_satellite": launch,
        "orbit_bus_usd_per_satellite": bus,
        "orbit_accelerators_usd_per_satellite": chips,
        "ground_energy_usd_per_accelerator_hour": energy,
        "ground_facility_usd_per_accelerator": facility,
    }


def goodput_costs(fleet: Fleet, a: dict[str, float]) -> dict[str, float | None]:
    """USD per useful (goodput) accelerator-hour, orbit and ground: :func:`costs` per
    delivered hour ÷ the goodput ratio. Empty without a workload; None without goodput."""
    r = fleet.goodput_ratio
    if r is None:
        return {}
    c = costs(fleet, a)
    return {
        f"{where}_usd_per_goodput_accelerator_hour": (
            c[f"{where}_usd_per_accelerator_hour"] / r if r > 0 else None
        )
        for where in ("orbit", "ground")
    }


def sensitivity(fleet: Fleet, a: dict[str, float]) -> list[dict[str, Any]]:
    """Each assumption at its low and high end (the others at their values): both costs,
    sorted by how much the orbit-to-ground ratio swings, largest first."""
    rows = []
    for name, spec in DEFAULTS.items():
        lo = costs(fleet, {**a, name: spec.low})
        hi = costs(fleet, {**a, name: spec.high})
        ratio = [
            c["orbit_usd_per_accelerator_hour"] / c["ground_usd_per_accelerator_hour"]
            for c in (lo, hi)
        ]
        rows.append(
            {
                "assumption": name,
                "low": spec.low,
                "high": spec.high,
                "orbit_low": lo["orbit_usd_per_accelerator_hour"],
                "orbit_high": hi["orbit_usd_per_accelerator_hour"],
                "ground_low": lo["ground_usd_per_accelerator_hour"],
                "ground_high": hi["ground_usd_per_accelerator_hour"],
                "ratio_low": ratio[0],
                "ratio_high": ratio[1],
                "ratio_swing": abs(ratio[1] - ratio[0]),
            }
        )
    return sorted(rows, key=lambda r: -r["ratio_swing"])


def parse_assumptions(text: str | None, source: str) -> tuple[dict[str, float], dict[str, str]]:
    """Values and sources: the defaults, with the keys of the TOML ``text`` read from
    ``source`` (a top-level ``KEY = NUMBER`` each, positive) replacing theirs."""
    values = {k: a.value for k, a in DEFAULTS.items()}
    sources = {k: a.source for k, a in DEFAULTS.items()}
    if text is None:
        return values, sources
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"cannot read cost assumptions: {exc}", file=source) from None
    index = TomlIndex(text)
    for key, value in data.items():
        line = index.line((key,))
        if key not in DEFAULTS:
            raise InputError(
                f"unknown cost assumption {key!r}", file=source, line=line, field=key,
                allowed=", ".join(DEFAULTS),
            )  # fmt: skip
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if not ok or not math.isfinite(value) or value <= 0:
            raise InputError(
                f"bad value {value!r}", file=source, line=line, field=key,
                allowed=f"a positive number, {DEFAULTS[key].unit}",
            )  # fmt: skip
        values[key] = float(value)
        sources[key] = f"{source} (given)"
    return values, sources


__all__ = [
    "DEFAULTS",
    "Assumption",
    "Fleet",
    "costs",
    "goodput_costs",
    "parse_assumptions",
    "sensitivity",
]
