"""A planner's report of a run: one self-contained HTML file and its JSON sidecar.

:func:`build_report` folds the run's log into the state (the same fold as ``twin state``),
and gathers what a planner asks of it: the seed document's comparison (energy, cooling,
space, maintenance, launch) filled with this run's numbers, compute delivered (and goodput
when the state has a workload), where the potential compute went, deltas against a second
run or a sweep, the cost of an accelerator-hour in orbit and on the ground (per delivered hour,
and per useful, goodput, hour when the run has a workload) with its sensitivity, and every
assumption with its source. :func:`render_html` turns that document
into HTML with inline SVG charts (and a sweep's plot as a base64 PNG): no scripts, no
network, so it opens anywhere and can be mailed as one file. Each number in a table carries
``data-key`` (its path in the sidecar), so tests and tools can read the HTML too.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from twin.constants import SECONDS_PER_HOUR
from twin.planning.cost import DEFAULTS, Fleet, costs, goodput_costs, sensitivity
from twin.planning.outcomes import outcome_row
from twin.projections.losses import CAUSES

COMPARE = (
    "availability",
    "compute_share",
    "compute_accelerator_hours",
    "energy_generated_kwh",
    "lost_power_thermal_cap_accelerator_hours",
    "lost_eclipse_load_shed_accelerator_hours",
    "lost_waiting_for_robot_accelerator_hours",
    "lost_unrepairable_accelerator_hours",
    "mttr_hours",
    "flights",
    "tonnes_to_orbit",
)
"""Outcomes compared against a second run or a sweep."""


def _share(part: float | None, whole: float | None) -> float | None:
    return None if part is None or not whole else part / whole


def seed_questions(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """The seed document's comparison, one row per theme: its claim and this run's answer
    (each figure with its path in the state summary)."""
    integ, losses = summary["integrals"], summary.get("losses", {})
    lost = losses.get("accelerator_hours", {})
    potential = losses.get("potential_accelerator_hours")
    launch, repair, run = summary.get("launch", {}), summary["repair"], summary.get("run", {})
    span_h = (summary["position"].get("sim_time_s") or 0.0) / SECONDS_PER_HOUR
    seen = summary["satellites"]["seen"] or 0
    eclipse_share = _share(integ["eclipse_satellite_s"] / SECONDS_PER_HOUR, seen * span_h)
    return [
        {
            "theme": "energy",
            "claim": "unlimited solar energy",
            "figures": {
                "energy_generated_kwh": integ["energy_generated_kwh"],
                "energy_consumed_kwh": integ["energy_consumed_kwh"],
                "eclipse_share_of_satellite_time": eclipse_share,
                "lost_eclipse_load_shed_share": _share(lost.get("eclipse_load_shed"), potential),
            },
        },
        {
            "theme": "cooling",
            "claim": "natural cooling",
            "figures": {
                "lost_power_thermal_cap_share": _share(lost.get("power_thermal_cap"), potential),
                "lost_power_thermal_cap_accelerator_hours": lost.get("power_thermal_cap"),
                "accelerator_w": run.get("accelerator_w"),
            },
        },
        {
            "theme": "space",
            "claim": "room for a million satellites",
            "figures": {
                "satellites_planned": run.get("satellites_planned"),
                "shells": len(run.get("shells") or []),
                "satellites_seen": seen,
            },
        },
        {
            "theme": "maintenance",
            "claim": "robots repair what breaks",
            "figures": {
                "availability": losses.get("availability"),
                "faults": summary["counters"].get("faults_total"),
                "repairs_completed": summary["counters"].get("repairs_completed"),
                "mttr_hours": None
                if repair.get("mttr_s") is None
                else repair["mttr_s"] / SECONDS_PER_HOUR,
                "lost_waiting_for_robot_share": _share(lost.get("waiting_for_robot"), potential),
                "lost_unrepairable_share": _share(lost.get("unrepairable"), potential),
            },
        },
        {
            "theme": "launch",
            "claim": "a million tonnes of satellites a year",
            "figures": {
                "flights": launch.get("flights"),
                "flights_planned": launch.get("flights_planned"),
                "tonnes_to_orbit": launch.get("tonnes_to_orbit"),
                "tonnes_lost": launch.get("tonnes_lost"),
                "tonnes_per_flight": launch.get("tonnes_per_flight"),
                "tonnes_per_year": launch.get("tonnes_per_year"),
                "fleet_ready_days": launch.get("fleet_ready_days"),
            },
        },
    ]


def _deltas(this: dict[str, Any], other: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for key in COMPARE:
        a, b = this.get(key), other.get(key)
        delta = None if a is None or b is None else a - b
        rows.append(
            {"outcome": key, "this": a, "other": b, "delta": delta, "relative": _share(delta, b)}
        )
    return rows


def build_report(
    summary: dict[str, Any],
    *,
    run_name: str,
    assumptions: tuple[dict[str, float], dict[str, str]],
    vs: tuple[str, dict[str, Any]] | None = None,
    sweep: tuple[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The report as a JSON-ready document (the sidecar; :func:`render_html` draws it)."""
    outcomes = outcome_row(summary)
    values, sources = assumptions
    fleet = Fleet.from_summary(summary)
    cost = None
    if fleet is not None:
        delivered = costs(fleet, values)
        head = ("orbit_usd_per_accelerator_hour", "ground_usd_per_accelerator_hour")
        result: dict[str, float | None] = {k: delivered[k] for k in head}
        result.update(goodput_costs(fleet, values))
        result.update({k: v for k, v in delivered.items() if k not in head})
        cost = {
            "fleet": fleet.__dict__,
            "result": result,
            "sensitivity": sensitivity(fleet, values),
        }
    doc: dict[str, Any] = {
        "run": run_name,
        "state": summary,
        "outcomes": outcomes,
        "seed_questions": seed_questions(summary),
        "losses": summary.get("losses"),
        "workload": summary.get("workload"),
        "cost": cost,
        "assumptions": [
            {"name": k, "value": values[k], "unit": DEFAULTS[k].unit, "source": sources[k]}
            for k in DEFAULTS
        ],
        "vs": None,
        "sweep": None,
    }
    if vs is not None:
        name, other = vs
        doc["vs"] = {"run": name, "deltas": _deltas(outcomes, outcome_row(other))}
    if sweep is not None:
        directory, sweep_doc = sweep
        points = [p for p in sweep_doc["points"] if p["outcome"] in COMPARE]
        doc["sweep"] = {
            "directory": directory,
            "grid": sweep_doc["grid"],
            "seeds": sweep_doc["seeds"],
            "points": points,
            "this_vs_mean": [
                {
                    **{k: p[k] for k in sweep_doc["grid"]},
                    "outcome": p["outcome"],
                    "this": outcomes.get(p["outcome"]),
                    "mean": p["mean"],
                    "delta": None
                    if outcomes.get(p["outcome"]) is None
                    else outcomes[p["outcome"]] - p["mean"],
                }
                for p in points
            ],
        }
    return doc


