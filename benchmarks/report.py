"""Write BENCHMARKS.md from a `python -m benchmarks` result document."""

from __future__ import annotations

from pathlib import Path
from typing import Any

TARGETS: dict[str, tuple[str, str]] = {
    # key: (comparison, target) — "<=" or ">="
    "eclipse_cost_ratio": ("<=", "0.5"),
    "sim_vs_bare_simpy_ratio": ("<=", "8"),
    "sim_events_per_s": ("", "—"),
    "publish_ratio": (">=", "0.8"),
    "consume_fold_ratio": (">=", "0.8"),
    "fold_events_per_s": ("", "—"),
    "replay_1m_s": ("<=", "20"),
    "log_bytes_per_event": ("<=", "100"),
    "peak_rss_mb_per_10k_sats": ("", "—"),
    "live_p99_s": ("<=", "1"),
    "shard_speedup_2": (">=", "1.6"),
    "sats_100k_day_s": ("<=", "120"),
    "sats_100k_peak_rss_mb": ("", "—"),
    "sats_1m_day_s": ("", "—"),
    "sats_1m_peak_rss_mb": ("<=", "23000"),
}

MEANING = {
    "eclipse_cost_ratio": "eclipse search, 10k satellites × 24 h ÷ raw SatrecArray on a 60 s grid",
    "sim_events_per_s": "engine events/s (gigawatt × 1 d, batch, to the embedded log, fold included)",
    "sim_vs_bare_simpy_ratio": "engine wall time ÷ bare SimPy loop emitting as many events",
    "publish_ratio": "our Kafka publish rate ÷ raw kafka-python produce (same broker, messages)",
    "consume_fold_ratio": "projector's consume + decode + fold rate ÷ bare kafka-python group consumer",
    "fold_events_per_s": "read + decode + fold from the embedded log, events/s",
    "replay_1m_s": "replaying 1,000,000 events from the embedded log into a FleetState, s",
    "log_bytes_per_event": "embedded log file size ÷ its events (the replay log, demo × 160 d), bytes",
    "peak_rss_mb_per_10k_sats": "peak memory per 10k satellites (engine + fold + log), MB",
    "live_p99_s": "live mode: event emission → visible on a projector's /metrics, p99, s",
    "shard_speedup_2": "wall time of `twin run --shards`'s pipeline with 1 shard ÷ with 2 "
    "(10k satellites × 1 d, a robot and spares per plane), on this machine; the plain run's "
    "÷ 2 shards is under Shards",
    "sats_100k_day_s": "100,000 satellites × 1 d in one process (`twin run`, Walker 550 km / 53°), s",
    "sats_100k_peak_rss_mb": "peak RSS of that run (the engine process and its fold process), MB",
    "sats_1m_day_s": "1,000,000 satellites × 1 d, `twin run --shards <cores>`, run wall time, s "
    "(its log is then replayed and checked against the run's summary: below)",
    "sats_1m_peak_rss_mb": "peak RSS of that run, all its processes together (the merging "
    "process and every shard; how it was measured: below), MB; the machine's memory is the "
    "limit",
}


def _fmt(value: Any) -> str:
    if value is None:
        return "not measured"
    if isinstance(value, float):
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        return f"{value:.3g}"
    return str(value)


def _verdict(key: str, value: Any) -> str:
    op, target = TARGETS[key]
    if value is None or not op:
        return ""
    ok = value <= float(target) if op == "<=" else value >= float(target)
    return "met" if ok else "**missed**"


