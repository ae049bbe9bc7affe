"""The launch campaign: how many flights, how many tonnes, how long until the fleet is built.

A campaign is limited two ways: the vehicle's **payload** bounds the satellites per flight
(``floor(payload_t × 1000 / mass_kg)``, :func:`twin.sim.scenario.sats_per_flight`) and the
**cadence** bounds the flights per year (one year ÷ cadence). Together they bound the tonnes
per year that reach orbit and the time to build the fleet. The engine flies this plan (flight
``k`` leaves at ``first_launch + (k − 1) × cadence``) and records it in ``scenario_started``;
the run's ``launch`` summary (:mod:`twin.projections.launches`) reports what actually flew.

Worked example (``gigawatt``): 10,000 satellites of 1,428 kg, 140 per 200 t Starship flight,
one an hour from 1 h: ⌈10,000 / 140⌉ = 72 flights, 14,280 t; a full flight is 199.92 t,
8,766 flights a year (365.25 × 24) lift 1.75 Mt a year; the last flight leaves at 72 h and
its satellites are in service 1 h + 14 d + 3 d later, at 20 d 1 h.
"""

from __future__ import annotations

from dataclasses import dataclass

from twin.constants import SECONDS_PER_YEAR
from twin.events import LaunchCampaign
from twin.sim.scenario import Scenario, sats_per_flight

__all__ = ["LaunchPlan", "launch_plan"]


@dataclass(frozen=True)
class LaunchPlan:
    """The campaign of a scenario with ``satellites`` in its fleet (see the module doc)."""

    vehicle: str
    satellites: int
    """Satellites to launch (not counting those in orbit at the epoch)."""
    in_orbit_at_epoch: int
    sats_per_flight: int
    flights: int
    cadence_s: float
    first_launch_s: float
    ready_s: float
    """When the last flight's satellites enter service, sim seconds."""
    satellite_mass_kg: float | None
    payload_t: float | None

    @property
    def last_launch_s(self) -> float:
        return self.first_launch_s + max(self.flights - 1, 0) * self.cadence_s

    @property
    def tonnes(self) -> float | None:
        """Mass of all satellites to launch, t (None without a satellite mass)."""
        if self.satellite_mass_kg is None:
            return None
        return self.satellites * self.satellite_mass_kg / 1000.0

    @property
    def tonnes_per_flight(self) -> float | None:
        """Mass of a full flight of satellites, t."""
        if self.satellite_mass_kg is None:
            return None
        return self.sats_per_flight * self.satellite_mass_kg / 1000.0

    @property
    def flights_per_year(self) -> float | None:
        """The cadence's limit on flights per year (None for a single flight)."""
        return SECONDS_PER_YEAR / self.cadence_s if self.cadence_s > 0 else None

    @property
    def tonnes_per_year(self) -> float | None:
        """Tonnes a year to orbit at this cadence with full flights (the campaign's rate)."""
        per_flight, per_year = self.tonnes_per_flight, self.flights_per_year
        return None if per_flight is None or per_year is None else per_flight * per_year

    @property
    def payload_fill(self) -> float | None:
        """Share of the vehicle's payload a full flight of satellites uses."""
        if self.tonnes_per_flight is None or self.payload_t is None:
            return None
        return self.tonnes_per_flight / self.payload_t

    def event(self) -> LaunchCampaign:
        """The plan as ``scenario_started`` records it."""
        return LaunchCampaign(
            vehicle=self.vehicle,
            satellites=self.satellites,
            sats_per_flight=self.sats_per_flight,
            flights=self.flights,
            cadence_s=self.cadence_s,
            first_launch_s=self.first_launch_s,
            ready_s=self.ready_s,
            satellite_mass_kg=self.satellite_mass_kg,
            payload_t=self.payload_t,
        )


def launch_plan(scenario: Scenario, satellites: int) -> LaunchPlan | None:
    """The campaign that brings a fleet of ``satellites`` to orbit; None without ``[launch]``."""
    launch = scenario.launch
    if launch is None:
        return None
    preflown = min(launch.in_orbit_at_epoch, satellites)
    per_flight = sats_per_flight(scenario)
    to_launch = satellites - preflown
    flights = -(-to_launch // per_flight)
    last_s = launch.first_launch_s + max(flights - 1, 0) * launch.cadence_s
    ready_s = (
        last_s + launch.deployment_s + launch.orbit_raising_s + launch.commissioning_s
        if flights
        else 0.0
    )
    return LaunchPlan(
        vehicle=launch.vehicle,
        satellites=to_launch,
        in_orbit_at_epoch=preflown,
        sats_per_flight=per_flight,
        flights=flights,
        cadence_s=launch.cadence_s,
        first_launch_s=launch.first_launch_s,
        ready_s=ready_s,
        satellite_mass_kg=scenario.bus.mass_kg,
        payload_t=launch.payload_t,
    )
