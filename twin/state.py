"""Fleet state: the one fold over events that every consumer uses.

A run is a log of events; the state of the fleet at any point is what you get by applying the
events up to that point, in order, to an empty :class:`FleetState` (:func:`fold`). The embedded
log (``twin state``), the run summary and the Kafka projector all use this same fold, so they
cannot disagree. Folding is incremental: ``fold(rest, fold(prefix))`` equals ``fold(log)``, and a
state can be frozen with :meth:`FleetState.to_snapshot` and thawed with
:meth:`FleetState.from_snapshot` to resume a fold later (the projector's snapshots).

Applying an event checks it before changing anything, so a rejected event leaves the state as it
was:

* the satellite's transition is legal (:func:`twin.lifecycle.check`, raising
  :class:`twin.errors.IllegalTransition`);
* ``seq`` continues the satellite's sequence exactly (run-level events have their own sequence);
  ``sim_time`` does not go backwards; the event belongs to the same run
  (:class:`EventOrderError`).

Besides instantaneous counts and totals the fold integrates over simulation time, per
satellite: between two of its events a satellite's power, compute and shadow are constant, so
each event first closes ``rate × (t_event − t_previous event of this satellite)`` and then
changes the rates. The open intervals up to a time T are ``T·R − W`` with R the fleet totals and
W = Σ rate·t_last, both kept incrementally. Times are integer milliseconds (wire times have
ms resolution) and the integrals exact integers, so the result does not depend on how
satellites interleave: folding each Kafka partition on its own and adding the partitions'
integrals at a common T gives exactly the fold of the whole log (the projector relies on it).
Compute delivered is reported as accelerator-hours and PFLOP-days (TFLOPS × days / 1000),
energy in kWh, time in shadow and in load shed in satellite-seconds.

Power totals are summed in integer milliwatts so that adding and removing a satellite's
telemetry millions of times leaves no floating-point drift.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn

import numpy as np

from twin.constants import SECONDS_PER_DAY, SECONDS_PER_HOUR
from twin.errors import TwinError
from twin.events import (
    EventBase,
    FaultDetected,
    RepairCompleted,
    RepairRobotDispatched,
    ScenarioFinished,
    ScenarioStarted,
    Telemetry,
)
from twin.lifecycle import IN_ORBIT, TERMINAL, TRANSITIONS, State, check, target

SNAPSHOT_VERSION = 2
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


class SnapshotError(TwinError):
    """Bytes that are not a FleetState snapshot this version can read."""


class _Sat:
    """Mutable per-satellite record (slots: the fold touches one per event)."""

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
        "fault_time_s",
        "fault_component",
        "robot",
        "last_ms",
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
        self.fault_time_s: float | None = None
        self.fault_component: str | None = None
        self.robot: str | None = None
        self.last_ms = 0
        """Unix milliseconds of this satellite's last event (where its open interval starts)."""

    def to_list(self) -> list[Any]:
        return [getattr(self, name) for name in self.__slots__]

    @classmethod
    def from_list(cls, values: list[Any]) -> _Sat:
        rec = cls(0, 0)
        for name, value in zip(cls.__slots__, values, strict=True):
            setattr(rec, name, value)
        return rec


# Plain attributes saved as-is in a snapshot (JSON types round-trip exactly: floats use repr).
_SIMPLE_FIELDS = (
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
    "sim_time",
    "sim_time_s",
    "last_offset",
    "events_applied",
    "_run_seq",
    "compute_online",
    "generated_mw",
    "consumed_mw",
    "in_shadow",
    "launches",
    "launch_failures",
    "deployments",
    "deorbits",
    "reboots",
    "repairs_completed",
    "repair_time_total_s",
    "spares_left",
    "robots_busy",
    "events_by_type",
    "sim_time_ms",
    "closed",
    "weighted",
)


_UNIX = datetime(1970, 1, 1, tzinfo=UTC)


def _parse_time(text: str) -> datetime:
    dt = datetime.fromisoformat(text)  # accepts the trailing "Z" (Python >= 3.11)
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt


