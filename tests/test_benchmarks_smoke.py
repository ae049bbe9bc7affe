"""`python -m benchmarks --quick`: the benchmark command works end to end (no speed asserted)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.__main__ import KEYS

REPO = Path(__file__).resolve().parent.parent
DEADLINE_S = 1200.0  # a hang, not a speed check: a quick run takes about a minute


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
