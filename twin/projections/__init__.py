"""Projections: the fleet's state as a composition of small, pure folds over the event log.

A run is a log of events; the state of the fleet at any point is what you get by applying the
events up to that point, in order, to an empty :class:`FleetState` (:func:`fold`). The embedded
log (``twin state``, ``twin plot``, the run summary), replay and the Kafka projectors all use
this same fold, so they cannot disagree. Folding is incremental: ``fold(rest, fold(prefix))``
equals ``fold(log)``, and a state can be frozen with :meth:`FleetState.to_snapshot` and thawed
with :meth:`FleetState.from_snapshot` to resume later (the projectors' snapshots).

A :class:`FleetState` is :class:`~twin.projections.fleet.FleetCore` (checks every event, keeps
every satellite's timeline and the exact integrals) plus one instance of each projection in
:data:`REGISTRY`. Each projection owns the event types it applies, a versioned snapshot, a
merge across partitions, its part of the summary and its metric families
(:mod:`twin.projections.base`). To add one: write a :class:`~twin.projections.base.Projection`
subclass in a module of this package and append it to :data:`REGISTRY`; the snapshot, the
merge, ``twin state --json`` and the projectors' ``/metrics`` pick it up.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from twin.events import EventBase
from twin.projections.base import Projection
from twin.projections.counters import LifecycleCounters
from twin.projections.fleet import SOC_BINS, EventOrderError, FleetCore, integrals_report
from twin.projections.launches import Launches
from twin.projections.losses import Losses
from twin.projections.repairs import Repairs
from twin.projections.specs import HistogramSample, MetricSpec, Sample, SnapshotError
from twin.projections.workload import Contacts, Workload

__all__ = [
    "REGISTRY",
    "SNAPSHOT_VERSION",
    "SOC_BINS",
    "EventOrderError",
    "FleetCore",
    "FleetState",
    "HistogramSample",
    "MetricSpec",
    "Projection",
    "Sample",
    "SnapshotError",
    "fold",
    "integrals_report",
    "metric_specs",
]

REGISTRY: tuple[type[Projection], ...] = (
    LifecycleCounters,
    Repairs,
    Launches,
    Losses,
    Workload,
    Contacts,
)
"""Every projection besides the core, in the order their summary sections are merged."""

SNAPSHOT_VERSION = 3
"""Version of the snapshot envelope; each projection's own document has its own version."""


def metric_specs() -> tuple[MetricSpec, ...]:
    """Every metric family the fleet projections export (core first, then the registry)."""
    return FleetCore.metrics + tuple(spec for p in REGISTRY for spec in p.metrics)


