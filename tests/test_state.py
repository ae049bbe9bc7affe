"""FleetState: a hand-written run whose counts and integrals are worked out by hand."""

from __future__ import annotations

import json
from typing import Any

import pytest
from factories import EventFactory

from twin.errors import IllegalTransition, TwinError
from twin.projections import SNAPSHOT_VERSION, EventOrderError, FleetState, SnapshotError, fold

ACC = 8  # accelerators per satellite
END_S = 7200.0


def two_satellite_run() -> list[Any]:
    """sat-a computes from t=4 s, in shadow 100..2200 s; sat-b computes from t=14 s, faults at
    3000 s (no compute, 100 W load) and is repaired at 3600 s; the run ends at 7200 s."""
    f = EventFactory()
    ev = [f.scenario_started(satellites_planned=3, accelerators_per_satellite=ACC, spares=2)]
    ev += f.to_operational("sat-a", t_s=0.0, shell=0, plane=1)
    ev += f.to_operational("sat-b", t_s=10.0, shell=1, plane=0)
    ev.append(f.event("eclipse_entered", "sat-a", t_s=100.0, soc=0.8, power_generated_w=0.0))
    ev.append(f.event("eclipse_exited", "sat-a", t_s=2200.0, soc=0.6, duration_s=2100.0))
    ev.append(
        f.event(
            "fault_detected",
            "sat-b",
            t_s=3000.0,
            kind="permanent",
            compute_online=0,
            power_consumed_w=100.0,
        )
    )
    ev.append(f.event("repair_requested", "sat-b", t_s=3001.0))
    ev.append(f.event("repair_robot_dispatched", "sat-b", t_s=3002.0, robot="robot-0"))
    ev.append(f.event("repair_robot_arrived", "sat-b", t_s=3500.0, robot="robot-0"))
    ev.append(
        f.event(
            "repair_completed", "sat-b", t_s=3600.0, time_to_repair_s=600.0, spares_left=1, soc=0.7
        )
    )
    ev.append(f.event("scenario_finished", t_s=END_S, events=len(ev) + 1))
    return ev


def test_counts_at_end() -> None:
    s = fold(two_satellite_run())
    summary = s.summary()
    by_state = summary["satellites"]["by_state"]
    assert {k: v for k, v in by_state.items() if v} == {"planned": 1, "operational": 2}
    assert summary["satellites"]["by_shell_state"] == {
        "0": {"operational": 1},
        "1": {"operational": 1},
    }
    assert summary["satellites"]["by_shell_plane"] == {"0": {"1": 1}, "1": {"0": 1}}
    assert summary["fleet"]["compute_online_accelerators"] == 2 * ACC
    assert summary["fleet"]["compute_online_tflops"] == 2 * ACC * 1000.0
    assert summary["fleet"]["power_generated_w"] == 2000.0
    assert summary["fleet"]["power_consumed_w"] == 1600.0
    assert summary["fleet"]["in_shadow"] == 0
    assert summary["fleet"]["soc_histogram"] == [0, 0, 0, 0, 0, 0, 1, 1, 0, 0]
    counters = summary["counters"]
    assert (counters["launches"], counters["deployments"], counters["deorbits"]) == (2, 2, 0)
    assert counters["faults"] == {"accelerator": {"permanent": 1}}
    assert counters["repairs_completed"] == 1
    assert counters["events_by_type"]["powered_up"] == 2
    assert sum(counters["events_by_type"].values()) == s.events_applied == 19
    assert summary["repair"] == {
        "queue": [],
        "queue_length": 0,
        "robots_busy": {},
        "robots_idle": 1,
        "mttr_s": 600.0,
        "spares_left": 1,
    }
    assert summary["run"]["finished"] is True
    assert summary["position"] == {
        "sim_time": "2026-11-23T02:00:00.000Z",
        "sim_time_s": END_S,
        "last_offset": 18,
        "events_applied": 19,
    }
    json.dumps(summary)  # JSON-ready


