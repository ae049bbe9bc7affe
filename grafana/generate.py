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

from services import figures
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
    thresholds: list[tuple[float | None, str]] | None = None
    """Colour steps ``(from value, colour)``; the first starts at -inf (``None``). Stats and
    gauges without their own get one neutral colour: a count is not good or bad."""
    overrides: list[dict[str, Any]] = field(default_factory=list)
    no_value: str | None = None


@dataclass
class Row:
    """A collapsible row heading: the panels after it, up to the next row, belong to it."""

    title: str


NEUTRAL = [(None, "blue")]
#: Series colours by meaning: computing states green, shadow blue, trouble orange/red.
STATE_COLOURS = {state.value: colour for state, colour in figures.STATE_COLOURS.items()}
"""The one colour per lifecycle state that the plots use too (``services/figures.py``)."""


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
    if p.no_value is not None:
        defaults["noValue"] = p.no_value
    steps = p.thresholds or (NEUTRAL if p.kind in GAUGE_KINDS else None)
    if steps:
        defaults["thresholds"] = {
            "mode": "absolute",
            "steps": [{"value": value, "color": colour} for value, colour in steps],
        }
        if p.kind in GAUGE_KINDS:
            defaults["color"] = {"mode": "thresholds"}
    if p.kind == "timeseries":
        defaults["custom"] = {
            "drawStyle": "line",
            "lineWidth": 1,
            "fillOpacity": 30 if p.stacked else 10,
            "showPoints": "never",
            "stacking": {"mode": "normal" if p.stacked else "none", "group": "A"},
        }
    return {"defaults": defaults, "overrides": p.overrides}


GAUGE_KINDS = ("stat", "gauge", "bargauge")
"""Panel types whose colour comes from thresholds."""


def state_colours(legend_prefix: str = "") -> list[dict[str, Any]]:
    """Overrides fixing each lifecycle state's series colour by meaning (faulted red)."""
    return [
        {
            "matcher": {"id": "byName", "options": f"{legend_prefix}{state}"},
            "properties": [{"id": "color", "value": {"mode": "fixed", "fixedColor": colour}}],
        }
        for state, colour in STATE_COLOURS.items()
    ]


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


def _layout(panels: list[Panel | Row]) -> Iterator[tuple[Panel | Row, dict[str, int]]]:
    """Left-to-right, top-to-bottom flow on Grafana's 24-column grid; a row starts a line."""
    x = y = row_height = 0
    for p in panels:
        if isinstance(p, Row):
            y, row_height = y + row_height, 0
            yield p, {"x": 0, "y": y, "w": GRID_WIDTH, "h": 1}
            x, y = 0, y + 1
            continue
        if x + p.width > GRID_WIDTH:
            x, y, row_height = 0, y + row_height, 0
        yield p, {"x": x, "y": y, "w": p.width, "h": p.height}
        x += p.width
        row_height = max(row_height, p.height)


#: Dashboard variables: the projector instance and the shell (both multi-select, "All").
VARIABLES = {
    "instance": "label_values(twin_projector_ready, instance)",
    "shell": "label_values(twin_shell_satellites, shell)",
    "satellite": "label_values(twin_satellite_soc_ratio, satellite)",
}


_VARIABLE_RE = re.compile(r"\$(" + "|".join(VARIABLES) + r")\b")


def _variable(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "label": name,
        "type": "query",
        "datasource": DATASOURCE,
        "query": {"query": VARIABLES[name], "refId": f"{name}-values"},
        "definition": VARIABLES[name],
        "refresh": 2,  # on time range change
        "includeAll": True,
        "multi": True,
        "allValue": ".*",
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "sort": 3,
    }


def _annotations() -> list[dict[str, Any]]:
    """Grafana's built-in alert annotations, and marks where the event stream shows
    launches, faults and repairs (from the counters' increases)."""
    marks = [
        ("Launches", "twin_launches_total", "purple"),
        ("Faults", "twin_faults_total", "red"),
        ("Repairs", "twin_repairs_completed_total", "green"),
    ]
    out: list[dict[str, Any]] = [
        {
            "builtIn": 1,
            "datasource": {"type": "grafana", "uid": "-- Grafana --"},
            "enable": True,
            "hide": True,
            "iconColor": "rgba(0, 211, 255, 1)",
            "name": "Annotations & Alerts",
            "type": "dashboard",
        }
    ]
    for name, counter, colour in marks:
        out.append(
            {
                "name": name,
                "datasource": DATASOURCE,
                "enable": name != "Faults",  # many faults: off by default, one click away
                "iconColor": colour,
                "expr": f"sum(increase({metric(counter)}[1m])) > 0",
                "step": "1m",
                "titleFormat": name,
                "textFormat": f"{{{{value}}}} {name.lower()} in the last minute",
                "useValueForTime": False,
            }
        )
    return out