class FleetState:
    """The fleet at one point of a run: the core plus every registered projection.

    Attributes of the core and of the projections read through (``state.compute_online``,
    ``state.launches``, ``state.repair_queue``); only :meth:`apply` changes them.
    """

    def __init__(
        self, core: FleetCore | None = None, projections: Sequence[Projection] | None = None
    ) -> None:
        self.core = FleetCore() if core is None else core
        self.projections: tuple[Projection, ...] = (
            tuple(cls() for cls in REGISTRY) if projections is None else tuple(projections)
        )
        dispatch: dict[str, list[Any]] = {}
        for proj in self.projections:
            for etype in proj.event_types:
                dispatch.setdefault(etype, []).append(proj.apply)
        self._dispatch = {k: tuple(v) for k, v in dispatch.items()}
        self._retirers = tuple(p.retire for p in self.projections)
        self._apply = self._make_apply()
        self.apply = self._apply  # type: ignore[method-assign,assignment]

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name in ("core", "projections"):
            raise AttributeError(name)
        for part in (self.core, *self.projections):
            try:
                return getattr(part, name)
            except AttributeError:
                continue
        raise AttributeError(f"FleetState has no attribute {name!r}")

    def projection(self, cls: type[Projection]) -> Any:
        """This state's instance of a registered projection class."""
        return next(p for p in self.projections if isinstance(p, cls))

    # ------------------------------------------------------------------ apply

    def apply(self, event: EventBase) -> None:
        """Apply one event in place; on error nothing is changed (the core checks first)."""
        self._apply(event)

    def _make_apply(self) -> Callable[[EventBase], None]:
        """The per-event path as one closure over the core and the dispatch table (the fold
        runs it a million times: attribute lookups on ``self`` cost ~5 %)."""
        core = self.core
        core_apply = core.apply
        handlers_for = self._dispatch.get
        retirers = self._retirers

        def apply(event: EventBase) -> None:
            retired = core_apply(event)
            handlers = handlers_for(event.type)
            if handlers is not None:
                for handler in handlers:
                    handler(event, core)
            if retired:
                sat_id = event.satellite or ""
                for retire in retirers:
                    retire(sat_id)

        return apply

    # ------------------------------------------------------------------ views

    def satellite_ids(self) -> list[str]:
        """Every satellite some event named, in first-seen order."""
        return list(self.core.sats)

    def satellite(self, sat_id: str) -> dict[str, Any] | None:
        """One satellite's record as a JSON-ready dict, or None if no event named it."""
        record = self.core.satellite(sat_id)
        if record is not None:
            for proj in self.projections:
                record.update(proj.satellite(sat_id))
        return record

    def summary(self) -> dict[str, Any]:
        """The state as a JSON-ready dict (``twin state --json``, the projector's ``/state``)."""
        out = self.core.summary()
        for proj in self.projections:
            for section, fields in proj.summary(self.core).items():
                out.setdefault(section, {}).update(fields)
        return out

    def collect(self) -> Iterator[Sample | HistogramSample]:
        """Every declared metric's values now (see :func:`metric_specs`)."""
        yield from self.core.collect()
        for proj in self.projections:
            yield from proj.collect(self.core)

    # ------------------------------------------------------------------ merge

    @classmethod
    def merge(cls, states: Sequence[FleetState], run_info: FleetState | None = None) -> FleetState:
        """One state over several partitions' folds (each satellite in one of them): what
        :func:`fold` of the whole log gives, as far as counts, totals, counters and integrals
        go. ``run_info`` is a fold of ``scenario_started`` alone, for the run's facts when no
        partition here holds it. A read-only view sharing the parts' records."""
        if len(states) == 1 and run_info is None:
            return states[0]
        core = FleetCore.merge(
            [s.core for s in states], None if run_info is None else run_info.core
        )
        projections = [
            proj_cls.merge([s.projection(proj_cls) for s in states], core) for proj_cls in REGISTRY
        ]
        return cls(core, projections)

    # ------------------------------------------------------------------ snapshots

    def to_snapshot(self) -> bytes:
        """The whole state as bytes (canonical JSON); :meth:`from_snapshot` restores it exactly."""
        parts: tuple[Any, ...] = (self.core, *self.projections)
        doc: dict[str, Any] = {
            "snapshot_version": SNAPSHOT_VERSION,
            "projections": {
                part.name: {"version": part.version, "state": part.snapshot()} for part in parts
            },
        }
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
        parts: dict[str, Any] = doc.get("projections") or {}
        restored: list[Any] = []
        classes: tuple[Any, ...] = (FleetCore, *REGISTRY)
        for part_cls in classes:
            entry = parts.get(part_cls.name)
            if not isinstance(entry, dict) or "state" not in entry:
                raise SnapshotError(
                    f"corrupt FleetState snapshot: no state of projection {part_cls.name!r}"
                )
            if entry.get("version") != part_cls.version:
                got = entry.get("version")
                raise SnapshotError(
                    f"snapshot of projection {part_cls.name!r} has version {got!r}, this build "
                    f"reads {part_cls.version}; rebuild the state by replaying the log"
                )
            restored.append(part_cls.restore(entry["state"]))
        return cls(restored[0], restored[1:])


def fold(events: Iterable[EventBase], state: FleetState | None = None) -> FleetState:
    """Apply ``events`` in order to ``state`` (a new empty state by default) and return it."""
    state = FleetState() if state is None else state
    apply = state.apply
    for event in events:
        apply(event)
    return state
