"""Sharded runs: wall time of one engine ÷ two shard processes on the same scenario.

``python -m benchmarks.shard_bench [--sats 10000] [--days 1]`` writes the scale benchmark's
generated scenario (:mod:`benchmarks.scale_bench`: a Walker shell at 550 km / 53°, every
satellite in service at the epoch, faults and SAA-weighted upsets, a repair robot and a stock
of spares per plane, so planes share nothing, :mod:`twin.sim.shards`), then runs ``twin run``
on it in a child process, once unsharded and once with ``--shards 2``.
``shard_speedup_2`` is the first wall time ÷ the second (both write one log of the same events
and print the same summary); on 2 cores the target is ≥ 1.6. The unsharded run already uses
a second process (its fold), so the CPU times of both runs' processes are reported too, and
``cpu_bound_speedup_2``: the speedup two otherwise idle cores would give (on a shared machine
the wall times measure the neighbours as much as the twin).
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

from benchmarks.scale_bench import scenario_text, twin_run_child

CHILD = """
import json, resource, sys, time
from services.cli import main
t0 = time.perf_counter()
code = main(sys.argv[1:])
wall = time.perf_counter() - t0
me, kids = (resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
print(json.dumps({"code": code, "wall_s": wall, "cpu_self_s": me.ru_utime + me.ru_stime,
                  "cpu_children_s": kids.ru_utime + kids.ru_stime}))
"""
"""``twin run`` in a child, reporting wall time and CPU time of itself and of its children
(the unsharded run's fold process; the shards)."""


def _twin_run(scenario: Path, log: Path, days: int, *extra: str) -> dict[str, Any]:
    summary, child = twin_run_child(CHILD, scenario, log, days, *extra)
    log.unlink()
    return {
        "events": summary["wall"]["events"],
        "wall_s": round(child["wall_s"], 3),
        "cpu_self_s": round(child["cpu_self_s"], 2),
        "cpu_children_s": round(child["cpu_children_s"], 2),
    }


def run(sats: int = 10000, days: int = 1) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        scen = Path(tmp) / f"shard-{sats}.toml"
        scen.write_text(scenario_text(sats))
        t0 = time.perf_counter()
        one = _twin_run(scen, Path(tmp) / "one.twinlog", days)
        two = _twin_run(scen, Path(tmp) / "two.twinlog", days, "--shards", "2")
    if one["events"] != two["events"]:
        raise RuntimeError(f"sharded run has {two['events']} events, unsharded {one['events']}")
    return {
        "satellites": sats,
        "days": days,
        "events": one["events"],
        "one_shard_wall_s": one["wall_s"],
        "two_shards_wall_s": two["wall_s"],
        "shard_speedup_2": one["wall_s"] / two["wall_s"],
        "one_shard_cpu_s": {"engine_process": one["cpu_self_s"], "fold": one["cpu_children_s"]},
        "two_shards_cpu_s": {"merge_process": two["cpu_self_s"], "shards": two["cpu_children_s"]},
        # on two idle cores: the unsharded run's longer process ÷ a shard (half the shards'
        # CPU, shards being even) or the merge, whichever is longer
        "cpu_bound_speedup_2": max(one["cpu_self_s"], one["cpu_children_s"])
        / max(two["cpu_children_s"] / 2, two["cpu_self_s"]),
        "cores": os.cpu_count(),
        "total_s": round(time.perf_counter() - t0, 1),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.shard_bench")
    p.add_argument("--sats", type=int, default=10000)
    p.add_argument("--days", type=int, default=1)
    args = p.parse_args(argv)
    print(json.dumps(run(args.sats, args.days), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
