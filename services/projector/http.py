"""The projector's read side: one fleet view merged from its partitions, as JSON and metrics.

A projector holds one :class:`~twin.projections.FleetState` per assigned partition
(:mod:`services.projector`). :meth:`FleetState.merge` combines them (each projection merges
its own part: counts, totals, counters and integrals add up; the run section comes from the
partition holding ``scenario_started``; positions take the newest); with every partition in
one projector, the merge equals one fold over the whole log.

:class:`ProjectorCollector` is a client_python custom collector: it turns the samples the
projections compute (:meth:`FleetState.collect`) into the FLEET families, and adds the
PIPELINE families of :mod:`services.metric_names`, at scrape time. How to
aggregate several projectors of one group in PromQL:

* ``sum``: every satellite count (``twin_satellites``, ``twin_shell_satellites``, in shadow,
  load shed, repair queue, robots busy), totals (compute, power), the SoC gauge histogram,
  every counter, ``twin_projector_partitions``, and the per-partition series (disjoint).
  ``twin_satellites{state="planned"}`` is reported as *planned here − satellites seen here*,
  which is negative on a projector without the run partition, so that the sum is the fleet's.
* run-level facts (``twin_satellites_planned``, ``twin_repair_robots``, ``twin_repair_spares``)
  come only from the projector holding the run partition (others report 0), so ``sum`` is
  right. Spares follow that projector's newest ``spares_changed``. With a stock per robot
  pool (``spares_per = "pool"``) each pool's changes are its own stream in any partition:
  every projector reports the net change of the pools it folds and the run's holder adds the
  initial stock, so ``sum`` is the stock (one projector's share alone may be negative).
* not sums: ``twin_mean_time_to_repair_seconds`` (use ``sum(twin_repair_time_seconds_total) /
  sum(twin_repairs_completed_total)``), ``twin_sim_time_timestamp_seconds`` and
  ``twin_consumer_lag_sim_seconds`` (``max``), ``twin_projector_ready`` (``min``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import unquote

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeHistogramMetricFamily,
    GaugeMetricFamily,
    Metric,
)

from services.http_server import BoundedHTTPServer, TimeoutHandler, listen
from services.metric_names import BY_NAME, DEAD_LETTER_REASONS, DECODE_REASONS, FLEET
from twin.events import EVENT_TYPES
from twin.projections import FleetState, HistogramSample

if TYPE_CHECKING:
    from services.projector.runner import PartitionView as _View

    PartitionView = _View[FleetState]


# ---------------------------------------------------------------------- merging partitions


class Projector(Protocol):
    """What the HTTP side reads of a projector (:class:`services.projector.kafka.Projector`)."""

    lock: Any
    run_info: FleetState | None
    per_satellite_metrics: int

    def views(self) -> list[PartitionView]: ...

    def is_ready(self) -> bool: ...

    def lag_sim_seconds(self) -> float: ...


def merged_state(projector: Projector) -> FleetState:
    """The projector's partitions as one state (hold ``projector.lock``)."""
    return FleetState.merge([v.state for v in projector.views()], projector.run_info)


def merged_summary(
    states: Sequence[FleetState], *, run_info: FleetState | None = None
) -> dict[str, Any]:
    """One summary over several partitions' states (same shape as FleetState.summary());
    ``run_info`` is a state that folded only ``scenario_started``, for the run section when no
    partition here holds it. With every partition in one projector it equals the summary of
    one fold over the whole log (:meth:`twin.projections.FleetState.merge`)."""
    if not states:
        return FleetState().summary()
    return FleetState.merge(states, run_info).summary()


# ---------------------------------------------------------------------- metrics


def _family(name: str, labels: Sequence[str] = ()) -> Any:
    """An empty family for catalogue metric ``name`` (Any: the three kinds' add_metric differ)."""
    meta = BY_NAME[name]
    assert tuple(labels) == meta.labels, f"{name}: labels {labels} != catalogue {meta.labels}"
    if meta.kind == "counter":
        return CounterMetricFamily(name.removesuffix("_total"), meta.help, labels=list(labels))
    if meta.kind == "gaugehistogram":
        return GaugeHistogramMetricFamily(name, meta.help, labels=list(labels))
    return GaugeMetricFamily(name, meta.help, labels=list(labels))


def _value(name: str, value: float) -> Metric:
    fam: Metric = _family(name)
    fam.add_metric([], value)  # type: ignore[attr-defined]
    return fam


def fleet_families(state: FleetState) -> Iterator[Metric]:
    """Every fleet family the projections declare, filled from ``state``'s samples (a
    declared family without samples is still exported, empty)."""
    families: dict[str, Any] = {}
    for spec in FLEET:
        if spec.kind != "gaugehistogram":
            families[spec.name] = _family(spec.name, spec.labels)
    for sample in state.collect():
        if isinstance(sample, HistogramSample):
            families[sample.name] = GaugeHistogramMetricFamily(
                sample.name,
                BY_NAME[sample.name].help,
                buckets=sample.buckets,
                gsum_value=sample.gsum,
            )
        else:
            families[sample.name].add_metric(list(sample.labels), sample.value)
    for spec in FLEET:
        if spec.name in families:
            yield families[spec.name]


