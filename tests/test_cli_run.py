"""`twin run`: the main job end to end on the embedded log, as a user types it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
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
    # the summary on stdout; no progress bar when stderr is not a terminal (a log file)
    assert res.stderr == ""
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


def test_a_full_disk_fails_the_run_with_a_clear_error_and_no_log(tmp_path: Path) -> None:
    """The batch run's engine process writes the log: a write the file system refuses (a
    file size limit here, as a full disk would) ends the run with one line naming the log
    and the cause, exit 1, and leaves no file behind."""
    import resource

    def small_files() -> None:  # ~1.5 MB: the demo's log outgrows it within a few days
        resource.setrlimit(resource.RLIMIT_FSIZE, (1_500_000, 1_500_000))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails instead (EFBIG)

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    res = subprocess.run(
        [sys.executable, "-m", "services.cli", "run", "demo", "--log", "full.twinlog"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
        preexec_fn=small_files,
    )  # fmt: skip
    assert res.returncode == 1, res.stderr
    assert "Traceback" not in res.stderr
    assert "twin: error: cannot append to event log" in res.stderr
    assert res.stderr.count("retrying may help") == 1  # the hint once, rebuilt by SimPy
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("sig", "code", "mode"),
    [
        (signal.SIGINT, 130, ["--live", "--speed", "60"]),
        (signal.SIGTERM, 143, ["--live", "--speed", "60"]),
        (signal.SIGTERM, 143, []),  # batch: the fold runs in a child process
    ],
)
def test_interrupted_run_leaves_no_log(
    tmp_path: Path, sig: int, code: int, mode: list[str]
) -> None:
    """Ctrl-C and a supervisor's SIGTERM clean up alike: no log, no hidden temp files."""
    # faulthandler: if the run does not end, SIGABRT makes it print every thread's stack
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONFAULTHANDLER": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "run", "demo", *mode, "--log", "x.twinlog"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        # a test runner started in the background by a shell without job control inherits
        # SIGINT ignored, and Python then installs no Ctrl-C handler: give the run what a
        # terminal gives it
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    _signal_once_writing(proc, tmp_path, ".x.twinlog", sig)
    assert proc.returncode == code, proc.communicate()[1].decode()
    assert not (tmp_path / "x.twinlog").exists()
    assert list(tmp_path.iterdir()) == []


def test_a_sigterm_whose_exception_is_lost_still_stops_the_run(tmp_path: Path) -> None:
    """The handler's exception can vanish (raised inside a Python callback that C code runs
    and whose error it clears); the run sees the signal at its next checkpoint all the same,
    and cleans up as on any SIGTERM: exit 143, no log, no temporary file."""
    from services.cli import common

    lost: list[str] = []
    fallback: list[bool] = []
    returned = threading.Event()

    def lose_one_sigterm() -> None:
        deadline = time.monotonic() + 120
        while not any(p.name.startswith(".live.twinlog") for p in tmp_path.iterdir()):
            if time.monotonic() > deadline:
                return
            time.sleep(0.05)
        try:
            common._on_sigterm(signal.SIGTERM, None)  # what the handler does, swallowed
        except KeyboardInterrupt as exc:
            lost.append(type(exc).__name__)
        # the run stops at its next checkpoint; if it has not in 120 s, a real SIGTERM ends it
        if not returned.wait(120):
            fallback.append(True)
            os.kill(os.getpid(), signal.SIGTERM)

    watcher = threading.Thread(target=lose_one_sigterm, daemon=True)
    watcher.start()
    code = main(["run", "demo", "--live", "--speed", "60", "--log", str(tmp_path / "live.twinlog"),
                 "--quiet"])  # fmt: skip
    returned.set()
    assert lost == ["Terminated"]
    assert not fallback, "the run went on after SIGTERM"
    assert code == 143
    assert list(tmp_path.iterdir()) == []


def test_progress_bar_on_a_terminal(tmp_path: Path) -> None:
    """On a terminal, stderr shows a progress bar in simulated days; stdout the summary."""
    import fcntl
    import pty
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "120"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "run", "demo", "--until", "1d", "--log", "p.twinlog"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=slave,
    )  # fmt: skip
    os.close(slave)
    shown = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        shown += chunk
    out, _ = proc.communicate(timeout=600)
    os.close(master)
    assert proc.returncode == 0
    text = shown.decode(errors="replace")
    assert "simulate" in text and "sim days" in text and "events" in text
    assert "100%" in text
    assert b"satellites by state" in out


