"""Grafana dashboards as code: the boards built from the metric catalogue.

    python -m grafana.generate            write grafana/dashboards/*.json
    python -m grafana.generate --check    exit 1 if the committed JSON differs (drift)

Every query names its series through :func:`metric` (a name from
``services.metric_names``) or :func:`rule` (a recording rule defined in
``prometheus/rules/*.yml``), so a renamed metric or rule fails here instead of silently
emptying a panel. Fleet figures come from the recording rules, which sum over projector
instances (each projector folds only its share of the Kafka partitions).

:func:`panel_queries` lists every panel's PromQL, for the tests that run them against a
live Prometheus. The JSON targets Grafana 11 (``schemaVersion`` 39) and the provisioned
Prometheus datasource with uid ``prometheus``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from services.metric_names import BY_NAME, series_names
from twin.projections import REGISTRY, FleetCore, MetricSpec

GRAFANA_DIR = Path(__file__).resolve().parent
REPO_ROOT = GRAFANA_DIR.parent
DASHBOARD_DIR = GRAFANA_DIR / "dashboards"
RULES_DIR = REPO_ROOT / "prometheus" / "rules"

DATASOURCE = {"type": "prometheus", "uid": "prometheus"}
SCHEMA_VERSION = 39
GRID_WIDTH = 24
#: Lifecycle states in which a satellite computes (in eclipse it runs from the battery).
COMPUTING = 'state=~"operational|in_eclipse|load_shed"'


# --------------------------------------------------------------------------- names


def recording_rules(rules_dir: Path = RULES_DIR) -> set[str]:
    """Names of the recording rules defined in ``rules_dir/*.yml`` (``record:`` lines)."""
    names: set[str] = set()
    for path in sorted(rules_dir.glob("*.yml")):
        names |= set(re.findall(r"^\s*-?\s*record:\s*([A-Za-z_:][\w:]*)", path.read_text(), re.M))
    return names


_RULES = recording_rules()


def metric(name: str) -> str:
    """``name`` if it is a series of the catalogue (``services.metric_names``), else KeyError."""
    if name not in series_names():
        raise KeyError(f"{name!r} is not in services.metric_names")
    return name


def rule(name: str) -> str:
    """``name`` if a recording rule of ``prometheus/rules`` defines it, else KeyError."""
    if name not in _RULES:
        raise KeyError(f"{name!r} is not a recording rule in {RULES_DIR}")
    return name


def description(name: str) -> str:
    """The catalogue's help text of ``name`` (bucket/count suffixes stripped)."""
    base = re.sub(r"_(bucket|gcount|gsum)$", "", name)
    return BY_NAME[base].help


def descriptions(*names: str) -> str:
    """The help texts of ``names``, one after another."""
    return " ".join(description(name) for name in names)


def total(name: str) -> str:
    """``sum(name)`` over every series of the catalogue metric ``name``."""
    return f"sum({metric(name)})"


# --------------------------------------------------------------------------- panels


@dataclass
class Query:
    expr: str
    legend: str = ""
    instant: bool = False
    format: str = "time_series"  # "heatmap" turns cumulative buckets into per-bucket counts


@dataclass
class Panel:
    title: str
    kind: str  # "timeseries" | "stat" | "bargauge"
    queries: list[Query]
    unit: str = "short"
    description: str = ""
    width: int = 12
    height: int = 8
    stacked: bool = False
    decimals: int | None = None
    options: dict[str, Any] = field(default_factory=dict)


def ts(title: str, *queries: Query, **kw: Any) -> Panel:
    return Panel(title, "timeseries", list(queries), **kw)


def stat(title: str, query: Query, **kw: Any) -> Panel:
    kw.setdefault("width", 4)
    kw.setdefault("height", 4)
    return Panel(title, "stat", [query], **kw)


def rule_stat(title: str, name: str, **kw: Any) -> Panel:
    """A stat of the fleet-wide rule ``twin:<name>:sum``, described by metric ``twin_<name>``."""
    kw.setdefault("description", description(f"twin_{name}"))
    return stat(title, Query(rule(f"twin:{name}:sum")), **kw)


def total_stat(title: str, name: str, **kw: Any) -> Panel:
    """A stat of the catalogue metric ``name`` summed over projectors, described by it."""
    kw.setdefault("description", description(name))
    return stat(title, Query(total(name)), **kw)


def _field_config(p: Panel) -> dict[str, Any]:
    defaults: dict[str, Any] = {"unit": p.unit}
    if p.decimals is not None:
        defaults["decimals"] = p.decimals
    if p.kind == "timeseries":
        defaults["custom"] = {
            "drawStyle": "line",
            "lineWidth": 1,
            "fillOpacity": 30 if p.stacked else 10,
            "showPoints": "never",
            "stacking": {"mode": "normal" if p.stacked else "none", "group": "A"},
        }
    return {"defaults": defaults, "overrides": []}


def _options(p: Panel) -> dict[str, Any]:
    if p.kind == "timeseries":
        base: dict[str, Any] = {
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
            "tooltip": {"mode": "multi", "sort": "desc"},
        }
    elif p.kind == "stat":
        base = {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "value",
            "graphMode": "area",
            "textMode": "auto",
        }
    else:  # bargauge
        base = {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "orientation": "vertical",
            "displayMode": "basic",
            "showUnfilled": True,
        }
    base.update(p.options)
    return base


def _layout(panels: list[Panel]) -> Iterator[tuple[Panel, dict[str, int]]]:
    """Left-to-right, top-to-bottom flow on Grafana's 24-column grid."""
    x = y = row_height = 0
    for p in panels:
        if x + p.width > GRID_WIDTH:
            x, y, row_height = 0, y + row_height, 0
        yield p, {"x": x, "y": y, "w": p.width, "h": p.height}
        x += p.width
        row_height = max(row_height, p.height)


def build_dashboard(uid: str, title: str, about: str, panels: list[Panel]) -> dict[str, Any]:
    """The Grafana JSON model of one dashboard (ids and grid positions assigned here)."""
    out: list[dict[str, Any]] = []
    for pid, (p, grid) in enumerate(_layout(panels), start=1):
        targets = []
        for i, q in enumerate(p.queries):
            target: dict[str, Any] = {
                "refId": chr(ord("A") + i),
                "datasource": DATASOURCE,
                "expr": q.expr,
                "legendFormat": q.legend or "__auto",
                "range": not q.instant,
                "instant": q.instant,
                "format": q.format,
            }
            targets.append(target)
        out.append(
            {
                "id": pid,
                "type": p.kind,
                "title": p.title,
                "description": p.description,
                "datasource": DATASOURCE,
                "gridPos": grid,
                "targets": targets,
                "fieldConfig": _field_config(p),
                "options": _options(p),
            }
        )
    return {
        "uid": uid,
        "title": title,
        "description": about,
        "tags": ["orbital-twin"],
        "timezone": "utc",
        "editable": False,
        "graphTooltip": 1,
        "refresh": "10s",
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "time": {"from": "now-30m", "to": "now"},
        "timepicker": {},
        "templating": {"list": []},
        "annotations": {"list": []},
        "links": [
            {
                "type": "dashboards",
                "tags": ["orbital-twin"],
                "asDropdown": False,
                "title": "Orbital Twin",
            }
        ],
        "panels": out,
    }


# --------------------------------------------------------------------------- boards


def fleet_overview() -> dict[str, Any]:
    sats = rule("twin:satellites:sum")
    panels = [
        rule_stat("Satellites planned", "satellites_planned"),
        stat(
            "Satellites computing",
            Query(rule("twin:satellites_computing:sum")),
            description="Operational, in eclipse or load-shed satellites.",
        ),
        # "tflops": Grafana's unit id for TFLOP/s
        rule_stat("Compute online", "compute_online_tflops", unit="tflops"),
        rule_stat("Accelerators online", "compute_online_accelerators"),
        total_stat(
            "Compute delivered (PFLOP-days)", "twin_compute_delivered_pflop_days_total", decimals=1
        ),
        stat(
            "Simulation time",
            Query(f"{rule('twin:sim_time_seconds:max')} * 1000"),
            unit="dateTimeAsIso",
            description=description("twin_sim_time_seconds"),
        ),
        ts(
            "Satellites by state",
            Query(sats, "{{state}}"),
            stacked=True,
            width=24,
            height=9,
            description=description("twin_satellites"),
        ),
        ts(
            "Computing satellites by shell",
            Query(
                f"sum by (shell) ({rule('twin:shell_satellites:sum')}{{{COMPUTING}}})",
                "shell {{shell}}",
            ),
            stacked=True,
            description=description("twin_shell_satellites"),
        ),
        ts(
            "Compute online",
            Query(rule("twin:compute_online_tflops:sum"), "TFLOP/s"),
            unit="tflops",
            description=description("twin_compute_online_tflops"),
        ),
        ts(
            "Launches, deployments and deorbits (cumulative)",
            Query(total("twin_launches_total"), "launched"),
            Query(total("twin_deployments_total"), "deployed"),
            Query(total("twin_launch_failures_total"), "lost at launch"),
            Query(total("twin_deorbits_total"), "deorbited"),
            description="Satellites launched, deployed, lost to failed launches and deorbited "
            "since the run started.",
        ),
        ts(
            "Compute delivered",
            Query(
                total("twin_compute_delivered_accelerator_hours_total"),
                "accelerator-hours",
            ),
            description=description("twin_compute_delivered_accelerator_hours_total"),
        ),
    ]
    return build_dashboard(
        "twin-fleet",
        "Orbital Twin / Fleet overview",
        "The constellation's lifecycle and compute, summed over projectors.",
        panels,
    )


def power_and_eclipses() -> dict[str, Any]:
    panels = [
        rule_stat("In Earth's shadow", "satellites_in_shadow", width=6),
        rule_stat("Load shed", "satellites_load_shed", width=6),
        stat(
            "Batteries at or below 20 %",
            Query(rule("twin:battery_soc_low:ratio")),
            unit="percentunit",
            width=6,
            description="Share of satellites with telemetry whose state of charge is ≤ 0.2.",
        ),
        stat(
            "Power balance",
            Query(
                f"{rule('twin:power_generated_watts:sum')} - {rule('twin:power_consumed_watts:sum')}"
            ),
            unit="watt",
            width=6,
            description="Array output minus consumption of the fleet; negative in eclipse.",
        ),
        ts(
            "Power generated and consumed",
            Query(rule("twin:power_generated_watts:sum"), "generated"),
            Query(rule("twin:power_consumed_watts:sum"), "consumed"),
            unit="watt",
            description=descriptions("twin_power_generated_watts", "twin_power_consumed_watts"),
        ),
        ts(
            "Satellites in shadow and load shed",
            Query(rule("twin:satellites_in_shadow:sum"), "in shadow"),
            Query(rule("twin:satellites_load_shed:sum"), "load shed"),
            description=description("twin_satellites_in_shadow"),
        ),
        Panel(
            "Battery state of charge (now)",
            "bargauge",
            [
                Query(
                    rule("twin:battery_soc_bucket:sum"), "≤ {{le}}", instant=True, format="heatmap"
                )
            ],
            description=description("twin_battery_soc") + " Satellites per SoC bin.",
        ),
        ts(
            "Low batteries and load shedding",
            Query(rule("twin:battery_soc_low:ratio"), "SoC ≤ 0.2"),
            Query(rule("twin:satellites_load_shed:ratio"), "load shed"),
            unit="percentunit",
            description="Share of the fleet at the battery floor; the FleetBatteryCritical "
            "alert fires above 25 % (SoC) or 10 % (load shed) for 10 min.",
        ),
        ts(
            "Mean state of charge",
            Query(
                f"{total('twin_battery_soc_gsum')} / "
                f"clamp_min({total('twin_battery_soc_gcount')}, 1)",
                "mean SoC",
            ),
            unit="percentunit",
            description="Mean battery state of charge over satellites with telemetry.",
        ),
        ts(
            "Energy (cumulative)",
            Query(total("twin_energy_generated_kwh_total"), "generated"),
            Query(total("twin_energy_consumed_kwh_total"), "consumed"),
            unit="kwatth",
            description=descriptions(
                "twin_energy_generated_kwh_total", "twin_energy_consumed_kwh_total"
            ),
        ),
        ts(
            "Satellite-hours in shadow and load shed (cumulative)",
            Query(f"{total('twin_eclipse_satellite_seconds_total')} / 3600", "in shadow"),
            Query(
                f"{total('twin_load_shed_satellite_seconds_total')} / 3600",
                "load shed",
            ),
            unit="h",
            width=24,
            description=descriptions(
                "twin_eclipse_satellite_seconds_total", "twin_load_shed_satellite_seconds_total"
            ),
        ),
    ]
    return build_dashboard(
        "twin-power",
        "Orbital Twin / Power & eclipses",
        "Solar power, Earth's shadow, batteries and load shedding across the fleet.",
        panels,
    )


def reliability_and_repair() -> dict[str, Any]:
    panels = [
        rule_stat("Repair queue", "repair_queue_length"),
        rule_stat("Robots busy", "repair_robots_busy"),
        rule_stat("Robots", "repair_robots"),
        total_stat("Spare parts", "twin_repair_spares"),
        stat(
            "Mean time to repair",
            Query(rule("twin:repair_time_seconds:mean")),
            unit="s",
            description=description("twin_mean_time_to_repair_seconds")
            + " Simulated seconds, weighted over projectors.",
        ),
        total_stat("Repairs completed", "twin_repairs_completed_total"),
        ts(
            "Faults by component (per wall-clock minute)",
            Query(f"sum by (component) ({rule('twin:faults:rate5m')}) * 60", "{{component}}"),
            stacked=True,
            description="Fault rate over 5 min; the FaultRateAboveBaseline alert compares it "
            "with the 1 h rate.",
        ),
        ts(
            "Faults by component and kind (cumulative)",
            Query(
                f"sum by (component, kind) ({metric('twin_faults_total')})",
                "{{component}} {{kind}}",
            ),
            description=description("twin_faults_total"),
        ),
        ts(
            "Repair queue and robots",
            Query(rule("twin:repair_queue_length:sum"), "waiting"),
            Query(rule("twin:repair_robots_busy:sum"), "robots busy"),
            Query(rule("twin:repair_robots:sum"), "robots"),
            description="Satellites waiting for a robot against the robot fleet; "
            "RepairBacklogGrowing fires when the queue exceeds it and keeps growing.",
        ),
        ts(
            "Mean time to repair",
            Query(rule("twin:repair_time_seconds:mean"), "fleet"),
            Query(
                f"max by (instance) ({metric('twin_mean_time_to_repair_seconds')})",
                "{{instance}}",
            ),
            unit="s",
            description=description("twin_mean_time_to_repair_seconds"),
        ),
        ts(
            "Reboots and repairs (cumulative)",
            Query(total("twin_reboots_total"), "reboots"),
            Query(total("twin_repairs_completed_total"), "repairs"),
            description=descriptions("twin_reboots_total", "twin_repairs_completed_total"),
        ),
        ts(
            "Fault-to-repair time (cumulative)",
            Query(total("twin_repair_time_seconds_total"), "sum of repair times"),
            unit="s",
            description=description("twin_repair_time_seconds_total"),
        ),
    ]
    return build_dashboard(
        "twin-reliability",
        "Orbital Twin / Reliability & repair",
        "Faults by component, the repair queue, robots and time to repair.",
        panels,
    )


def pipeline_health() -> dict[str, Any]:
    panels = [
        stat(
            "Projectors up",
            Query('sum(up{job="twin-projector"})'),
            width=6,
            description="Projector instances Prometheus can scrape (ProjectorDown alert).",
        ),
        total_stat("Projectors ready", "twin_projector_ready", width=6),
        stat(
            "Live lag behind wall clock",
            Query(f"max({metric('twin_live_lag_seconds')})"),
            unit="s",
            width=6,
            description=description("twin_live_lag_seconds"),
        ),
        stat(
            "Live speed",
            Query(f"max({metric('twin_live_speed')})"),
            unit="suffix:×",
            width=6,
            description=description("twin_live_speed"),
        ),
        ts(
            "Events per second",
            Query(f"sum({rule('twin:events_consumed:rate1m')})", "consumed (projectors)"),
            Query(rule("twin:live_events_emitted:rate1m"), "emitted (simulator)"),
            unit="ops",
            description="Events folded by the projectors and emitted by the live simulator.",
        ),
        ts(
            "Events consumed by type",
            Query(rule("twin:events_consumed:rate1m"), "{{type}}"),
            unit="ops",
            stacked=True,
            description=description("twin_events_consumed_total"),
        ),
        ts(
            "Consumer lag (events)",
            Query(rule("twin:consumer_lag_events:sum"), "{{instance}}"),
            description=description("twin_consumer_lag_events")
            + " ProjectorLagging fires above 10 000 for 5 min.",
        ),
        ts(
            "Consumer lag (simulated seconds)",
            Query(f"max by (instance) ({metric('twin_consumer_lag_sim_seconds')})", "{{instance}}"),
            unit="s",
            description=description("twin_consumer_lag_sim_seconds"),
        ),
        ts(
            "Dead letters and decode errors (per 5 min)",
            Query(rule("twin:dead_letters:increase5m"), "dead letters: {{reason}}"),
            Query(
                f"sum by (reason) (increase({metric('twin_decode_errors_total')}[5m]))",
                "decode errors: {{reason}}",
            ),
            description=description("twin_dead_letters_total")
            + " DeadLettersAppearing fires on any.",
        ),
        ts(
            "Live simulation drift",
            Query(f"max by (instance) ({metric('twin_live_lag_seconds')})", "lag {{instance}}"),
            unit="s",
            description=description("twin_live_lag_seconds")
            + " LiveSimulationDrifting fires above 30 s for 2 min.",
        ),
        ts(
            "Simulation clock",
            Query(f"max({metric('twin_live_sim_time_seconds')}) * 1000", "simulator"),
            Query(f"{rule('twin:sim_time_seconds:max')} * 1000", "projectors"),
            unit="dateTimeAsIso",
            description="Simulation time of the simulator and of the last folded event.",
        ),
        ts(
            "Partitions per projector",
            Query(f"sum by (instance) ({metric('twin_projector_partitions')})", "{{instance}}"),
            description=description("twin_projector_partitions"),
        ),
        ts(
            "Last folded offset by partition",
            Query(f"max by (partition) ({metric('twin_last_offset')})", "partition {{partition}}"),
            width=24,
            description=description("twin_last_offset"),
        ),
    ]
    return build_dashboard(
        "twin-pipeline",
        "Orbital Twin / Pipeline health",
        "Kafka consumption, lag, dead letters and live-simulation drift.",
        panels,
    )


def workload() -> dict[str, Any]:
    goodput = metric("twin_workload_goodput_accelerator_seconds_total")
    computed = metric("twin_compute_delivered_accelerator_hours_total")
    or0 = " or on() vector(0)"  # a labelled family has no series before its first event
    panels = [
        stat(
            "Goodput (accelerator-hours)",
            Query(f"sum({rule('twin:workload_goodput_accelerator_seconds:sum')}) / 3600"),
            decimals=0,
            description=description("twin_workload_goodput_accelerator_seconds_total"),
        ),
        stat(
            "Goodput share (30 min)",
            Query(rule("twin:workload_goodput:ratio30m")),
            unit="percentunit",
            description="Goodput over accelerator-hours computed in the last 30 min (wall "
            "clock); GoodputRatioLow fires below 50 % while jobs queue.",
        ),
        stat(
            "Work lost (accelerator-hours)",
            Query(f"(sum({rule('twin:workload_lost_accelerator_seconds:sum')}){or0}) / 3600"),
            decimals=0,
            description=description("twin_workload_lost_accelerator_seconds_total"),
        ),
        stat(
            "Jobs queued",
            Query(f'sum({rule("twin:workload_jobs:sum")}{{state="queued"}})'),
            description=description("twin_workload_jobs"),
        ),
        stat(
            "Longest queue wait",
            Query(rule("twin:workload_queue_wait_seconds:max")),
            unit="s",
            description=description("twin_workload_queue_wait_seconds")
            + " QueueWaitHigh fires above 6 simulated hours.",
        ),
        stat(
            "Inference served",
            Query(rule("twin:inference_served:ratio")),
            unit="percentunit",
            description="Share of inference requests served since the run started.",
        ),
        ts(
            "Goodput and compute (cumulative accelerator-hours)",
            Query(f"sum by (kind) ({goodput}) / 3600", "goodput {{kind}}"),
            Query(f"sum({computed})", "computed"),
            description=descriptions(
                "twin_workload_goodput_accelerator_seconds_total",
                "twin_compute_delivered_accelerator_hours_total",
            ),
        ),
        ts(
            "Work lost by cause (cumulative accelerator-hours)",
            Query(
                f"(sum by (cause) ({rule('twin:workload_lost_accelerator_seconds:sum')}){or0})"
                " / 3600",
                "{{cause}}",
            ),
            stacked=True,
            description=description("twin_workload_lost_accelerator_seconds_total"),
        ),
        ts(
            "Jobs by state",
            Query(rule("twin:workload_jobs:sum"), "{{state}}"),
            Query(total("twin_workload_jobs_completed_total"), "completed (cumulative)"),
            Query(total("twin_workload_jobs_submitted_total"), "submitted (cumulative)"),
            description=descriptions(
                "twin_workload_jobs",
                "twin_workload_jobs_completed_total",
                "twin_workload_jobs_submitted_total",
            ),
        ),
        ts(
            "Interruptions by cause (cumulative)",
            Query(
                f"sum by (cause) ({metric('twin_workload_interruptions_total')}){or0}", "{{cause}}"
            ),
            description=description("twin_workload_interruptions_total"),
        ),
        ts(
            "Job wait and completion time (quantiles, simulated)",
            Query(
                "histogram_quantile(0.5, sum by (le) "
                f"({metric('twin_workload_job_wait_seconds_bucket')}))",
                "wait p50",
            ),
            Query(
                "histogram_quantile(0.9, sum by (le) "
                f"({metric('twin_workload_job_wait_seconds_bucket')}))",
                "wait p90",
            ),
            Query(
                "histogram_quantile(0.5, sum by (le) "
                f"({metric('twin_workload_job_completion_seconds_bucket')}))",
                "completion p50",
            ),
            unit="s",
            description=descriptions(
                "twin_workload_job_wait_seconds", "twin_workload_job_completion_seconds"
            ),
        ),
        ts(
            "Longest queue wait",
            Query(rule("twin:workload_queue_wait_seconds:max"), "queue wait"),
            unit="s",
            description=description("twin_workload_queue_wait_seconds"),
        ),
        ts(
            "Inference by region (cumulative requests)",
            Query(
                f"sum by (region) ({metric('twin_inference_served_total')}){or0}",
                "served {{region}}",
            ),
            Query(
                f"sum by (region) ({metric('twin_inference_unserved_total')}){or0}",
                "unserved {{region}}",
            ),
            Query(
                f"sum by (region) ({metric('twin_inference_requests_total')}){or0}",
                "requests {{region}}",
            ),
            description=descriptions(
                "twin_inference_served_total", "twin_inference_unserved_total"
            ),
        ),
        ts(
            "Contact time by station (cumulative hours)",
            Query(
                f"(sum by (station) ({metric('twin_contact_seconds_total')}){or0}) / 3600",
                "{{station}}",
            ),
            description=description("twin_contact_seconds_total"),
        ),
        ts(
            "Satellites in contact by station",
            Query(
                f"sum by (station) ({metric('twin_contacts_open')}){or0}",
                "{{station}}",
            ),
            stacked=True,
            description=description("twin_contacts_open"),
        ),
    ]
    return build_dashboard(
        "twin-workload",
        "Orbital Twin / Workload",
        "What the fleet computes: training goodput against compute, work lost by cause, jobs "
        "and their waits, inference served by region and ground contacts.",
        panels,
    )


#: Grafana unit ids for the units the projections declare (twin.projections.specs).
GRAFANA_UNITS = {"": "short", "s": "s", "W": "watt", "kWh": "kwatth", "TFLOPS": "tflops"}


def spec_query(spec: MetricSpec) -> str:
    """The fleet's value of a declared family across projectors (``spec.aggregate``), by its
    labels; 0 while a labelled family has no series yet (no fault of any kind so far)."""
    if spec.kind == "gaugehistogram":
        return f"sum by (le) ({metric(spec.name + '_bucket')})"
    by = f" by ({', '.join(spec.labels)})" if spec.labels else ""
    expr = f"{spec.aggregate}{by} ({metric(spec.name)})"
    return f"{expr} or on() vector(0)" if spec.labels else expr


def projections() -> dict[str, Any]:
    """Every metric family every projection declares, one panel each, grouped by projection:
    a new projection's metrics are on a board without touching this file."""
    panels = []
    for part in (FleetCore, *REGISTRY):
        for spec in part.metrics:
            legend = " ".join(f"{{{{{label}}}}}" for label in spec.labels) or spec.name
            if spec.kind == "gaugehistogram":
                legend = "< {{le}}"
            panels.append(
                ts(
                    f"{part.name}: {spec.name}",
                    Query(spec_query(spec), legend),
                    unit=GRAFANA_UNITS.get(spec.unit, "short"),
                    description=spec.help,
                    width=8,
                    height=7,
                )
            )
    return build_dashboard(
        "twin-projections",
        "Orbital Twin / Projections",
        "Every metric the fleet projections export (twin.projections.REGISTRY), generated from "
        "their declarations: the place a new projection's metrics appear first.",
        panels,
    )


#: File name -> builder; the order is the order of the boards in docs/operators.md.
BOARDS = {
    "fleet-overview.json": fleet_overview,
    "power-eclipses.json": power_and_eclipses,
    "reliability-repair.json": reliability_and_repair,
    "pipeline-health.json": pipeline_health,
    "workload.json": workload,
    "projections.json": projections,
}


def render(board: dict[str, Any]) -> str:
    """The committed text of a dashboard: sorted keys, 2-space indent, final newline."""
    return json.dumps(board, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def dashboards() -> dict[str, dict[str, Any]]:
    """Every dashboard's JSON model, by file name."""
    return {name: build() for name, build in BOARDS.items()}


def panel_queries(boards: dict[str, dict[str, Any]] | None = None) -> list[tuple[str, str, str]]:
    """``(dashboard uid, panel title, expr)`` for every target of every panel."""
    out = []
    for board in (boards or dashboards()).values():
        for panel in board["panels"]:
            for target in panel.get("targets", []):
                out.append((board["uid"], panel["title"], target["expr"]))
    return out


# --------------------------------------------------------------------------- PromQL names

_KEYWORDS = {
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "and",
    "or",
    "unless",
    "offset",
    "bool",
    "inf",
    "nan",
}


def referenced_metrics(expr: str) -> set[str]:
    """Series names an expression selects (a small lexer, enough for our queries and rules).

    Removes strings, label matchers ``{...}``, grouping clauses ``by (...)`` etc., range
    selectors and durations; what remains and is not a function call, keyword or number is
    a metric name.
    """
    text = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'', '""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(
        r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text, flags=re.I
    )
    text = re.sub(r"\[[^\]]*\]", " ", text)
    names = set()
    for m in re.finditer(r"[A-Za-z_:][\w:]*", text):
        word = m.group(0)
        rest = text[m.end() :].lstrip()
        if rest.startswith("(") or word.lower() in _KEYWORDS:
            continue
        if re.fullmatch(r"\d", text[m.start() - 1 : m.start()] or " "):  # 5m, 1e3
            continue
        names.add(word)
    return names


# --------------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m grafana.generate", description="Write the Grafana dashboards."
    )
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if the committed dashboards differ"
    )
    parser.add_argument("--out", type=Path, default=DASHBOARD_DIR, help="output directory")
    args = parser.parse_args(argv)
    wanted = {name: render(board) for name, board in dashboards().items()}
    if args.check:
        stale = [
            name
            for name, text in wanted.items()
            if not (args.out / name).exists() or (args.out / name).read_text() != text
        ]
        extra = sorted(p.name for p in args.out.glob("*.json") if p.name not in wanted)
        for name in stale:
            print(f"{args.out / name}: differs from grafana/generate.py", file=sys.stderr)
        for name in extra:
            print(f"{args.out / name}: not generated by grafana/generate.py", file=sys.stderr)
        if stale or extra:
            print("run: python -m grafana.generate", file=sys.stderr)
            return 1
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    for name, text in wanted.items():
        (args.out / name).write_text(text)
        print(args.out / name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
