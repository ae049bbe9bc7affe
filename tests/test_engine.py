"""Engine tests, in SimPy's style: a small scenario, the exact expected sequence of events."""

from __future__ import annotations

import collections
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest
from engine_scenarios import scenario_text
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from twin import events as ev
from twin.errors import IllegalTransition
from twin.lifecycle import State, check
from twin.physics.eclipses import eclipse_table
from twin.projections import FleetState, fold
from twin.sim.engine import Engine, WireSink, config_from_scenario, simulate
from twin.sim.scenario import parse_scenario, resolve_scenario
from twin.timeutil import parse_time, seconds_since

EPOCH = parse_time("2026-11-23T00:00:00Z")


def run(text: str, seed: int = 7, until_s: float | None = None) -> list[ev.EventBase]:
    config = config_from_scenario(parse_scenario(text, "test.toml"), until_s=until_s)
    return simulate(config, seed)


def t_s(event: ev.EventBase) -> float:
    return seconds_since(EPOCH, parse_time(event.sim_time))


def test_one_satellite_lifecycle_exact_sequence() -> None:
    events = run(scenario_text(duration="3d"))
    lifecycle = [(e.type, e.sim_time) for e in events if not e.type.startswith("eclipse")]
    assert lifecycle == [
        ("scenario_started", "2026-11-23T00:00:00.000Z"),
        ("launched", "2026-11-23T01:00:00.000Z"),
        ("deployed", "2026-11-23T02:00:00.000Z"),
        ("orbit_raising_started", "2026-11-23T02:00:00.000Z"),
        ("orbit_raised", "2026-11-24T02:00:00.000Z"),
        ("powered_up", "2026-11-24T14:00:00.000Z"),
        ("scenario_finished", "2026-11-26T00:00:00.000Z"),
    ]
    # seq is gap-free from 1 for the satellite and for the run
    sat = [e.seq for e in events if e.satellite is not None]
    assert sat == list(range(1, len(sat) + 1))
    assert [e.offset for e in events] == list(range(len(events)))


def test_eclipse_events_match_the_eclipse_search_to_the_millisecond() -> None:
    text = scenario_text(duration="2d")
    config = config_from_scenario(parse_scenario(text, "test.toml"))
    events = simulate(config, 7)
    table = eclipse_table(config.fleet.satrecs, EPOCH, 0.0, 2 * 86400.0)
    deployed = 2 * 3600.0
    expected = []
    for a, b in zip(table.shadow_start_s.tolist(), table.shadow_end_s.tolist(), strict=True):
        if not math.isnan(b) and b <= deployed:
            continue
        start = max(a, deployed) if not math.isnan(a) else deployed
        expected.append(("eclipse_entered", round(start, 3)))
        if not math.isnan(b):
            expected.append(("eclipse_exited", round(b, 3)))
    got = [(e.type, round(t_s(e), 3)) for e in events if e.type.startswith("eclipse")]
    assert [g[0] for g in got] == [x[0] for x in expected]
    np.testing.assert_allclose([g[1] for g in got], [x[1] for x in expected], atol=0.0011)


def test_load_is_shed_at_the_closed_form_floor_time_and_restored_at_exit() -> None:
    events = run(scenario_text(duration="3d", battery_wh=10000.0))
    shed = [e for e in events if e.type == "load_shed"]
    assert shed, "a 10 kWh battery at 35 % depth cannot carry 6.8 kW through a 34 min eclipse"
    by_offset = {e.offset: e for e in events}
    for e in shed:
        entered = next(
            by_offset[k] for k in range(e.offset, -1, -1) if by_offset[k].type == "eclipse_entered"
        )
        assert isinstance(entered, ev.EclipseEntered) and isinstance(e, ev.LoadShed)
        tm = entered.telemetry
        # net drain: the load less the array's penumbra share (the pass's mean illumination)
        drain_w = tm.power_consumed_w - tm.power_generated_w
        assert 0.0 < tm.power_generated_w < 0.02 * tm.power_consumed_w
        floor = 1.0 - 0.35
        expected_s = (tm.soc - floor) * 10000.0 * 3600.0 / drain_w
        # telemetry rounds power to 0.1 W: ±0.05 W of the array's ~30 W moves the floor ~0.02 s
        assert t_s(e) - t_s(entered) == pytest.approx(expected_s, abs=0.05)
        assert e.telemetry.soc == pytest.approx(floor, abs=1e-6)
        assert e.telemetry.compute_online == 0
        nxt = by_offset[e.offset + 1]
        after = by_offset[e.offset + 2]
        assert (nxt.type, after.type) == ("eclipse_exited", "load_restored")
        assert nxt.sim_time == after.sim_time
        assert isinstance(after, ev.LoadRestored) and after.telemetry.compute_online > 0


