"""Golden event logs: refactors must not change a single byte of what a run writes.

Each case is (preset, seed, span): the SHA-256 of its JSONL export (exactly the Kafka message
values, one per line) and of ``twin state --json`` at the end of the run (canonical JSON),
recorded before the projection layer was split out of the fold. A change that alters either
is a change of behaviour: say so in the commit and re-record with ``python -m
tests.test_golden_logs`` (it prints the table).
"""

from __future__ import annotations

import hashlib
import io
import json
import sys
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from services.cli import main

GOLDEN = """
demo            1  7d   110839  7dd48748c03f455234c0b748b9f5117086ae838772e2faf52886dca2926964fa  586432ed53b8fd0e949491683955c33a9e1329310c494b77194663b741253575
demo            7  3d    43503  a15b29c43c592b533218d923219b225815ae65e9428c595a6bee67945d3c0568  ef534fee47de6ca19348a9eb7484b180bade7b4b89e553f8b21b91a481afa860
suncatcher      2  2d      254  b127a0090283bf85a84c098af2f84682a3ab25d9ce219e8ee2145934f3bac431  8125e3f99829920d1c421963f484415d1f6bcfa7cd900d7a96b7e0b1520ef004
starlink-shell  3  12h   41146  a04526252ff8729c622f0a39400dbb7508222aac5fb2b531e3d4f6b27d8a79a5  294ac56300aa5dff9e143497626cc90d43c7620e73af5cb8e7b08d0c5d2680c9
gigawatt        4  6h     2242  117cc63331aff5dd5d20306e4cb87ec00cabf49a80703aad0416717b2a0fbffa  5e93fecb878bc738a35cc8f737982c5f0e8e06670021af54f3d541e56b77d770
walker-scale    5  12h   48087  ccd7554da172baf0f61bbfe776fc969e8b70dc805e9220cc7fa15cf46166fb5f  71de52c9580b617cf68543bad94f30474dedebe848e969eb3cdc792926d3133b
"""
"""preset, seed, until, events, export sha256, state sha256: one case per line."""

CASES = [
    (preset, int(seed), until, int(events), export, state)
    for preset, seed, until, events, export, state in map(str.split, GOLDEN.strip().splitlines())
]


def record(preset: str, seed: int, until: str, tmp: Path) -> tuple[int, str, str]:
    """(events, export sha256, canonical state sha256) of one run, through the CLI."""
    log = tmp / f"{preset}-{seed}.twinlog"
    jsonl = tmp / f"{preset}-{seed}.jsonl"
    args = ["run", preset, "--seed", str(seed), "--until", until, "--log", str(log), "--quiet"]
    with redirect_stdout(io.StringIO()):
        assert main(args) == 0
    assert main(["log", "export", str(log), "--out", str(jsonl)]) == 0
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["state", str(log), "--json"]) == 0
    state = json.dumps(json.loads(out.getvalue()), sort_keys=True).encode()
    data = jsonl.read_bytes()
    return data.count(b"\n"), hashlib.sha256(data).hexdigest(), hashlib.sha256(state).hexdigest()


@pytest.mark.parametrize(("preset", "seed", "until", "events", "export", "state"), CASES)
def test_a_run_writes_the_recorded_log_and_state(
    preset: str, seed: int, until: str, events: int, export: str, state: str, tmp_path: Path
) -> None:
    got_events, got_export, got_state = record(preset, seed, until, tmp_path)
    assert got_events == events
    assert got_export == export, "the event log changed byte for byte"
    assert got_state == state, "twin state --json changed"


if __name__ == "__main__":  # re-record: prints the GOLDEN table
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        for preset, seed, until, *_ in CASES:
            n, e, s = record(preset, seed, until, Path(tmp))
            sys.stdout.write(f"{preset:<15} {seed:<2} {until:<4} {n:>6}  {e}  {s}\n")