def build_dashboard(
    uid: str,
    title: str,
    about: str,
    panels: list[Panel | Row],
    variables: tuple[str, ...] = ("instance",),
) -> dict[str, Any]:
    """The Grafana JSON model of one dashboard (ids and grid positions assigned here)."""
    out: list[dict[str, Any]] = []
    for pid, (p, grid) in enumerate(_layout(panels), start=1):
        if isinstance(p, Row):
            out.append(
                {
                    "id": pid,
                    "type": "row",
                    "title": p.title,
                    "collapsed": False,
                    "gridPos": grid,
                    "panels": [],
                }
            )
            continue
        if p.kind == "alertlist":
            out.append(
                {
                    "id": pid,
                    "type": "alertlist",
                    "title": p.title,
                    "description": p.description,
                    "gridPos": grid,
                    "options": p.options,
                }
            )
            continue
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
        "templating": {"list": [_variable(v) for v in variables]},
        "annotations": {"list": _annotations()},
        "links": [
            {
                "type": "dashboards",
                "tags": ["orbital-twin"],
                "asDropdown": False,
                "title": "Orbital Twin",
                "includeVars": True,
                "keepTime": True,
            }
        ],
        "panels": out,
    }


# --------------------------------------------------------------------------- boards


def fleet_overview() -> dict[str, Any]:
    sats = rule("twin:satellites:sum")
    panels: list[Panel | Row] = [
        Row("Now"),
        rule_stat("Satellites planned", "satellites_planned"),
        stat(
            "Satellites computing",
            Query(rule("twin:satellites_computing:sum")),
            description="Operational, in eclipse or load-shed satellites.",
        ),
        stat(
            "Compute online",
            Query(rule("twin:compute_online_pflops:sum")),
            unit="pflops",
            description=description("twin_compute_online_flops") + " Shown in PFLOP/s.",
        ),
        rule_stat("Accelerators online", "compute_online_accelerators"),
        stat(
            "Compute delivered",
            Query(rule("twin:compute_delivered_pflop_days:sum")),
            unit="suffix: PFLOP-days",
            decimals=1,
            description=description("twin_compute_delivered_flop_total") + " Shown in PFLOP-days.",
        ),
        stat(
            "Simulation time",
            Query(f"{rule('twin:sim_time_timestamp_seconds:max')} * 1000"),
            unit="dateTimeAsIso",
            description=description("twin_sim_time_timestamp_seconds"),
        ),
        Panel(
            "Firing alerts",
            "alertlist",
            [],
            width=24,
            height=5,
            description="Alerts of prometheus/rules/alerts.yml that fire now; each links to "
            "its runbook in docs/operators.md.",
            options={
                "alertInstanceLabelFilter": "",
                "groupMode": "default",
                "maxItems": 20,
                "sortOrder": 1,
                "stateFilter": {"firing": True, "pending": True, "normal": False},
                "viewMode": "list",
            },
        ),
        Row("Over time"),
        ts(
            "Satellites by state",
            Query(sats, "{{state}}"),
            stacked=True,
            width=24,
            height=9,
            description=description("twin_satellites") + " Faulted red, in eclipse blue, "
            "load shed orange, operational green.",
            overrides=state_colours(),
        ),
        ts(
            "Computing satellites by shell",
            Query(
                f"sum by (shell) "
                f'({rule("twin:shell_satellites:sum")}{{{COMPUTING}, shell=~"$shell"}})',
                "shell {{shell}}",
            ),
            stacked=True,
            description=description("twin_shell_satellites"),
        ),
        ts(
            "Compute online",
            Query(rule("twin:compute_online_pflops:sum"), "PFLOP/s"),
            unit="pflops",
            description=description("twin_compute_online_flops") + " Shown in PFLOP/s.",
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
            Query(rule("twin:compute_delivered_accelerator_hours:sum"), "accelerator-hours"),
            unit="suffix: accelerator-h",
            description=description("twin_compute_delivered_accelerator_seconds_total")
            + " Shown in accelerator-hours.",
        ),
    ]
    return build_dashboard(
        "twin-fleet",
        "Orbital Twin / Fleet overview",
        "The constellation's lifecycle and compute, summed over projectors.",
        panels,
        variables=("instance", "shell"),
    )


