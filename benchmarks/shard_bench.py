"""Sharded runs: wall time of one shard ÷ two shards on the same scenario, and of the plain run.

``python -m benchmarks.shard_bench [--sats 10000] [--days 1]`` writes the scale benchmark's
generated scenario (:mod:`benchmarks.scale_bench`: a Walker shell at 550 km / 53°, every
satellite in service at the epoch, faults and SAA-weighted upsets, a repair robot and a stock
of spares per plane, so planes share nothing, :mod:`twin.sim.shards`), then runs it three
times, each in a fresh interpreter: the sharded pipeline of ``twin run --shards N``
(:func:`services.shards.run_sharded`: N shard processes, each simulating and folding its
planes, the parent merging their streams into one log) with N = 1 and N = 2, and the plain
``twin run`` (one engine writing the log; its fold in a second process, with the first
eclipse window computed in two).

``shard_speedup_2`` is the 1-shard wall time ÷ the 2-shard one: how sharding scales (on 2
cores the target is ≥ 1.6). ``plain_vs_two_shards`` is the plain run's ÷ the 2-shard one:
what a user gains over ``twin run`` on this machine. The plain run already keeps a second
core busy (its fold and log), so on 2 cores it gains little; sharding pays across hosts and
cores. The CPU times of every run's processes are reported, and ``cpu_bound_speedup_2``: the
1-shard ÷ 2-shard speedup two otherwise idle cores would give (on a shared machine the wall
times measure the neighbours as much as the twin).
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


SHARDED_CHILD = """
import json, resource, sys, time
from services.eventlog import atomic_log
from services.shards import run_sharded
from twin.sim.engine import config_from_scenario, run_id_for
from twin.sim.scenario import resolve_scenario
from twin.timeutil import parse_duration
scenario, until, log_path, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
t0 = time.perf_counter()
resolved = resolve_scenario(scenario)
config = config_from_scenario(resolved, until_s=parse_duration(until))
seed = resolved.scenario.seed
run_id = run_id_for(config, seed)
with atomic_log(log_path) as log:
    result = run_sharded(config, seed, count, lambda rows: log.append_records(rows, run_id))
wall = time.perf_counter() - t0
me, kids = (resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
print(json.dumps({"events": result.events, "wall_s": wall,
                  "cpu_self_s": me.ru_utime + me.ru_stime,
                  "cpu_children_s": kids.ru_utime + kids.ru_stime}))
"""
"""`twin run --shards N`'s pipeline (without Kafka and the printed summary), for any N: the
command itself runs N = 1 as a plain run."""


def _sharded(scenario: Path, log: Path, days: int, count: int) -> dict[str, Any]:
    child = json.loads(
        cli_child(SHARDED_CHILD, [str(scenario), f"{days}d", str(log), str(count)])[-1]
    )
    log.unlink()
    return {
        "events": child["events"],
        "wall_s": round(child["wall_s"], 3),
        "cpu_self_s": round(child["cpu_self_s"], 2),
        "cpu_children_s": round(child["cpu_children_s"], 2),
    }


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
        plain = _twin_run(scen, Path(tmp) / "plain.twinlog", days)
        one = _sharded(scen, Path(tmp) / "one.twinlog", days, 1)
        two = _sharded(scen, Path(tmp) / "two.twinlog", days, 2)
    if not plain["events"] == one["events"] == two["events"]:
        raise RuntimeError(f"events differ: plain {plain}, one shard {one}, two shards {two}")
    return {
        "satellites": sats,
        "days": days,
        "events": one["events"],
        "one_shard_wall_s": one["wall_s"],
        "two_shards_wall_s": two["wall_s"],
        "plain_wall_s": plain["wall_s"],
        "shard_speedup_2": one["wall_s"] / two["wall_s"],
        "plain_vs_two_shards": plain["wall_s"] / two["wall_s"],
        "one_shard_cpu_s": {"merge_process": one["cpu_self_s"], "shard": one["cpu_children_s"]},
        "two_shards_cpu_s": {"merge_process": two["cpu_self_s"], "shards": two["cpu_children_s"]},
        "plain_cpu_s": {
            "engine_process": plain["cpu_self_s"],
            "fold_and_eclipse_worker": plain["cpu_children_s"],
        },
        # on two idle cores: the longer process of each run (the 2-shard run's shards even)
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
