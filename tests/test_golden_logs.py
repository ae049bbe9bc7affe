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
demo            1  7d   51245  9e485de7b58189e85cd645f790a2bb5f65d72d542a4b8e84deee326e640b47bc  bf12c4c080206b1f561facdbe7c8c5e96081bbd9097d7c8f27cc1a0fbb3c1a89
demo            7  3d   23292  5c66150e071a65ac7f8f71613524c2d14eb12b0797791e067b9b417d14354cf3  b78c9c6ea25202467acc83f8c0071e6242f7d68f4629a5706e8b389f60aad954
suncatcher      2  2d     245  eb8bda061bad5c52cf7e895d122a7c841fd5208b231050743739485760b29f77  e7a11542f4989dd4ee92dd3bb9de5c9e1c590d7c1601d50ecf400aff94a3d527
starlink-shell  3  12h  29916  421bbad05bffd0c1dd067138e9e3ed80e78f48a6eba22dc117287686a4220c29  64a49fd3da859a5eb64b55da2814e7fb6c243bec686503537e9b2d752c12ca33
gigawatt        4  6h    1822  799cc8c5b95f3ffc14516778f9c24ee31ca8e78851101ec5900ef471a08202b0  a6b2ca590a8dc36072025c8217b15e52e28abd54193d5f88e1f140ce439d615c
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
