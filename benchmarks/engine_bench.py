"""Engine speed: a scenario in batch mode to the embedded log vs a bare SimPy loop.

``python -m benchmarks.engine_bench [scenario] [until]`` (default ``gigawatt 1d``) runs the
scenario exactly as ``twin run`` does (its eclipse workers, the engine's wire sink writing
the SQLite log, the fold in a child process), then, in the same process, a bare SimPy loop that
produces the same number of events (one process per satellite, plain timeouts, each
resumption appending a small tuple). ``sim_vs_bare_simpy_ratio`` is twin wall time / bare
loop wall time (each the best of five alternating rounds): what the physics, the state
machine, the typed events and the log cost on top of SimPy itself.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import sys
import tempfile
import time
from typing import Any

import simpy

from services.cli.run import default_eclipse_workers, eclipse_passes, make_sink, simulate
from services.eventlog import atomic_log
from services.shards import BackgroundFold
from twin.sim.engine import Engine, config_from_scenario
from twin.sim.passes import window_passes
from twin.sim.scenario import resolve_scenario
from twin.timeutil import parse_duration

BATCH = 5000


def run_twin(scenario: str, until: str, seed: int = 1) -> dict[str, Any]:
    config = config_from_scenario(resolve_scenario(scenario), until_s=parse_duration(until))
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "bench.twinlog")
        t0 = time.perf_counter()
        # exactly `twin run`'s path, without progress output: its default eclipse workers
        # (forked first), the fold in a child process, the engine's wire sink writing the log
        passes = eclipse_passes(config, default_eclipse_workers())
        with contextlib.ExitStack() as stack:
            if passes is not None:
                stack.enter_context(contextlib.closing(passes))
            state = BackgroundFold()
            with atomic_log(path) as log:
                sink, flush = make_sink(state, log, None)
                engine = Engine(config, seed, sink, passes=passes or window_passes)
                simulate(engine, config.until_s, flush, live=False)
                if passes is not None:
                    passes.release()
                summary = state.summary()  # every batch folded
        wall = time.perf_counter() - t0
        assert summary["position"]["events_applied"] == engine.offset
        size = os.path.getsize(path)
    return {
        "scenario": scenario,
        "until": until,
        "satellites": len(config.fleet),
        "events": engine.offset,
        "wall_s": wall,
        "events_per_s": engine.offset / wall,
        "log_bytes": size,
    }


def run_bare_simpy(n_events: int, n_procs: int) -> dict[str, Any]:
    """A bare SimPy loop: ``n_procs`` processes emitting ``n_events`` events in total."""
    env = simpy.Environment()
    out: list[tuple[float, int]] = []
    per = max(n_events // max(n_procs, 1), 1)

    def proc(i: int) -> Any:
        for _ in range(per):
            yield env.timeout(1.0 + (i % 7))
            out.append((env.now, i))

    for i in range(n_procs):
        env.process(proc(i))
    t0 = time.perf_counter()
    env.run()
    wall = time.perf_counter() - t0
    return {"events": len(out), "wall_s": wall, "events_per_s": len(out) / wall}


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run(scenario: str = "gigawatt", until: str = "1d", repeats: int = 5) -> dict[str, Any]:
    """The ratio on ``scenario`` (its twin run's events and peak memory), and on the dense
    run (:func:`dense`)."""
    result = ratio(scenario, until, repeats)
    result["sim_events_per_s"] = result["twin"]["events_per_s"]
    result["peak_rss_mb"] = peak_rss_mb()
    result["dense"] = dense(repeats)
    return result


def ratio(scenario: str, until: str, repeats: int) -> dict[str, Any]:
    """Twin wall time ÷ bare loop wall time for as many events, each the best of
    ``repeats`` rounds; a round runs the twin, then the bare loop, so both meet the same
    neighbours (a run of a second or less is at their mercy; the fastest is the one they
    disturbed least)."""
    twins: list[dict[str, Any]] = []
    bares: list[dict[str, Any]] = []
    for _ in range(repeats):
        twins.append(run_twin(scenario, until))
        bares.append(run_bare_simpy(twins[0]["events"], twins[0]["satellites"]))
    twin = min(twins, key=lambda r: r["wall_s"])
    twin["wall_s_all"] = [round(r["wall_s"], 3) for r in twins]
    bare = min(bares, key=lambda r: r["wall_s"])
    bare["wall_s_all"] = [round(r["wall_s"], 4) for r in bares]
    bare_wall = bare["wall_s"] * twin["events"] / max(bare["events"], 1)  # same event count
    return {"twin": twin, "bare_simpy": bare, "sim_vs_bare_simpy_ratio": twin["wall_s"] / bare_wall}


def dense(repeats: int = 5, sats: int = 2000) -> dict[str, Any]:
    """The same ratio on an event-dense run: the scale benchmark's Walker shell (every
    satellite in service, ~44 events per satellite-day), where the per-event path, not the
    setup, is what is measured."""
    from benchmarks.scale_bench import scenario_text

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, f"dense-{sats}.toml")
        with open(path, "w") as f:
            f.write(scenario_text(sats))
        result = ratio(path, "1d", repeats)
    result["twin"]["scenario"] = f"scale-{sats}"
    return result


if __name__ == "__main__":
    args = sys.argv[1:]
    print(json.dumps(run(*args), indent=2))
