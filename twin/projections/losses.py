"""Losses: where the compute a fleet could have delivered went, and how available it was.

From the moment a satellite enters service (``powered_up``) its **potential** is its
nameplate, ``accelerators_per_satellite``, for every second to the end of the run (or until a
planned end-of-life deorbit). Each second of potential goes to exactly one place:

* ``delivered``: accelerators computing (operational or in eclipse, on the battery);
* ``power_thermal_cap``: accelerators the arrays or radiators cannot power or cool (the design
  limit, the nameplate less what the satellite runs in sunlight);
* ``eclipse_load_shed``: compute shed at the battery floor in Earth's shadow;
* ``faults``: faulted (a reboot after an upset, or the moment before a repair request);
* ``waiting_for_robot``: awaiting a repair robot; ``under_repair``: being repaired;
* ``unrepairable``: gone after a fault no robot could repair (including with no robots);

plus ``launch_failures``: satellites lost at launch, counted with their whole nameplate from
the time they would have entered service (launch time + deployment, raising and
commissioning, from the campaign in ``scenario_started``).

**Availability** is the share of in-service satellite-time (since ``powered_up``, excluding
planned retirement) spent operational, in eclipse or load-shedding, rather than faulted,
waiting, under repair or dead. Accounting is per satellite in integer milliseconds, so a
merge of partitions adds up exactly, like the core's integrals.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from twin.constants import SECONDS_PER_HOUR
from twin.events import DeorbitStarted, EventBase, ScenarioStarted
from twin.projections.base import Projection
from twin.projections.fleet import FleetCore
from twin.projections.specs import restore_error

CAUSES = (
    "delivered",
    "eclipse_load_shed",
    "faults",
    "waiting_for_robot",
    "under_repair",
    "unrepairable",
)
"""Where an in-service satellite's time goes (``power_thermal_cap`` is derived)."""
SATELLITE_STATES = ("computing", "load_shed", "faulted", "awaiting_robot", "under_repair", "dead")
"""The same split of satellite-time, named by what the satellite was doing."""
_SERVICE, _SHED, _FAULT, _WAIT, _REPAIR, _DEAD = range(len(CAUSES))
_BY_STATE = {
    "operational": _SERVICE,
    "in_eclipse": _SERVICE,
    "load_shed": _SHED,
    "faulted": _FAULT,
    "awaiting_repair": _WAIT,
    "under_repair": _REPAIR,
}
_MS_PER_HOUR = 1000.0 * SECONDS_PER_HOUR


