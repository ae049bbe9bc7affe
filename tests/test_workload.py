"""The compute service: exact job timelines, ground contacts against the analytic pass, the
invariants of a real run (interruptions at their cause, goodput within what was computed),
determinism and partition-exact folds of job events."""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from summaries import assert_same_summary

from services.kafka.publisher import partition_for
from twin import events as ev
from twin.constants import SECONDS_PER_HOUR
from twin.errors import InputError
from twin.physics.contacts import contact_table, overhead_pass_duration_s
from twin.physics.geometry import EARTH_ROTATION_RAD_S, Station
from twin.physics.links import hops_between, max_link_angle_deg, ring_clusters
from twin.physics.orbits import walker_delta
from twin.physics.propagate import propagate
from twin.projections import FleetState, fold
from twin.sim.engine import Engine, config_from_scenario, simulate
from twin.sim.scenario import parse_scenario, resolve_scenario
from twin.timeutil import parse_time

# Two satellites 1 km apart in a 650 km dawn-dusk orbit: no eclipse in November (the
# season is May–August), no failures, in service at the epoch; each computes on 8
# accelerators (a 3.0 kW array carries 8 × 300 W + 400 W).
PAIR = """
[scenario]
name = "pair"
epoch = "2026-11-23T00:00:00Z"
duration = "1d"
seed = 3

[[constellation.shells]]
kind = "sso"
altitude_km = 650
ltan_hours = 18.0
planes = 1
sats_per_plane = 2
along_track_spacing_km = 1.0

[bus]
array_area_m2 = 12.0
array_efficiency = 0.22
battery_wh = 3000.0
max_depth_of_discharge = 0.35
bus_idle_w = 400.0
accelerators = 8
accelerator_w = 300.0
accelerator_tflops = 918.0
radiator_area_m2 = 6.0
radiator_emissivity = 0.92
radiator_absorptivity = 0.15
radiator_temperature_k = 293.15

[workload]
isl_max_range_km = 5.0

[[workload.training]]
name = "llm"
satellites = 2
work_accelerator_hours = 80.0
checkpoint_every = "1h"
checkpoint_cost = "6m"
restart_cost = "12m"
submit_at = ["0s"]
"""


def _run_pair(faults_s: list[float], reboot_s: float = 600.0) -> list[Any]:
    """Run PAIR with transient faults of satellite 0 at ``faults_s`` (each rebooting after
    ``reboot_s``), injected through the engine's own transitions."""
    cfg = config_from_scenario(parse_scenario(PAIR, "pair.toml"))
    out: list[Any] = []
    engine = Engine(cfg, 3, out.append)
    engine.start()
    sat = engine.sats[0]

    def inject() -> Any:
        for t in faults_s:
            yield engine.env.timeout(t - engine.env.now)
            engine._transition(
                sat, ev.FaultDetected, component="avionics", kind="transient", in_saa=False
            )
            yield engine.env.timeout(reboot_s)
            engine._transition(sat, ev.Rebooted, downtime_s=reboot_s)

    engine.env.process(inject())
    engine.run()
    engine.finish()
    return out


def _seconds(event: Any) -> float:
    return (parse_time(event.sim_time) - parse_time("2026-11-23T00:00:00Z")).total_seconds()


def _job_timeline(events: list[Any]) -> list[tuple[str, float, dict[str, Any]]]:
    keep = {
        "job_started": ("restart", "wait_s", "saved_accelerator_s"),
        "job_checkpointed": ("saved_accelerator_s", "gained_accelerator_s"),
        "job_interrupted": ("cause_event", "lost_accelerator_s", "saved_accelerator_s"),
        "job_completed": ("gained_accelerator_s", "completion_s"),
        "job_submitted": ("accelerators", "work_accelerator_s"),
    }
    return [
        (e.type, _seconds(e), {k: getattr(e, k) for k in keep[e.type]})
        for e in events
        if e.type in keep
    ]