def test_existing_log_is_refused_without_force_and_kept_on_failure(tmp_path: Path) -> None:
    """`twin run ... --log EXISTING` refuses (exit 2) and leaves the file byte for byte;
    with --force a failed run still leaves it; a finished run replaces it."""
    log = tmp_path / "run.twinlog"
    assert main(["run", "demo", "--until", "2h", "--log", str(log), "--quiet"]) == 0
    before = log.read_bytes()
    res = twin("run", "demo", "--until", "1h", "--log", "run.twinlog", "--quiet", cwd=tmp_path)
    assert res.returncode == 2
    assert "run.twinlog" in res.stderr and "--force" in res.stderr
    assert log.read_bytes() == before
    # --force, but the run is stopped part way: the old log stays as it was
    # faulthandler: if the run does not end, SIGABRT makes it print every thread's stack
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONFAULTHANDLER": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "run", "demo", "--live", "--speed", "60",
         "--log", "run.twinlog", "--force"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    _signal_once_writing(proc, tmp_path, ".run.twinlog", signal.SIGTERM)
    assert proc.returncode == 143
    assert log.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["run.twinlog"]
    # --force and a finished run: replaced
    assert main(["run", "demo", "--until", "1h", "--log", str(log), "--quiet", "--force"]) == 0
    with SqliteEventLog(log) as lg:
        assert lg.info()["last_sim_time"] < "2026-11-23T01:00:00.001Z"


def test_until_takes_a_duration_or_a_time(tmp_path: Path) -> None:
    """One vocabulary: `--until 5y`, `--until 36h` or `--until 2026-...Z` in run and state."""
    from services.cli import options

    assert options.until("5y") == 5 * 365.25 * 86400
    log = tmp_path / "a.twinlog"
    assert main(["run", "demo", "--until", "2026-11-23T06:00:00Z", "--log", str(log),
                 "--quiet"]) == 0  # fmt: skip
    with SqliteEventLog(log) as lg:
        info = lg.info()
    assert info["last_sim_time"] == "2026-11-23T06:00:00.000Z"
    assert main(["state", str(log), "--until", "5y"]) == 0
    assert main(["state", str(log), "--at", "3h"]) == 0
    assert main(["run", "demo", "--until", "2020-01-01T00:00:00Z", "--log",
                 str(tmp_path / "b.twinlog"), "--quiet"]) == 2  # fmt: skip


def test_help_is_plain_text_with_defaults_and_a_version(capsys: pytest.CaptureFixture[str]) -> None:
    import twin

    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"twin {twin.__version__}"
    for command in (["run"], ["season"], ["eclipses"], ["log", "import"], ["state"], ["plot"]):
        assert main([*command, "--help"]) == 0
        out = capsys.readouterr().out
        assert "``" not in out and ":func:" not in out, command
    assert main(["eclipses", "--help"]) == 0
    out = capsys.readouterr().out
    assert "{jsonl,csv}" in out and "(default: jsonl)" in out
    assert main(["run", "--help"]) == 0
    out = capsys.readouterr().out
    assert "(default: 60.0)" in out and "--bootstrap-server" in out and "--kafka" not in out
    assert "(default: [])" not in out  # --set starts empty: nothing to show
    assert "SCENARIO a preset name" in " ".join(out.split())


@pytest.mark.parametrize("value", ["0s", "-5h", "0", "-0", "-1d12h"])
@pytest.mark.parametrize("command", ["run", "sweep"])
def test_a_zero_or_negative_until_must_be_positive(
    value: str, command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Read as a duration, but not > 0: say that, not "cannot read"."""
    args = [command, "demo", f"--until={value}", "--quiet"]
    if command == "sweep":
        args += ["--out", str(tmp_path / "sweep")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"--until: duration '{value}' must be > 0" in err and "cannot read" not in err


def test_plot_draws_the_run_as_a_png(tmp_path: Path) -> None:
    log = tmp_path / "d.twinlog"
    assert main(["run", "demo", "--until", "12h", "--log", str(log), "--quiet"]) == 0
    png = tmp_path / "d.png"
    assert main(["plot", str(log), "--out", str(png), "--samples", "50"]) == 0
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    assert main(["plot", str(tmp_path / "missing.twinlog")]) == 2


def _signal_once_writing(
    proc: subprocess.Popen[bytes], folder: Path, temp_prefix: str, sig: int
) -> None:
    """Wait until the run writes its temporary log (``temp_prefix`` in ``folder``), send it
    ``sig`` and wait for it to end; if it never does, fail with its thread stacks (SIGABRT
    makes faulthandler dump them)."""
    deadline = time.monotonic() + 120
    while not any(p.name.startswith(temp_prefix) for p in folder.iterdir()):
        assert proc.poll() is None and time.monotonic() < deadline, "the run never started"
        time.sleep(0.1)
    proc.send_signal(sig)
    try:
        proc.wait(timeout=300)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGABRT)
        _, err = proc.communicate(timeout=60)
        name = signal.Signals(sig).name
        raise AssertionError(
            f"the run did not end on {name}; its stacks:\n{err.decode()}"
        ) from None