class FleetState:
    """The fleet at one point of a run, built by applying events in log order.

    Public attributes are read-only for callers (only :meth:`apply` changes them). Instantaneous
    totals: ``compute_online`` (accelerators), ``in_shadow`` (satellites), power via
    :attr:`power_generated_w` / :attr:`power_consumed_w`. Integrals since the first event:
    ``accelerator_s``, ``energy_generated_mws``, ``energy_consumed_mws`` (milliwatt-seconds),
    ``eclipse_satellite_s``, ``load_shed_satellite_s``; derived units are properties.
    """

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
        self._sats: dict[str, _Sat] = {}
        self.by_state: dict[str, int] = {}
        self.by_shell_state: dict[tuple[int, str], int] = {}
        self.by_shell_plane: dict[tuple[int, int], int] = {}
        """Satellites in orbit (any :data:`twin.lifecycle.IN_ORBIT` state) by (shell, plane)."""
        # fleet totals
        self.compute_online = 0
        self.generated_mw = 0
        self.consumed_mw = 0
        self.in_shadow = 0
        # counters
        self.launches = 0
        self.launch_failures = 0
        self.deployments = 0
        self.deorbits = 0
        self.reboots = 0
        self.faults: dict[tuple[str, str], int] = {}
        self.repairs_completed = 0
        self.repair_time_total_s = 0.0
        self.events_by_type: dict[str, int] = {}
        # repair
        self.repair_queue: dict[str, None] = {}
        """Satellites that requested a repair and have no robot yet, in request order."""
        self.robots_busy: dict[str, str] = {}
        """Robot -> satellite, from dispatch until the repair completes."""
        self.spares_left = 0
        # integrals over simulation time, exact integers in ms units (see the module docstring):
        # closed[k] = Σ closed intervals of rate k; weighted[k] = Σ_sats rate_k · last_ms;
        # rates k: accelerators, generated mW, consumed mW, in shadow, load shed
        self.sim_time_ms = 0
        self.closed = [0, 0, 0, 0, 0]
        self.weighted = [0, 0, 0, 0, 0]

    # ------------------------------------------------------------------ apply

    def apply(self, event: EventBase) -> None:
        """Apply one event in place; on error nothing is changed."""
        same_time = event.sim_time == self.sim_time  # parse each distinct time once
        t_s = self.sim_time_s if same_time else self._seconds(event)
        if event.run_id != self.run_id and self.run_id is not None:
            self._order_error(event, f"run_id {event.run_id!r} is not this log's {self.run_id!r}")
        sat_id = event.satellite
        if sat_id is None:
            self._apply_run_event(event, t_s)
        else:
            self._apply_satellite_event(event, sat_id, t_s)
        etype = event.type
        self.events_by_type[etype] = self.events_by_type.get(etype, 0) + 1
        self.run_id = event.run_id
        self.last_offset = event.offset
        self.events_applied += 1

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
        else:
            self._order_error(event, f"{event.type} must name a satellite")
        self._advance(t_s, event.sim_time)
        self._run_seq = event.seq

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
        self.spares_left = ev.spares

    def _apply_satellite_event(self, event: EventBase, sat_id: str, t_s: float) -> None:
        etype = event.type
        rec = self._sats.get(sat_id)
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
            rec = _Sat(getattr(event, "shell", 0), getattr(event, "plane", 0))
            self._sats[sat_id] = rec
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
        telemetry: Telemetry | None = getattr(event, "telemetry", None)
        if telemetry is not None:
            self._set_telemetry(rec, telemetry)
        handler = _SAT_HANDLERS.get(etype)
        if handler is not None:
            handler(self, sat_id, rec, event, t_s)
        if new in _TERMINAL:
            self._retire(sat_id, rec)
        self._open(rec, now_ms)

    def _close(self, rec: _Sat, now_ms: int) -> None:
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

    def _open(self, rec: _Sat, now_ms: int) -> None:
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

    @property
    def accelerator_s(self) -> float:
        """Accelerator-seconds computed up to the last event."""
        return self.integrals_ms()[0] / 1000.0

    @property
    def energy_generated_mws(self) -> float:
        """Energy generated up to the last event, milliwatt-seconds."""
        return self.integrals_ms()[1] / 1000.0

    @property
    def energy_consumed_mws(self) -> float:
        """Energy consumed up to the last event, milliwatt-seconds."""
        return self.integrals_ms()[2] / 1000.0

    @property
    def eclipse_satellite_s(self) -> float:
        """Satellite-seconds in Earth's shadow up to the last event."""
        return self.integrals_ms()[3] / 1000.0

    @property
    def load_shed_satellite_s(self) -> float:
        """Satellite-seconds with compute shed up to the last event."""
        return self.integrals_ms()[4] / 1000.0

    def _move(self, rec: _Sat, old: str, new: str) -> None:
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

    def _set_telemetry(self, rec: _Sat, tm: Telemetry) -> None:
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

    def _release_repair(self, sat_id: str, rec: _Sat) -> None:
        """The satellite leaves the repair flow (deorbit): free its queue slot and robot."""
        self.repair_queue.pop(sat_id, None)
        if rec.robot is not None and self.robots_busy.get(rec.robot) == sat_id:
            del self.robots_busy[rec.robot]
        rec.robot = None

    def _retire(self, sat_id: str, rec: _Sat) -> None:
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
        self._release_repair(sat_id, rec)

    def _order_error(self, event: EventBase, problem: str) -> NoReturn:
        raise EventOrderError(
            problem, offset=event.offset, sim_time=event.sim_time, satellite=event.satellite
        )

    # ------------------------------------------------------------------ per-type counters

    def _on_launched(self, sat_id: str, rec: _Sat, ev: EventBase, t_s: float) -> None:
        self.launches += 1

    def _on_launch_failed(self, sat_id: str, rec: _Sat, ev: EventBase, t_s: float) -> None:
        self.launch_failures += 1

    def _on_deployed(self, sat_id: str, rec: _Sat, ev: EventBase, t_s: float) -> None:
        self.deployments += 1

    def _on_fault(self, sat_id: str, rec: _Sat, ev: FaultDetected, t_s: float) -> None:
        key = (ev.component, ev.kind)
        self.faults[key] = self.faults.get(key, 0) + 1
        rec.fault_time_s = t_s
        rec.fault_component = ev.component

    def _on_rebooted(self, sat_id: str, rec: _Sat, ev: EventBase, t_s: float) -> None:
        self.reboots += 1
        rec.fault_time_s = None
        rec.fault_component = None

    def _on_repair_requested(self, sat_id: str, rec: _Sat, ev: EventBase, t_s: float) -> None:
        self.repair_queue[sat_id] = None

    def _on_dispatched(self, sat_id: str, rec: _Sat, ev: RepairRobotDispatched, t_s: float) -> None:
        self.repair_queue.pop(sat_id, None)
        self.robots_busy[ev.robot] = sat_id
        rec.robot = ev.robot

    def _on_repaired(self, sat_id: str, rec: _Sat, ev: RepairCompleted, t_s: float) -> None:
        self.repairs_completed += 1
        self.repair_time_total_s += ev.time_to_repair_s
        self.spares_left = ev.spares_left
        self._release_repair(sat_id, rec)
        if self.robots_busy.get(ev.robot) == sat_id:
            del self.robots_busy[ev.robot]
        rec.fault_time_s = None
        rec.fault_component = None

    def _on_deorbit_started(self, sat_id: str, rec: _Sat, ev: EventBase, t_s: float) -> None:
        self._release_repair(sat_id, rec)

    def _on_deorbited(self, sat_id: str, rec: _Sat, ev: EventBase, t_s: float) -> None:
        self.deorbits += 1

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
    def mttr_s(self) -> float | None:
        """Mean time to repair (fault detection → repair completed), s; None before any."""
        if not self.repairs_completed:
            return None
        return self.repair_time_total_s / self.repairs_completed

    def integrals_closed(self) -> dict[str, float]:
        """The integrals accounted up to each satellite's own latest event (no open
        intervals): additive across any split of the satellites, so Prometheus can sum them
        over projectors; they trail :meth:`integrals` by at most each satellite's time since
        its last event."""
        return integrals_report(list(self.closed), self.tflops_per_accelerator)

    def integrals(self, at_ms: int | None = None) -> dict[str, float]:
        """The integrals up to ``at_ms`` (default: the last event) in reporting units."""
        return integrals_report(self.integrals_ms(at_ms), self.tflops_per_accelerator)

    @property
    def compute_accelerator_hours(self) -> float:
        return self.accelerator_s / SECONDS_PER_HOUR

    @property
    def compute_pflop_days(self) -> float:
        """Compute delivered, PFLOP-days (TFLOPS × days / 1000)."""
        return self.accelerator_s * self.tflops_per_accelerator / SECONDS_PER_DAY / 1000.0

    @property
    def energy_generated_kwh(self) -> float:
        return self.energy_generated_mws / _MWS_PER_KWH

    @property
    def energy_consumed_kwh(self) -> float:
        return self.energy_consumed_mws / _MWS_PER_KWH

    def count(self, state: State | str) -> int:
        """Satellites in ``state`` now; ``planned`` = planned − satellites seen in events."""
        if state == _PLANNED:
            return max(0, self.satellites_planned - len(self._sats))
        return self.by_state.get(State(state).value, 0)

    def soc_histogram(self) -> list[int]:
        """Satellites with telemetry by state of charge, :data:`SOC_BINS` bins over [0, 1]."""
        socs = np.fromiter(
            (rec.soc for rec in self._sats.values() if rec.has_telemetry), dtype=np.float64
        )
        # bin k holds k/10 <= soc < (k+1)/10 (1.0 in the last), so a SoC of exactly 0.6 is in
        # bin 6: scaling the value avoids np.histogram's float edges (0.6000000000000001)
        bins = np.minimum((socs * SOC_BINS).astype(np.int64), SOC_BINS - 1)
        return [int(c) for c in np.bincount(bins, minlength=SOC_BINS)]

    # ------------------------------------------------------------------ views

    def satellite_ids(self) -> list[str]:
        """Every satellite some event named, in first-seen order."""
        return list(self._sats)

    def satellite(self, sat_id: str) -> dict[str, Any] | None:
        """One satellite's record as a JSON-ready dict, or None if no event named it."""
        rec = self._sats.get(sat_id)
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
            "seq": rec.seq,
            "last_event": rec.last_type,
            "last_sim_time": rec.last_sim_time,
            "fault_time_s": rec.fault_time_s,
            "fault_component": rec.fault_component,
            "robot": rec.robot,
        }

    def summary(self) -> dict[str, Any]:
        """The state as a JSON-ready dict (``twin state --json``, the projector's ``/state``)."""
        by_shell_state: dict[str, dict[str, int]] = {}
        for (shell, state), n in sorted(self.by_shell_state.items()):
            if n:
                by_shell_state.setdefault(str(shell), {})[state] = n
        by_shell_plane: dict[str, dict[str, int]] = {}
        for (shell, plane), n in sorted(self.by_shell_plane.items()):
            if n:
                by_shell_plane.setdefault(str(shell), {})[str(plane)] = n
        faults: dict[str, dict[str, int]] = {}
        for (component, kind), n in sorted(self.faults.items()):
            faults.setdefault(component, {})[kind] = n
        mttr = self.mttr_s
        return {
            "run": {
                "run_id": self.run_id,
                "scenario": self.scenario,
                "seed": self.seed,
                "epoch": self.epoch,
                "until": self.until,
                "satellites_planned": self.satellites_planned,
                "shells": self.shells,
                "accelerators_per_satellite": self.accelerators_per_satellite,
                "tflops_per_accelerator": self.tflops_per_accelerator,
                "accelerator_w": self.accelerator_w,
                "robots": self.robots,
                "spares": self.spares,
                "finished": self.finished,
            },
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
                "seen": len(self._sats),
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
            "counters": {
                "launches": self.launches,
                "launch_failures": self.launch_failures,
                "deployments": self.deployments,
                "deorbits": self.deorbits,
                "reboots": self.reboots,
                "faults": faults,
                "faults_total": sum(self.faults.values()),
                "repairs_completed": self.repairs_completed,
                "events_by_type": dict(sorted(self.events_by_type.items())),
            },
            "repair": {
                "queue": list(self.repair_queue),
                "queue_length": len(self.repair_queue),
                "robots_busy": dict(sorted(self.robots_busy.items())),
                "robots_idle": max(0, self.robots - len(self.robots_busy)),
                "mttr_s": mttr,
                "spares_left": self.spares_left,
            },
            "integrals": self.integrals(),
        }

    # ------------------------------------------------------------------ snapshots

    def to_snapshot(self) -> bytes:
        """The whole state as bytes (canonical JSON); :meth:`from_snapshot` restores it exactly."""
        doc: dict[str, Any] = {name: getattr(self, name) for name in _SIMPLE_FIELDS}
        doc["snapshot_version"] = SNAPSHOT_VERSION
        doc["satellites"] = {sat_id: rec.to_list() for sat_id, rec in self._sats.items()}
        doc["by_state"] = self.by_state
        doc["by_shell_state"] = sorted([k[0], k[1], n] for k, n in self.by_shell_state.items())
        doc["by_shell_plane"] = sorted([k[0], k[1], n] for k, n in self.by_shell_plane.items())
        doc["faults"] = sorted([k[0], k[1], n] for k, n in self.faults.items())
        doc["repair_queue"] = list(self.repair_queue)
        doc["epoch_origin"] = None if self._epoch_dt is None else self._epoch_dt.isoformat()
        return json.dumps(doc, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()

    @classmethod
    def from_snapshot(cls, data: bytes) -> FleetState:
        """Rebuild a state from :meth:`to_snapshot` bytes; raise :class:`SnapshotError`."""
        try:
            doc = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise SnapshotError(f"not a FleetState snapshot: {exc}") from None
        version = doc.get("snapshot_version") if isinstance(doc, dict) else None
        if version != SNAPSHOT_VERSION:
            raise SnapshotError(
                f"snapshot_version {version!r} is not supported (this build reads "
                f"{SNAPSHOT_VERSION}); rebuild the state by replaying the log"
            )
        state = cls()
        try:
            for name in _SIMPLE_FIELDS:
                setattr(state, name, doc[name])
            state._sats = {k: _Sat.from_list(v) for k, v in doc["satellites"].items()}
            state.by_state = dict(doc["by_state"])
            state.by_shell_state = {(sh, s): n for sh, s, n in doc["by_shell_state"]}
            state.by_shell_plane = {(sh, pl): n for sh, pl, n in doc["by_shell_plane"]}
            state.faults = {(c, k): n for c, k, n in doc["faults"]}
            state.repair_queue = dict.fromkeys(doc["repair_queue"])
            origin = doc["epoch_origin"]
            state._epoch_dt = None if origin is None else datetime.fromisoformat(origin)
        except (KeyError, TypeError, ValueError) as exc:
            raise SnapshotError(f"corrupt FleetState snapshot: {exc!r}") from None
        return state


_Handler = Callable[[FleetState, str, _Sat, Any, float], None]
_SAT_HANDLERS: dict[str, _Handler] = {
    "launched": FleetState._on_launched,
    "launch_failed": FleetState._on_launch_failed,
    "deployed": FleetState._on_deployed,
    "fault_detected": FleetState._on_fault,
    "rebooted": FleetState._on_rebooted,
    "repair_requested": FleetState._on_repair_requested,
    "repair_robot_dispatched": FleetState._on_dispatched,
    "repair_completed": FleetState._on_repaired,
    "deorbit_started": FleetState._on_deorbit_started,
    "deorbited": FleetState._on_deorbited,
}


def integrals_report(ms: list[int], tflops_per_accelerator: float) -> dict[str, float]:
    """Exact ms integrals (:meth:`FleetState.integrals_ms`) in reporting units."""
    accelerator_s = ms[0] / 1000.0
    return {
        "compute_accelerator_hours": accelerator_s / SECONDS_PER_HOUR,
        "compute_pflop_days": accelerator_s * tflops_per_accelerator / SECONDS_PER_DAY / 1000.0,
        "energy_generated_kwh": ms[1] / 1000.0 / _MWS_PER_KWH,
        "energy_consumed_kwh": ms[2] / 1000.0 / _MWS_PER_KWH,
        "eclipse_satellite_s": ms[3] / 1000.0,
        "load_shed_satellite_s": ms[4] / 1000.0,
    }


def fold(events: Iterable[EventBase], state: FleetState | None = None) -> FleetState:
    """Apply ``events`` in order to ``state`` (a new empty state by default) and return it."""
    state = FleetState() if state is None else state
    apply = state.apply
    for event in events:
        apply(event)
    return state