# ------------------------------------------------------------------------------ HTML

LABELS = {
    # the seed's questions
    "energy_generated_kwh": "energy generated (kWh)",
    "energy_consumed_kwh": "energy consumed (kWh)",
    "eclipse_share_of_satellite_time": "share of satellite-time in eclipse",
    "lost_eclipse_load_shed_share": "share of potential compute shed in eclipse",
    "lost_power_thermal_cap_share": "share of potential compute lost to the power/thermal cap",
    "lost_power_thermal_cap_accelerator_hours": "lost to the power/thermal cap (accelerator-hours)",
    "accelerator_w": "power per accelerator (W)",
    "satellites_planned": "satellites planned",
    "shells": "orbital shells",
    "satellites_seen": "satellites seen",
    "availability": "availability (share of in-service satellite-time not down for a fault)",
    "faults": "faults",
    "repairs_completed": "repairs completed",
    "mttr_hours": "mean time to repair (h)",
    "lost_waiting_for_robot_share": "share of potential compute lost waiting for a robot",
    "lost_unrepairable_share": "share of potential compute lost to unrepairable faults",
    "flights": "launches",
    "flights_planned": "launches planned",
    "tonnes_to_orbit": "mass to orbit (t)",
    "tonnes_lost": "mass lost in failed launches (t)",
    "tonnes_per_flight": "mass per launch (t)",
    "tonnes_per_year": "mass to orbit per year (t/year)",
    "fleet_ready_days": "days until the whole fleet is in service",
    # compared outcomes
    "compute_share": "compute share (delivered ÷ potential)",
    "compute_accelerator_hours": "compute delivered (accelerator-hours)",
    "lost_eclipse_load_shed_accelerator_hours": "shed in eclipse (accelerator-hours)",
    "lost_waiting_for_robot_accelerator_hours": "lost waiting for a robot (accelerator-hours)",
    "lost_unrepairable_accelerator_hours": "lost to unrepairable faults (accelerator-hours)",
    # the workload
    "workload.goodput_accelerator_hours": "goodput: useful work kept (accelerator-hours)",
    "workload.training_goodput_accelerator_hours": "training goodput (accelerator-hours)",
    "workload.inference_accelerator_hours": "inference served (accelerator-hours)",
    "workload.lost_accelerator_hours": "workload's lost work, unsaved when interrupted "
    "(accelerator-hours)",
    "workload.available_accelerator_hours": "compute available to the workload (accelerator-hours)",
    "workload.goodput_ratio": "goodput ÷ compute available",
    "workload.queue_wait_max_s": "longest wait of a queued job (s)",
    "workload.inference_requests": "inference requests",
    "workload.inference_served": "inference requests served",
    "workload.inference_unserved": "inference requests unserved",
    # the cost
    "orbit_usd_per_accelerator_hour": "orbit, per delivered accelerator-hour (USD)",
    "ground_usd_per_accelerator_hour": "ground, per delivered accelerator-hour (USD)",
    "orbit_usd_per_goodput_accelerator_hour": "orbit, per useful (goodput) accelerator-hour (USD)",
    "ground_usd_per_goodput_accelerator_hour": "ground, per useful (goodput) accelerator-hour "
    "(USD)",
    "orbit_launch_usd_per_satellite": "orbit: launch, per satellite (USD)",
    "orbit_bus_usd_per_satellite": "orbit: satellite bus, per satellite (USD)",
    "orbit_accelerators_usd_per_satellite": "orbit: accelerators, per satellite (USD)",
    "ground_energy_usd_per_accelerator_hour": "ground: electricity, per accelerator-hour (USD)",
    "ground_facility_usd_per_accelerator": "ground: data-centre build, per accelerator (USD)",
}
"""Readable labels, with units, of the keys the HTML shows (the sidecar keeps the keys)."""