def test_integrals_by_hand() -> None:
    s = fold(two_satellite_run())
    accelerator_s = ACC * (END_S - 4) + ACC * (3000 - 14) + ACC * (END_S - 3600)
    assert s.compute_accelerator_hours == pytest.approx(accelerator_s / 3600, abs=1e-9)
    assert s.compute_pflop_days == pytest.approx(accelerator_s * 1000 / 86400 / 1000, abs=1e-9)
    generated_j = 1000 * (100 - 4) + 1000 * (END_S - 2200) + 1000 * (END_S - 14)
    consumed_j = 800 * (END_S - 4) + 800 * (3000 - 14) + 100 * 600 + 800 * (END_S - 3600)
    assert s.energy_generated_kwh == pytest.approx(generated_j / 3.6e6, abs=1e-9)
    assert s.energy_consumed_kwh == pytest.approx(consumed_j / 3.6e6, abs=1e-9)
    assert s.eclipse_satellite_s == pytest.approx(2100.0, abs=1e-9)
    assert s.load_shed_satellite_s == 0.0


def test_mid_run_repair_flow() -> None:
    log = two_satellite_run()
    after_request = fold(log[:15])
    assert after_request.summary()["repair"]["queue"] == ["sat-b"]
    assert after_request.count("awaiting_repair") == 1
    assert after_request.count("planned") == 1
    dispatched = fold(log[:16])
    assert list(dispatched.repair_queue) == []
    assert dispatched.robots_busy == {"robot-0": "sat-b"}
    under = fold(log[:17])
    assert under.count("under_repair") == 1
    assert under.satellite("sat-b") == {
        "satellite": "sat-b",
        "state": "under_repair",
        "in_shadow": False,
        "shell": 1,
        "plane": 0,
        "soc": 0.9,
        "power_generated_w": 1000.0,
        "power_consumed_w": 100.0,
        "compute_online": 0,
        "energy": {
            "available_j": 0.0,
            "harvested_j": 0.0,
            "curtailed_j": 0.0,
            "load_j": 0.0,
            "battery_charged_j": 0.0,
            "battery_discharged_j": 0.0,
        },
        "seq": 9,
        "last_event": "repair_robot_arrived",
        "last_sim_time": "2026-11-23T00:58:20.000Z",
        "fault_time_s": 3000.0,
        "fault_component": "accelerator",
        "robot": "robot-0",
    }
    assert under.satellite("sat-z") is None


def test_energy_split_by_hand() -> None:
    # 1 kWh battery: deployed full in sunlight (1000 W array, 100 W idle), eclipse at 100 s
    # (array 0, 800 W load), exit at 1000 s, the battery refills, then stays full
    f = EventFactory()
    log = [f.scenario_started(satellites_planned=1)]
    tm = {"power_generated_w": 1000.0, "power_consumed_w": 100.0, "compute_online": 0}
    log.append(f.event("launched", "s", t_s=0.0))
    log.append(f.event("deployed", "s", t_s=0.0, soc=1.0, stored_wh=1000.0, **tm))
    log.append(f.event("orbit_raising_started", "s", t_s=0.0))
    log.append(f.event("orbit_raised", "s", t_s=0.0))
    log.append(f.event("powered_up", "s", t_s=1.0, soc=1.0, stored_wh=1000.0,
                       power_generated_w=1000.0, power_consumed_w=800.0, compute_online=8))  # fmt: skip
    log.append(f.event("eclipse_entered", "s", t_s=100.0, soc=1.0, stored_wh=1000.0,
                       power_generated_w=0.0, power_consumed_w=800.0, compute_online=8))  # fmt: skip
    # 900 s × 800 W = 200 Wh drawn
    log.append(f.event("eclipse_exited", "s", t_s=1000.0, soc=0.8, stored_wh=800.0,
                       power_generated_w=1000.0, power_consumed_w=800.0, compute_online=8))  # fmt: skip
    # 200 W surplus refills 200 Wh in 3600 s, then 400 s full: 80 kJ curtailed
    log.append(f.event("fault_detected", "s", t_s=5000.0, soc=1.0, stored_wh=1000.0,
                       component="avionics", kind="transient", power_generated_w=1000.0,
                       power_consumed_w=100.0, compute_online=0))  # fmt: skip
    e = fold(log).energy()
    assert e["available_j"] == 1000.0 * 1 + 1000.0 * 99 + 0 + 1000.0 * 4000
    assert e["load_j"] == 100.0 * 1 + 800.0 * 99 + 800.0 * 900 + 800.0 * 4000
    assert e["battery_discharged_j"] == 200 * 3600.0
    assert e["battery_charged_j"] == 200 * 3600.0
    assert e["harvested_j"] == e["load_j"]  # back to full: all that was used went to the load
    # curtailed: 900 J before power-up, 200 W × 99 s before the eclipse, 200 W × 400 s at full
    assert e["curtailed_j"] == 900.0 + 200.0 * 99 + 200.0 * 400
    assert e["available_j"] == e["harvested_j"] + e["curtailed_j"]