def test_one_cluster_with_known_interruptions_loses_exactly_the_unsaved_work() -> None:
    rate = 16.0  # two satellites × 8 accelerators
    hour, ckpt, restart, reboot = 3600.0, 360.0, 720.0, 600.0
    seg = hour * rate  # work of one checkpoint interval, accelerator-seconds
    # t = 0: start; checkpoints after 1 h of computing plus 6 min of writing each
    c1 = hour + ckpt  # 3960: saved one segment
    c2 = c1 + hour + ckpt  # 7920: saved two
    f1 = 9000.0  # fault while computing: loses (9000 − 7920) s of work
    s1 = f1 + reboot  # back after the reboot: restart
    f2 = s1 + restart + hour + 80.0  # fault while the next checkpoint is being written
    s2 = f2 + reboot
    c3 = s2 + restart + hour + ckpt
    c4 = c3 + hour + ckpt
    done = c4 + hour  # the last segment needs no checkpoint
    events = _run_pair([f1, f2], reboot)
    assert _job_timeline(events) == [
        ("job_submitted", 0.0, {"accelerators": 16, "work_accelerator_s": 80 * 3600.0}),
        ("job_started", 0.0, {"restart": False, "wait_s": 0.0, "saved_accelerator_s": 0.0}),
        ("job_checkpointed", c1, {"saved_accelerator_s": seg, "gained_accelerator_s": seg}),
        ("job_checkpointed", c2, {"saved_accelerator_s": 2 * seg, "gained_accelerator_s": seg}),
        (
            "job_interrupted",
            f1,
            {
                "cause_event": "fault_detected",
                "lost_accelerator_s": (f1 - c2) * rate,
                "saved_accelerator_s": 2 * seg,
            },
        ),
        ("job_started", s1, {"restart": True, "wait_s": reboot, "saved_accelerator_s": 2 * seg}),
        (
            "job_interrupted",
            f2,
            {
                "cause_event": "fault_detected",
                "lost_accelerator_s": seg,  # computed, not yet saved
                "saved_accelerator_s": 2 * seg,
            },
        ),
        ("job_started", s2, {"restart": True, "wait_s": reboot, "saved_accelerator_s": 2 * seg}),
        ("job_checkpointed", c3, {"saved_accelerator_s": 3 * seg, "gained_accelerator_s": seg}),
        ("job_checkpointed", c4, {"saved_accelerator_s": 4 * seg, "gained_accelerator_s": seg}),
        ("job_completed", done, {"gained_accelerator_s": seg, "completion_s": done}),
    ]
    assert done == 26840.0
    w = fold(events).summary()["workload"]
    assert w["training_goodput_accelerator_hours"] == 80.0
    assert w["lost_accelerator_hours"] == pytest.approx(((f1 - c2) * rate + seg) / 3600.0)
    assert w["lost_accelerator_hours_by_cause"] == {"fault_detected": w["lost_accelerator_hours"]}
    assert w["jobs"] == {"submitted": 1, "queued": 0, "running": 0, "completed": 1}
    assert w["job_completion_s"]["sum_s"] == done
    assert w["job_wait_s"]["count"] == 3 and w["job_wait_s"]["sum_s"] == 2 * reboot


def test_without_interruptions_the_job_finishes_after_its_work_and_checkpoints() -> None:
    events = _run_pair([])
    done = [e for e in events if e.type == "job_completed"]
    # 5 h of computing and 4 checkpoints of 6 min
    assert [_seconds(e) for e in done] == [5 * 3600.0 + 4 * 360.0]
    assert not [e for e in events if e.type == "job_interrupted"]


def test_station_under_a_circular_equatorial_orbit_sees_the_analytic_pass() -> None:
    fleet = walker_delta(
        altitude_km=550.0,
        inclination_deg=0.0,
        planes=1,
        sats_per_plane=1,
        phasing=0,
        epoch=parse_time("2026-11-23T00:00:00Z"),
        shell=0,
    )
    epoch = parse_time("2026-11-23T00:00:00Z")
    station = Station("equator", 0.0, 30.0, 0.0)
    for mask in (10.0, 25.0):
        table = contact_table(fleet.satrecs, epoch, 0.0, 86400.0, [station], [mask])
        full = ~np.isnan(table.aos_s) & ~np.isnan(table.los_s)
        assert full.sum() >= 10  # ~14.5 passes a day, minus the Earth's turn
        for aos, los in zip(table.aos_s[full], table.los_s[full], strict=True):
            mid = (aos + los) / 2.0
            st = propagate(fleet, epoch, [mid])
            r = st.r_teme_km[0, 0]
            v = st.v_teme_km_s[0, 0]
            radius = float(np.linalg.norm(r))
            inertial = float(np.linalg.norm(np.cross(r, v))) / radius**2
            want = overhead_pass_duration_s(radius, inertial - EARTH_ROTATION_RAD_S, mask)
            assert los - aos == pytest.approx(want, abs=1.0)