def test_permanent_fault_goes_through_the_repair_robot_and_back() -> None:
    events = run(scenario_text(duration="10d", faults_scale_years=0.02), seed=3)
    types = [
        e.type
        for e in events
        if e.satellite is not None and not e.type.startswith(("eclipse", "load"))
    ]
    assert "repair_completed" in types, types
    k = types.index("fault_detected")
    assert types[k : k + 5] == [
        "fault_detected",
        "repair_requested",
        "repair_robot_dispatched",
        "repair_robot_arrived",
        "repair_completed",
    ]
    flow = [
        e
        for e in events
        if e.type
        in {"fault_detected", "repair_robot_dispatched", "repair_robot_arrived", "repair_completed"}
    ][:4]
    fault, dispatched, arrived, done = flow
    assert isinstance(dispatched, ev.RepairRobotDispatched)
    assert isinstance(done, ev.RepairCompleted)
    assert t_s(arrived) - t_s(dispatched) == pytest.approx(dispatched.travel_s, abs=0.001)
    assert t_s(done) - t_s(arrived) == pytest.approx(6 * 3600.0, abs=0.001)
    assert done.time_to_repair_s == pytest.approx(t_s(done) - t_s(fault), abs=0.002)
    assert done.spares_left == 4
    assert done.telemetry.compute_online > 0


def test_no_spares_means_the_repair_waits() -> None:
    events = run(scenario_text(duration="10d", faults_scale_years=0.02, spares=0), seed=3)
    assert any(e.type == "repair_robot_arrived" for e in events)
    assert not any(e.type == "repair_completed" for e in events)


def test_failed_launch_loses_its_satellites() -> None:
    text = scenario_text(duration="2d", planes=2, sats_per_plane=2, sats_per_launch=2).replace(
        'first_launch = "1h"', 'first_launch = "1h"\nfailure_probability = 1.0'
    )
    events = run(text)
    assert collections.Counter(e.type for e in events if e.satellite) == {"launch_failed": 4}
    final = events[-1]
    assert isinstance(final, ev.ScenarioFinished)
    assert final.satellites_by_state == {"lost": 4}


def test_illegal_transition_names_satellite_states_and_time() -> None:
    with pytest.raises(IllegalTransition) as err:
        check(
            "S0-P00-000", "repair_completed", State.OPERATIONAL, False, "2026-11-23T01:00:00.000Z"
        )
    msg = str(err.value)
    assert "S0-P00-000" in msg and "operational" in msg and "repair_completed" in msg
    assert "2026-11-23T01:00:00.000Z" in msg


def test_demo_is_deterministic_and_seed_sensitive() -> None:
    config = config_from_scenario(resolve_scenario("demo"), until_s=2 * 86400.0)
    a = b"\n".join(ev.encode(e) for e in simulate(config, 42))
    b = b"\n".join(ev.encode(e) for e in simulate(config, 42))
    c = b"\n".join(ev.encode(e) for e in simulate(config, 43))
    assert a == b
    assert a != c


