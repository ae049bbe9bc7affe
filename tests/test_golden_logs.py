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
demo            1  7d    99929  ffe219f41e36a6781bac5b8909ceba2de9eeb0eb80104d1e6a9eaddf2d638394  2aa80de40ac6790bee811f70db4a02a88e2a844bf4d06aa3f3836670429ccb22
demo            7  3d    41617  01581a7058be4491e8b2b6df918a460b0d9301e8604cd81d1a4197cc6aa3bcd6  15e93e39bdff7741ac753eea72922d0fd2f3c2486267b2bbea2d7dd9ba6f2d7c
suncatcher      2  2d      254  8cad4de9b798719b91a84747d721dbd01d88ff8ac1d8fd2400071de70f249cba  43758c04534cb686bf47e9fbbbcb864756c899f004683a174fc300189467975a
starlink-shell  3  12h   41171  a009570c1c4f7f953161efc015b218e197dbf09409402f3650114570b84b9c5e  61a736e058804c43670a298196f683f08234024c82a1f9de66dacb1d24a6b612
gigawatt        4  6h     1822  ce8c7c0c01bb6cc3c500dfa39888ccf40a9c546d1a462381eadf40d05e555072  00bdebd655de726ba2ff690300d9146287492df5bee3ac431309de8772c48853
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
