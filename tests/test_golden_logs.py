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
demo            1  7d    99924  9e72dc631be0701fe4f5908d2acdab2706aecdc59560a979815f81b67a4cc6ec  907108cd82e2122f5f25608d97c16a800854912b1befc229a870342ceb25ad06
demo            7  3d    41616  d10f70fccbeda3c821a93bad06db30d77825e03d5b34e643fb0ecf0ff90ae904  5a90c0f57a416224f93146258903d3d559d66c644afe6b7815f5ebcbe5e997bd
suncatcher      2  2d      254  4e1cc3f71e8a9635658c0b258b133ecfab7e26ff046136bb2b34cc4d5d719b93  a596073cdda967f61e84b76caa0141cb24a17804264f071a897b2439399c0fd3
starlink-shell  3  12h   41171  5beff3781323742b119a7321af841c29d21079567b40e39e2c5729e3b99f3114  d903e9b7a6f32703b798755b210c7f687e72f3d92c41d37c3e97dcc40f2319db
gigawatt        4  6h     1822  7d53d2af8085242e0365ec242a3a0126ec6d6ff2d5bda1a86d9e44064a98a405  5e23656b62662e530d74eaad8d34d47f4c5d99aa4ef26e124db2f8a921f31128
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
