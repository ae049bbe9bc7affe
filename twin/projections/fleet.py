"""The core projection: every event checked, and the fleet's timeline kept exactly.

:class:`FleetCore` is the part of the fold every state has. Applying an event checks it before
changing anything, so a rejected event leaves the state as it was:

* the satellite's transition is legal (:func:`twin.lifecycle.check`, raising
  :class:`twin.errors.IllegalTransition`);
* ``seq`` continues its stream's sequence exactly (:func:`twin.events.stream_key`: the
  satellite's, a job's, a robot pool's stock of spares, or the run's own);
  ``sim_time`` does not go backwards; the event belongs to the same run
  (:class:`EventOrderError`).

It keeps the run's facts (from ``scenario_started``), the position in the log, one record per
satellite (lifecycle state, shadow, telemetry) and counts by state, shell and plane, and it
integrates over simulation time, per satellite: between two of its events a satellite's power,
compute and shadow are constant, so each event first closes ``rate × (t_event − t_previous
event of this satellite)`` and then changes the rates. The open intervals up to a time T are
``T·R − W`` with R the fleet totals and W = Σ rate·t_last, both kept incrementally. Times are
integer milliseconds (wire times have ms resolution) and the integrals exact integers, so the
result does not depend on how satellites interleave: folding each Kafka partition on its own and
adding the partitions' integrals at a common T gives exactly the fold of the whole log
(:meth:`FleetCore.merge`). Power totals are summed in integer milliwatts so that adding and
removing a satellite's telemetry millions of times leaves no floating-point drift.

**Energy that adds up.** Telemetry's ``power_generated_w`` is what the array *can* give
(available), not what is used. Each telemetry event that reports the battery's stored energy
closes the interval since the satellite's previous one (the rates are constant in between:
they change only at telemetry events) in integer microjoules (mW × ms)::

    available  = generated_mW × Δt        load = consumed_mW × Δt
    Δstored    = stored_now − stored_then  (charged if > 0, discharged if < 0)
    harvested  = load + Δstored            curtailed = available − harvested

so ``available = harvested + curtailed`` and ``harvested = load + Δstored`` hold exactly, per
satellite and (as sums of integers) fleet-wide and across partitions, whatever events arrive:
a satellite's totals telescope to its first and latest telemetry. Accounting starts at
``deployed`` (arrays out, bus on), for every satellite. The engine's battery is ideal
(charge and discharge efficiency 1), so there is no loss term; curtailed energy is array
output with nowhere to go (battery full, load capped).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn

import numpy as np

from twin.constants import SECONDS_PER_DAY, SECONDS_PER_HOUR
from twin.errors import TwinError
from twin.events import (
    EventBase,
    ScenarioFinished,
    ScenarioStarted,
    Telemetry,
    field,
    pool_stream,
)
from twin.lifecycle import IN_ORBIT, TERMINAL, TRANSITIONS, State, check, target
from twin.projections.specs import HistogramSample, MetricSpec, Sample, restore_error

SOC_BINS = 10
"""The SoC histogram has this many equal bins over [0, 1] (1.0 falls in the last)."""

_PLANNED: str = State.PLANNED.value
_LOAD_SHED: str = State.LOAD_SHED.value
_IN_ORBIT = frozenset(s.value for s in IN_ORBIT)
_TERMINAL = frozenset(s.value for s in TERMINAL)


def _legal_targets() -> dict[tuple[str, str, bool], str]:
    """Every legal (event type, state, in shadow after) -> new state, from the state machine.

    States are kept as plain strings in the fold: enum members hash through Python code, which
    costs more than the rest of the transition at a million events.
    """
    table: dict[tuple[str, str, bool], str] = {}
    for event_type in TRANSITIONS:
        for state in State:
            for shadow in (False, True):
                if state in TRANSITIONS[event_type][0]:
                    table[event_type, state.value, shadow] = target(event_type, state, shadow).value
    return table


_TARGETS = _legal_targets()
_ONE_MS = timedelta(milliseconds=1)
_MWS_PER_KWH = 1000.0 * 3.6e6  # milliwatt-seconds in a kilowatt-hour
_UNIX = datetime(1970, 1, 1, tzinfo=UTC)


class EventOrderError(TwinError):
    """An event does not continue the fold: a ``seq`` gap or duplicate, ``sim_time`` going
    backwards, an event of another run, or a run-level event out of place."""

    def __init__(
        self, problem: str, *, offset: int, sim_time: str, satellite: str | None = None
    ) -> None:
        self.problem = problem
        self.offset = offset
        self.sim_time = sim_time
        self.satellite = satellite
        who = f"satellite {satellite!r}" if satellite is not None else "run-level event"
        super().__init__(f"event at offset {offset} ({who}, {sim_time}): {problem}")


class SatRecord:
    """One satellite's timeline (slots: the fold touches one per event)."""

    __slots__ = (
        "shell",
        "plane",
        "state",
        "in_shadow",
        "has_telemetry",
        "soc",
        "generated_mw",
        "consumed_mw",
        "compute_online",
        "seq",
        "last_type",
        "last_sim_time",
        "last_ms",
        "stored_uj",
        "energy_ms",
        "energy_uj",
    )

    def __init__(self, shell: int, plane: int) -> None:
        self.shell = shell
        self.plane = plane
        self.state = _PLANNED
        self.in_shadow = False
        self.has_telemetry = False
        self.soc = 0.0
        self.generated_mw = 0
        self.consumed_mw = 0
        self.compute_online = 0
        self.seq = 0
        self.last_type = ""
        self.last_sim_time = ""
        self.last_ms = 0
        """Unix milliseconds of this satellite's last event (where its open interval starts)."""
        self.stored_uj: int | None = None
        """Battery energy at the latest telemetry that reported it, µJ (None before any)."""
        self.energy_ms = 0
        """Unix ms of that telemetry (where the energy split's open interval starts)."""
        self.energy_uj = [0, 0, 0, 0]
        """This satellite's closed energy split, µJ: available, load, charged, discharged."""

    def to_list(self) -> list[Any]:
        return [getattr(self, name) for name in self.__slots__]

    @classmethod
    def from_list(cls, values: list[Any]) -> SatRecord:
        rec = cls(0, 0)
        for name, value in zip(cls.__slots__, values, strict=True):
            setattr(rec, name, value)
        return rec