def test_in_eclipse_counts_and_load_shed_integral() -> None:
    f = EventFactory()
    log = [f.scenario_started(satellites_planned=1)]
    log += f.to_operational("s", t_s=0.0)
    log.append(f.event("eclipse_entered", "s", t_s=10.0, power_generated_w=0.0))
    mid = fold(log)
    assert (mid.in_shadow, mid.count("in_eclipse"), mid.count("operational")) == (1, 1, 0)
    log.append(f.event("load_shed", "s", t_s=70.0, compute_online=0, power_generated_w=0.0))
    log.append(f.event("eclipse_exited", "s", t_s=100.0, compute_online=0))  # still shed
    log.append(f.event("load_restored", "s", t_s=130.0, shed_s=60.0))
    log.append(f.event("deorbit_started", "s", t_s=200.0))
    s = fold(log)
    assert s.load_shed_satellite_s == pytest.approx(60.0, abs=1e-9)
    assert s.eclipse_satellite_s == pytest.approx(90.0, abs=1e-9)
    assert s.accelerator_s == pytest.approx(8 * (70 - 4) + 8 * (200 - 130), abs=1e-9)
    assert s.count("deorbiting") == 1


def test_terminal_states_leave_every_total() -> None:
    f = EventFactory()
    log = [f.scenario_started(satellites_planned=3)]
    log.append(f.event("launch_failed", "lost-1", t_s=1.0))
    log += f.to_operational("s", t_s=2.0)
    log.append(f.event("eclipse_entered", "s", t_s=10.0))
    log.append(f.event("fault_detected", "s", t_s=11.0, kind="permanent"))
    log.append(f.event("repair_requested", "s", t_s=12.0))
    log.append(f.event("deorbit_started", "s", t_s=13.0, reason="unrepairable"))
    assert fold(log).repair_queue == {}
    log.append(f.event("deorbited", "s", t_s=20.0))
    s = fold(log)
    assert (s.compute_online, s.generated_mw, s.consumed_mw, s.in_shadow) == (0, 0, 0, 0)
    assert s.summary()["fleet"]["soc_histogram"] == [0] * 10
    assert s.count("lost") == s.count("deorbited") == 1
    assert s.count("planned") == 1
    assert (s.launch_failures, s.deorbits, s.launches) == (1, 1, 1)
    assert s.summary()["satellites"]["by_shell_plane"] == {}
    # time in shadow stops at the deorbit: 10..20 s
    assert s.eclipse_satellite_s == pytest.approx(10.0, abs=1e-9)


def _unchanged_after_error(events: list[Any], bad: Any, error: type[TwinError]) -> TwinError:
    state = fold(events)
    before = state.to_snapshot()
    with pytest.raises(error) as info:
        state.apply(bad)
    assert state.to_snapshot() == before, "a rejected event must not change the state"
    return info.value


def test_illegal_transition_names_satellite_states_and_time() -> None:
    f = EventFactory()
    log = [f.scenario_started()] + f.to_operational("sat-9", t_s=0.0)
    err = _unchanged_after_error(log, f.event("deployed", "sat-9", t_s=50.0), IllegalTransition)
    assert isinstance(err, IllegalTransition)
    assert err.satellite == "sat-9"
    assert err.from_state == "operational"
    assert "deployed" in err.to_state and "launched" in err.to_state
    assert err.sim_time == "2026-11-23T00:00:50.000Z"
    assert "sat-9" in str(err) and "2026-11-23T00:00:50.000Z" in str(err)


def test_first_event_of_a_satellite_must_leave_planned() -> None:
    f = EventFactory()
    with pytest.raises(IllegalTransition, match="planned"):
        fold([f.scenario_started(), f.event("deployed", "new", t_s=1.0)])


def test_seq_gap_and_duplicate_raise() -> None:
    f = EventFactory()
    log = [f.scenario_started()] + f.to_operational("s", t_s=0.0)
    gap = f.event("eclipse_entered", "s", t_s=9.0).model_copy(update={"seq": 7})
    err = _unchanged_after_error(log, gap, EventOrderError)
    assert "seq 7, expected 6 (gap)" in str(err) and "'s'" in str(err)
    dup = log[-1]
    err = _unchanged_after_error(log, dup, EventOrderError)
    assert "duplicate" in str(err)
    run_gap = f.event("scenario_finished", t_s=9.0).model_copy(update={"seq": 3})
    assert "run-level seq 3, expected 2" in str(
        _unchanged_after_error(log, run_gap, EventOrderError)
    )


