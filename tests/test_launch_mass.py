"""Launch mass: satellites per flight bounded by payload, flights by cadence; the run's
flights and tonnes, checked by hand on the ``gigawatt`` preset."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from engine_scenarios import scenario_text

from twin.constants import SECONDS_PER_DAY, SECONDS_PER_HOUR, SECONDS_PER_YEAR
from twin.errors import InputError
from twin.projections import fold
from twin.sim.campaign import launch_plan
from twin.sim.engine import config_from_scenario, simulate
from twin.sim.scenario import parse_scenario, resolve_scenario, sats_per_flight


def test_gigawatt_launch_figures_by_hand() -> None:
    """10,000 satellites of 1,428 kg, 140 per 200 t Starship, hourly from 1 h (gigawatt.toml)."""
    scenario = resolve_scenario("gigawatt")
    assert scenario.bus.mass_kg == 1428.0 and scenario.launch is not None
    assert scenario.launch.payload_t == 200.0
    plan = launch_plan(scenario, 10_000)
    assert plan is not None
    # flights: 71 full flights of 140 and one of 60
    assert plan.flights == 72 == math.ceil(10_000 / 140)
    assert 71 * 140 + 60 == 10_000
    # tonnes: a full flight is 140 × 1.428 t = 199.92 t, within the 200 t payload
    assert plan.tonnes_per_flight == pytest.approx(199.92)
    assert plan.tonnes_per_flight <= plan.payload_t
    assert plan.payload_fill == pytest.approx(0.9996)
    # flights × payload bounds the tonnes; the satellites weigh 10,000 × 1.428 = 14,280 t
    assert plan.tonnes == pytest.approx(14_280.0)
    assert plan.tonnes == pytest.approx(71 * 199.92 + 60 * 1.428)
    assert plan.tonnes <= plan.flights * plan.payload_t == 14_400.0
    # the cadence bounds the rate: 365.25 × 24 = 8,766 flights a year × 199.92 t
    assert plan.flights_per_year == pytest.approx(8766.0)
    assert plan.tonnes_per_year == pytest.approx(8766 * 199.92)  # 1.75 Mt a year
    # the last flight leaves at 1 h + 71 h = 3 d; in service 1 h + 14 d + 3 d later
    assert plan.last_launch_s == 72 * SECONDS_PER_HOUR
    assert plan.ready_s == 72 * SECONDS_PER_HOUR + SECONDS_PER_HOUR + 17 * SECONDS_PER_DAY


def test_gigawatt_run_reports_flights_and_tonnes() -> None:
    """Six hours of gigawatt: flights at 1 h … 6 h (a run's horizon is inclusive: what is due
    at it happens), each of 140 satellites of 1,428 kg; events carry the mass and the fold
    adds it up."""
    scenario = resolve_scenario("gigawatt")
    events = simulate(config_from_scenario(scenario, until_s=6 * SECONDS_PER_HOUR), seed=4)
    launches = [e for e in events if e.type in ("launched", "launch_failed")]
    assert {e.mass_kg for e in launches} == {1428.0}
    flights = {e.launch_id for e in launches}
    assert flights == {1, 2, 3, 4, 5, 6}
    launch = fold(events).summary()["launch"]
    assert launch["flights"] == 6
    assert launch["satellites_to_orbit"] + launch["satellites_lost"] == 6 * 140
    lost_flights = {e.launch_id for e in launches if e.type == "launch_failed"}
    assert launch["flights_failed"] == len(lost_flights)
    assert launch["tonnes_to_orbit"] == pytest.approx((6 - len(lost_flights)) * 140 * 1.428)
    assert launch["tonnes_lost"] == pytest.approx(len(lost_flights) * 140 * 1.428)
    assert launch["flights_planned"] == 72
    assert launch["tonnes_per_year"] == pytest.approx(140 * 1.428 * SECONDS_PER_YEAR / 3600)
    assert launch["fleet_ready_days"] == pytest.approx(20 + 1 / 24)
    started = events[0]
    assert started.type == "scenario_started" and started.launch is not None
    assert started.launch.flights == 72 and started.launch.satellite_mass_kg == 1428.0


def test_demo_counts_satellites_in_orbit_at_the_epoch_apart() -> None:
    scenario = resolve_scenario("demo")
    events = simulate(config_from_scenario(scenario, until_s=SECONDS_PER_DAY), seed=42)
    launch = fold(events).summary()["launch"]
    assert launch["satellites_in_orbit_at_epoch"] == 192
    assert launch["tonnes_in_orbit_at_epoch"] == pytest.approx(192 * 0.7)
    assert launch["flights"] == 2  # 6 h and 18 h
    assert launch["satellites_to_orbit"] + launch["satellites_lost"] == 48


def _with(mass: str, launch: str, sats_per_launch: int | None = 1) -> str:
    text = scenario_text(sats_per_launch=sats_per_launch or 1)
    if sats_per_launch is None:
        text = text.replace("sats_per_launch = 1\n", "")
    text = text.replace("[launch]\n", f"[launch]\n{launch}")
    return text.replace("radiator_temperature_k", f"{mass}radiator_temperature_k")


def test_a_full_vehicle_when_sats_per_launch_is_omitted() -> None:
    scenario = parse_scenario(_with("mass_kg = 800.0\n", "payload_t = 17.6\n", None), "x.toml")
    assert sats_per_flight(scenario) == 22  # 17,600 / 800


def test_exact_fit_is_not_lost_to_rounding() -> None:
    scenario = parse_scenario(_with("mass_kg = 100.0\n", "payload_t = 0.3\n", None), "x.toml")
    assert sats_per_flight(scenario) == 3  # 0.3 × 1000 / 100 is 2.9999999999999996 in floats


def _error(text: str) -> InputError:
    with pytest.raises(InputError) as info:
        parse_scenario(text, "x.toml")
    return info.value


def test_more_satellites_than_the_payload_carries_is_refused() -> None:
    text = _with("mass_kg = 800.0\n", "payload_t = 17.6\n", 23)
    err = _error(text)
    assert err.location.file == "x.toml"
    assert err.location.field == "launch.sats_per_launch"
    assert err.location.line == text.splitlines().index("sats_per_launch = 23") + 1
    assert "18.40 t exceed" in err.problem and "17.6 t" in err.problem
    assert err.allowed is not None and "sats_per_launch <= 22" in err.allowed


def test_a_satellite_heavier_than_the_payload_is_refused() -> None:
    text = _with("mass_kg = 20000.0\n", "payload_t = 17.6\n")
    err = _error(text)
    assert err.location.field == "bus.mass_kg"
    assert err.location.line == text.splitlines().index("mass_kg = 20000.0") + 1
    assert err.allowed is not None and "mass_kg <= 17,600" in err.allowed


def test_sats_per_launch_needed_without_payload_and_mass() -> None:
    err = _error(_with("", "payload_t = 17.6\n", None))
    assert err.location.field == "launch.sats_per_launch"
    assert err.allowed is not None and "bus.mass_kg" in err.allowed


@pytest.mark.parametrize(
    ("line", "key"), [("mass_kg = -1.0\n", "bus.mass_kg"), ("mass_kg = 0.0\n", "bus.mass_kg")]
)
def test_mass_must_be_positive(line: str, key: str, tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text(_with(line, "payload_t = 17.6\n"))
    with pytest.raises(InputError) as info:
        resolve_scenario(str(path))
    assert info.value.location.field == key and info.value.location.line is not None


def test_launch_metrics_of_partitions_folded_apart_add_up_to_the_whole() -> None:
    """A flight's satellites fall in several Kafka partitions; its lead satellite alone counts
    the flight, so projectors' flight and mass counters sum to the fleet's."""
    from twin.projections import FleetState, fold
    from twin.sim.engine import config_from_scenario, simulate
    from twin.sim.scenario import resolve_scenario

    events = simulate(config_from_scenario(resolve_scenario("demo"), until_s=86400.0), 3)
    whole = fold(events)
    parts = [FleetState() for _ in range(3)]
    for e in events:
        key = e.satellite or e.run_id
        parts[sum(key.encode()) % 3].apply(e)

    def launch_samples(state: FleetState) -> dict[tuple[str, tuple[str, ...]], float]:
        return {
            (s.name, s.labels): s.value
            for s in state.collect()
            if s.name.startswith("twin_launch_")
        }

    want = launch_samples(whole)
    assert want[("twin_launch_flights_total", ())] == whole.summary()["launch"]["flights"] > 1
    got: dict[tuple[str, tuple[str, ...]], float] = {}
    for part in parts:
        for key, value in launch_samples(part).items():
            got[key] = got.get(key, 0.0) + value
    assert got == want
    # each part has seen satellites of every flight: counting flights seen would over-count
    assert (
        sum(p.summary()["launch"]["flights"] for p in parts)
        > want[("twin_launch_flights_total", ())]
    )
