"""Lifecycle counters: how many launches, launch failures, deployments, deorbits, reboots.

Each row of :data:`COUNTERS` is one event type counted under one summary key and exported as
one Prometheus counter; counting a new event type is one more row.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from twin.events import EventBase
from twin.projections.base import Projection
from twin.projections.fleet import FleetCore
from twin.projections.specs import MetricSpec, Sample, restore_error

#: event type -> (summary key under "counters", metric, help)
COUNTERS: dict[str, tuple[str, str, str]] = {
    "launched": ("launches", "twin_launches_total", "Satellites launched."),
    "launch_failed": (
        "launch_failures",
        "twin_launch_failures_total",
        "Satellites lost to failed launches.",
    ),
    "deployed": ("deployments", "twin_deployments_total", "Satellites deployed."),
    "deorbited": ("deorbits", "twin_deorbits_total", "Satellites deorbited."),
    "rebooted": ("reboots", "twin_reboots_total", "Reboots after transient upsets."),
}


class LifecycleCounters(Projection):
    name = "counters"
    version = 1
    event_types = frozenset(COUNTERS)
    metrics = tuple(MetricSpec(metric, "counter", help) for _, metric, help in COUNTERS.values())

    def __init__(self) -> None:
        self.counts: dict[str, int] = {key: 0 for key, _, _ in COUNTERS.values()}

    def apply(self, event: EventBase, core: FleetCore) -> None:
        key = COUNTERS[event.type][0]
        self.counts[key] += 1

    def __getattr__(self, name: str) -> int:  # state.launches, state.reboots, ...
        try:
            return self.__dict__["counts"][name]  # type: ignore[no-any-return]
        except KeyError:
            raise AttributeError(name) from None

    def snapshot(self) -> Any:
        return dict(self.counts)

    @classmethod
    def restore(cls, doc: Any) -> LifecycleCounters:
        out = cls()
        try:
            for key in out.counts:
                out.counts[key] = int(doc[key])
        except (KeyError, TypeError, ValueError) as exc:
            raise restore_error(cls.name, exc) from None
        return out

    @classmethod
    def merge(cls, parts: Sequence[Any], core: FleetCore) -> LifecycleCounters:
        out = cls()
        for p in parts:
            for key, n in p.counts.items():
                out.counts[key] += n
        return out

    def summary(self, core: FleetCore) -> dict[str, dict[str, Any]]:
        return {"counters": dict(self.counts)}

    def collect(self, core: FleetCore) -> Iterator[Sample]:
        for key, metric, _ in COUNTERS.values():
            yield Sample(metric, (), self.counts[key])