def power_and_eclipses() -> dict[str, Any]:
    panels: list[Panel | Row] = [
        Row("Now"),
        rule_stat("In Earth's shadow", "satellites_in_shadow", width=6),
        rule_stat(
            "Load shed",
            "satellites_load_shed",
            width=6,
            thresholds=[(None, "green"), (1, "orange")],
        ),
        stat(
            "Batteries at or below 20 %",
            Query(rule("twin:battery_soc_low:ratio")),
            unit="percentunit",
            width=6,
            thresholds=[(None, "green"), (0.1, "orange"), (0.25, "red")],
            description="Share of satellites with telemetry whose state of charge is ≤ 0.2; "
            "FleetBatteryCritical fires above 25 %.",
        ),
        stat(
            "Power balance",
            Query(
                f"{rule('twin:power_generated_watts:sum')} - {rule('twin:power_consumed_watts:sum')}"
            ),
            unit="watt",
            width=6,
            thresholds=[(None, "orange"), (0, "green")],
            description="Array output minus consumption of the fleet; negative in eclipse.",
        ),
        Row("Over time"),
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
                    rule("twin:battery_soc_ratio_bucket:sum"),
                    "≤ {{le}}",
                    instant=True,
                    format="heatmap",
                )
            ],
            description=description("twin_battery_soc_ratio") + " Satellites per SoC bin.",
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
                f"{total('twin_battery_soc_ratio_gsum')} / "
                f"clamp_min({total('twin_battery_soc_ratio_gcount')}, 1)",
                "mean SoC",
            ),
            unit="percentunit",
            description="Mean battery state of charge over satellites with telemetry.",
        ),
        ts(
            "Energy (cumulative)",
            Query(rule("twin:energy_generated_kwh:sum"), "generated"),
            Query(rule("twin:energy_consumed_kwh:sum"), "consumed"),
            unit="kwatth",
            description=descriptions(
                "twin_energy_generated_joules_total", "twin_energy_consumed_joules_total"
            )
            + " Shown in kWh.",
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
    panels: list[Panel | Row] = [
        Row("Now"),
        rule_stat(
            "Repair queue",
            "repair_queue_length",
            thresholds=[(None, "green"), (1, "yellow"), (20, "orange")],
        ),
        rule_stat("Robots busy", "repair_robots_busy"),
        rule_stat("Robots", "repair_robots"),
        total_stat("Spare parts", "twin_repair_spares"),
        stat(
            "Mean time to repair",
            # no value (not 0 s) before the first repair
            Query(
                f"{rule('twin:repair_time_seconds:mean')} "
                f"and on() {total('twin_repairs_completed_total')} > 0"
            ),
            unit="s",
            no_value="no repairs yet",
            description=description("twin_mean_time_to_repair_seconds")
            + " Simulated seconds, weighted over projectors.",
        ),
        total_stat("Repairs completed", "twin_repairs_completed_total"),
        Row("Over time"),
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
            Query(
                f"{rule('twin:repair_time_seconds:mean')} "
                f"and on() {total('twin_repairs_completed_total')} > 0",
                "fleet",
            ),
            Query(
                f"max by (instance) "
                f'({metric("twin_mean_time_to_repair_seconds")}{{instance=~"$instance"}})',
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
    panels: list[Panel | Row] = [
        Row("Now"),
        stat(
            "Projectors up",
            Query('sum(up{job="twin-projector"})'),
            width=6,
            thresholds=[(None, "red"), (1, "orange"), (2, "green")],
            description="Projector instances Prometheus can scrape, of the 2 in the stack "
            "(ProjectorDown alert).",
        ),
        total_stat(
            "Projectors ready",
            "twin_projector_ready",
            width=6,
            thresholds=[(None, "red"), (1, "orange"), (2, "green")],
        ),
        stat(
            "Live lag behind wall clock",
            Query(f"max({metric('twin_live_lag_seconds')})"),
            unit="s",
            width=6,
            thresholds=[(None, "green"), (10, "orange"), (30, "red")],
            description=description("twin_live_lag_seconds")
            + " LiveSimulationDrifting fires above 30 s.",
        ),
        stat(
            "Live speed",
            Query(f"max({metric('twin_live_speed_ratio')})"),
            unit="suffix:×",
            width=6,
            description=description("twin_live_speed_ratio"),
        ),
        stat(
            "Versions running",
            Query(f"count by (version) ({metric('twin_build_info')})", "{{version}}"),
            width=24,
            height=3,
            options={"textMode": "value_and_name"},
            description=description("twin_build_info")
            + " Processes (simulator, projectors) per version.",
        ),
        Row("Over time"),
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
            Query(
                f"max by (instance) "
                f'({metric("twin_consumer_lag_sim_seconds")}{{instance=~"$instance"}})',
                "{{instance}}",
            ),
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
            Query(f"max({metric('twin_live_sim_time_timestamp_seconds')}) * 1000", "simulator"),
            Query(f"{rule('twin:sim_time_timestamp_seconds:max')} * 1000", "projectors"),
            unit="dateTimeAsIso",
            description="Simulation time of the simulator and of the last folded event.",
        ),
        ts(
            "Partitions per projector",
            Query(
                f"sum by (instance) "
                f'({metric("twin_projector_partitions")}{{instance=~"$instance"}})',
                "{{instance}}",
            ),
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


def satellite() -> dict[str, Any]:
    """The drill-down board: one satellite's (or a few) battery and compute, from the opt-in
    per-satellite series (``twin-projector --per-satellite-metrics N``)."""
    sel = '{satellite=~"$satellite"}'
    panels: list[Panel | Row] = [
        Row("Now"),
        stat(
            "State of charge",
            Query(f"min({metric('twin_satellite_soc_ratio')}{sel})"),
            unit="percentunit",
            width=12,
            thresholds=[(None, "red"), (0.2, "orange"), (0.4, "green")],
            description=description("twin_satellite_soc_ratio") + " Lowest of the selection.",
        ),
        stat(
            "Accelerators computing",
            Query(f"sum({metric('twin_satellite_compute_online_accelerators')}{sel})"),
            width=12,
            description=description("twin_satellite_compute_online_accelerators"),
        ),
        Row("Over time"),
        ts(
            "State of charge",
            Query(f"{metric('twin_satellite_soc_ratio')}{sel}", "{{satellite}}"),
            unit="percentunit",
            description=description("twin_satellite_soc_ratio"),
        ),
        ts(
            "Accelerators computing",
            Query(f"{metric('twin_satellite_compute_online_accelerators')}{sel}", "{{satellite}}"),
            description=description("twin_satellite_compute_online_accelerators"),
        ),
    ]
    return build_dashboard(
        "twin-satellite",
        "Orbital Twin / Satellite",
        "One satellite at a time (choose it above), from the projectors' opt-in per-satellite "
        "series (twin-projector --per-satellite-metrics N exports the first N by id).",
        panels,
        variables=("satellite",),
    )


def workload() -> dict[str, Any]:
    goodput = metric("twin_workload_goodput_accelerator_seconds_total")
    computed = metric("twin_compute_delivered_accelerator_seconds_total")
    or0 = " or on() vector(0)"  # a labelled family has no series before its first event
    panels: list[Panel | Row] = [
        Row("Now"),
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
            thresholds=[(None, "red"), (0.5, "orange"), (0.8, "green")],
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
            thresholds=[(None, "green"), (3600, "orange"), (6 * 3600, "red")],
            description=description("twin_workload_queue_wait_seconds")
            + " QueueWaitHigh fires above 6 simulated hours.",
        ),
        stat(
            "Inference served",
            Query(rule("twin:inference_served:ratio")),
            unit="percentunit",
            thresholds=[(None, "red"), (0.5, "orange"), (0.9, "green")],
            description="Share of inference requests served since the run started.",
        ),
        Row("Over time"),
        ts(
            "Goodput and compute (cumulative accelerator-hours)",
            Query(f"sum by (kind) ({goodput}) / 3600", "goodput {{kind}}"),
            Query(f"sum({computed}) / 3600", "computed"),
            description=descriptions(
                "twin_workload_goodput_accelerator_seconds_total",
                "twin_compute_delivered_accelerator_seconds_total",
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
GRAFANA_UNITS = {
    "": "short",
    "s": "s",
    "W": "watt",
    "J": "joule",
    "FLOP/s": "flops",
    "ratio": "percentunit",
}


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
    panels: list[Panel | Row] = []
    for part in (FleetCore, *REGISTRY):
        panels.append(Row(part.name))
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
    "satellite.json": satellite,
}


def render(board: dict[str, Any]) -> str:
    """The committed text of a dashboard: sorted keys, 2-space indent, final newline."""
    return json.dumps(board, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def dashboards() -> dict[str, dict[str, Any]]:
    """Every dashboard's JSON model, by file name."""
    return {name: build() for name, build in BOARDS.items()}


def panel_queries(boards: dict[str, dict[str, Any]] | None = None) -> list[tuple[str, str, str]]:
    """``(dashboard uid, panel title, expr)`` for every target of every panel, with the
    dashboard variables at "All" (``.*``), as Grafana sends them on first load."""
    out = []
    for board in (boards or dashboards()).values():
        for panel in board["panels"]:
            for target in panel.get("targets", []):
                expr = _VARIABLE_RE.sub(".*", target["expr"])
                out.append((board["uid"], panel["title"], expr))
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
