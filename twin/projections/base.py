"""What a projection is: a small, pure fold over some event types, with its own snapshot,
partition merge, summary section and metric families.

:class:`twin.projections.fleet.FleetCore` is the one projection every state has: it checks each
event (order, legal transition) before anything changes and keeps the per-satellite timeline
(lifecycle state, shadow, telemetry, exact integrals). Every other projection subclasses
:class:`Projection`, lists the event types it applies, and is registered in
:data:`twin.projections.REGISTRY`; :class:`twin.projections.FleetState` composes the core with
every registered projection, so the CLI, replay and the projectors all fold, snapshot, merge,
summarise and export metrics through the same list.

Metric families are declared as plain data (:mod:`twin.projections.specs`); the services turn
them into Prometheus families (``services/projector/http.py``) and the dashboards and rules
are checked against them, so ``twin/`` stays free of Prometheus.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

from twin.events import EventBase
from twin.projections.fleet import FleetCore
from twin.projections.specs import HistogramSample, MetricSpec, Sample


class Projection:
    """Base of the projections besides the core (see the module docstring).

    A subclass sets :attr:`name`, :attr:`version` (bump it when :meth:`snapshot` changes
    shape), :attr:`event_types` and :attr:`metrics`, and implements the methods below. It
    never raises from :meth:`apply`: the core has already checked the event.
    """

    name: ClassVar[str]
    version: ClassVar[int] = 1
    event_types: ClassVar[frozenset[str]] = frozenset()
    metrics: ClassVar[tuple[MetricSpec, ...]] = ()

    def apply(self, event: EventBase, core: FleetCore) -> None:
        """Apply an event of one of :attr:`event_types` (already accepted by ``core``)."""
        raise NotImplementedError

    def retire(self, sat_id: str) -> None:
        """The satellite reached a terminal state (called after :meth:`apply`)."""

    def snapshot(self) -> Any:
        """JSON-ready state; :meth:`restore` rebuilds an equal projection from it."""
        raise NotImplementedError

    @classmethod
    def restore(cls, doc: Any) -> Projection:
        raise NotImplementedError

    @classmethod
    def merge(cls, parts: Sequence[Any], core: FleetCore) -> Projection:
        """One projection over several partitions' (disjoint satellites); ``core`` is the
        already merged core."""
        raise NotImplementedError

    def summary(self, core: FleetCore) -> dict[str, dict[str, Any]]:
        """Sections (and keys within them) this projection adds to ``twin state --json``."""
        return {}

    def satellite(self, sat_id: str) -> dict[str, Any]:
        """Fields this projection adds to one satellite's record."""
        return {}

    def collect(self, core: FleetCore) -> Iterator[Sample | HistogramSample]:
        """The values of :attr:`metrics` now (sums over projectors are the fleet's)."""
        return iter(())