def test_isl_chains_follow_the_link_range() -> None:
    # 24 satellites 15° apart at 550 km: 1,808 km between neighbours
    angle = max_link_angle_deg(550.0, 2000.0)
    assert 15.0 < angle < 17.0
    assert max_link_angle_deg(550.0, 1e6) == 180.0
    phases = np.arange(24) * 15.0
    assert set(ring_clusters(phases, angle).tolist()) == {0}
    assert len(set(ring_clusters(phases, 10.0).tolist())) == 24
    # a gap (a satellite out of service) splits the ring only when it breaks the chain twice
    rest = np.delete(phases, [3, 12])
    assert ring_clusters(rest, angle).tolist() == [0, 0, 0] + [1] * 8 + [0] * 11
    assert hops_between(0.0, 45.0, angle) == 3
    assert hops_between(350.0, 5.0, angle) == 1


def test_workload_errors_name_the_line_and_what_is_allowed() -> None:
    bad = PAIR.replace("satellites = 2\n", "")
    with pytest.raises(InputError) as exc:
        parse_scenario(bad, "pair.toml")
    assert exc.value.location.field == "workload.training[0]"
    assert "exactly one of satellites = N or accelerators = N" in str(exc.value)
    bad = PAIR + (
        '\n[[workload.inference]]\nname = "chat"\nwork_per_request_accelerator_s = 1.0\n'
        'latency_budget_ms = 100.0\n[[workload.inference.regions]]\nname = "eu"\n'
        'station = "nowhere"\nrequests_per_s = 1.0\n'
    )
    with pytest.raises(InputError) as exc:
        parse_scenario(bad, "pair.toml")
    assert exc.value.location.field == "workload.inference[0].regions[0].station"
    assert exc.value.location.line == bad.splitlines().index('station = "nowhere"') + 1


# ------------------------------------------------------------------ a real run


@pytest.fixture(scope="module")
def demo_events() -> list[Any]:
    cfg = config_from_scenario(resolve_scenario("demo"), until_s=2 * 86400.0)
    return simulate(cfg, 42)


#: Event types after which a satellite no longer computes (or computes less).
STOPS = {"load_shed", "fault_detected", "deorbit_started", "repair_requested"}


def test_every_interruption_coincides_with_its_cause_event(demo_events: list[Any]) -> None:
    interrupted = [e for e in demo_events if e.type == "job_interrupted"]
    assert interrupted, "the demo interrupts jobs within two days"
    by_offset = {e.offset: e for e in demo_events}
    for event in interrupted:
        assert event.cause_event in STOPS
        # the cause satellite's event at the same sim time, emitted just before
        k = event.offset - 1
        while by_offset[k].type == "job_interrupted":
            k -= 1
        same_time = [
            e
            for e in demo_events[max(0, k - 5) : event.offset]
            if e.satellite == event.cause_satellite and e.sim_time == event.sim_time
        ]
        assert [e.type for e in same_time][-1:] == [event.cause_event], event
        cause = same_time[-1]
        assert cause.telemetry.compute_online == 0 or cause.type == "fault_detected"


def test_goodput_never_exceeds_what_was_computed(demo_events: list[Any]) -> None:
    state = FleetState()
    checks = 0
    for event in demo_events:
        state.apply(event)
        if event.type in ("job_checkpointed", "job_completed", "inference_reported"):
            w = state.summary()["workload"]
            assert w["goodput_accelerator_hours"] <= w["available_accelerator_hours"] + 1e-9
            checks += 1
    assert checks > 10
    w = state.summary()["workload"]
    assert w["training_goodput_accelerator_hours"] > 0
    assert w["inference_served"] > 0 and w["inference_unserved"] > 0
    assert 0 < w["goodput_ratio"] < 1
    contacts = state.summary()["contacts"]
    assert set(contacts["seconds_by_station"]) == {"svalbard", "punta-arenas", "hartebeesthoek"}