_RUN_FIELDS = (
    "run_id",
    "scenario",
    "seed",
    "epoch",
    "until",
    "satellites_planned",
    "shells",
    "accelerators_per_satellite",
    "tflops_per_accelerator",
    "accelerator_w",
    "robots",
    "spares",
    "finished",
)
# Plain attributes saved as-is in a snapshot (JSON types round-trip exactly: floats use repr).
_SIMPLE_FIELDS = (
    *_RUN_FIELDS,
    "owns_run",
    "sim_time",
    "sim_time_s",
    "last_offset",
    "events_applied",
    "_run_seq",
    "compute_online",
    "generated_mw",
    "consumed_mw",
    "in_shadow",
    "events_by_type",
    "sim_time_ms",
    "closed",
    "weighted",
    "job_seq",
    "pool_seq",
    "energy_uj",
)

_UJ_PER_WH = 3.6e9
_ENERGY_KEYS = ("available", "load", "charged", "discharged")


def _parse_time(text: str) -> datetime:
    dt = datetime.fromisoformat(text)  # accepts the trailing "Z" (Python >= 3.11)
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt


def integrals_report(ms: Sequence[int], tflops_per_accelerator: float) -> dict[str, float]:
    """Exact ms integrals (:meth:`FleetCore.integrals_ms`) in reporting units."""
    accelerator_s = ms[0] / 1000.0
    return {
        "compute_accelerator_hours": accelerator_s / SECONDS_PER_HOUR,
        "compute_pflop_days": accelerator_s * tflops_per_accelerator / SECONDS_PER_DAY / 1000.0,
        "energy_generated_kwh": ms[1] / 1000.0 / _MWS_PER_KWH,
        "energy_consumed_kwh": ms[2] / 1000.0 / _MWS_PER_KWH,
        "eclipse_satellite_s": ms[3] / 1000.0,
        "load_shed_satellite_s": ms[4] / 1000.0,
    }


def energy_report(uj: Sequence[int]) -> dict[str, float]:
    """An energy split in µJ ``(available, load, charged, discharged)`` in joules, with
    harvested and curtailed derived exactly (in integers) before the conversion."""
    available, load, charged, discharged = uj
    harvested = load + charged - discharged
    values = {
        "available_j": available,
        "harvested_j": harvested,
        "curtailed_j": available - harvested,
        "load_j": load,
        "battery_charged_j": charged,
        "battery_discharged_j": discharged,
    }
    return {key: v / 1e6 for key, v in values.items()}


JOULES_PER_KWH = 3.6e6

# Prometheus base units (seconds, joules, FLOP); boards show human units through recording
# rules (prometheus/rules/recording.yml). Closed intervals only in metrics (see collect).
_INTEGRAL_METRICS = {
    # summary key -> (counter, help, base unit, factor from the summary's unit to the base unit)
    "compute_accelerator_hours": (
        "twin_compute_delivered_accelerator_seconds_total",
        "Accelerator-seconds computed since the run started.",
        "accelerator-seconds",
        SECONDS_PER_HOUR,
    ),
    "compute_pflop_days": (
        "twin_compute_delivered_flop_total",
        "Floating-point operations delivered since the run started, FLOP.",
        "FLOP",
        1e15 * SECONDS_PER_DAY,
    ),
    "energy_generated_kwh": (
        "twin_energy_generated_joules_total",
        "Energy generated by the arrays, J.",
        "J",
        JOULES_PER_KWH,
    ),
    "energy_consumed_kwh": (
        "twin_energy_consumed_joules_total",
        "Energy consumed by the fleet, J.",
        "J",
        JOULES_PER_KWH,
    ),
    "eclipse_satellite_s": (
        "twin_eclipse_satellite_seconds_total",
        "Satellite-seconds spent in Earth's shadow.",
        "satellite-seconds",
        1.0,
    ),
    "load_shed_satellite_s": (
        "twin_load_shed_satellite_seconds_total",
        "Satellite-seconds with compute shed at the battery floor.",
        "satellite-seconds",
        1.0,
    ),
}


