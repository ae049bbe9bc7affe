"""`python -m benchmarks --quick`: the benchmark command works end to end (no speed asserted)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmarks.__main__ import KEYS

REPO = Path(__file__).resolve().parent.parent


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
    t0 = time.monotonic()
    res = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--json", str(out)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    wall = time.monotonic() - t0
    assert res.returncode == 0, res.stderr[-3000:]
    doc = json.loads(out.read_text())
    for key in KEYS:
        assert isinstance(doc[key], (int, float)) and doc[key] > 0, (key, doc[key])
    assert doc["quick"] is True and doc["machine"]["cores"]
    assert (md.read_bytes() if md.exists() else None) == before, "--quick must not rewrite it"
    assert wall < 180, f"--quick took {wall:.0f} s"
