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
demo            1  7d   110836  31e2cfe556a04ff50de85f7eddbf6a0888939e5a1fe6ae114f8766e90bba24c9  177022e01a6b62101ed32cdd94ad9939ebe163ec788fadb2a277bc981f0489c8
demo            7  3d    43500  38a5a3af6bf144e1e02b7cba04caf4d295320ef0b31339154d40b74fdf92de41  f19c23c7ffb8b234223442487f9b6fb246713c71772abcf4679564d77d9c356f
suncatcher      2  2d      254  dd9ee52e7d056674b9b531a6563ba964f6f2ffbbc620771c14cd1cd92fa34a83  78ffea9fda52af3a0833cbd5465a32de94aadadeca0c2021e7d5baf4ba7b5aa1
starlink-shell  3  12h   41144  7e59986b0625f648277068d5d618d40a134c3968397c488285b77526c289b916  90b7ef5fd447d594a3de0e55173d180308e95f9b6fc7e4616fd27ac7d3a55ea1
gigawatt        4  6h     1822  d7aaf1b2e1f19968f32a3c25dcab30059750fe8f346dad64869c4e4a582b22d1  da6a336137fc34b60eb402e48517cfe70bdec4a4ce06ff0bfaecefe7b08e4ee7
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