COUNTS = frozenset(
    {"workload.inference_requests", "workload.inference_served", "workload.inference_unserved"}
)
"""Counts held as floats (summed over regions): shown as whole numbers."""

_UNITS = (
    ("_accelerator_hours", " (accelerator-hours)"),
    ("_kwh", " (kWh)"),
    ("_hours", " (h)"),
    ("_days", " (days)"),
    ("_s", " (s)"),
    ("_w", " (W)"),
)


def label(key: str) -> str:
    """The readable label of ``key``: from :data:`LABELS`, else its words with the unit of
    its suffix in brackets."""
    if key in LABELS:
        return LABELS[key]
    name = key.rpartition(".")[2]
    for suffix, unit in _UNITS:
        if name.endswith(suffix):
            return name[: -len(suffix)].replace("_", " ") + unit
    return name.replace("_", " ")


def _fmt(x: Any) -> str:
    if x is None:
        return "–"
    if isinstance(x, bool) or not isinstance(x, int | float):
        return html.escape(str(x))
    if isinstance(x, int):
        return f"{x:,}"
    if x != 0 and abs(x) < 1:
        return f"{x:.4g}"
    return f"{x:,.2f}"


def _cell(key: str, value: Any, *, count: bool = False) -> str:
    """A table cell showing ``value`` (a whole number when ``count``), with ``data-key`` and
    the exact value in ``data-value``."""
    raw = "" if value is None else json.dumps(value)
    shown = f"{round(value):,}" if count and isinstance(value, int | float) else _fmt(value)
    return f'<td data-key="{html.escape(key)}" data-value="{html.escape(raw)}">{shown}</td>'


def _table(head: Sequence[str], rows: Sequence[str]) -> str:
    th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    return f"<table><tr>{th}</tr>{''.join(rows)}</table>"


def _bars_svg(items: Sequence[tuple[str, float]], unit: str) -> str:
    """A horizontal bar chart as inline SVG."""
    width, bar, gap, label_w = 640, 18, 6, 200
    top = max((v for _, v in items), default=0.0) or 1.0
    height = len(items) * (bar + gap) + gap
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img">'
    ]
    for i, (name, value) in enumerate(items):
        y = gap + i * (bar + gap)
        w = max(0.0, value) / top * (width - label_w - 120)
        parts.append(
            f'<text x="{label_w - 6}" y="{y + bar - 5}" text-anchor="end" font-size="12">'
            f"{html.escape(name)}</text>"
            f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar}" fill="#4477aa"/>'
            f'<text x="{label_w + w + 4:.1f}" y="{y + bar - 5}" font-size="11">'
            f"{_fmt(value)} {html.escape(unit)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