def _integral_property(k: int, doc: str) -> Any:
    return property(
        lambda self: self.integrals_ms()[k] / 1000.0, doc=doc + " Up to the last event."
    )


def _report_property(key: str) -> Any:
    return property(lambda self: self.integrals()[key], doc=f"``integrals()[{key!r}]``.")


class FleetCore:
    """The run, the log position, every satellite's timeline, counts and exact integrals.

    Public attributes are read-only for callers (only :meth:`apply` changes them).
    ``owns_run`` is True once this fold applied ``scenario_started``: only then do the run's
    planned satellites, robots and spares count in additive views (a partition without the
    run-level events reports them as 0, so sums over partitions are the fleet's).
    """

    name = "fleet"
    version = 6

    metrics: tuple[MetricSpec, ...] = (
        MetricSpec("twin_satellites", "gauge", "Satellites by lifecycle state.", ("state",)),
        MetricSpec(
            "twin_shell_satellites",
            "gauge",
            "Satellites by shell and lifecycle state.",
            ("shell", "state"),
        ),
        MetricSpec(
            "twin_satellites_planned", "gauge", "Satellites in the scenario, launched or not."
        ),
        MetricSpec("twin_compute_online_accelerators", "gauge", "Accelerators computing now."),
        MetricSpec(
            "twin_compute_online_flops", "gauge", "Compute online now, FLOP/s.", unit="FLOP/s"
        ),
        MetricSpec(
            "twin_power_generated_watts", "gauge", "Solar array output of the fleet, W.", unit="W"
        ),
        MetricSpec(
            "twin_power_consumed_watts",
            "gauge",
            "Power drawn by the fleet (bus + compute), W.",
            unit="W",
        ),
        MetricSpec(
            "twin_battery_soc_ratio",
            "gaugehistogram",
            "Battery state of charge (0..1) across satellites with telemetry.",
            unit="ratio",
        ),
        MetricSpec("twin_satellites_in_shadow", "gauge", "Satellites in Earth's shadow now."),
        MetricSpec(
            "twin_satellites_load_shed",
            "gauge",
            "Satellites that shed compute at the battery floor.",
        ),
        *(
            MetricSpec(name, "counter", help, unit=unit)
            for name, help, unit, _ in _INTEGRAL_METRICS.values()
        ),
        MetricSpec(
            "twin_energy_available_joules_total",
            "counter",
            "Energy the arrays could deliver (their output in sunlight and penumbra), J.",
            unit="J",
        ),
        MetricSpec(
            "twin_energy_harvested_joules_total",
            "counter",
            "Array energy used: drawn by the load or stored in the battery, J.",
            unit="J",
        ),
        MetricSpec(
            "twin_energy_curtailed_joules_total",
            "counter",
            "Array energy with nowhere to go (battery full, load capped), J.",
            unit="J",
        ),
        MetricSpec(
            "twin_battery_charged_joules_total",
            "counter",
            "Energy stored into the batteries, J.",
            unit="J",
        ),
        MetricSpec(
            "twin_battery_discharged_joules_total",
            "counter",
            "Energy drawn from the batteries, J.",
            unit="J",
        ),
        MetricSpec(
            "twin_sim_time_timestamp_seconds",
            "gauge",
            "Simulation time of the last event, Unix seconds.",
            unit="s",
            aggregate="max",
        ),
    )

    def __init__(self) -> None:
        # run info (from scenario_started)
        self.run_id: str | None = None
        self.scenario: str | None = None
        self.seed: int | None = None
        self.epoch: str | None = None
        self.until: str | None = None
        self.satellites_planned = 0
        self.shells: list[dict[str, Any]] = []
        self.accelerators_per_satellite = 0
        self.tflops_per_accelerator = 0.0
        self.accelerator_w = 0.0
        self.robots = 0
        self.spares = 0
        self.finished = False
        self.owns_run = False
        # position in the log
        self.sim_time: str | None = None
        self.sim_time_s = 0.0
        self.last_offset: int | None = None
        self.events_applied = 0
        self._run_seq = 0
        self._epoch_dt: datetime | None = None
        self._next_epoch_dt: datetime | None = None
        self._next_ms = 0
        # satellites and counts
        self.sats: dict[str, SatRecord] = {}
        self.by_state: dict[str, int] = {}
        self.by_shell_state: dict[tuple[int, str], int] = {}
        self.by_shell_plane: dict[tuple[int, int], int] = {}
        """Satellites in orbit (any :data:`twin.lifecycle.IN_ORBIT` state) by (shell, plane)."""
        # fleet totals
        self.compute_online = 0
        self.generated_mw = 0
        self.consumed_mw = 0
        self.in_shadow = 0
        self.events_by_type: dict[str, int] = {}
        self.job_seq: dict[str, int] = {}
        """Last ``seq`` of each job stream folded here (-1 once the job completed)."""
        self.pool_seq: dict[str, int] = {}
        """Last ``seq`` of each robot pool's stock stream folded here (``spares_per = "pool"``)."""
        # integrals over simulation time, exact integers in ms units (see the module docstring):
        # closed[k] = Σ closed intervals of rate k; weighted[k] = Σ_sats rate_k · last_ms;
        # rates k: accelerators, generated mW, consumed mW, in shadow, load shed
        self.sim_time_ms = 0
        self.closed = [0, 0, 0, 0, 0]
        self.weighted = [0, 0, 0, 0, 0]
        # the energy split, µJ, closed at each satellite's latest telemetry (module docstring)
        self.energy_uj = [0, 0, 0, 0]

    # ------------------------------------------------------------------ apply

    def apply(self, event: EventBase) -> bool:
        """Apply one event in place; on error nothing is changed. True if the event's
        satellite reached a terminal state (the other projections then retire it)."""
        same_time = event.sim_time == self.sim_time  # parse each distinct time once
        t_s = self.sim_time_s if same_time else self._seconds(event)
        if event.run_id != self.run_id and self.run_id is not None:
            self._order_error(event, f"run_id {event.run_id!r} is not this log's {self.run_id!r}")
        sat_id = event.satellite
        retired = False
        if sat_id is None:
            job = field(event, "job")
            pool = pool_stream(event) if job is None else None
            if job is not None:
                self._apply_job_event(event, job, t_s)
            elif pool is not None:
                self._apply_pool_event(event, pool, t_s)
            else:
                self._apply_run_event(event, t_s)
        else:
            retired = self._apply_satellite_event(event, sat_id, t_s)
        etype = event.type
        self.events_by_type[etype] = self.events_by_type.get(etype, 0) + 1
        self.run_id = event.run_id
        self.last_offset = event.offset
        self.events_applied += 1
        return retired

    def _seconds(self, event: EventBase) -> float:
        try:
            dt = _parse_time(event.sim_time)
            epoch_dt = self._epoch_dt
            if epoch_dt is None:  # the first event fixes the time origin
                epoch_text = event.epoch if isinstance(event, ScenarioStarted) else event.sim_time
                epoch_dt = _parse_time(epoch_text)
        except ValueError as exc:
            self._order_error(event, f"cannot read time: {exc}")
        t_s = (dt - epoch_dt).total_seconds()
        if self.sim_time is not None and t_s < self.sim_time_s:
            self._order_error(event, f"sim_time goes backwards (previous event at {self.sim_time})")
        self._next_epoch_dt = epoch_dt  # adopted by _advance once the event is accepted
        delta = dt - _UNIX
        self._next_ms = delta // _ONE_MS
        return t_s

    def _advance(self, t_s: float, sim_time: str) -> None:
        """Move the state's clock to the accepted event's time."""
        if self._epoch_dt is None:
            self._epoch_dt = self._next_epoch_dt
        if sim_time != self.sim_time:
            self.sim_time_ms = self._next_ms
        self.sim_time = sim_time
        self.sim_time_s = t_s

    def _apply_run_event(self, event: EventBase, t_s: float) -> None:
        if event.seq != self._run_seq + 1:
            self._order_error(event, f"run-level seq {event.seq}, expected {self._run_seq + 1}")
        if isinstance(event, ScenarioStarted):
            if self.events_applied:
                self._order_error(event, "scenario_started must be the first event of a run")
            self._start(event)
        elif isinstance(event, ScenarioFinished):
            self.finished = True
        elif event.type in TRANSITIONS:
            self._order_error(event, f"{event.type} must name a satellite")
        # any other run-level type is for the projections that apply it (workloads, links...)
        self._advance(t_s, event.sim_time)
        self._run_seq = event.seq

    def _apply_job_event(self, event: EventBase, job: str, t_s: float) -> None:
        """A job stream's event: ``seq`` continues the job's own sequence (its events share a
        Kafka partition, keyed by the job id); a completed job's stream is closed."""
        last = self.job_seq.get(job, 0)
        if last < 0:
            self._order_error(event, f"job {job!r} already completed")
        if event.seq != last + 1:
            what = "duplicate" if event.seq <= last else "gap"
            self._order_error(event, f"job {job!r} seq {event.seq}, expected {last + 1} ({what})")
        self._advance(t_s, event.sim_time)
        # a completed job keeps only a closed marker (-1), so a late duplicate is refused
        self.job_seq[job] = -1 if event.type == "job_completed" else event.seq

    def _apply_pool_event(self, event: EventBase, pool: str, t_s: float) -> None:
        """A robot pool's stock of spares: ``seq`` continues the pool's own stream (keyed
        ``{run_id}/{pool}``, written by the one engine or shard that simulates the pool)."""
        last = self.pool_seq.get(pool, 0)
        if event.seq != last + 1:
            what = "duplicate" if event.seq <= last else "gap"
            self._order_error(event, f"pool {pool!r} seq {event.seq}, expected {last + 1} ({what})")
        self._advance(t_s, event.sim_time)
        self.pool_seq[pool] = event.seq

    def _start(self, ev: ScenarioStarted) -> None:
        self.run_id = ev.run_id
        self.scenario = ev.scenario
        self.seed = ev.seed
        self.epoch = ev.epoch
        self.until = ev.until
        self.satellites_planned = ev.satellites_planned
        self.shells = [shell.model_dump() for shell in ev.shells]
        self.accelerators_per_satellite = ev.accelerators_per_satellite
        self.tflops_per_accelerator = ev.tflops_per_accelerator
        self.accelerator_w = ev.accelerator_w
        self.robots = ev.robots
        self.spares = ev.spares
        self.owns_run = True

    def _apply_satellite_event(self, event: EventBase, sat_id: str, t_s: float) -> bool:
        etype = event.type
        rec = self.sats.get(sat_id)
        if rec is None:
            current, shadow, last_seq = _PLANNED, False, 0
        else:
            current, shadow, last_seq = rec.state, rec.in_shadow, rec.seq
        if event.seq != last_seq + 1:
            what = "duplicate" if event.seq <= last_seq else "gap"
            self._order_error(event, f"seq {event.seq}, expected {last_seq + 1} ({what})")
        if etype == "eclipse_entered":
            shadow = True
        elif etype == "eclipse_exited":
            shadow = False
        new = _TARGETS.get((etype, current, shadow))
        if new is None:
            if etype not in TRANSITIONS:
                self._order_error(event, f"{etype} is a run-level event but names a satellite")
            check(sat_id, etype, State(current), shadow, event.sim_time)  # raises
            raise AssertionError("unreachable: _TARGETS disagrees with lifecycle.target")
        # -- validated: from here on, mutate
        self._advance(t_s, event.sim_time)
        now_ms = self.sim_time_ms
        if rec is None:
            rec = SatRecord(field(event, "shell", 0), field(event, "plane", 0))
            self.sats[sat_id] = rec
        else:
            self._close(rec, now_ms)
        rec.seq = event.seq
        rec.last_type = etype
        rec.last_sim_time = event.sim_time
        if new != current:
            self._move(rec, current, new)
        if shadow != rec.in_shadow:
            self.in_shadow += 1 if shadow else -1
            rec.in_shadow = shadow
        telemetry: Telemetry | None = field(event, "telemetry")
        if telemetry is not None:
            if telemetry.stored_wh is not None:
                self._account_energy(rec, telemetry.stored_wh, now_ms)
            self._set_telemetry(rec, telemetry)
        retired = new in _TERMINAL
        if retired:
            self._retire(rec)
        self._open(rec, now_ms)
        return retired

    def _close(self, rec: SatRecord, now_ms: int) -> None:
        """Account the satellite's constant rates since its last event, up to ``now_ms``.

        Unrolled over the five rates (this runs on every event; a loop over a tuple of rates
        cost a third of the fold)."""
        dt, last = now_ms - rec.last_ms, rec.last_ms
        closed, weighted = self.closed, self.weighted
        rate = rec.compute_online
        if rate:
            closed[0] += rate * dt
            weighted[0] -= rate * last
        rate = rec.generated_mw
        if rate:
            closed[1] += rate * dt
            weighted[1] -= rate * last
        rate = rec.consumed_mw
        if rate:
            closed[2] += rate * dt
            weighted[2] -= rate * last
        if rec.in_shadow:
            closed[3] += dt
            weighted[3] -= last
        if rec.state == _LOAD_SHED:
            closed[4] += dt
            weighted[4] -= last

    def _open(self, rec: SatRecord, now_ms: int) -> None:
        """Start the satellite's next interval at ``now_ms`` with its new rates."""
        weighted = self.weighted
        if rec.compute_online:
            weighted[0] += rec.compute_online * now_ms
        if rec.generated_mw:
            weighted[1] += rec.generated_mw * now_ms
        if rec.consumed_mw:
            weighted[2] += rec.consumed_mw * now_ms
        if rec.in_shadow:
            weighted[3] += now_ms
        if rec.state == _LOAD_SHED:
            weighted[4] += now_ms
        rec.last_ms = now_ms

    def _account_energy(self, rec: SatRecord, stored_wh: float, now_ms: int) -> None:
        """Close the energy split since the satellite's previous telemetry (before its rates
        change): see the module docstring."""
        stored = round(stored_wh * _UJ_PER_WH)
        if rec.stored_uj is not None:
            dt = now_ms - rec.energy_ms
            delta = stored - rec.stored_uj
            mine, fleet = rec.energy_uj, self.energy_uj
            # unrolled (every telemetry event comes here): available, load, charged, discharged
            available, load = rec.generated_mw * dt, rec.consumed_mw * dt
            mine[0] += available
            fleet[0] += available
            mine[1] += load
            fleet[1] += load
            if delta > 0:
                mine[2] += delta
                fleet[2] += delta
            elif delta < 0:
                mine[3] -= delta
                fleet[3] -= delta
        rec.stored_uj = stored
        rec.energy_ms = now_ms

    def _move(self, rec: SatRecord, old: str, new: str) -> None:
        by_state, by_shell = self.by_state, self.by_shell_state
        shell = rec.shell
        if old != _PLANNED:
            by_state[old] -= 1
            by_shell[shell, old] -= 1
        by_state[new] = by_state.get(new, 0) + 1
        by_shell[shell, new] = by_shell.get((shell, new), 0) + 1
        was_up, is_up = old in _IN_ORBIT, new in _IN_ORBIT
        if was_up != is_up:
            key = (shell, rec.plane)
            self.by_shell_plane[key] = self.by_shell_plane.get(key, 0) + (1 if is_up else -1)
        rec.state = new

    def _set_telemetry(self, rec: SatRecord, tm: Telemetry) -> None:
        generated_mw = round(tm.power_generated_w * 1000.0)
        consumed_mw = round(tm.power_consumed_w * 1000.0)
        if rec.has_telemetry:
            self.generated_mw += generated_mw - rec.generated_mw
            self.consumed_mw += consumed_mw - rec.consumed_mw
            self.compute_online += tm.compute_online - rec.compute_online
        else:
            self.generated_mw += generated_mw
            self.consumed_mw += consumed_mw
            self.compute_online += tm.compute_online
            rec.has_telemetry = True
        rec.soc = tm.soc
        rec.generated_mw = generated_mw
        rec.consumed_mw = consumed_mw
        rec.compute_online = tm.compute_online

    def _retire(self, rec: SatRecord) -> None:
        """A satellite reached a terminal state: it no longer counts in any fleet total."""
        if rec.has_telemetry:
            self.generated_mw -= rec.generated_mw
            self.consumed_mw -= rec.consumed_mw
            self.compute_online -= rec.compute_online
            rec.has_telemetry = False
            rec.generated_mw = rec.consumed_mw = rec.compute_online = 0
        if rec.in_shadow:
            self.in_shadow -= 1
            rec.in_shadow = False

    def _order_error(self, event: EventBase, problem: str) -> NoReturn:
        raise EventOrderError(
            problem, offset=event.offset, sim_time=event.sim_time, satellite=event.satellite
        )

    # ------------------------------------------------------------------ integrals

    def integrals_ms(self, at_ms: int | None = None) -> list[int]:
        """Exact integrals up to ``at_ms`` (Unix ms; default: this state's last event), in
        accelerator-ms, mW·ms generated, mW·ms consumed, satellite-ms in shadow and shed."""
        t = self.sim_time_ms if at_ms is None else at_ms
        rates = (
            self.compute_online,
            self.generated_mw,
            self.consumed_mw,
            self.in_shadow,
            self.by_state.get(_LOAD_SHED, 0),
        )
        return [c + t * r - w for c, r, w in zip(self.closed, rates, self.weighted, strict=True)]

    def energy(self) -> dict[str, float]:
        """The fleet's energy split in joules, closed at each satellite's latest telemetry:
        available, load, charged, discharged, harvested (= load + charged − discharged) and
        curtailed (= available − harvested)."""
        return energy_report(self.energy_uj)

    def integrals_closed(self) -> dict[str, float]:
        """The integrals accounted up to each satellite's own latest event (no open
        intervals): additive across any split of the satellites, so Prometheus can sum them
        over projectors; they trail :meth:`integrals` by at most each satellite's time since
        its last event."""
        return integrals_report(list(self.closed), self.tflops_per_accelerator)

    def integrals(self, at_ms: int | None = None) -> dict[str, float]:
        """The integrals up to ``at_ms`` (default: the last event) in reporting units."""
        return integrals_report(self.integrals_ms(at_ms), self.tflops_per_accelerator)

    # Integrals up to the last event, one attribute each (e.g. ``state.eclipse_satellite_s``):
    # the raw sums in seconds and milliwatt-seconds, and the reporting units of
    # :func:`integrals_report`.
    accelerator_s = _integral_property(0, "Accelerator-seconds computed.")
    energy_generated_mws = _integral_property(1, "Energy generated, milliwatt-seconds.")
    energy_consumed_mws = _integral_property(2, "Energy consumed, milliwatt-seconds.")
    eclipse_satellite_s = _integral_property(3, "Satellite-seconds in Earth's shadow.")
    load_shed_satellite_s = _integral_property(4, "Satellite-seconds with compute shed.")
    compute_accelerator_hours = _report_property("compute_accelerator_hours")
    compute_pflop_days = _report_property("compute_pflop_days")
    energy_generated_kwh = _report_property("energy_generated_kwh")
    energy_consumed_kwh = _report_property("energy_consumed_kwh")

    # ------------------------------------------------------------------ derived values

    @property
    def power_generated_w(self) -> float:
        """Fleet power generated now, W."""
        return self.generated_mw / 1000.0

    @property
    def power_consumed_w(self) -> float:
        """Fleet power consumed now, W."""
        return self.consumed_mw / 1000.0

    @property
    def compute_online_tflops(self) -> float:
        return self.compute_online * self.tflops_per_accelerator

    @property
    def load_shed(self) -> int:
        """Satellites in the load_shed state now."""
        return self.by_state.get(_LOAD_SHED, 0)

    @property
    def planned_here(self) -> int:
        """The run's planned satellites if this fold holds the run-level events, else 0."""
        return self.satellites_planned if self.owns_run else 0

    def count(self, state: State | str) -> int:
        """Satellites in ``state`` now; ``planned`` = planned − satellites seen in events."""
        if state == _PLANNED:
            return max(0, self.planned_here - len(self.sats))
        return self.by_state.get(State(state).value, 0)

    def soc_values(self) -> list[float]:
        return [rec.soc for rec in self.sats.values() if rec.has_telemetry]

    def soc_histogram(self) -> list[int]:
        """Satellites with telemetry by state of charge, :data:`SOC_BINS` bins over [0, 1]."""
        socs = np.fromiter(self.soc_values(), dtype=np.float64)
        # bin k holds k/10 <= soc < (k+1)/10 (1.0 in the last), so a SoC of exactly 0.6 is in
        # bin 6: scaling the value avoids np.histogram's float edges (0.6000000000000001)
        bins = np.minimum((socs * SOC_BINS).astype(np.int64), SOC_BINS - 1)
        return [int(c) for c in np.bincount(bins, minlength=SOC_BINS)]

    # ------------------------------------------------------------------ views

    def satellite(self, sat_id: str) -> dict[str, Any] | None:
        rec = self.sats.get(sat_id)
        if rec is None:
            return None
        return {
            "satellite": sat_id,
            "state": rec.state,
            "in_shadow": rec.in_shadow,
            "shell": rec.shell,
            "plane": rec.plane,
            "soc": rec.soc if rec.has_telemetry else None,
            "power_generated_w": rec.generated_mw / 1000.0,
            "power_consumed_w": rec.consumed_mw / 1000.0,
            "compute_online": rec.compute_online,
            "energy": energy_report(rec.energy_uj),
            "seq": rec.seq,
            "last_event": rec.last_type,
            "last_sim_time": rec.last_sim_time,
        }

    def summary(self) -> dict[str, dict[str, Any]]:
        by_shell_state: dict[str, dict[str, int]] = {}
        for (shell, state), n in sorted(self.by_shell_state.items()):
            if n:
                by_shell_state.setdefault(str(shell), {})[state] = n
        by_shell_plane: dict[str, dict[str, int]] = {}
        for (shell, plane), n in sorted(self.by_shell_plane.items()):
            if n:
                by_shell_plane.setdefault(str(shell), {})[str(plane)] = n
        return {
            "run": {name: getattr(self, name) for name in _RUN_FIELDS},
            "position": {
                "sim_time": self.sim_time,
                "sim_time_s": self.sim_time_s,
                "last_offset": self.last_offset,
                "events_applied": self.events_applied,
            },
            "satellites": {
                "by_state": {s.value: self.count(s) for s in State},
                "by_shell_state": by_shell_state,
                "by_shell_plane": by_shell_plane,
                "seen": len(self.sats),
            },
            "fleet": {
                "compute_online_accelerators": self.compute_online,
                "compute_online_tflops": self.compute_online_tflops,
                "power_generated_w": self.power_generated_w,
                "power_consumed_w": self.power_consumed_w,
                "in_shadow": self.in_shadow,
                "load_shed": self.load_shed,
                "soc_histogram": self.soc_histogram(),
            },
            "counters": {"events_by_type": dict(sorted(self.events_by_type.items()))},
            "integrals": self.integrals(),
            "energy": self.energy(),
        }

    def collect(self) -> Iterator[Sample | HistogramSample]:
        planned = self.planned_here
        for st in State:
            # planned: planned here − seen here, negative on a projector without the run
            # partition, so that the sum over projectors is the fleet's
            n = planned - len(self.sats) if st is State.PLANNED else self.count(st)
            yield Sample("twin_satellites", (st.value,), n)
        shells = sorted(
            {sh for sh, _ in self.by_shell_state} | {int(x["shell"]) for x in self.shells}
        )
        for shell in shells:
            for st in State:
                if st is not State.PLANNED:
                    n = self.by_shell_state.get((shell, st.value), 0)
                    yield Sample("twin_shell_satellites", (str(shell), st.value), n)
        yield Sample("twin_satellites_planned", (), planned)
        yield Sample("twin_compute_online_accelerators", (), self.compute_online)
        yield Sample("twin_compute_online_flops", (), self.compute_online_tflops * 1e12)
        yield Sample("twin_power_generated_watts", (), self.power_generated_w)
        yield Sample("twin_power_consumed_watts", (), self.power_consumed_w)
        buckets: list[tuple[str, float]] = []
        running = 0
        for k, n in enumerate(self.soc_histogram(), start=1):
            running += n
            buckets.append((f"{k / SOC_BINS:.1f}", running))
        buckets.append(("+Inf", running))
        yield HistogramSample("twin_battery_soc_ratio", buckets, sum(self.soc_values()))
        yield Sample("twin_satellites_in_shadow", (), self.in_shadow)
        yield Sample("twin_satellites_load_shed", (), self.load_shed)
        # counters of delivered compute, energy and time: each satellite accounted up to its
        # own latest event, so sums over projectors are exact
        for key, value in self.integrals_closed().items():
            name, _, _, factor = _INTEGRAL_METRICS[key]
            yield Sample(name, (), value * factor)
        energy = self.energy()
        yield Sample("twin_energy_available_joules_total", (), energy["available_j"])
        yield Sample("twin_energy_harvested_joules_total", (), energy["harvested_j"])
        yield Sample("twin_energy_curtailed_joules_total", (), energy["curtailed_j"])
        yield Sample("twin_battery_charged_joules_total", (), energy["battery_charged_j"])
        yield Sample("twin_battery_discharged_joules_total", (), energy["battery_discharged_j"])
        sim_time = self.sim_time
        yield Sample(
            "twin_sim_time_timestamp_seconds",
            (),
            _parse_time(sim_time).timestamp() if sim_time else 0.0,
        )

    # ------------------------------------------------------------------ snapshots

    def snapshot(self) -> dict[str, Any]:
        doc: dict[str, Any] = {name: getattr(self, name) for name in _SIMPLE_FIELDS}
        doc["satellites"] = {sat_id: rec.to_list() for sat_id, rec in self.sats.items()}
        doc["by_state"] = self.by_state
        doc["by_shell_state"] = sorted([k[0], k[1], n] for k, n in self.by_shell_state.items())
        doc["by_shell_plane"] = sorted([k[0], k[1], n] for k, n in self.by_shell_plane.items())
        doc["epoch_origin"] = None if self._epoch_dt is None else self._epoch_dt.isoformat()
        return doc

    @classmethod
    def restore(cls, doc: Any) -> FleetCore:
        core = cls()
        try:
            for name in _SIMPLE_FIELDS:
                setattr(core, name, doc[name])
            core.sats = {k: SatRecord.from_list(v) for k, v in doc["satellites"].items()}
            core.by_state = dict(doc["by_state"])
            core.by_shell_state = {(sh, s): n for sh, s, n in doc["by_shell_state"]}
            core.by_shell_plane = {(sh, pl): n for sh, pl, n in doc["by_shell_plane"]}
            origin = doc["epoch_origin"]
            core._epoch_dt = None if origin is None else datetime.fromisoformat(origin)
        except (KeyError, TypeError, ValueError) as exc:
            raise restore_error(cls.name, exc) from None
        return core

    # ------------------------------------------------------------------ merge

    @classmethod
    def merge(cls, parts: Sequence[FleetCore], run_info: FleetCore | None = None) -> FleetCore:
        """One core over several partitions' folds (disjoint satellites): counts, totals and
        counters add; the run comes from the part that folded ``scenario_started`` (else from
        ``run_info``, a fold of that event alone, which then counts as no one's); positions
        take the newest; integrals add exactly at the newest time of any part. A read-only
        view: it shares the parts' satellite records."""
        out = cls()
        owner = next((p for p in parts if p.owns_run), None)
        source = owner or run_info or (parts[0] if parts else None)
        if source is not None:
            for name in _RUN_FIELDS:
                setattr(out, name, getattr(source, name))
            out.owns_run = owner is not None
            if owner is None:
                out.run_id = next((p.run_id for p in parts if p.run_id), source.run_id)
        for p in parts:
            out.sats.update(p.sats)
            _add_counts(out.by_state, p.by_state)
            _add_counts(out.by_shell_state, p.by_shell_state)
            _add_counts(out.by_shell_plane, p.by_shell_plane)
            _add_counts(out.events_by_type, p.events_by_type)
            out.job_seq.update(p.job_seq)
            out.pool_seq.update(p.pool_seq)
            out.compute_online += p.compute_online
            out.generated_mw += p.generated_mw
            out.consumed_mw += p.consumed_mw
            out.in_shadow += p.in_shadow
            out.events_applied += p.events_applied
            out.closed = [a + b for a, b in zip(out.closed, p.closed, strict=True)]
            out.energy_uj = [a + b for a, b in zip(out.energy_uj, p.energy_uj, strict=True)]
            out.weighted = [a + b for a, b in zip(out.weighted, p.weighted, strict=True)]
        if parts:
            out.sim_time_ms = max(p.sim_time_ms for p in parts)
            times = [p.sim_time for p in parts if p.sim_time is not None]
            out.sim_time = max(times) if times else None
            offsets = [p.last_offset for p in parts if p.last_offset is not None]
            out.last_offset = max(offsets) if offsets else None
            if out.sim_time is not None and out.epoch is not None:
                out.sim_time_s = (
                    _parse_time(out.sim_time) - _parse_time(out.epoch)
                ).total_seconds()
            else:
                out.sim_time_s = max(p.sim_time_s for p in parts)
        return out


def _add_counts(into: dict[Any, int], more: dict[Any, int]) -> None:
    for key, n in more.items():
        into[key] = into.get(key, 0) + n
