"""`twin run`: the main job end to end on the embedded log, as a user types it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from services.cli import main
from services.eventlog import SqliteEventLog
from twin.projections import fold

REPO = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data" / "scenarios"


def twin(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_demo_runs_end_to_end_with_progress_and_summary(tmp_path: Path) -> None:
    res = twin("run", "demo", "--until", "2d", "--log", "demo.twinlog", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    # progress on stderr (a line per 10 % when not a terminal), summary on stdout
    assert "100.0%" in res.stderr and "ev/s" in res.stderr
    for text in (
        "satellites by state",
        "operational",
        "compute delivered",
        "PFLOP-days",
        "eclipse time",
        "repairs",
        "MTTR",
        "demo.twinlog",
    ):
        assert text in res.stdout, text
    log = tmp_path / "demo.twinlog"
    assert log.is_file()
    assert not [p for p in tmp_path.iterdir() if p.name != "demo.twinlog"], "temp files left"
    with SqliteEventLog(log) as lg:
        state = fold(lg.read())
        info = lg.info()
    assert state.finished
    assert state.satellites_planned == 240
    assert info["count"] == state.events_applied


def test_json_summary_matches_the_fold_of_the_log(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "d.twinlog"
    assert main(["run", "demo", "--until", "1d", "--log", str(log), "--json", "--quiet"]) == 0
    summary = json.loads(capsys.readouterr().out)
    with SqliteEventLog(log) as lg:
        folded = fold(lg.read()).summary()
    assert summary["satellites"] == folded["satellites"]
    assert summary["counters"] == folded["counters"]
    assert summary["integrals"] == folded["integrals"]
    assert summary["wall"]["events"] == folded["position"]["events_applied"]
    assert summary["wall"]["seed"] == 42


def test_two_runs_export_byte_identical_and_another_seed_differs(tmp_path: Path) -> None:
    outs = []
    for name, seed in (("a", "5"), ("b", "5"), ("c", "6")):
        log = tmp_path / f"{name}.twinlog"
        assert (
            main(["run", "demo", "--until", "1d", "--seed", seed, "--log", str(log), "--quiet"])
            == 0
        )
        jsonl = tmp_path / f"{name}.jsonl"
        assert main(["log", "export", str(log), "--out", str(jsonl)]) == 0
        outs.append(jsonl.read_bytes())
    assert outs[0] == outs[1]
    assert outs[0] != outs[2]


@pytest.mark.parametrize(
    ("fixture", "needle"),
    [
        ("altitude_too_low.toml", "altitude_km"),
        ("unknown_key.toml", "unknown"),
        ("depth_of_discharge.toml", "max_depth_of_discharge"),
    ],
)
def test_bad_scenario_exits_2_names_file_and_key_and_leaves_no_log(
    tmp_path: Path, fixture: str, needle: str
) -> None:
    res = twin("run", str(DATA / fixture), "--log", "x.twinlog", cwd=tmp_path)
    assert res.returncode == 2, res.stderr
    assert fixture in res.stderr and needle in res.stderr
    assert "allowed" in res.stderr or "known keys" in res.stderr.lower() or "expected" in res.stderr
    assert list(tmp_path.iterdir()) == []


def test_bad_options_exit_2(tmp_path: Path) -> None:
    for args in (["--until", "soon"], ["--live", "--speed", "-1"]):
        res = twin("run", "demo", *args, "--log", "x.twinlog", cwd=tmp_path)
        assert res.returncode == 2, (args, res.stderr)
        assert "twin: error" in res.stderr
        assert list(tmp_path.iterdir()) == []
    res = twin("run", "no-such-preset", cwd=tmp_path)
    assert res.returncode == 2 and "demo" in res.stderr  # lists the presets


def test_live_mode_is_paced_by_the_wall_clock_and_reports_lag(tmp_path: Path) -> None:
    # 30 simulated minutes at 1800x: about one second of wall time
    t0 = time.monotonic()
    res = twin(
        "run",
        "demo",
        "--until",
        "30m",
        "--live",
        "--speed",
        "1800",
        "--log",
        "live.twinlog",
        cwd=tmp_path,
    )
    wall = time.monotonic() - t0
    assert res.returncode == 0, res.stderr
    assert "live lag behind wall clock" in res.stdout
    assert wall >= 1.0
    with SqliteEventLog(tmp_path / "live.twinlog") as lg:
        assert fold(lg.read()).finished


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupted_run_leaves_no_log(tmp_path: Path, sig: int, code: int) -> None:
    """Ctrl-C and a supervisor's SIGTERM clean up alike: no log, no hidden temp files."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "run", "demo", "--live", "--speed", "60",
         "--log", "x.twinlog"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while not any(p.name.startswith(".x.twinlog") for p in tmp_path.iterdir()):
        assert proc.poll() is None and time.monotonic() < deadline, "the run never started"
        time.sleep(0.1)
    proc.send_signal(sig)
    proc.wait(timeout=120)
    assert proc.returncode == code
    assert not (tmp_path / "x.twinlog").exists()
    assert list(tmp_path.iterdir()) == []


def test_plot_draws_the_run_as_a_png(tmp_path: Path) -> None:
    log = tmp_path / "d.twinlog"
    assert main(["run", "demo", "--until", "12h", "--log", str(log), "--quiet"]) == 0
    png = tmp_path / "d.png"
    assert main(["plot", str(log), "--out", str(png), "--samples", "50"]) == 0
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    assert main(["plot", str(tmp_path / "missing.twinlog")]) == 2
