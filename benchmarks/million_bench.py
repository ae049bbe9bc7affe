"""A million satellites for a day, sharded over this machine's cores, and its log replayed.

``python -m benchmarks.million_bench [--sats 1000000] [--days 1] [--shards N]`` writes the
scale benchmark's generated scenario (:func:`benchmarks.scale_bench.scenario_text`: Walker
shells at 550 km / 53°, every satellite in service at the epoch, Castet & Saleh faults,
SAA-weighted upsets, a repair robot and a stock of spares per plane, so planes share nothing
and shard), runs
``twin run SCENARIO --shards N --log LOG`` on it in a child process (N = the cores, by default)
and then ``twin state LOG --json`` in another: the log must replay to the run's own summary,
every field of it (``replay_matches_run``). Reported: wall time and peak RSS of the run (its
whole process tree, sampled every second: the merging process and every shard, which run
side by side), of the replay, and the log's size per event.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.scale_bench import cli_child, scenario_text, twin_run_child

CHILD = """
import json, os, resource, sys, threading, time
from pathlib import Path
from services.cli import main

def tree_rss_mb(pid):
    # resident memory of pid and every descendant, from /proc (children of each thread)
    total, todo, seen = 0, [pid], set()
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        try:
            total += int(Path(f"/proc/{p}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, ValueError):
            pass
    return total / 2**20

peak = [0.0]
done = threading.Event()
def sample():
    while not done.wait(1.0):
        peak[0] = max(peak[0], tree_rss_mb(os.getpid()))
threading.Thread(target=sample, daemon=True).start()
t0 = time.perf_counter()
code = main(sys.argv[1:])
wall = time.perf_counter() - t0
done.set()
largest = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
           + resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
print(json.dumps({"code": code, "wall_s": wall, "peak_rss_mb": largest, "tree_peak_rss_mb": peak[0]}))
"""
"""``twin run`` in a child that also samples, every second, the resident memory of its whole
process tree (the merging process and every shard, which all run at once)."""

REPLAY = """
import json, resource, sys, time, io, contextlib
from services.cli import main
t0 = time.perf_counter()
out = io.StringIO()
with contextlib.redirect_stdout(out):
    code = main(sys.argv[1:])
wall = time.perf_counter() - t0
state = json.loads(out.getvalue())
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"code": code, "wall_s": wall, "peak_rss_mb": rss, "state": state}))
"""


def replay(log: Path) -> dict[str, Any]:
    """``twin state LOG --json`` in a fresh interpreter: its wall time, peak RSS and state."""
    return dict(json.loads(cli_child(REPLAY, ["state", str(log), "--json"])[-1]))


def run(sats: int = 1_000_000, days: int = 1, shards: int | None = None) -> dict[str, Any]:
    shards = shards or os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        scen = Path(tmp) / f"million-{sats}.toml"
        scen.write_text(scenario_text(sats))
        log = Path(tmp) / "million.twinlog"
        print(f"[million] {sats:,} satellites × {days} d, {shards} shards ...", file=sys.stderr)
        t0 = time.perf_counter()
        summary, child = twin_run_child(CHILD, scen, log, days, "--shards", str(shards))
        run_wall = time.perf_counter() - t0
        events = int(summary["wall"]["events"])
        log_bytes = log.stat().st_size
        print(f"[million] ran: {events:,} events in {child['wall_s']:.0f} s", file=sys.stderr)
        back = replay(log)
        print(f"[million] replayed in {back['wall_s']:.0f} s", file=sys.stderr)
    state = back["state"]
    replayed_events = state["position"]["events_applied"]
    ran = {k: v for k, v in summary.items() if k != "wall"}
    return {
        "satellites": summary["run"]["satellites_planned"],
        "days": days,
        "shards": shards,
        "events": events,
        "sats_1m_day_s": round(child["wall_s"], 1),
        # the whole run's memory on this machine: the merging process and every shard
        "sats_1m_peak_rss_mb": round(child["tree_peak_rss_mb"], 1),
        "peak_rss_mb_merge_and_largest_shard": round(child["peak_rss_mb"], 1),
        "process_s": round(run_wall, 1),
        "log_mb": round(log_bytes / 1e6, 1),
        "log_bytes_per_event": round(log_bytes / max(events, 1), 1),
        "replay_s": round(back["wall_s"], 1),
        "replay_peak_rss_mb": round(back["peak_rss_mb"], 1),
        "replayed_events": replayed_events,
        # the whole state the log replays to is the state the run printed (wall aside)
        "replay_matches_run": replayed_events == events and state == ran,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.million_bench")
    p.add_argument("--sats", type=int, default=1_000_000)
    p.add_argument("--days", type=int, default=1)
    p.add_argument("--shards", type=int, default=None, help="default: the machine's cores")
    args = p.parse_args(argv)
    print(json.dumps(run(args.sats, args.days, args.shards), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
