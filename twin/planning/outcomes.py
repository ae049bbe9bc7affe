"""A run's outcomes as one flat row: what a sweep tabulates and compares across seeds.

Most columns come from the fold's summary (:meth:`twin.projections.FleetState.summary`), so a
row agrees with ``twin state --json`` for the same log. Robot utilisation is the one figure
the fold does not keep: :class:`RobotUse` integrates it over the events (busy from dispatch to
the repair's completion, or to the run's end).

Columns (units in the names): ``availability``, ``compute_share`` (delivered ÷ potential),
``compute_accelerator_hours``, ``compute_pflop_days``, ``lost_<cause>_accelerator_hours`` for
each cause of :mod:`twin.projections.losses`, ``lost_unrepaired_faults_accelerator_hours``
(waiting for a robot + unrepairable: the same loss, filed as unrepairable when there are no
robots, so the one figure that compares across robot counts), ``energy_generated_kwh``,
``energy_consumed_kwh``, ``load_shed_satellite_hours``, ``eclipse_satellite_hours``,
``mttr_hours``, ``faults``, ``repairs``, ``robots``, ``robot_utilisation``, ``flights``,
``flights_failed``, ``tonnes_to_orbit``, ``tonnes_lost``, and, when the state has a
``workload`` section, ``workload_<key>`` for each of its numbers (goodput and the like).
"""

from __future__ import annotations

import math
from typing import Any

from twin.constants import SECONDS_PER_HOUR
from twin.events import EventBase, RepairCompleted, RepairRobotDispatched
from twin.projections.losses import CAUSES

__all__ = ["OUTCOMES", "RobotUse", "outcome_row"]

OUTCOMES = (
    "availability",
    "compute_share",
    "compute_accelerator_hours",
    "compute_pflop_days",
    *(f"lost_{c}_accelerator_hours" for c in (*CAUSES[1:], "power_thermal_cap", "launch_failures")),
    "lost_unrepaired_faults_accelerator_hours",
    "energy_generated_kwh",
    "energy_consumed_kwh",
    "load_shed_satellite_hours",
    "eclipse_satellite_hours",
    "mttr_hours",
    "faults",
    "repairs",
    "robots",
    "robot_utilisation",
    "flights",
    "flights_failed",
    "tonnes_to_orbit",
    "tonnes_lost",
)
"""The outcome columns every row has, in table order (``workload_*`` follow when present)."""


class RobotUse:
    """Robot-seconds busy: from ``repair_robot_dispatched`` to ``repair_completed`` (or to
    the time given to :meth:`busy_s` for a repair still under way)."""

    def __init__(self) -> None:
        self.closed_s = 0.0
        self.open: dict[str, float] = {}

    def apply(self, event: EventBase, t_s: float) -> None:
        if isinstance(event, RepairRobotDispatched):
            self.open[event.robot] = t_s
        elif isinstance(event, RepairCompleted):
            start = self.open.pop(event.robot, None)
            if start is not None:
                self.closed_s += t_s - start

    def busy_s(self, now_s: float) -> float:
        return self.closed_s + sum(now_s - t for t in self.open.values())


def _number(x: Any) -> float | None:
    return float(x) if isinstance(x, int | float) and not isinstance(x, bool) else None


def outcome_row(summary: dict[str, Any], robot_busy_s: float | None = None) -> dict[str, Any]:
    """The outcome columns of a run from its state summary (numbers, None when undefined:
    MTTR without repairs, utilisation without robots)."""
    integrals, losses = summary["integrals"], summary.get("losses", {})
    lost = losses.get("accelerator_hours", {})
    counters, repair = summary["counters"], summary["repair"]
    launch = summary.get("launch", {})
    run = summary.get("run", {})
    duration_s = summary["position"].get("sim_time_s") or 0.0
    robots = run.get("robots") or 0
    mttr = repair.get("mttr_s")
    row: dict[str, Any] = {
        "availability": losses.get("availability"),
        "compute_share": losses.get("compute_share"),
        "compute_accelerator_hours": integrals["compute_accelerator_hours"],
        "compute_pflop_days": integrals["compute_pflop_days"],
    }
    for cause in (*CAUSES[1:], "power_thermal_cap", "launch_failures"):
        row[f"lost_{cause}_accelerator_hours"] = lost.get(cause)
    unrepaired = [lost.get(c) for c in ("waiting_for_robot", "unrepairable")]
    row["lost_unrepaired_faults_accelerator_hours"] = (
        None if all(v is None for v in unrepaired) else sum(v or 0.0 for v in unrepaired)
    )
    row.update(
        {
            "energy_generated_kwh": integrals["energy_generated_kwh"],
            "energy_consumed_kwh": integrals["energy_consumed_kwh"],
            "load_shed_satellite_hours": integrals["load_shed_satellite_s"] / SECONDS_PER_HOUR,
            "eclipse_satellite_hours": integrals["eclipse_satellite_s"] / SECONDS_PER_HOUR,
            "mttr_hours": None if mttr is None else mttr / SECONDS_PER_HOUR,
            "faults": counters.get("faults_total"),
            "repairs": counters.get("repairs_completed"),
            "robots": robots,
            "robot_utilisation": (
                robot_busy_s / (robots * duration_s)
                if robot_busy_s is not None and robots and duration_s > 0
                else None
            ),
            "flights": launch.get("flights"),
            "flights_failed": launch.get("flights_failed"),
            "tonnes_to_orbit": launch.get("tonnes_to_orbit"),
            "tonnes_lost": launch.get("tonnes_lost"),
        }
    )
    workload = summary.get("workload")
    if isinstance(workload, dict):
        for key, value in sorted(workload.items()):
            number = _number(value)
            if number is not None and math.isfinite(number):
                row[f"workload_{key}"] = number
    return row