class Losses(Projection):
    name = "losses"
    version = 1
    event_types = frozenset(
        {
            "scenario_started",
            "launch_failed",
            "powered_up",
            "eclipse_entered",
            "eclipse_exited",
            "load_shed",
            "load_restored",
            "fault_detected",
            "rebooted",
            "repair_requested",
            "repair_robot_arrived",
            "repair_completed",
            "deorbit_started",
        }
    )

    def __init__(self) -> None:
        self.sats: dict[str, list[int]] = {}
        """Satellite -> [cause index or -1, accelerators of that cause, since ms, in-service
        compute]: the open interval of a satellite in service."""
        self.sat_ms = [0] * len(CAUSES)
        self.acc_ms = [0] * len(CAUSES)
        self.launch_failed_ms: dict[int, int] = {}
        """Sim ms of a failed launch -> satellites lost on it."""
        self.ready_lag_ms: int | None = None
        """Launch to service (deployment + raising + commissioning), from the campaign."""

    def apply(self, event: EventBase, core: FleetCore) -> None:
        if isinstance(event, ScenarioStarted):
            plan = event.launch
            if plan is not None:
                last = plan.first_launch_s + max(plan.flights - 1, 0) * plan.cadence_s
                self.ready_lag_ms = round((plan.ready_s - last) * 1000)
            return
        now = core.sim_time_ms
        if event.type == "launch_failed":
            self.launch_failed_ms[now] = self.launch_failed_ms.get(now, 0) + 1
            return
        sat_id = event.satellite or ""
        rec = core.sats[sat_id]
        entry = self.sats.get(sat_id)
        if entry is None:
            if event.type != "powered_up":
                return  # not in service yet
            entry = self.sats[sat_id] = [-1, 0, now, 0]
        self._close(entry, now)
        cause = _BY_STATE.get(rec.state, -1)
        if cause == _SERVICE:
            entry[3] = rec.compute_online
        if isinstance(event, DeorbitStarted):
            # a planned retirement ends the satellite's potential; a fault nobody repaired
            # leaves a hole in the fleet for the rest of the run
            cause = _DEAD if event.reason == "unrepairable" else -1
        entry[0] = cause
        entry[1] = rec.compute_online if cause == _SERVICE else entry[3]
        entry[2] = now
        if cause == -1:
            del self.sats[sat_id]

    def _close(self, entry: list[int], now_ms: int) -> None:
        cause, rate, since = entry[0], entry[1], entry[2]
        if cause >= 0:
            dt = now_ms - since
            self.sat_ms[cause] += dt
            self.acc_ms[cause] += rate * dt

    # ------------------------------------------------------------------ views

    def totals(self, core: FleetCore) -> dict[str, Any]:
        """Satellite-ms and accelerator-ms by cause up to the core's time (open intervals
        closed there), the derived cap and launch-failure losses, in ms units."""
        now = core.sim_time_ms
        sat_ms, acc_ms = list(self.sat_ms), list(self.acc_ms)
        for cause, rate, since, _ in self.sats.values():
            if cause >= 0:
                sat_ms[cause] += now - since
                acc_ms[cause] += rate * (now - since)
        nameplate = core.accelerators_per_satellite
        cap = nameplate * sum(sat_ms) - sum(acc_ms)
        lag = self.ready_lag_ms or 0
        failed_sat_ms = sum(n * max(0, now - (t + lag)) for t, n in self.launch_failed_ms.items())
        return {
            "sat_ms": sat_ms,
            "acc_ms": acc_ms,
            "cap_acc_ms": cap,
            "launch_failed_acc_ms": nameplate * failed_sat_ms,
        }

    def summary(self, core: FleetCore) -> dict[str, dict[str, Any]]:
        t = self.totals(core)
        hours = {c: t["acc_ms"][i] / _MS_PER_HOUR for i, c in enumerate(CAUSES)}
        hours["power_thermal_cap"] = t["cap_acc_ms"] / _MS_PER_HOUR
        hours["launch_failures"] = t["launch_failed_acc_ms"] / _MS_PER_HOUR
        in_service = sum(t["sat_ms"])
        up = t["sat_ms"][_SERVICE] + t["sat_ms"][_SHED]
        potential = sum(hours.values())
        return {
            "losses": {
                "accelerator_hours": hours,
                "potential_accelerator_hours": potential,
                "satellite_hours": {
                    c: t["sat_ms"][i] / _MS_PER_HOUR for i, c in enumerate(SATELLITE_STATES)
                },
                "availability": up / in_service if in_service else None,
                "compute_share": hours["delivered"] / potential if potential else None,
            }
        }

    # ------------------------------------------------------------------ snapshots and merge

    def snapshot(self) -> Any:
        return {
            "sats": self.sats,
            "sat_ms": self.sat_ms,
            "acc_ms": self.acc_ms,
            "launch_failed_ms": sorted([t, n] for t, n in self.launch_failed_ms.items()),
            "ready_lag_ms": self.ready_lag_ms,
        }

    @classmethod
    def restore(cls, doc: Any) -> Losses:
        out = cls()
        try:
            out.sats = {k: [int(x) for x in v] for k, v in doc["sats"].items()}
            out.sat_ms = [int(x) for x in doc["sat_ms"]]
            out.acc_ms = [int(x) for x in doc["acc_ms"]]
            out.launch_failed_ms = {int(t): int(n) for t, n in doc["launch_failed_ms"]}
            lag = doc["ready_lag_ms"]
            out.ready_lag_ms = None if lag is None else int(lag)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise restore_error(cls.name, exc) from None
        if len(out.sat_ms) != len(CAUSES) or len(out.acc_ms) != len(CAUSES):
            raise restore_error(cls.name, ValueError("wrong number of causes"))
        return out

    @classmethod
    def merge(cls, parts: Sequence[Any], core: FleetCore) -> Losses:
        out = cls()
        for p in parts:
            out.sats.update(p.sats)
            out.sat_ms = [a + b for a, b in zip(out.sat_ms, p.sat_ms, strict=True)]
            out.acc_ms = [a + b for a, b in zip(out.acc_ms, p.acc_ms, strict=True)]
            for t, n in p.launch_failed_ms.items():
                out.launch_failed_ms[t] = out.launch_failed_ms.get(t, 0) + n
            if p.ready_lag_ms is not None:
                out.ready_lag_ms = p.ready_lag_ms
        return out
