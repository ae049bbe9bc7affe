"""`python -m benchmarks [--quick] [--json OUT] [--only NAME ...]`: measure the twin against the
raw limits of the parts underneath, in the same run, and (full runs) rewrite BENCHMARKS.md.

Every figure is a ratio against the raw part measured in the same run on the same machine:
eclipse search vs raw ``SatrecArray`` propagation on a 60 s grid; the engine vs a bare SimPy
loop producing as many events; publish and consume-and-fold vs raw kafka-python on the same
broker and messages. Each benchmark runs in its own process so peak memory is its own.
``--quick`` shrinks every workload (CI smoke test: no assertion on speed) and does not touch
BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from services.processes import die_with_parent

REPO = Path(__file__).resolve().parent.parent
KEYS = (
    "eclipse_cost_ratio",
    "sim_events_per_s",
    "sim_vs_bare_simpy_ratio",
    "publish_ratio",
    "consume_fold_ratio",
    "fold_events_per_s",
    "replay_1m_s",
    "log_bytes_per_event",
    "peak_rss_mb_per_10k_sats",
    "live_p99_s",
    "shard_speedup_2",
    "sats_100k_day_s",
    "sats_100k_peak_rss_mb",
    "sats_1m_day_s",
    "sats_1m_peak_rss_mb",
)


def _child(code: str, timeout_s: float = 3600) -> dict[str, Any]:
    """Run ``code`` in a fresh interpreter; it prints one JSON document last."""
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    res = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
        timeout=timeout_s, preexec_fn=die_with_parent,
    )  # fmt: skip
    if res.returncode != 0:
        raise RuntimeError(f"benchmark failed:\n{code}\n{res.stderr[-3000:]}")
    return dict(json.loads(res.stdout.strip().splitlines()[-1]))


def _run_bench(module: str, call_args: str) -> dict[str, Any]:
    """``benchmarks.<module>.run(<call_args>)`` in a fresh interpreter (see :func:`_child`)."""
    return _child(
        f"import json; from benchmarks.{module} import run; print(json.dumps(run({call_args})))"
    )


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem_gb = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    import numpy
    import pydantic
    import sgp4
    import simpy

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": mem_gb,
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
        "numpy": numpy.__version__,
        "sgp4": sgp4.__version__,
        "simpy": simpy.__version__,
        "pydantic": pydantic.__version__,
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def bench_eclipse(quick: bool) -> dict[str, Any]:
    n, hours = (2000, 6) if quick else (10000, 24)
    r = _run_bench("eclipse_bench", f"n_sats={n}, hours={hours}, repeats={1 if quick else 2}")
    r["n_sats"], r["hours"] = n, hours
    return r


def bench_engine(quick: bool) -> dict[str, Any]:
    scenario, until = ("demo", "1d") if quick else ("gigawatt", "1d")
    return _run_bench("engine_bench", f"{scenario!r}, {until!r}")


def bench_replay(quick: bool) -> dict[str, Any]:
    until = "3d" if quick else "160d"
    return _run_bench("replay_bench", f"'demo', {until!r}")


def _bootstrap() -> str | None:
    """An external broker (``TWIN_KAFKA_BOOTSTRAP``), else each bench starts its own."""
    return os.environ.get("TWIN_KAFKA_BOOTSTRAP") or None


def bench_kafka(quick: bool) -> dict[str, Any]:
    n = 20_000 if quick else 200_000
    return _run_bench("kafka_bench", f"n_events={n}, bootstrap={_bootstrap()!r}")


def bench_projector(quick: bool) -> dict[str, Any]:
    """The projector service's consume + decode + fold vs a bare group consumer."""
    n = 20_000 if quick else 200_000
    return _run_bench("projector_bench", f"n_events={n}, bootstrap={_bootstrap()!r}")


def bench_live(quick: bool) -> dict[str, Any]:
    """Live mode at ~1,000 events/s: emission → visible on a projector's /metrics."""
    duration_s = 15.0 if quick else 60.0
    return _run_bench("live_latency_bench", f"bootstrap={_bootstrap()!r}, duration_s={duration_s}")


def bench_scale_table(quick: bool) -> dict[str, Any]:
    """How cost grows: satellites 1k / 10k / 100k × 1 day, and 1k × 1 / 7 / 30 days."""
    from benchmarks.scale_bench import run as run_scale
    from benchmarks.scale_bench import table

    cells = [(1000, 1)] if quick else [
        (1000, 1), (10000, 1), (100000, 1), (1000, 7), (1000, 30)
    ]  # fmt: skip
    rows = run_scale(cells)
    return {"rows": rows, "markdown": table(rows)}


def bench_shards(quick: bool) -> dict[str, Any]:
    """The sharded pipeline with 1 and 2 shards, and the plain run, same scenario."""
    sats, days = (1000, 1) if quick else (10000, 1)
    return _run_bench("shard_bench", f"sats={sats}, days={days}")


def bench_million(quick: bool) -> dict[str, Any]:
    """A million satellites × 1 day with as many shards as cores, then its log replayed."""
    sats = 2_000 if quick else 1_000_000
    return _run_bench("million_bench", f"sats={sats}, days=1")


BENCHES = {
    "eclipse": bench_eclipse,
    "engine": bench_engine,
    "replay": bench_replay,
    "kafka": bench_kafka,
    "projector": bench_projector,
    "live": bench_live,
    "scale_table": bench_scale_table,
    "shards": bench_shards,
    "million": bench_million,
}


