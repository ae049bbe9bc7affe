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
demo            1  7d    51245  478d713de98254a7f5d4748467fb0be44ab5f6d9fd029f4b6cf4fa60219d48cc  c163c5d03ea791c697c7bfe8e9c0394610e962700adad03b4d841b34457b08fe
demo            7  3d    23292  55c59280671dea8fc2fe3b05a1fe709bdbe164d9cf4aab2d9c672f6ebc492904  89764ae6b07685f7538217220a7dabe74bbd00cc59ebe65d4b2a687e39ba4ab7
suncatcher      2  2d      245  e468ef402b1bc61bf36630074a5ec7f710d295cc4fb0b2791a432b6d6c16dfac  1c82f4d724ed9cf23623f85ba6e1583d7f80dc8c35caef4f622fabbf0c9f5e35
starlink-shell  3  12h   29916  6763f077c46eb737a7636b3f14df085704d82fecaaf43fd209d78906d42edb2f  538b07363dcb714f7bc0cad6faea3deaa0db45118dd35e91857fde3b5bb235a7
gigawatt        4  6h     1822  99c1f339b572f7cf22eec77f4d9260c987e377954a6960f1c6354bcc52b1596e  8262ce7fbdb83c81020f4ac2a358489e7392f035e795fa46faca676e5853d102
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
