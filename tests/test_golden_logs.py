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
demo            1  7d    60811  74a6ee24cebe81678b7a6faad6a5432fc673b25ad5c9ab9ae7921551ebbc9911  5d1495c8e1c08f89ae622c4cc19808cbde7d237c0f83d1d4904cbc92c5811993
demo            7  3d    25060  c86401e9354929c4dcc718a33cb8f25289517bc3489c1f9e25e2feeefef31b63  f6d477fe68e372eff06074e2c9dcc86e1ac7f25ccb284a0a551857400705e9d0
suncatcher      2  2d      245  423fd4aa516a2e8b73d578f312182d00347cb669e2b529afd23daef0d40cc32d  45808224b161b67ed03c6b6a076d4b7560ae9b984b9b19bd65c225aec699c06e
starlink-shell  3  12h   29910  d9fbaf1dd52b97d7f6f20ba2364af9f4a5a025c22f6301ed8d2254051b840de5  7a8c496df1026ab03d653ba08d76fcf662596a5b9ff23c9e63a0fcbee9cfe42f
gigawatt        4  6h     1822  bd1de561e8e25b1d3f26f18fb89aaabbfdd7615b5760d68eab2d0c7c0e044317  d7037b0cfda805e72927e4e22f7112668df1a2b2f927d6583e266304609e0762
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