_STYLE = """
body{font-family:system-ui,sans-serif;max-width:60em;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:.2em .6em;
text-align:right}th{background:#f0f0f0}td:first-child{text-align:left}h2{margin-top:1.6em}
.note{color:#555;font-size:.9em}
"""


def render_html(doc: dict[str, Any], sweep_png: bytes | None = None) -> str:
    """The report as one HTML document: inline CSS and SVG, images as data URIs."""
    state = doc["state"]
    run = state.get("run", {})
    out = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>Orbital Twin report: {html.escape(str(run.get('scenario')))}</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>Orbital Twin report: {html.escape(str(run.get('scenario')))}</h1>",
        f"<p>Run <code>{html.escape(str(run.get('run_id')))}</code>, seed {_fmt(run.get('seed'))},"
        f" {html.escape(str(run.get('epoch')))} to {html.escape(str(state['position']['sim_time']))};"
        f" log <code>{html.escape(doc['run'])}</code>.</p>",
        "<h2>The seed's questions, answered by this run</h2>",
    ]
    for q in doc["seed_questions"]:
        theme = q["theme"]
        rows = [
            f"<tr><td>{html.escape(label(k))}</td>"
            + _cell(f"seed_questions.{theme}.{k}", v)
            + "</tr>"
            for k, v in q["figures"].items()
        ]
        out.append(f"<h3>{q['theme'].title()}: “{html.escape(q['claim'])}”</h3>")
        out.append(_table(["figure", "this run"], rows))
    integ = state["integrals"]
    out.append("<h2>Compute delivered</h2>")
    rows = [
        f"<tr><td>{text}</td>{_cell(f'state.integrals.{key}', integ[key])}</tr>"
        for key, text in (
            ("compute_accelerator_hours", "compute delivered (accelerator-hours)"),
            ("compute_pflop_days", "compute delivered (PFLOP-days)"),
        )
    ]
    if doc.get("workload"):
        rows += [
            f"<tr><td>{html.escape(label(f'workload.{k}'))}</td>"
            f"{_cell(f'state.workload.{k}', v, count=f'workload.{k}' in COUNTS)}</tr>"
            for k, v in sorted(doc["workload"].items())
            if isinstance(v, int | float) and not isinstance(v, bool)
        ]
    out.append(_table(["", "this run"], rows))
    if doc.get("workload"):
        out.append(
            "<p class='note'>The workload's lost work and the compute shed in eclipse (under "
            "“Where the potential compute went”) measure different things: lost work is "
            "training already computed and then thrown away, unsaved since the last checkpoint, "
            "when a job is interrupted; shed compute is accelerator-time never computed because "
            "a satellite's battery shed its load. One satellite shedding interrupts its whole "
            "job, so an hour shed can cost many hours of lost work.</p>"
        )
    losses = doc.get("losses") or {}
    hours = losses.get("accelerator_hours") or {}
    if hours:
        out.append("<h2>Where the potential compute went</h2>")
        out.append(
            "<p class='note'>From service entry each satellite's potential is its nameplate "
            "accelerators; every accelerator-hour is delivered or lost to one cause.</p>"
        )
        order = [*CAUSES, "power_thermal_cap", "launch_failures"]
        out.append(_bars_svg([(c.replace("_", " "), hours.get(c, 0.0)) for c in order], "acc-h"))
        rows = [
            f"<tr><td>{c.replace('_', ' ')}</td>{_cell(f'state.losses.accelerator_hours.{c}', hours.get(c))}"
            f"<td>{_fmt(_share(hours.get(c), losses.get('potential_accelerator_hours')))}</td></tr>"
            for c in order
        ]
        out.append(_table(["cause", "accelerator-hours", "share"], rows))
    if doc.get("vs"):
        vs = doc["vs"]
        out.append(f"<h2>Against run <code>{html.escape(vs['run'])}</code></h2>")
        rows = [
            f"<tr><td>{html.escape(label(d['outcome']))}</td>"
            + _cell("outcomes." + d["outcome"], d["this"])
            + f"<td>{_fmt(d['other'])}</td><td>{_fmt(d['delta'])}</td>"
            f"<td>{_fmt(d['relative'])}</td></tr>"
            for d in vs["deltas"]
        ]
        out.append(_table(["outcome", "this run", "other", "delta", "relative"], rows))
    if doc.get("sweep"):
        sw = doc["sweep"]
        keys = list(sw["grid"])
        out.append(f"<h2>Against the sweep <code>{html.escape(sw['directory'])}</code></h2>")
        out.append(
            f"<p>{len(keys)} key(s) swept, {sw['seeds']} seeds per point; mean and 95 % interval.</p>"
        )
        rows = [
            "<tr>"
            + "".join(f"<td>{_fmt(p[k])}</td>" for k in keys)
            + f"<td>{html.escape(label(p['outcome']))}</td><td>{_fmt(p['mean'])}</td><td>{_fmt(p['ci95_low'])}</td>"
            f"<td>{_fmt(p['ci95_high'])}</td></tr>"
            for p in sw["points"]
        ]
        out.append(_table([*keys, "outcome", "mean", "95 % low", "95 % high"], rows))
        if sweep_png:
            data = base64.b64encode(sweep_png).decode()
            out.append(
                f"<img alt='sweep plot' src='data:image/png;base64,{data}' style='max-width:100%'>"
            )
    cost = doc.get("cost")
    out.append("<h2>Cost of an accelerator-hour, delivered and useful</h2>")
    if cost is None:
        out.append("<p>Not computed: the run records no satellite mass or no accelerators.</p>")
    else:
        r = cost["result"]
        rows = [
            f"<tr><td>{html.escape(label(k))}</td>{_cell(f'cost.result.{k}', v)}</tr>"
            for k, v in r.items()
        ]
        out.append(_table(["", "this run"], rows))
        if "orbit_usd_per_goodput_accelerator_hour" in r:
            out.append(
                "<p class='note'>A delivered accelerator-hour is one computed; a useful one is "
                "goodput (work kept: checkpointed or completed training, inference served). Per "
                "useful hour = per delivered hour ÷ the run's goodput ratio "
                f"({_fmt(cost['fleet'].get('goodput_ratio'))}); the ground figure assumes the "
                "same ratio (the same workload and scheduling), an upper bound since the ground "
                "has no eclipse interruptions.</p>"
            )
        else:
            out.append(
                "<p class='note'>The run has no workload, so only the cost per delivered "
                "(computed) accelerator-hour is given; useful work (goodput) is not known.</p>"
            )
        out.append("<h3>Which assumption moves it most (orbit ÷ ground)</h3>")
        rows = [
            f"<tr><td>{s['assumption'].replace('_', ' ')}</td><td>{_fmt(s['low'])} – {_fmt(s['high'])}</td>"
            f"<td>{_fmt(s['orbit_low'])} – {_fmt(s['orbit_high'])}</td>"
            f"<td>{_fmt(s['ground_low'])} – {_fmt(s['ground_high'])}</td>"
            f"<td>{_fmt(s['ratio_low'])} – {_fmt(s['ratio_high'])}</td></tr>"
            for s in cost["sensitivity"]
        ]
        out.append(
            _table(
                [
                    "assumption",
                    "range",
                    "orbit USD per delivered acc-h",
                    "ground USD per delivered acc-h",
                    "ratio",
                ],
                rows,
            )
        )
    out.append("<h2>Assumptions and sources</h2>")
    rows = [
        f"<tr><td>{html.escape(a['name'].replace('_', ' '))}</td>"
        + _cell("assumptions." + a["name"], a["value"])
        + f"<td>{html.escape(a['unit'])}</td>"
        f"<td style='text-align:left'>{html.escape(a['source'])}</td></tr>"
        for a in doc["assumptions"]
    ]
    out.append(_table(["assumption", "value", "unit", "source"], rows))
    out.append(
        "<p class='note'>Scenario figures (orbits, bus, launch vehicle payload and satellite "
        "mass, reliability) are those of the scenario the run was made from; the presets cite "
        "each in <code>docs/sources.md</code>.</p></body></html>"
    )
    return "\n".join(out)


def write_report(doc: dict[str, Any], out: Path, sweep_png: Path | None = None) -> Path:
    """Write ``out`` (HTML) and its sidecar ``out`` with ``.json``; return the sidecar."""
    png = sweep_png.read_bytes() if sweep_png is not None and sweep_png.is_file() else None
    out.write_text(render_html(doc, png), encoding="utf-8")
    sidecar = out.with_suffix(".json")
    sidecar.write_text(
        json.dumps(doc, indent=1, sort_keys=True, allow_nan=False) + "\n", encoding="utf-8"
    )
    return sidecar