class ProjectorCollector:
    """Builds the FLEET and PIPELINE metric families from a projector at scrape time."""

    def __init__(self, projector: Projector) -> None:
        self.projector = projector

    def collect(self) -> Iterator[Metric]:
        proj = self.projector
        with proj.lock:
            views = proj.views()
            families = list(fleet_families(merged_state(proj)))
            families += list(self._pipeline(views))
            families += list(self._per_satellite(views, proj.per_satellite_metrics))
        yield from families

    def _pipeline(self, views: Sequence[PartitionView]) -> Iterator[Metric]:
        proj = self.projector
        by_type: dict[str, int] = {}
        decode_errors: dict[str, int] = {}
        dead_letters: dict[str, int] = {}
        for v in views:
            for src, dst in (
                (v.state.events_by_type, by_type),
                (v.decode_errors, decode_errors),
                (v.dead_letters, dead_letters),
            ):
                for k, n in src.items():
                    dst[k] = dst.get(k, 0) + n
        for name, label, counts, known in (
            ("twin_events_consumed_total", "type", by_type, EVENT_TYPES),
            ("twin_decode_errors_total", "reason", decode_errors, DECODE_REASONS),
            ("twin_dead_letters_total", "reason", dead_letters, DEAD_LETTER_REASONS),
        ):
            # every known label value from 0, so increase() and rate() see the first one
            fam = _family(name, (label,))
            for k, n in sorted(({k: 0 for k in known} | counts).items()):
                fam.add_metric([k], n)
            yield fam
        lag = _family("twin_consumer_lag_events", ("partition",))
        last = _family("twin_last_offset", ("partition",))
        for v in views:
            lag.add_metric([str(v.partition)], v.lag_events)
            if v.next_offset > 0:
                last.add_metric([str(v.partition)], v.next_offset - 1)
        yield lag
        yield last
        yield _value("twin_consumer_lag_sim_seconds", proj.lag_sim_seconds())
        yield _value("twin_projector_ready", 1.0 if proj.is_ready() else 0.0)
        yield _value("twin_projector_partitions", len(views))

    def _per_satellite(self, views: Sequence[PartitionView], cap: int) -> Iterator[Metric]:
        if cap <= 0:
            return
        records: list[dict[str, Any]] = []
        for v in views:
            for sat_id in v.state.satellite_ids():
                record = v.state.satellite(sat_id)
                if record is not None:
                    records.append(record)
        records = sorted(records, key=lambda r: str(r["satellite"]))[:cap]
        soc = _family("twin_satellite_soc_ratio", ("satellite",))
        compute = _family("twin_satellite_compute_online_accelerators", ("satellite",))
        for r in records:
            if r["soc"] is not None:
                soc.add_metric([r["satellite"]], r["soc"])
            compute.add_metric([r["satellite"]], r["compute_online"])
        yield soc
        yield compute


# ---------------------------------------------------------------------- HTTP


def _views_summary(projector: Projector) -> dict[str, Any]:
    with projector.lock:
        return merged_state(projector).summary()


def _satellite(projector: Projector, sat_id: str) -> dict[str, Any] | None:
    with projector.lock:
        for v in projector.views():
            record = v.state.satellite(sat_id)
            if record is not None:
                return record
    return None


def make_handler(projector: Projector, registry: CollectorRegistry) -> type[TimeoutHandler]:
    class Handler(TimeoutHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(200, generate_latest(registry), CONTENT_TYPE_LATEST)
            elif path == "/healthz":
                self._json(200, {"status": "ok"})
            elif path == "/readyz":
                ready = projector.is_ready()
                self._json(200 if ready else 503, {"ready": ready})
            elif path == "/state":
                self._json(200, _views_summary(projector))
            elif path.startswith("/satellites/"):
                sat_id = unquote(path.removeprefix("/satellites/"))
                record = _satellite(projector, sat_id)
                if record is None:
                    self._json(404, {"error": f"unknown satellite {sat_id!r}"})
                else:
                    self._json(200, record)
            else:
                self._json(404, {"error": f"no route {path}"})

        def _json(self, status: int, body: Any) -> None:
            self._send(status, json.dumps(body).encode(), "application/json")

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


def serve(
    projector: Projector, registry: CollectorRegistry, host: str, port: int
) -> BoundedHTTPServer:
    """Serve in a daemon thread (bounded, with timeouts); ``.shutdown()`` stops it."""
    return listen(
        host, port, make_handler(projector, registry), name="projector-http", option="--port"
    )
