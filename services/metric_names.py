"""The catalogue of Prometheus metrics Orbital Twin exports: one place for names, types,
help texts and labels.

The fleet families come from the projections that compute them (:mod:`twin.projections`);
the pipeline, per-satellite and live families are the services' own. The projector's
collector builds its metric families from this table, the Grafana
dashboards and Prometheus rules are generated from / checked against it, so a renamed
metric fails a test instead of silently emptying a board. Labels are bounded: state,
shell, plane, component, kind, type, reason, partition — never a satellite id (the
opt-in per-satellite series are capped, see ``twin_satellite_*``).

Counters are exposed with the ``_total`` suffix (Prometheus convention); the names here
include it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from twin.projections import MetricSpec, metric_specs

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

Metric = MetricSpec
"""A catalogue entry: name, kind ("gauge" | "counter" | "gaugehistogram"), help, labels, unit."""

FLEET: tuple[Metric, ...] = metric_specs()
"""The fleet families: declared by the projections (:mod:`twin.projections`), each next to
the fold that computes it."""

PIPELINE: tuple[Metric, ...] = (
    MetricSpec("twin_events_consumed_total", "counter", "Events folded, by type.", ("type",)),
    MetricSpec(
        "twin_decode_errors_total", "counter", "Messages that could not be decoded.", ("reason",)
    ),
    MetricSpec(
        "twin_dead_letters_total", "counter", "Messages sent to the dead-letter topic.", ("reason",)
    ),
    MetricSpec(
        "twin_consumer_lag_events", "gauge", "Events behind the partition's end.", ("partition",)
    ),
    MetricSpec(
        "twin_consumer_lag_sim_seconds",
        "gauge",
        "Simulation seconds between the newest event seen and the last event folded.",
    ),
    MetricSpec(
        "twin_last_offset", "gauge", "Last Kafka offset folded, by partition.", ("partition",)
    ),
    MetricSpec("twin_projector_ready", "gauge", "1 once the projector has caught up with the log."),
    MetricSpec("twin_projector_partitions", "gauge", "Partitions assigned to this projector."),
    MetricSpec(
        "twin_build_info",
        "gauge",
        "Always 1; the labels name the running version of Orbital Twin and Python.",
        ("version", "python"),
    ),
)

DECODE_REASONS = (
    "invalid_json",
    "not_an_object",
    "unknown_type",
    "bad_schema_version",
    "newer_schema_version",
    "invalid_event",
)
"""Reasons a message cannot be decoded (:class:`twin.errors.DecodeError`)."""
DEAD_LETTER_REASONS = (
    *DECODE_REASONS,
    "illegal_transition",
    "event_order",
    "rejected",
    "fold_error",
)
"""Every reason a record goes to the dead-letter topic (decode reasons and
:func:`services.projector.runner.rejection_reason`): the counters start at 0 for each, so
``increase()`` sees the first one."""

#: Opt-in per-satellite series (`twin-projector --per-satellite-metrics N`): at most N
#: satellites per projector, so the label stays bounded.
SATELLITE: tuple[Metric, ...] = (
    MetricSpec(
        "twin_satellite_soc_ratio", "gauge", "Battery state of charge (0..1).", ("satellite",)
    ),
    MetricSpec(
        "twin_satellite_compute_online_accelerators",
        "gauge",
        "Accelerators computing now on the satellite.",
        ("satellite",),
    ),
)

#: Exported by `twin run --live --metrics-port N` (the simulator itself, not a projector).
LIVE: tuple[Metric, ...] = (
    MetricSpec(
        "twin_live_events_emitted_total", "counter", "Events emitted by the live simulation."
    ),
    MetricSpec(
        "twin_live_sim_time_timestamp_seconds", "gauge", "Simulation time now, Unix seconds."
    ),
    MetricSpec(
        "twin_live_lag_seconds",
        "gauge",
        "How far the simulation is behind the wall clock (0 when on time), s.",
    ),
    MetricSpec("twin_live_speed_ratio", "gauge", "Simulation seconds per wall-clock second."),
    MetricSpec(
        "twin_build_info",
        "gauge",
        "Always 1; the labels name the running version of Orbital Twin and Python.",
        ("version", "python"),
    ),
)

ALL: tuple[Metric, ...] = FLEET + PIPELINE + SATELLITE + LIVE[:-1]  # build info once
BY_NAME: dict[str, Metric] = {m.name: m for m in ALL}


def build_info() -> Any:
    """``twin_build_info{version, python} 1`` as a client_python family."""
    import platform

    from prometheus_client.core import GaugeMetricFamily

    from twin import __version__

    spec = BY_NAME["twin_build_info"]
    family = GaugeMetricFamily(spec.name, spec.help, labels=list(spec.labels))
    family.add_metric([__version__, platform.python_version()], 1)
    return family


def standard_collectors(registry: CollectorRegistry) -> None:
    """Register what every Orbital Twin process exports besides its own families: the
    process (``process_*``: CPU, memory, open files) and platform (``python_info``)
    collectors of client_python, and build info."""
    from prometheus_client import PlatformCollector, ProcessCollector

    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)

    class BuildInfo:
        def collect(self) -> Iterator[Any]:
            yield build_info()

    registry.register(BuildInfo())


def series_names() -> set[str]:
    """Every series name a scrape can contain (counters as ``*_total``; gauge histograms
    as ``_bucket``, ``_gcount`` and ``_gsum``)."""
    out: set[str] = set()
    for m in ALL:
        if m.kind == "gaugehistogram":
            out |= {m.name + "_bucket", m.name + "_gcount", m.name + "_gsum"}
        else:
            out.add(m.name)
    return out