def write_benchmarks_md(doc: dict[str, Any], path: Path) -> None:
    m = doc["machine"]
    lines = [
        "# Benchmarks",
        "",
        "Written by `python -m benchmarks` (full run). Every speed is a ratio against the raw",
        "part underneath, measured in the same run on the same machine.",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB; {m['os']};",
        f"Python {m['python']}, numpy {m['numpy']}, sgp4 {m['sgp4']}, SimPy {m['simpy']},",
        f"pydantic {m['pydantic']}. Run on {m['date']}, {doc.get('total_s', 0):.0f} s in all.",
        *[
            f"Merged from the run of {r['date']} ({', '.join(r['benches'])}; {r['total_s']:.0f} s)."
            for r in doc.get("runs", [])
        ],
        "",
        "| key | value | target | | what |",
        "| --- | ---: | ---: | --- | --- |",
    ]
    for key, (op, target) in TARGETS.items():
        value = doc.get(key)
        lines.append(
            f"| `{key}` | {_fmt(value)} | {op} {target} | {_verdict(key, value)} | {MEANING[key]} |"
        )
    details = doc.get("details", {})
    ecl = details.get("eclipse")
    if ecl:
        lines += [
            "",
            "## Eclipse search",
            "",
            f"{ecl.get('n_sats')} satellites × {ecl.get('hours')} h: eclipse search "
            f"{_fmt(ecl.get('eclipse_s'))} s against raw `SatrecArray.sgp4` on a 60 s grid "
            f"{_fmt(ecl.get('raw_propagation_s'))} s → ratio {_fmt(ecl.get('eclipse_cost_ratio'))}"
            f" ({_fmt(ecl.get('passes'))} passes).",
        ]
    eng = details.get("engine")
    if eng:
        t, b = eng["twin"], eng["bare_simpy"]
        lines += [
            "",
            "## Engine",
            "",
            f"`{t['scenario']}` × {t['until']} ({t['satellites']:,} satellites), batch, to the "
            f"embedded log: {t['events']:,} events in {t['wall_s']:.2f} s "
            f"({t['events_per_s']:,.0f} events/s, log {t['log_bytes'] / 1e6:.1f} MB). A bare "
            f"SimPy loop: {b['events_per_s']:,.0f} events/s → ratio "
            f"{_fmt(eng['sim_vs_bare_simpy_ratio'])} (best of {len(t.get('wall_s_all', [1]))} alternating rounds).",
        ]
        dense = eng.get("dense")
        if dense:
            dt, db = dense["twin"], dense["bare_simpy"]
            lines += [
                "",
                f"Event-dense (`{dt['scenario']}`, every satellite in service, × 1 d): "
                f"{dt['events']:,} events in {dt['wall_s']:.2f} s ({dt['events_per_s']:,.0f} "
                f"events/s) against the bare loop's {db['events_per_s']:,.0f} → ratio "
                f"{_fmt(dense['sim_vs_bare_simpy_ratio'])}. Here events dominate (the "
                "`gigawatt` day above is mostly setup: 10,000 satellites, few events); the "
                "bare loop is at its fastest too (2,000 processes of 44 events each).",
            ]
    scale = {**eng["twin"], "peak_rss_mb": eng["peak_rss_mb"]} if eng else None
    if scale:
        lines += [
            "",
            "## Memory",
            "",
            f"`{scale['scenario']}` × {scale['until']}: peak RSS {scale['peak_rss_mb']:.0f} MB for "
            f"{scale['satellites']:,} satellites.",
        ]
    rep = details.get("replay")
    if rep:
        lines += [
            "",
            "## Replay",
            "",
            f"`{rep['scenario']}` × {rep['until']}: {rep['events']:,} events replayed in "
            f"{rep['replay_s']:.2f} s ({rep['fold_events_per_s']:,.0f} events/s; raw reads "
            f"{rep['read_raw_s']:.2f} s). The log file: "
            f"{rep.get('log_bytes', 0) / 1e6:.1f} MB, "
            f"{_fmt(rep.get('log_bytes_per_event'))} bytes per event.",
        ]
    kaf = details.get("kafka")
    if kaf:
        # `twin replay`'s read ratio was named consume_fold_ratio, like the projector's,
        # in results saved before 2026-12-03: shown under its own name
        kaf = {k.replace("consume_fold_ratio", "replay_read_fold_ratio"): v for k, v in kaf.items()}
        lines += [
            "",
            "## Kafka",
            "",
            "`replay_read_fold_ratio`: `twin replay`'s group-less read of the topic, merged into "
            "log order, decoded and folded, against a raw group-less consumer (the projector's "
            "`consume_fold_ratio` is in the next section).",
            "",
            "```",
            *[f"{k}: {v}" for k, v in kaf.items()],
            "```",
        ]
    proj = details.get("projector")
    if proj:
        lines += [
            "",
            "## Projector",
            "",
            f"{_fmt(proj.get('events'))} events, best of {_fmt(proj.get('rounds'))} alternating "
            "rounds, first record to last: a bare kafka-python group consumer reads "
            f"{_fmt(proj.get('raw_group_consume_per_s'))} events/s; the projector (fetch "
            "process + decode and fold process) consumes, decodes and folds "
            f"{_fmt(proj.get('projector_consume_fold_per_s'))} events/s → "
            f"ratio {_fmt(proj.get('consume_fold_ratio'))}. Per-round seconds: raw "
            f"{proj.get('raw_group_consume_s')}, projector {proj.get('projector_s')}; start-up "
            f"(group join; + fetch process) raw {_fmt(proj.get('raw_group_start_s'))} s, "
            f"projector {_fmt(proj.get('projector_start_s'))} s. The Kafka event log's group-less "
            "read and merge into log order (`twin replay`) is in the Kafka section "
            "(`replay_read_fold_ratio` there).",
        ]
    live = details.get("live")
    if live:
        lines += [
            "",
            "## Live latency",
            "",
            f"Live mode at {_fmt(live.get('rate_events_per_s'))} events/s for "
            f"{_fmt(live.get('events'))} events: emission → visible on a projector's `/metrics` "
            f"p50 {_fmt(live.get('live_p50_s'))} s, p99 {_fmt(live.get('live_p99_s'))} s "
            f"({live.get('method', '')}).",
        ]
    table = details.get("scale_table")
    if table:
        lines += [
            "",
            "## Scale",
            "",
            "`twin run` on a generated Walker shell (550 km / 53°, every satellite in service, so",
            "each one crosses the shadow ~15 times a day), batch, to the embedded log; one",
            "process; peak RSS of that process.",
            "",
            table["markdown"],
        ]
    shards = details.get("shards")
    if shards:
        lines += [
            "",
            "## Shards",
            "",
            "The sharded pipeline (`services.shards.run_sharded`, what `twin run --shards N` runs)",
            "with 1 and with 2 shards, and the plain `twin run`, each in a fresh interpreter.",
            "The plain run already keeps a second core busy (its fold process), so on 2",
            "cores `plain_vs_two_shards` stays low: sharding pays with more cores and hosts.",
            "",
            "```",
            *[f"{k}: {v}" for k, v in shards.items()],
            "```",
        ]
    million = details.get("million")
    if million:
        lines += [
            "",
            "## A million satellites",
            "",
            f"{million['satellites']:,} satellites × {million['days']} d (the scale scenario: "
            f"a robot and spares per plane), `twin run --shards {million['shards']}`: {million['events']:,} "
            f"events in {million['sats_1m_day_s']:,.0f} s, peak RSS "
            f"{'at most ' if million.get('tree_rss_sampling') else ''}"
            f"{million['sats_1m_peak_rss_mb']:,.0f} MB (all processes together), log "
            f"{million['log_mb']:,.0f} MB ({million['log_bytes_per_event']} bytes/event). "
            f"`twin state LOG --json` replayed it in {million['replay_s']:,.0f} s (peak RSS "
            f"{million['replay_peak_rss_mb']:,.0f} MB); the replayed state "
            f"{'equals' if million['replay_matches_run'] else '**differs from**'} the run's "
            "summary.",
        ]
        if million.get("tree_rss_sampling"):
            lines += ["", f"Peak memory: {million['tree_rss_sampling']}"]
    for name, extra in (doc.get("extra_sections") or {}).items():
        lines += ["", f"## {name}", "", extra]
    path.write_text("\n".join(lines) + "\n")