def test_demo_events_decode_fold_and_agree_with_the_engine() -> None:
    config = config_from_scenario(resolve_scenario("demo"), until_s=3 * 86400.0)
    events = simulate(config, 42)
    decoded = [ev.decode(ev.encode(e)) for e in events]
    assert [ev.encode(e) for e in decoded] == [ev.encode(e) for e in events]
    state = fold(decoded)  # raises on an illegal transition or a seq gap
    final = events[-1]
    assert isinstance(final, ev.ScenarioFinished)
    counts = {s: state.count(s) for s in final.satellites_by_state}
    assert counts == final.satellites_by_state
    kinds = collections.Counter(e.type for e in events)
    for expected in ("launched", "powered_up", "eclipse_entered", "fault_detected", "rebooted"):
        assert kinds[expected] > 0, expected
    times = [e.sim_time for e in events]
    assert times == sorted(times)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**31),
    battery_wh=st.sampled_from([6000.0, 10000.0, 20000.0]),
    scale=st.sampled_from([0.005, 0.05, 1.0]),
    spares=st.integers(0, 3),
)
def test_random_runs_respect_the_state_machine_and_seq(
    seed: int, battery_wh: float, scale: float, spares: int
) -> None:
    text = (
        scenario_text(
            duration="4d",
            planes=2,
            sats_per_plane=2,
            sats_per_launch=2,
            battery_wh=battery_wh,
            faults_scale_years=scale,
            spares=spares,
        )
        + '\n[reliability.upsets]\nrate_per_sat_day = 2.0\nsaa_multiplier = 10\nreboot = "20m"\n'
    )
    events = run(text, seed=seed)
    state = FleetState()
    last_seq: dict[str | None, int] = collections.defaultdict(int)
    for e in events:
        state.apply(ev.decode(ev.encode(e)))  # the fold checks every transition
        assert e.seq == last_seq[e.satellite] + 1
        last_seq[e.satellite] = e.seq
    assert state.events_applied == len(events)


def test_engine_counts_match_fold_mid_run() -> None:
    config = config_from_scenario(resolve_scenario("demo"), until_s=86400.0)
    out: list[ev.EventBase] = []
    engine = Engine(config, 1, out.append)
    engine.start()
    engine.run(43200.0)
    state = fold(out)
    for s in State:
        assert state.count(s) == engine.counts[s], s


class _Wire(WireSink):
    """A :class:`twin.sim.engine.WireSink` that keeps what the engine sends it."""

    def __init__(self) -> None:
        self.raws: list[bytes] = []
        self.rows: list[tuple[Any, ...]] = []

    def __call__(self, event: ev.EventBase) -> None:
        raise AssertionError("an engine with a wire sink sent an event")

    def wire(self, raw: bytes, etype: str, fields: Mapping[str, Any]) -> None:
        self.raws.append(raw)
        self.rows.append(
            (fields["offset"], fields["sim_time"], fields.get("satellite"), etype, fields["run_id"])
        )


@pytest.mark.parametrize(
    ("scenario", "until_s"),
    [
        ("demo", 2 * 86400.0),  # launch campaign, faults, repair robots, workload, contacts
        ("suncatcher", 86400.0),
        ("gigawatt", 3600.0),
        ("starlink-shell", 3 * 3600.0),
        ("scale", 86400.0),  # robots and spares per plane, upsets, load shedding
    ],
)
def test_wire_sink_gets_the_codec_bytes_of_every_event(scenario: str, until_s: float) -> None:
    """The engine's bytes path (:func:`twin.events.encode_fields`, no event built) writes
    exactly what :func:`twin.events.encode` writes for the event the object path builds,
    event for event, and each at its offset."""
    from benchmarks.scale_bench import scenario_text as scale_text

    if scenario == "scale":
        scenario_obj = parse_scenario(scale_text(600), "scale.toml")
    else:
        scenario_obj = resolve_scenario(scenario)
    config = config_from_scenario(scenario_obj, until_s=until_s)
    events = simulate(config, 3)
    wire = _Wire()
    engine = Engine(config, 3, wire)
    engine.start()
    engine.run()
    engine.finish()
    assert len(wire.raws) == len(events) > 50
    # what a log row needs, without decoding
    assert wire.rows == [(e.offset, e.sim_time, e.satellite, e.type, e.run_id) for e in events]
    types = set()
    for raw, event in zip(wire.raws, events, strict=True):
        assert raw == ev.encode(event), event.type
        types.add(event.type)
    assert "scenario_finished" in types
    if scenario in ("demo", "scale"):
        assert {"eclipse_entered", "load_shed", "load_restored", "fault_detected"} <= types
    if scenario == "demo":
        assert {"repair_completed", "job_submitted", "job_interrupted"} <= types