def test_job_events_fold_partition_exactly(demo_events: list[Any]) -> None:
    parts: dict[int, list[Any]] = defaultdict(list)
    for event in demo_events:
        parts[partition_for(ev.stream_key(event).encode(), 6)].append(event)
    jobs_in: dict[str, set[int]] = defaultdict(set)
    for p, events in parts.items():
        for e in events:
            if e.type in ev.JOB_EVENT_TYPES:
                jobs_in[e.job].add(p)
    assert jobs_in and all(len(ps) == 1 for ps in jobs_in.values())
    assert len({p for ps in jobs_in.values() for p in ps}) > 1  # jobs spread over partitions
    merged = FleetState.merge([fold(events) for events in parts.values()])
    whole = fold(demo_events)
    for section in ("workload", "contacts", "integrals"):
        assert_same_summary(merged.summary()[section], whole.summary()[section], section)
    again = FleetState.from_snapshot(whole.to_snapshot())
    assert again.summary() == whole.summary()


def test_job_streams_are_checked_like_satellites(demo_events: list[Any]) -> None:
    from twin.projections import EventOrderError

    job = next(e for e in demo_events if e.type == "job_started")
    before = [e for e in demo_events if e.offset < job.offset]
    state = fold(before)
    state.apply(job)
    with pytest.raises(EventOrderError, match="seq"):
        state.apply(job.model_copy(update={"offset": job.offset + 1}))


def test_the_same_seed_gives_the_same_log() -> None:
    cfg = config_from_scenario(parse_scenario(PAIR, "pair.toml"))
    a = [ev.encode(e) for e in simulate(cfg, 5)]
    b = [ev.encode(e) for e in simulate(cfg, 5)]
    assert a == b


def test_job_events_are_keyed_by_job_in_the_sqlite_partitions(tmp_path: Path) -> None:
    from services.cli import main
    from services.projector.sqlite_source import SqlitePartitionedLog

    log = tmp_path / "demo.twinlog"
    assert main(["run", "demo", "--until", "12h", "--log", str(log), "--quiet"]) == 0
    source = SqlitePartitionedLog(log, partitions=6)
    try:
        seen = 0
        for p in source.partitions():
            for record in source.read(p, 0, 10**7):
                event = ev.decode(record.value)
                assert record.key == ev.stream_key(event).encode()
                assert partition_for(record.key, 6) == p
                seen += event.type in ev.JOB_EVENT_TYPES
        assert seen > 0
    finally:
        source.close()


def test_diurnal_demand_peaks_in_the_evening() -> None:
    cfg = config_from_scenario(resolve_scenario("demo"), until_s=3600.0)
    engine = Engine(cfg, 1, lambda e: None)
    service = engine.workload
    assert service is not None
    region = cfg.scenario.workload.inference[0].regions[0]  # europe via Svalbard (15.4° E)
    local_offset_h = 15.4078 / 15.0
    peak_utc_s = ((20.0 - local_offset_h) % 24.0) * SECONDS_PER_HOUR
    assert service._rate(region, peak_utc_s) == pytest.approx(15.0)
    assert service._rate(region, peak_utc_s + 12 * SECONDS_PER_HOUR) == pytest.approx(5.0)
    assert math.isclose(service._rate(region, peak_utc_s + 6 * SECONDS_PER_HOUR), 10.0)


@pytest.mark.parametrize("until_s", [5400.0, 4 * 3600.0])
def test_inference_reports_cover_the_run_to_its_horizon(until_s: float) -> None:
    """Every region's reports tile [0, horizon], the last (partial) interval included: an
    interval ending at the horizon itself is reported before scenario_finished."""
    events = simulate(config_from_scenario(resolve_scenario("demo"), until_s=until_s), 42)
    spans: dict[str, float] = defaultdict(float)
    for e in events:
        if isinstance(e, ev.InferenceReported):
            spans[e.region] += e.interval_s
    assert spans and all(span == pytest.approx(until_s) for span in spans.values()), spans
    assert isinstance(events[-1], ev.ScenarioFinished)
    assert _seconds(events[-2]) == pytest.approx(until_s)
