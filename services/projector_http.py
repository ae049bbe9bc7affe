"""The projector's read side: one fleet view merged from its partitions, as JSON and metrics.

A projector holds one :class:`~twin.state.FleetState` per assigned partition
(:mod:`services.projector`). :func:`merged_summary` combines them into the shape of
:meth:`FleetState.summary`: counts, totals, counters and integrals add up; the run section
comes from the partition holding ``scenario_started``; positions take the newest; the SoC
histogram adds bin by bin. With every partition in one projector, it equals the summary of
one fold over the whole log.

:class:`ProjectorCollector` is a client_python custom collector: it builds every FLEET and
PIPELINE family of :mod:`services.metric_names` from the states at scrape time. How to
aggregate several projectors of one group in PromQL:

* ``sum``: every satellite count (``twin_satellites``, ``twin_shell_satellites``, in shadow,
  load shed, repair queue, robots busy), totals (compute, power), the SoC gauge histogram,
  every counter, ``twin_projector_partitions``, and the per-partition series (disjoint).
  ``twin_satellites{state="planned"}`` is reported as *planned here − satellites seen here*,
  which is negative on a projector without the run partition, so that the sum is the fleet's.
* run-level facts (``twin_satellites_planned``, ``twin_repair_robots``, ``twin_repair_spares``)
  come only from the projector holding the run partition (others report 0), so ``sum`` is
  right. Spares follow that projector's newest ``repair_completed``; repairs folded by other
  projectors reach it only through later ones (a lag, not a double count).
* not sums: ``twin_mean_time_to_repair_seconds`` (use ``sum(twin_repair_time_seconds_total) /
  sum(twin_repairs_completed_total)``), ``twin_sim_time_seconds`` and
  ``twin_consumer_lag_sim_seconds`` (``max``), ``twin_projector_ready`` (``min``).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeHistogramMetricFamily,
    GaugeMetricFamily,
    Metric,
)

from services.metric_names import BY_NAME
from twin.lifecycle import State
from twin.state import SOC_BINS, FleetState, integrals_report

if TYPE_CHECKING:
    from services.projector import PartitionView, Projector


# ---------------------------------------------------------------------- merging partitions


def _run_owner(states: Sequence[FleetState]) -> FleetState | None:
    """The state that folded ``scenario_started`` (the run partition's), if any here."""
    return next((s for s in states if s.scenario is not None), None)


def _add(a: Any, b: Any) -> Any:
    """Generic merge of two summary values: numbers add, dicts merge, lists add or append."""
    if a is None:
        return b
    if b is None:
        return a
    if isinstance(a, bool):
        return a or b
    if isinstance(a, dict):
        out = dict(a)
        for k, v in b.items():
            out[k] = _add(out.get(k), v)
        return out
    if isinstance(a, list):
        return a + b
    if isinstance(a, (int, float)):
        return a + b
    return max(a, b)  # strings (sim_time): the newest


def merged_summary(
    states: Sequence[FleetState],
    *,
    spares_seen: tuple[int, int] | None = None,
    run_info: FleetState | None = None,
) -> dict[str, Any]:
    """One summary over several partitions' states (same shape as FleetState.summary()).

    ``spares_seen`` is (run offset, spares_left) of the newest ``repair_completed`` among the
    partitions; ``run_info`` a state that folded only ``scenario_started``, used for the run
    section when no partition here holds it.
    """
    if not states:
        return FleetState().summary()
    owner = _run_owner(states)
    if len(states) == 1 and run_info is None:
        return states[0].summary()
    summaries = [s.summary() for s in states]
    out: dict[str, Any] = {}
    for summary in summaries:
        out = _add(out, summary) if out else summary
    run_source = owner or run_info or states[0]
    out["run"] = run_source.summary()["run"]
    if owner is None and run_info is not None:
        out["run"]["run_id"] = next((s.run_id for s in states if s.run_id), run_info.run_id)
    tflops = run_source.tflops_per_accelerator

    position = out["position"]
    position["last_offset"] = max(
        (s.last_offset for s in states if s.last_offset is not None), default=None
    )
    epoch = out["run"]["epoch"]
    if position["sim_time"] is not None and epoch is not None:
        position["sim_time_s"] = (
            datetime.fromisoformat(position["sim_time"]) - datetime.fromisoformat(epoch)
        ).total_seconds()
    else:
        position["sim_time_s"] = max(s.sim_time_s for s in states)

    sats = out["satellites"]
    planned = owner.satellites_planned if owner is not None else 0
    sats["by_state"][State.PLANNED.value] = max(0, planned - sats["seen"])

    fleet = out["fleet"]
    generated_mw = sum(s.generated_mw for s in states)
    consumed_mw = sum(s.consumed_mw for s in states)
    fleet["power_generated_w"] = generated_mw / 1000.0
    fleet["power_consumed_w"] = consumed_mw / 1000.0
    fleet["compute_online_tflops"] = fleet["compute_online_accelerators"] * tflops
    fleet["soc_histogram"] = [
        sum(col) for col in zip(*(x["fleet"]["soc_histogram"] for x in summaries), strict=True)
    ]

    counters = out["counters"]
    counters["events_by_type"] = dict(sorted(counters["events_by_type"].items()))

    repair = out["repair"]
    queued = [(s, sat_id) for s in states for sat_id in s.repair_queue]
    repair["queue"] = [sat for _, sat in sorted(queued, key=_queue_key)]
    repair["robots_busy"] = dict(sorted(repair["robots_busy"].items()))
    robots = out["run"]["robots"] if owner is not None else 0
    repair["robots_idle"] = max(0, robots - len(repair["robots_busy"]))
    repairs = sum(s.repairs_completed for s in states)
    total_s = sum(s.repair_time_total_s for s in states)
    repair["mttr_s"] = total_s / repairs if repairs else None
    repair["spares_left"] = merged_spares(states, spares_seen)

    # exact integer integrals of every partition, each up to the newest event of any of them:
    # per-satellite accounting makes the sum equal the fold of the whole log (twin.state)
    t_ms = max(s.sim_time_ms for s in states)
    ms = [sum(col) for col in zip(*(s.integrals_ms(t_ms) for s in states), strict=True)]
    out["integrals"] = integrals_report(ms, tflops)
    return out


def _queue_key(item: tuple[FleetState, str]) -> tuple[float, str]:
    """Repair queue order across partitions: by fault time (the request follows it at once)."""
    state, sat_id = item
    record = state.satellite(sat_id) or {}
    return (record.get("fault_time_s") or 0.0, sat_id)


def merged_spares(states: Sequence[FleetState], spares_seen: tuple[int, int] | None) -> int:
    """Spares left: the newest ``repair_completed`` here, else the run's initial stock."""
    if spares_seen is not None:
        return spares_seen[1]
    owner = _run_owner(states)
    return owner.spares_left if owner is not None else 0


def newest_spares(views: Sequence[PartitionView]) -> tuple[int, int] | None:
    seen = [v.spares_seen for v in views if v.spares_seen is not None]
    return max(seen) if seen else None


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


class ProjectorCollector:
    """Builds the FLEET and PIPELINE metric families from a projector at scrape time."""

    def __init__(self, projector: Projector) -> None:
        self.projector = projector

    def collect(self) -> Iterator[Metric]:
        proj = self.projector
        with proj.lock:
            views = proj.views()
            families = list(self._fleet(views, proj.run_info))
            families += list(self._pipeline(views))
            families += list(self._per_satellite(views, proj.per_satellite_metrics))
        yield from families

    def _fleet(
        self, views: Sequence[PartitionView], run_info: FleetState | None
    ) -> Iterator[Metric]:
        states = [v.state for v in views]
        owner = _run_owner(states)
        s = merged_summary(states, spares_seen=newest_spares(views), run_info=run_info)
        sats, fleet, counters = s["satellites"], s["fleet"], s["counters"]
        repair = s["repair"]
        # counters of delivered compute, energy and time: each satellite accounted up to its
        # own latest event, so sums over projectors are exact (twin.state.integrals_closed)
        closed = [sum(col) for col in zip(*(x.closed for x in states), strict=True)]
        tflops = (owner or run_info or states[0]).tflops_per_accelerator if states else 0.0
        integrals = integrals_report(closed, tflops) if states else FleetState().integrals()
        planned = owner.satellites_planned if owner is not None else 0

        fam = _family("twin_satellites", ("state",))
        for st in State:
            n = sats["by_state"][st.value]
            if st is State.PLANNED:  # additive across projectors (see module docstring)
                n = planned - sats["seen"]
            fam.add_metric([st.value], n)
        yield fam
        fam = _family("twin_shell_satellites", ("shell", "state"))
        shells = sorted(
            {int(sh) for sh in sats["by_shell_state"]}
            | {int(x["shell"]) for x in s["run"]["shells"]}
        )
        for shell in shells:
            by = sats["by_shell_state"].get(str(shell), {})
            for st in State:
                if st is not State.PLANNED:
                    fam.add_metric([str(shell), st.value], by.get(st.value, 0))
        yield fam
        yield _value("twin_satellites_planned", planned)
        yield _value("twin_compute_online_accelerators", fleet["compute_online_accelerators"])
        yield _value("twin_compute_online_tflops", fleet["compute_online_tflops"])
        yield _value("twin_power_generated_watts", fleet["power_generated_w"])
        yield _value("twin_power_consumed_watts", fleet["power_consumed_w"])
        yield _soc_histogram(states, fleet["soc_histogram"])
        yield _value("twin_satellites_in_shadow", fleet["in_shadow"])
        yield _value("twin_satellites_load_shed", fleet["load_shed"])
        yield _value("twin_repair_queue_length", repair["queue_length"])
        yield _value("twin_repair_robots_busy", len(repair["robots_busy"]))
        yield _value("twin_repair_robots", s["run"]["robots"] if owner is not None else 0)
        yield _value("twin_repair_spares", repair["spares_left"] if owner is not None else 0)
        yield _value("twin_mean_time_to_repair_seconds", repair["mttr_s"] or 0.0)
        yield _value("twin_repair_time_seconds_total", sum(x.repair_time_total_s for x in states))
        fam = _family("twin_faults_total", ("component", "kind"))
        for component, kinds in sorted(counters["faults"].items()):
            for kind, n in sorted(kinds.items()):
                fam.add_metric([component, kind], n)
        yield fam
        yield _value("twin_launches_total", counters["launches"])
        yield _value("twin_launch_failures_total", counters["launch_failures"])
        yield _value("twin_deployments_total", counters["deployments"])
        yield _value("twin_deorbits_total", counters["deorbits"])
        yield _value("twin_reboots_total", counters["reboots"])
        yield _value("twin_repairs_completed_total", counters["repairs_completed"])
        yield _value(
            "twin_compute_delivered_accelerator_hours_total", integrals["compute_accelerator_hours"]
        )
        yield _value("twin_compute_delivered_pflop_days_total", integrals["compute_pflop_days"])
        yield _value("twin_energy_generated_kwh_total", integrals["energy_generated_kwh"])
        yield _value("twin_energy_consumed_kwh_total", integrals["energy_consumed_kwh"])
        yield _value("twin_eclipse_satellite_seconds_total", integrals["eclipse_satellite_s"])
        yield _value("twin_load_shed_satellite_seconds_total", integrals["load_shed_satellite_s"])
        sim_time = s["position"]["sim_time"]
        yield _value(
            "twin_sim_time_seconds",
            datetime.fromisoformat(sim_time).timestamp() if sim_time else 0.0,
        )

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
        for name, label, counts in (
            ("twin_events_consumed_total", "type", by_type),
            ("twin_decode_errors_total", "reason", decode_errors),
            ("twin_dead_letters_total", "reason", dead_letters),
        ):
            fam = _family(name, (label,))
            for k, n in sorted(counts.items()):
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
            for sat_id in _satellite_ids(v.state):
                record = v.state.satellite(sat_id)
                if record is not None:
                    records.append(record)
        records = sorted(records, key=lambda r: str(r["satellite"]))[:cap]
        soc = _family("twin_satellite_soc", ("satellite",))
        compute = _family("twin_satellite_compute_online_accelerators", ("satellite",))
        for r in records:
            if r["soc"] is not None:
                soc.add_metric([r["satellite"]], r["soc"])
            compute.add_metric([r["satellite"]], r["compute_online"])
        yield soc
        yield compute


def _satellite_ids(state: FleetState) -> list[str]:
    # FleetState has no public listing of satellite ids yet; the fold's own table is the source.
    return state.satellite_ids()


def _soc_histogram(states: Sequence[FleetState], counts: Sequence[int]) -> Metric:
    """SoC as a gauge histogram: bucket le=k/10 counts satellites with SoC < k/10 (the fold's
    bins, 1.0 in the last), the +Inf bucket all satellites with telemetry."""
    buckets: list[tuple[str, float]] = []
    running = 0
    for k, n in enumerate(counts, start=1):
        running += n
        buckets.append((f"{k / SOC_BINS:.1f}", running))
    buckets.append(("+Inf", running))
    gsum = 0.0
    for state in states:
        for sat_id in _satellite_ids(state):
            record = state.satellite(sat_id)
            if record is not None and record["soc"] is not None:
                gsum += record["soc"]
    fam = GaugeHistogramMetricFamily(
        "twin_battery_soc", BY_NAME["twin_battery_soc"].help, buckets=buckets, gsum_value=gsum
    )
    return fam


# ---------------------------------------------------------------------- HTTP


def _views_summary(projector: Projector) -> dict[str, Any]:
    with projector.lock:
        views = projector.views()
        return merged_summary(
            [v.state for v in views], spares_seen=newest_spares(views), run_info=projector.run_info
        )


def _satellite(projector: Projector, sat_id: str) -> dict[str, Any] | None:
    with projector.lock:
        for v in projector.views():
            record = v.state.satellite(sat_id)
            if record is not None:
                return record
    return None


def make_handler(projector: Projector, registry: CollectorRegistry) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
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

        def log_message(self, format: str, *args: Any) -> None:
            pass  # scrapes every few seconds would drown the log

    return Handler


def serve(
    projector: Projector, registry: CollectorRegistry, host: str, port: int
) -> ThreadingHTTPServer:
    """Start the HTTP server in a daemon thread; ``.shutdown()`` stops it."""
    server = ThreadingHTTPServer((host, port), make_handler(projector, registry))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="projector-http", daemon=True).start()
    return server
