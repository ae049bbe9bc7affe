"""Launches: flights flown, tonnes to orbit, and the campaign's rate and build time.

Applies ``scenario_started`` (the planned campaign, :class:`twin.events.LaunchCampaign`) and
``launched``/``launch_failed`` (each satellite's flight and mass). A flight is a distinct
``launch_id`` > 0 (id 0 is a satellite already in orbit at the epoch); it failed if its
satellites were lost. Mass is summed in integer grams per flight, so merging partitions (a
flight's satellites fall in several, keyed by satellite) adds up exactly. The flights metric
counts a flight where its lead satellite (``flight_lead``) is folded, so it too sums across
partitions; logs before v3 do not say which satellite leads, and each part then counts every
flight it has seen.

The summary section ``launch`` gives what flew (flights, satellites, tonnes to orbit and
lost) and, from the plan, the campaign's limits: tonnes per full flight, tonnes per year at
the cadence, and the time until the fleet is in service.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from twin.constants import SECONDS_PER_DAY, SECONDS_PER_YEAR
from twin.events import EventBase, Launched, LaunchFailed, ScenarioStarted
from twin.projections.base import Projection
from twin.projections.fleet import FleetCore
from twin.projections.specs import MetricSpec, Sample, restore_error

_G_PER_T = 1_000_000


def _grams(mass_kg: float | None) -> int:
    return 0 if mass_kg is None else round(mass_kg * 1000.0)


class Launches(Projection):
    name = "launches"
    version = 1
    event_types = frozenset({"scenario_started", "launched", "launch_failed"})
    metrics = (
        MetricSpec("twin_launch_flights_total", "counter", "Launch vehicle flights flown."),
        MetricSpec(
            "twin_launch_mass_grams_total",
            "counter",
            "Satellite mass launched, g (base unit), by outcome (orbit: reached orbit; lost: launch failed).",
            ("outcome",),
            unit="g",
        ),
    )

    def __init__(self) -> None:
        self.plan: dict[str, Any] | None = None
        """``scenario_started.launch`` of the run (where this fold holds it)."""
        self.flights: dict[int, list[int]] = {}
        """launch id -> [satellites reached orbit, satellites lost, grams, first sim ms]."""
        self.at_epoch = [0, 0]
        """[satellites, grams] already in orbit at the epoch (launch id 0)."""
        self.without_mass = 0
        """Satellites launched whose mass the log does not record."""
        self.led = 0
        """Flights whose lead satellite this fold applied."""
        self.lead_unknown = False
        """A launch event without ``flight_lead`` (a log before v3) was applied."""

    def apply(self, event: EventBase, core: FleetCore) -> None:
        if isinstance(event, ScenarioStarted):
            self.plan = None if event.launch is None else event.launch.model_dump()
            return
        assert isinstance(event, Launched | LaunchFailed)
        grams = _grams(event.mass_kg)
        if event.mass_kg is None:
            self.without_mass += 1
        if event.launch_id == 0:
            self.at_epoch[0] += 1
            self.at_epoch[1] += grams
            return
        if event.flight_lead is None:
            self.lead_unknown = True
        elif event.flight_lead:
            self.led += 1
        flight = self.flights.get(event.launch_id)
        if flight is None:
            flight = self.flights[event.launch_id] = [0, 0, 0, core.sim_time_ms]
        flight[0 if isinstance(event, Launched) else 1] += 1
        flight[2] += grams

    # ------------------------------------------------------------------ views

    def totals(self) -> dict[str, int]:
        ok = [f for f in self.flights.values() if not f[1]]
        lost = [f for f in self.flights.values() if f[1]]
        return {
            "flights": len(self.flights),
            "flights_failed": len(lost),
            "satellites_to_orbit": sum(f[0] for f in self.flights.values()),
            "satellites_lost": sum(f[1] for f in self.flights.values()),
            "grams_to_orbit": sum(f[2] for f in ok),
            "grams_lost": sum(f[2] for f in lost),
        }

    def summary(self, core: FleetCore) -> dict[str, dict[str, Any]]:
        t = self.totals()
        plan = self.plan if core.owns_run else None
        out: dict[str, Any] = {
            "flights": t["flights"],
            "flights_failed": t["flights_failed"],
            "satellites_to_orbit": t["satellites_to_orbit"],
            "satellites_lost": t["satellites_lost"],
            "satellites_in_orbit_at_epoch": self.at_epoch[0],
            "satellites_without_mass": self.without_mass,
            "tonnes_to_orbit": t["grams_to_orbit"] / _G_PER_T,
            "tonnes_lost": t["grams_lost"] / _G_PER_T,
            "tonnes_in_orbit_at_epoch": self.at_epoch[1] / _G_PER_T,
            "plan": plan,
        }
        out.update(campaign_rates(plan))
        return {"launch": out}

    def collect(self, core: FleetCore) -> Iterator[Sample]:
        t = self.totals()
        flights = t["flights"] if self.lead_unknown else self.led
        yield Sample("twin_launch_flights_total", (), flights)
        yield Sample("twin_launch_mass_grams_total", ("orbit",), t["grams_to_orbit"])
        yield Sample("twin_launch_mass_grams_total", ("lost",), t["grams_lost"])

    # ------------------------------------------------------------------ snapshots and merge

    def snapshot(self) -> Any:
        return {
            "plan": self.plan,
            "flights": sorted([k, *v] for k, v in self.flights.items()),
            "at_epoch": self.at_epoch,
            "without_mass": self.without_mass,
            "led": self.led,
            "lead_unknown": self.lead_unknown,
        }

    @classmethod
    def restore(cls, doc: Any) -> Launches:
        out = cls()
        try:
            out.plan = None if doc["plan"] is None else dict(doc["plan"])
            out.flights = {int(row[0]): [int(x) for x in row[1:5]] for row in doc["flights"]}
            out.at_epoch = [int(x) for x in doc["at_epoch"]]
            out.without_mass = int(doc["without_mass"])
            out.led = int(doc["led"])
            out.lead_unknown = bool(doc["lead_unknown"])
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise restore_error(cls.name, exc) from None
        return out

    @classmethod
    def merge(cls, parts: Sequence[Any], core: FleetCore) -> Launches:
        """Flights add satellite by satellite (a flight spans partitions); the plan comes
        from whichever part holds the run."""
        out = cls()
        for p in parts:
            out.plan = out.plan if p.plan is None else p.plan
            for k, (ok, lost, grams, first_ms) in p.flights.items():
                into = out.flights.setdefault(k, [0, 0, 0, first_ms])
                into[0] += ok
                into[1] += lost
                into[2] += grams
                into[3] = min(into[3], first_ms)
            out.at_epoch = [a + b for a, b in zip(out.at_epoch, p.at_epoch, strict=True)]
            out.without_mass += p.without_mass
            out.led += p.led
            out.lead_unknown |= p.lead_unknown
        out.flights = dict(sorted(out.flights.items()))
        return out


def campaign_rates(plan: dict[str, Any] | None) -> dict[str, float | None]:
    """The campaign's limits from its plan (``scenario_started.launch``): tonnes per full
    flight, flights and tonnes per year at the cadence, payload fill and build time."""
    keys = (
        "flights_planned",
        "tonnes_planned",
        "tonnes_per_flight",
        "payload_fill",
        "flights_per_year",
        "tonnes_per_year",
        "fleet_ready_days",
    )
    if plan is None:
        return dict.fromkeys(keys)
    mass_kg, payload_t = plan["satellite_mass_kg"], plan["payload_t"]
    per_flight = None if mass_kg is None else plan["sats_per_flight"] * mass_kg / 1000.0
    per_year = SECONDS_PER_YEAR / plan["cadence_s"] if plan["cadence_s"] > 0 else None
    return {
        "flights_planned": plan["flights"],
        "tonnes_planned": None if mass_kg is None else plan["satellites"] * mass_kg / 1000.0,
        "tonnes_per_flight": per_flight,
        "payload_fill": None if per_flight is None or payload_t is None else per_flight / payload_t,
        "flights_per_year": per_year,
        "tonnes_per_year": None
        if per_flight is None or per_year is None
        else per_flight * per_year,
        "fleet_ready_days": plan["ready_s"] / SECONDS_PER_DAY,
    }
