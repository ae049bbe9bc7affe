"""Faults, repairs and spares: what broke, who waits for a robot, how long repairs take.

Applies fault and repair events (and ``scenario_started`` for the initial stock of spares).
Per satellite it keeps only what a repair needs (time and component of the open fault, the
robot on the way), so satellites that never fault cost nothing here.

Spares left are a run-level stock by default (``repair.spares_per = "fleet"``). Every
change of it is a run-level ``spares_changed`` event (keyed by the run, so the fold holding
the run partition knows the stock at any time and alone exports it), and every
``repair_completed`` reports it too; across partitions the newest report by run offset wins
(:meth:`Repairs.merge`), else the initial stock. (Logs before v3 have no ``spares_changed``:
there the newest ``repair_completed`` folded is all a partition knows.)

With ``spares_per = "pool"`` every robot pool has its own stock, and its changes are the
pool's own stream (``spares_changed`` with a ``pool``, keyed ``{run_id}/{pool}``), which
may sit in any partition. A fold keeps each pool's last report (:attr:`Repairs.pool_spares`)
and the sum of the changes it folded (:attr:`Repairs.pool_change`); the stock is the run's
initial stock (``scenario_started.spares``, the sum over pools, held by the fold of the run
partition) plus every pool's changes: integers that add exactly across partitions, so
``spares_left`` and ``twin_repair_spares`` (the run's holder exports the initial stock
plus its changes, every other fold its changes) sum to the fleet's stock. Pools are not a
metric label (planes can be thousands); the summary counts the pools whose stock is out.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from twin.events import (
    EventBase,
    FaultDetected,
    RepairCompleted,
    RepairRobotDispatched,
    ScenarioStarted,
    SparesChanged,
)
from twin.projections.base import Projection
from twin.projections.fleet import FleetCore
from twin.projections.specs import MetricSpec, Sample, restore_error


class Repairs(Projection):
    name = "repairs"
    version = 2
    event_types = frozenset(
        {
            "scenario_started",
            "fault_detected",
            "rebooted",
            "repair_requested",
            "repair_robot_dispatched",
            "repair_completed",
            "spares_changed",
            "deorbit_started",
        }
    )
    metrics = (
        MetricSpec("twin_repair_queue_length", "gauge", "Satellites waiting for a repair robot."),
        MetricSpec(
            "twin_repair_robots_busy",
            "gauge",
            "Repair robots travelling to or servicing a satellite.",
        ),
        MetricSpec("twin_repair_robots", "gauge", "Repair robots in the scenario."),
        MetricSpec("twin_repair_spares", "gauge", "Spare parts in stock."),
        MetricSpec(
            "twin_mean_time_to_repair_seconds",
            "gauge",
            "Mean time from a permanent fault to its repair, over completed repairs, s.",
            unit="s",
            aggregate="max",  # exact across projectors: repair_time_seconds / repairs_completed
        ),
        MetricSpec(
            "twin_repair_time_seconds_total",
            "counter",
            "Sum of fault-to-repair times of completed repairs, s (rate with repairs_completed).",
            unit="s",
        ),
        MetricSpec("twin_faults_total", "counter", "Faults detected.", ("component", "kind")),
        MetricSpec("twin_repairs_completed_total", "counter", "Repairs completed by robots."),
    )

    def __init__(self) -> None:
        self.faults: dict[tuple[str, str], int] = {}
        self.repairs_completed = 0
        self.repair_time_ms = 0
        """Sum of fault-to-repair times, integer ms (wire times have ms resolution), so
        partitions and shards add up exactly."""
        self.repair_queue: dict[str, None] = {}
        """Satellites that requested a repair and have no robot yet, in request order."""
        self.robots_busy: dict[str, str] = {}
        """Robot -> satellite, from dispatch until the repair completes."""
        self.spares_left = 0
        self.spares_seen: tuple[int, int] | None = None
        """(run offset, spares_left) of the newest fleet-stock report folded here."""
        self.pool_spares: dict[str, tuple[int, int]] = {}
        """Robot pool -> (seq, spares_left) of its newest stock report folded here."""
        self.pool_change = 0
        """Sum of the pools' stock changes folded here (``spares_per = "pool"``)."""
        self.open_faults: dict[str, list[Any]] = {}
        """Satellite -> [fault time s, component, robot or None] while a fault is open."""

    def apply(self, event: EventBase, core: FleetCore) -> None:
        etype = event.type
        sat_id = event.satellite
        if isinstance(event, ScenarioStarted):
            self.spares_left = event.spares
        elif isinstance(event, FaultDetected):
            key = (event.component, event.kind)
            self.faults[key] = self.faults.get(key, 0) + 1
            self.open_faults[event.satellite] = [core.sim_time_s, event.component, None]
        elif etype == "rebooted":
            fault = self.open_faults.get(sat_id or "")
            if fault is not None:  # the fault is cleared; a robot on its way stays assigned
                if fault[2] is None:
                    del self.open_faults[sat_id or ""]
                else:
                    fault[0] = fault[1] = None
        elif etype == "repair_requested":
            self.repair_queue[sat_id or ""] = None
        elif isinstance(event, RepairRobotDispatched):
            self.repair_queue.pop(event.satellite, None)
            self.robots_busy[event.robot] = event.satellite
            self.open_faults.setdefault(event.satellite, [None, None, None])[2] = event.robot
        elif isinstance(event, RepairCompleted):
            self.repairs_completed += 1
            self.repair_time_ms += round(event.time_to_repair_s * 1000)
            if event.pool is None:  # a pool's stock is reported on its own stream
                self.spares_left = event.spares_left
                self.spares_seen = (event.offset, event.spares_left)
            self.retire(event.satellite)
            if self.robots_busy.get(event.robot) == event.satellite:
                del self.robots_busy[event.robot]
            self.open_faults.pop(event.satellite, None)
        elif isinstance(event, SparesChanged):
            if event.pool is None:
                self.spares_left = event.spares_left
                self.spares_seen = (event.offset, event.spares_left)
            else:
                self.pool_spares[event.pool] = (event.seq, event.spares_left)
                self.pool_change += event.change
                self.spares_left += event.change
        elif etype == "deorbit_started":
            self.retire(sat_id or "")

    def retire(self, sat_id: str) -> None:
        """The satellite leaves the repair flow: free its queue slot and its robot."""
        self.repair_queue.pop(sat_id, None)
        fault = self.open_faults.get(sat_id)
        if fault is not None and fault[2] is not None:
            if self.robots_busy.get(fault[2]) == sat_id:
                del self.robots_busy[fault[2]]
            fault[2] = None

    @property
    def mttr_s(self) -> float | None:
        """Mean time to repair (fault detection → repair completed), s; None before any."""
        if not self.repairs_completed:
            return None
        return self.repair_time_total_s / self.repairs_completed

    @property
    def repair_time_total_s(self) -> float:
        """Sum of fault-to-repair times of completed repairs, s."""
        return self.repair_time_ms / 1000

    def satellite(self, sat_id: str) -> dict[str, Any]:
        fault = self.open_faults.get(sat_id) or [None, None, None]
        return {"fault_time_s": fault[0], "fault_component": fault[1], "robot": fault[2]}

    def summary(self, core: FleetCore) -> dict[str, dict[str, Any]]:
        faults: dict[str, dict[str, int]] = {}
        for (component, kind), n in sorted(self.faults.items()):
            faults.setdefault(component, {})[kind] = n
        robots = core.robots if core.owns_run else 0
        return {
            "counters": {
                "faults": faults,
                "faults_total": sum(self.faults.values()),
                "repairs_completed": self.repairs_completed,
            },
            "repair": {
                "queue": list(self.repair_queue),
                "queue_length": len(self.repair_queue),
                "robots_busy": dict(sorted(self.robots_busy.items())),
                "robots_idle": max(0, robots - len(self.robots_busy)),
                "mttr_s": self.mttr_s,
                "spares_left": self.spares_left,
                **self._pool_summary(),
            },
        }

    def _pool_summary(self) -> dict[str, int]:
        """With stock per pool: the pools whose last report says it ran out (pools are not
        listed: they can be thousands)."""
        if not self.pool_spares:
            return {}
        return {"spares_pools_empty": sum(1 for _, left in self.pool_spares.values() if not left)}

    def collect(self, core: FleetCore) -> Iterator[Sample]:
        owns = core.owns_run  # run-level facts only from the holder of the run partition
        yield Sample("twin_repair_queue_length", (), len(self.repair_queue))
        yield Sample("twin_repair_robots_busy", (), len(self.robots_busy))
        yield Sample("twin_repair_robots", (), core.robots if owns else 0)
        # with stock per pool, every fold exports its pools' net change (the run's holder
        # adds the initial stock): the sum over projectors is the stock
        yield Sample("twin_repair_spares", (), self.spares_left if owns or self.pool_spares else 0)
        yield Sample("twin_mean_time_to_repair_seconds", (), self.mttr_s or 0.0)
        yield Sample("twin_repair_time_seconds_total", (), self.repair_time_total_s)
        for (component, kind), n in sorted(self.faults.items()):
            yield Sample("twin_faults_total", (component, kind), n)
        yield Sample("twin_repairs_completed_total", (), self.repairs_completed)

    def snapshot(self) -> Any:
        return {
            "faults": sorted([k[0], k[1], n] for k, n in self.faults.items()),
            "repairs_completed": self.repairs_completed,
            "repair_time_ms": self.repair_time_ms,
            "repair_queue": list(self.repair_queue),
            "robots_busy": self.robots_busy,
            "spares_left": self.spares_left,
            "spares_seen": self.spares_seen,
            "pool_spares": self.pool_spares,
            "pool_change": self.pool_change,
            "open_faults": self.open_faults,
        }

    @classmethod
    def restore(cls, doc: Any) -> Repairs:
        out = cls()
        try:
            out.faults = {(c, k): int(n) for c, k, n in doc["faults"]}
            out.repairs_completed = int(doc["repairs_completed"])
            out.repair_time_ms = int(doc["repair_time_ms"])
            out.repair_queue = dict.fromkeys(doc["repair_queue"])
            out.robots_busy = dict(doc["robots_busy"])
            out.spares_left = int(doc["spares_left"])
            seen = doc["spares_seen"]
            out.spares_seen = None if seen is None else (int(seen[0]), int(seen[1]))
            out.pool_spares = {k: (int(v[0]), int(v[1])) for k, v in doc["pool_spares"].items()}
            out.pool_change = int(doc["pool_change"])
            out.open_faults = {k: list(v) for k, v in doc["open_faults"].items()}
        except (KeyError, TypeError, ValueError) as exc:
            raise restore_error(cls.name, exc) from None
        return out

    @classmethod
    def merge(cls, parts: Sequence[Any], core: FleetCore) -> Repairs:
        """Counts and sums add; the queue is ordered by fault time (the request follows it at
        once); spares are the newest report by run offset, else the run's initial stock; with
        stock per pool, the run's initial stock plus every pool's changes (each pool's stream
        is in one partition: its newest report by ``seq`` is its stock)."""
        out = cls()
        queued: list[tuple[float, str]] = []
        initial = 0
        for p in parts:
            for key, n in p.faults.items():
                out.faults[key] = out.faults.get(key, 0) + n
            out.repairs_completed += p.repairs_completed
            out.repair_time_ms += p.repair_time_ms
            out.robots_busy.update(p.robots_busy)
            out.open_faults.update(p.open_faults)
            for sat_id in p.repair_queue:
                fault_time = (p.open_faults.get(sat_id) or [None])[0]
                queued.append((fault_time or 0.0, sat_id))
            if p.spares_seen is not None and (
                out.spares_seen is None or p.spares_seen > out.spares_seen
            ):
                out.spares_seen = p.spares_seen
            if not p.repairs_completed and p.spares_left:
                initial = p.spares_left
            out.pool_change += p.pool_change
            for pool, seen in p.pool_spares.items():
                if pool not in out.pool_spares or seen > out.pool_spares[pool]:
                    out.pool_spares[pool] = seen
        out.repair_queue = dict.fromkeys(sat for _, sat in sorted(queued))
        out.robots_busy = dict(sorted(out.robots_busy.items()))
        if out.pool_spares:  # stock per pool: no fleet-wide reports
            out.spares_left = (core.spares if core.owns_run else 0) + out.pool_change
        elif out.spares_seen is not None:
            out.spares_left = out.spares_seen[1]
        else:
            out.spares_left = initial if core.owns_run else 0
        return out
