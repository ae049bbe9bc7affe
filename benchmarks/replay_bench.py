"""Replay: read an embedded log, decode every event and fold it into a FleetState.

``python -m benchmarks.replay_bench [scenario] [until]``: the log is generated once by the
engine (cached under ``~/.cache/orbital-twin/bench``, keyed by scenario, span, the code's
version and the log format) and then replayed; ``replay_1m_s`` scales the measured time to
1,000,000 events (it is the measured time when the log holds about a million events).
``log_bytes_per_event`` is the log file's size on disk over its events.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from services.eventlog import LOG_FORMAT_VERSION, SqliteEventLog
from twin.projections import FleetState

REPO = Path(__file__).resolve().parent.parent


def _code_version() -> str:
    h = hashlib.sha256()
    for path in sorted((REPO / "twin").rglob("*.py")) + sorted((REPO / "scenarios").glob("*.toml")):
        h.update(path.read_bytes())
    return h.hexdigest()[:12]


def cached_log(scenario: str, until: str) -> Path:
    cache = (
        Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "orbital-twin" / "bench"
    )
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"{scenario}-{until}-{_code_version()}-v{LOG_FORMAT_VERSION}.twinlog"
    if not path.exists():
        from services.cli import main

        code = main(["run", scenario, "--until", until, "--log", str(path), "--quiet"])
        if code != 0:
            raise RuntimeError(f"twin run {scenario} failed with exit code {code}")
    return path


def run(scenario: str = "demo", until: str = "60d") -> dict[str, Any]:
    path = cached_log(scenario, until)
    with SqliteEventLog(path) as log:
        t0 = time.perf_counter()
        n_raw = sum(1 for _ in log.read_raw())
        read_s = time.perf_counter() - t0
        state = FleetState()
        apply = state.apply
        t0 = time.perf_counter()
        for event in log.read():
            apply(event)
        wall = time.perf_counter() - t0
    n = state.events_applied
    assert n == n_raw
    return {
        "scenario": scenario,
        "until": until,
        "events": n,
        "read_raw_s": read_s,
        "log_bytes": path.stat().st_size,
        "log_bytes_per_event": path.stat().st_size / n,
        "replay_s": wall,
        "fold_events_per_s": n / wall,
        "replay_1m_s": wall * 1_000_000 / n,
    }


if __name__ == "__main__":
    print(json.dumps(run(*sys.argv[1:]), indent=2))