def collect(results: dict[str, Any]) -> dict[str, Any]:
    """The contract keys from the individual results (None where a bench did not run)."""
    out: dict[str, Any] = dict.fromkeys(KEYS)
    ecl = results.get("eclipse") or {}
    eng = results.get("engine") or {}
    rep = results.get("replay") or {}
    kaf = results.get("kafka") or {}
    live = results.get("live") or {}
    out["eclipse_cost_ratio"] = ecl.get("eclipse_cost_ratio")
    out["sim_events_per_s"] = eng.get("sim_events_per_s")
    out["sim_vs_bare_simpy_ratio"] = eng.get("sim_vs_bare_simpy_ratio")
    out["fold_events_per_s"] = rep.get("fold_events_per_s")
    out["replay_1m_s"] = rep.get("replay_1m_s")
    out["log_bytes_per_event"] = rep.get("log_bytes_per_event")
    out["publish_ratio"] = kaf.get("publish_ratio")
    # the projector is the consume-and-fold service; the event log's group-less read
    # (kafka bench) is reported beside it in the details
    proj = results.get("projector") or {}
    out["consume_fold_ratio"] = proj.get("consume_fold_ratio")
    out["live_p99_s"] = live.get("live_p99_s", kaf.get("live_p99_s"))
    out["shard_speedup_2"] = (results.get("shards") or {}).get("shard_speedup_2")
    scale = {
        (r["satellites"], r["days"]): r for r in (results.get("scale_table") or {}).get("rows", [])
    }
    # the largest one-day cell (100k in a full run; --quick runs smaller workloads under the
    # same keys, as every bench does)
    days1 = [r for (_, days), r in sorted(scale.items()) if days == 1]
    if days1:
        out["sats_100k_day_s"] = days1[-1]["wall_s"]
        out["sats_100k_peak_rss_mb"] = days1[-1]["peak_rss_mb"]
    million = results.get("million") or {}
    if million:
        out["sats_1m_day_s"] = million["sats_1m_day_s"]
        out["sats_1m_peak_rss_mb"] = million["sats_1m_peak_rss_mb"]
    # the engine bench's child process ran exactly one scenario: its peak RSS is that run's
    if eng:
        sats = eng["twin"]["satellites"]
        out["peak_rss_mb_per_10k_sats"] = eng["peak_rss_mb"] * 10000 / sats
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    p.add_argument("--quick", action="store_true", help="small workloads, < 2 minutes")
    p.add_argument("--json", metavar="OUT", help="write the results as JSON to OUT")
    p.add_argument("--only", nargs="*", choices=sorted(BENCHES), help="run only these")
    p.add_argument("--no-write", action="store_true", help="do not rewrite BENCHMARKS.md")
    p.add_argument(
        "--from-json",
        nargs="+",
        metavar="RUN",
        help="run nothing: write BENCHMARKS.md from these saved --json results (later files' "
        "benches replace earlier ones'; each bench keeps its own run's machine and date)",
    )
    args = p.parse_args(argv)
    if args.from_json:
        if args.only or args.quick:
            p.error("--from-json runs nothing: it takes no --only or --quick")
        return _from_json(args.from_json, out=args.json, write=not args.no_write)
    names = args.only or list(BENCHES)
    results: dict[str, Any] = {}
    t0 = time.monotonic()
    for name in names:
        print(f"[benchmarks] {name} ...", file=sys.stderr, flush=True)
        t = time.monotonic()
        results[name] = BENCHES[name](args.quick)
        print(f"[benchmarks] {name} done in {time.monotonic() - t:.1f} s", file=sys.stderr)
    doc = {**collect(results), "quick": args.quick, "machine": machine(), "details": results}
    doc["total_s"] = round(time.monotonic() - t0, 1)
    text = json.dumps(doc, indent=2, default=str)
    if args.json:
        Path(args.json).write_text(text + "\n")
    print(text)
    if args.quick or args.no_write:
        return 0
    if set(names) != set(BENCHES):
        # a partial run would drop every other section: merge it with a saved full run
        print(
            "[benchmarks] BENCHMARKS.md left as it is (not every bench ran); merge this run "
            "with a saved full one: --json THIS.json, then --from-json FULL.json THIS.json",
            file=sys.stderr,
        )
        return 0
    from benchmarks.report import write_benchmarks_md

    write_benchmarks_md(doc, REPO / "BENCHMARKS.md")
    return 0


def _from_json(paths: list[str], *, out: str | None = None, write: bool = True) -> int:
    """Merge saved full runs into one BENCHMARKS.md (e.g. the million-satellite day measured
    on its own, and everything else): the contract keys are recomputed from the merged
    details; the header names every run's machine and date. A file that is not a saved full
    run is refused with its name and the reason (exit 2), and nothing is written."""
    from benchmarks.report import write_benchmarks_md

    details: dict[str, Any] = {}
    runs = []
    for path in paths:
        try:
            doc = json.loads(Path(path).read_text())
            if doc.get("quick"):
                raise ValueError("a --quick run; BENCHMARKS.md takes full runs only")
            run_details = dict(doc["details"])
            runs.append(
                {**doc["machine"], "benches": sorted(run_details), "total_s": doc["total_s"]}
            )
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            reason = f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)
            print(
                f"python -m benchmarks: error: --from-json {path}: {reason} (allowed: the "
                "JSON a full `python -m benchmarks --json OUT` run wrote)",
                file=sys.stderr,
            )
            return 2
        details.update(run_details)
    newest = max(runs, key=lambda r: r["date"])
    merged = {**collect(details), "quick": False, "machine": newest, "details": details}
    merged["runs"] = runs
    merged["total_s"] = sum(r["total_s"] for r in runs)
    if out:
        Path(out).write_text(json.dumps(merged, indent=2, default=str) + "\n")
    if write:
        write_benchmarks_md(merged, REPO / "BENCHMARKS.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