def test_time_backwards_other_run_and_misplaced_start_raise() -> None:
    f = EventFactory()
    log = [f.scenario_started()] + f.to_operational("s", t_s=100.0)
    back = f.event("eclipse_entered", "s", t_s=50.0)
    assert "backwards" in str(_unchanged_after_error(log, back, EventOrderError))
    other = EventFactory(run_id="other").event("launched", "t", t_s=200.0)
    assert "other" in str(_unchanged_after_error(log, other, EventOrderError))
    again = f.scenario_started(t_s=300.0).model_copy(update={"seq": 2})
    assert "first event" in str(_unchanged_after_error(log, again, EventOrderError))


def test_snapshot_round_trip_is_exact() -> None:
    log = two_satellite_run()
    for cut in (0, 1, 9, 13, 16, len(log)):
        state = fold(log[:cut])
        snap = state.to_snapshot()
        thawed = FleetState.from_snapshot(snap)
        assert thawed.to_snapshot() == snap
        assert thawed.summary() == state.summary()
        resumed = fold(log[cut:], thawed)
        assert resumed.to_snapshot() == fold(log).to_snapshot()


def test_bad_snapshots_raise() -> None:
    with pytest.raises(SnapshotError, match="not a FleetState snapshot"):
        FleetState.from_snapshot(b"\x00garbage")
    with pytest.raises(SnapshotError, match="snapshot_version 99"):
        FleetState.from_snapshot(b'{"snapshot_version": 99}')
    with pytest.raises(SnapshotError, match="corrupt"):
        FleetState.from_snapshot(b'{"snapshot_version": %d}' % SNAPSHOT_VERSION)


def test_events_without_scenario_started_use_first_time_as_origin() -> None:
    f = EventFactory()
    s = fold(f.to_operational("s", t_s=30.0))
    assert s.sim_time_s == 4.0
    assert s.run_id == "test-run"
    assert s.count("planned") == 0


def test_partitions_folded_apart_add_up_exactly_to_the_whole_log() -> None:
    """What a Kafka projector relies on: fold each partition (events keyed by satellite) on
    its own; the integrals added at a common time equal the fold of the whole log, exactly."""
    from twin.sim.engine import config_from_scenario, simulate
    from twin.sim.scenario import resolve_scenario

    events = simulate(config_from_scenario(resolve_scenario("demo"), until_s=86400.0), 3)
    whole = fold(events)
    parts = [FleetState() for _ in range(3)]
    for e in events:
        key = e.satellite or e.run_id
        parts[sum(key.encode()) % 3].apply(e)
    t_ms = max(p.sim_time_ms for p in parts)
    assert t_ms == whole.sim_time_ms
    summed = [sum(col) for col in zip(*(p.integrals_ms(t_ms) for p in parts), strict=True)]
    assert summed == whole.integrals_ms()
    assert sum(p.compute_online for p in parts) == whole.compute_online
    assert sum(p.in_shadow for p in parts) == whole.in_shadow


def test_spares_of_partitions_folded_apart_are_the_whole_logs() -> None:
    """Spares are one run-level stock: the fold that holds the run partition reports it (the
    others report 0), exactly, whichever partition held the newest repair."""
    from twin.events import stream_key
    from twin.sim.engine import config_from_scenario, simulate
    from twin.sim.scenario import resolve_scenario

    events = simulate(config_from_scenario(resolve_scenario("demo"), until_s=3 * 86400.0), 3)
    changes = [e for e in events if e.type == "spares_changed"]
    assert {e.cause for e in changes} >= {"repair"}
    whole = fold(events)
    assert whole.summary()["repair"]["spares_left"] == changes[-1].spares_left
    for n in (2, 3, 6):
        parts = [FleetState() for _ in range(n)]
        for e in events:
            parts[sum(stream_key(e).encode()) % n].apply(e)

        def spares(state: FleetState) -> float:
            return next(s.value for s in state.collect() if s.name == "twin_repair_spares")

        assert sum(spares(p) for p in parts) == spares(whole) == changes[-1].spares_left
        merged = FleetState.merge(parts)
        assert merged.summary()["repair"]["spares_left"] == changes[-1].spares_left
