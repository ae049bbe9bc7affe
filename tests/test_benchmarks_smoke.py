"""`python -m benchmarks --quick`: the benchmark command works end to end (no speed asserted)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from procs import alive, descendants

from benchmarks.__main__ import KEYS

REPO = Path(__file__).resolve().parent.parent
DEADLINE_S = 1200.0
ORPHAN_GRACE_S = 10.0
"""How long a killed benchmark's children may take to exit. They are told at once (SIGTERM on
their parent's death) and go in about a second here; an orphan would instead run on to the end
of its stage, which takes 18 s here even with --quick and more on a busy machine."""  # a hang, not a speed check: a quick run takes about a minute


@pytest.mark.kafka
def test_quick_benchmarks_produce_every_key(kafka_bootstrap: str, tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "TWIN_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
    }
    md = REPO / "BENCHMARKS.md"
    before = md.read_bytes() if md.exists() else None
    # Its own session, so a deadline kills the whole group (its projectors' fetch processes
    # too); each stage of the benchmark has a deadline of its own that fails it with a message.
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks", "--quick", "--json", str(out)],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        _, stderr = proc.communicate(timeout=DEADLINE_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        _, stderr = proc.communicate()
        pytest.fail(f"benchmarks --quick still running after {DEADLINE_S:.0f} s:\n{stderr[-3000:]}")
    assert proc.returncode == 0, stderr[-3000:]
    doc = json.loads(out.read_text())
    for key in KEYS:
        assert isinstance(doc[key], (int, float)) and doc[key] > 0, (key, doc[key])
    assert doc["quick"] is True and doc["machine"]["cores"]
    assert (md.read_bytes() if md.exists() else None) == before, "--quick must not rewrite it"


@pytest.mark.kafka
def test_killing_the_benchmarks_leaves_no_process_behind(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """SIGKILL to the benchmark command while a projector bench runs (bench interpreter →
    projector → its fetch process): every process it started goes away with it."""
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "TWIN_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks", "--quick", "--json", str(tmp_path / "b.json")],
        cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    seen: set[int] = set()
    try:
        deadline = time.monotonic() + DEADLINE_S
        while True:
            seen |= descendants(proc.pid)
            cmdlines = [Path(f"/proc/{p}/cmdline").read_bytes() for p in seen if alive(p)]
            if any(b"services.kafka.fetcher" in c for c in cmdlines):
                break
            assert proc.poll() is None, "the benchmarks ended before a projector bench ran"
            assert time.monotonic() < deadline, "no projector bench started"
            time.sleep(0.1)
        proc.kill()  # the parent only: its children must follow by themselves
        proc.wait()
        killed = time.monotonic()
        while [p for p in seen if alive(p)] and time.monotonic() < killed + ORPHAN_GRACE_S:
            time.sleep(0.2)
        left = [p for p in seen if alive(p)]
        print(f"descendants gone {time.monotonic() - killed:.1f} s after the kill")
        assert left == [], f"processes left behind: {left}"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
