"""The plain data projections declare and produce: metric families (:class:`MetricSpec`),
their values (:class:`Sample`, :class:`HistogramSample`) and snapshot errors. The services
turn them into Prometheus families (``services/projector/http.py``), so ``twin/`` stays free of
Prometheus."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from twin.errors import TwinError


class SnapshotError(TwinError):
    """Bytes that are not a FleetState snapshot this version can read."""


@dataclass(frozen=True)
class MetricSpec:
    """One metric family a projection exports (Prometheus conventions: counters end in
    ``_total``; ``unit`` is the base unit in words, empty for counts)."""

    name: str
    kind: str  # "gauge" | "counter" | "gaugehistogram"
    help: str
    labels: tuple[str, ...] = ()
    unit: str = ""
    aggregate: str = "sum"
    """How several projectors' series combine into the fleet's: ``sum`` (counts, totals,
    counters: each projector reports its partitions' share) or ``max`` (times)."""


class Sample(NamedTuple):
    """One value of a declared family: ``labels`` in the order of :attr:`MetricSpec.labels`."""

    name: str
    labels: tuple[str, ...]
    value: float


class HistogramSample(NamedTuple):
    """A gauge histogram's cumulative buckets (``le`` text, count) and the sum of values."""

    name: str
    buckets: list[tuple[str, float]]
    gsum: float


def restore_error(name: str, exc: Exception) -> SnapshotError:
    return SnapshotError(f"corrupt FleetState snapshot ({name}): {exc!r}")
