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
demo            1  7d   110839  b20044124ec5dcee8f2ffd2afb2734186639a468325e5c8570cb0eaaad2f585f  8f4021ce73f35d5e3d1d7162acadb492813da22f3377451af9ede9015cbc2d73
demo            7  3d    43503  367e0b790b1dbbdc2c8349b1c30b5aeebcb11bd58c275446d6a11278c2e843c0  190fb5356212e5b4ebcd21834dc54a417517a921742d9004bcdd005930b97ec1
suncatcher      2  2d      254  dd9ee52e7d056674b9b531a6563ba964f6f2ffbbc620771c14cd1cd92fa34a83  78ffea9fda52af3a0833cbd5465a32de94aadadeca0c2021e7d5baf4ba7b5aa1
starlink-shell  3  12h   41146  d2fd3ba332d8a65a7445aa471d5acfe3e98a8b7546f4f3eafc3b8f0a24370e5d  98a0fdc5fa432d20225381d5cba84706195d2866748f9bc701299ea5056ef138
gigawatt        4  6h     2242  175bc00fae1f26dc277089ae59f1f17eec80fea4bd21d18cd577e9b9f8548891  d4e32933e16212f35169eaa9f27385f05fe19768320a10dcd1137f22dbbd5b84
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
