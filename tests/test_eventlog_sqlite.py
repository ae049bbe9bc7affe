"""The embedded SQLite event log: the port contract plus files, modes, atomic writes, crashes."""

from __future__ import annotations

import itertools
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from eventlog_contract import EventLogContract, sample_run
from factories import EventFactory
from logfiles import damage_page

from services.cli import main
from services.eventlog import (
    LOG_FORMAT_VERSION,
    PAGE_EVENTS,
    LogAppendError,
    SqliteEventLog,
    atomic_log,
)
from twin.errors import InputError
from twin.events import decode, encode

ROOT = Path(__file__).resolve().parent.parent


class TestSqliteEventLog(EventLogContract):
    @pytest.fixture
    def make_log(self, tmp_path: Path) -> Callable[[], SqliteEventLog]:
        paths = (tmp_path / f"log{i}.twinlog" for i in itertools.count())
        return lambda: SqliteEventLog(next(paths), mode="w")


def _write(path: Path, events: list[Any]) -> None:
    with SqliteEventLog(path, mode="w") as log:
        log.append(events)


def test_reopen_read_only_and_append(tmp_path: Path) -> None:
    path = tmp_path / "run.twinlog"
    events = sample_run()
    _write(path, events[:10])
    with SqliteEventLog(path) as log:
        assert list(log.read()) == events[:10]
        with pytest.raises(LogAppendError, match="read-only"):
            log.append(events[10:])
    with SqliteEventLog(path, mode="a") as log:
        assert log.next_offset == 10
        with pytest.raises(LogAppendError, match="offset 0, the log expects 10"):
            log.append(events[:3])
        log.append(events[10:])
    with SqliteEventLog(path, mode="r") as log:
        assert list(log.read()) == events
        assert log.info()["run_id"] == "contract-run"


def test_append_mode_refuses_another_run_after_reopen(tmp_path: Path) -> None:
    path = tmp_path / "run.twinlog"
    _write(path, sample_run()[:5])
    with SqliteEventLog(path, mode="a") as log, pytest.raises(LogAppendError, match="other"):
        log.append(sample_run(run_id="other")[5:6])


def test_write_mode_replaces_the_file(tmp_path: Path) -> None:
    path = tmp_path / "run.twinlog"
    _write(path, sample_run())
    with SqliteEventLog(path, mode="w") as log:
        assert len(log) == 0
    path.write_text("not a database")
    with SqliteEventLog(path, mode="w") as log:
        assert len(log) == 0


def test_append_mode_creates_a_missing_log(tmp_path: Path) -> None:
    with SqliteEventLog(tmp_path / "new.twinlog", mode="a") as log:
        log.append(sample_run()[:2])
    with SqliteEventLog(tmp_path / "new.twinlog") as log:
        assert len(log) == 2


def test_uses_wal_journal(tmp_path: Path) -> None:
    path = tmp_path / "run.twinlog"
    with SqliteEventLog(path, mode="w") as log:
        log.append(sample_run()[:2])
        conn = sqlite3.connect(path)
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        conn.close()


def _input_error(path: Path, mode: str = "r") -> InputError:
    with pytest.raises(InputError) as info:
        SqliteEventLog(path, mode=mode)  # type: ignore[arg-type]
    err = info.value
    assert err.exit_code == 2
    assert str(path) in str(err)
    return err


def test_missing_directory_and_foreign_files_are_input_errors(tmp_path: Path) -> None:
    assert "does not exist" in str(_input_error(tmp_path / "nope.twinlog"))
    assert "directory" in str(_input_error(tmp_path))
    text = tmp_path / "notes.txt"
    text.write_text("hello, I am not a log\n" * 100)
    assert "not an Orbital Twin event log" in str(_input_error(text))
    assert "not an Orbital Twin event log" in str(_input_error(text, mode="a"))
    assert text.read_text().startswith("hello")  # untouched
    empty = tmp_path / "empty.twinlog"
    empty.touch()
    _input_error(empty)
    other_db = tmp_path / "other.sqlite"
    conn = sqlite3.connect(other_db)
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    assert "not an Orbital Twin event log" in str(_input_error(other_db))
    assert "not an Orbital Twin event log" in str(_input_error(other_db, mode="a"))


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_atomic_log_appears_only_on_success(tmp_path: Path) -> None:
    final = tmp_path / "run.twinlog"
    events = sample_run()
    with atomic_log(final) as log:
        log.append(events)
        assert not final.exists()
    assert _leftovers(tmp_path) == ["run.twinlog"]  # no temp file, no -wal / -shm
    with SqliteEventLog(final) as log:
        assert list(log.read()) == events


def test_atomic_log_removes_what_killed_writers_left(tmp_path: Path) -> None:
    """A run killed with kill -9 leaves its temporary log (and -wal, -shm) behind; the next
    write of the same log removes it if its writer (host and process id in the name) was a
    process of this machine that no longer runs, and leaves every other alone."""
    import socket

    host = socket.gethostname().replace(".", "_")
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    dead = f".x.twinlog.{host}-{int(gone.stdout)}.abc123.tmp"
    kept = [
        f".x.twinlog.{host}-{os.getpid()}.def456.tmp",  # a writer that runs
        f".x.twinlog.other_host-{int(gone.stdout)}.ghi789.tmp",  # another host's
        ".x.twinlog.jkl012.tmp",  # not named (an earlier version's)
        f".y.twinlog.{host}-{int(gone.stdout)}.mno345.tmp",  # another log's
    ]
    for name in (dead, dead + "-wal", dead + "-shm", *kept):
        (tmp_path / name).write_bytes(b"left behind")
    with atomic_log(tmp_path / "x.twinlog") as log:
        log.append(sample_run(3))
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted([*kept, "x.twinlog"])


def test_atomic_log_leaves_nothing_on_error(tmp_path: Path) -> None:
    final = tmp_path / "run.twinlog"
    with pytest.raises(RuntimeError), atomic_log(final) as log:
        log.append(sample_run()[:10])
        raise RuntimeError("simulation blew up")
    assert _leftovers(tmp_path) == []


def test_atomic_log_keeps_the_previous_log_on_error(tmp_path: Path) -> None:
    final = tmp_path / "run.twinlog"
    events = sample_run()
    _write(final, events[:4])
    with pytest.raises(KeyboardInterrupt), atomic_log(final) as log:
        log.append(events)
        raise KeyboardInterrupt
    with SqliteEventLog(final) as log:
        assert list(log.read()) == events[:4]
    assert [n for n in _leftovers(tmp_path) if n.endswith(".tmp")] == []


_CRASHER = textwrap.dedent(
    """
    import sys
    sys.path[:0] = [{root!r}, {tests!r}]
    from factories import EventFactory
    from services.eventlog import SqliteEventLog
    f = EventFactory()
    log = SqliteEventLog({path!r}, mode="w")
    batch, t = [f.scenario_started()], 0.0
    print("ready", flush=True)
    while True:
        while len(batch) < 500:
            t += 1.0
            batch.append(f.event("launched", f"sat-{{f.offset}}", t_s=t))
        log.append(batch)
        batch = []
    """
)


def test_a_killed_writer_leaves_a_readable_prefix(tmp_path: Path) -> None:
    path = tmp_path / "crash.twinlog"
    code = _CRASHER.format(root=str(ROOT), tests=str(ROOT / "tests"), path=str(path))
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # until a few batches are in
            time.sleep(0.2)
            with SqliteEventLog(path) as log:
                if len(log) >= 2000:
                    break
        os.kill(proc.pid, signal.SIGKILL)  # mid-append, most likely
    finally:
        proc.kill()
        proc.wait()
    with SqliteEventLog(path) as log:
        n = len(log)
        assert n >= 2000
        assert n % 500 == 0, "only whole batches are ever visible"
        raws = list(log.read_raw())
    assert len(raws) == n
    assert [decode(r).offset for r in raws] == list(range(n))


# ---------------------------------------------------------------------- format 2: pages


def long_run(n_sats: int = 10, rounds: int = 30) -> list[Any]:
    """A legal run of several pages: satellites crossing the shadow ``rounds`` times."""
    f = EventFactory(run_id="long-run")
    events = [f.scenario_started(satellites_planned=n_sats)]
    for i in range(n_sats):
        events += f.to_operational(f"sat-{i}", t_s=5.0 * i)
    t_s = 100.0
    for _ in range(rounds):
        for kind in ("eclipse_entered", "eclipse_exited"):
            for i in range(n_sats):
                extra = {"duration_s": 1800.0} if kind == "eclipse_exited" else {}
                events.append(f.event(kind, f"sat-{i}", t_s=t_s, **extra))
                t_s += 7.0 * (i % 2)  # runs of equal times, some across page boundaries
            t_s += 1800.0
    events.append(f.event("scenario_finished", t_s=t_s, events=len(events) + 1))
    return events


def _pages(path: Path) -> list[tuple[int, int]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(
            "SELECT first_offset, count FROM pages ORDER BY first_offset"
        ).fetchall()
    finally:
        conn.close()


def test_pages_hold_page_events_each_and_reads_cross_them(tmp_path: Path) -> None:
    path = tmp_path / "run.twinlog"
    events = long_run()
    assert len(events) > 2 * PAGE_EVENTS
    _write(path, events)
    n = len(events)
    assert _pages(path) == [
        (first, min(PAGE_EVENTS, n - first)) for first in range(0, n, PAGE_EVENTS)
    ]
    with SqliteEventLog(path) as log:
        assert list(log.read()) == events
        for start, stop in [(0, 1), (255, 257), (250, 600), (PAGE_EVENTS, 2 * PAGE_EVENTS)]:
            assert list(log.read(start, stop)) == events[start:stop]
        for t in sorted({e.sim_time for e in events}):  # boundaries inside and between pages
            assert list(log.read_until(t)) == [e for e in events if e.sim_time <= t]


def test_small_appends_rewrite_the_last_page_until_it_is_full(tmp_path: Path) -> None:
    """Live mode appends a few events at a time: they still land in full pages, and a log
    reopened for appending carries on with its last page."""
    path = tmp_path / "live.twinlog"
    events = long_run()
    cut = PAGE_EVENTS + 100
    with SqliteEventLog(path, mode="w") as log:
        for start in range(0, cut, 3):
            log.append(events[start : min(start + 3, cut)])
    with SqliteEventLog(path, mode="a") as log:
        log.append(events[cut : cut + 1])
        log.append(events[cut + 1 :])
    n = len(events)
    assert _pages(path) == [
        (first, min(PAGE_EVENTS, n - first)) for first in range(0, n, PAGE_EVENTS)
    ]
    with SqliteEventLog(path) as log:
        assert list(log.read()) == events
        info = log.info()
    assert info["count"] == n
    assert info["counts_by_type"] == dict(sorted(Counter(e.type for e in events).items()))
    assert info["satellites"] == 10
    assert (info["first_sim_time"], info["last_sim_time"]) == (
        events[0].sim_time,
        events[-1].sim_time,
    )
    assert path.stat().st_size / n < 100  # bytes per event on disk, rewrites included


def test_a_damaged_page_names_its_offset_range(tmp_path: Path) -> None:
    path = tmp_path / "run.twinlog"
    events = long_run()
    _write(path, events)
    first, last = damage_page(path, PAGE_EVENTS + 5)
    assert (first, last) == (PAGE_EVENTS, 2 * PAGE_EVENTS - 1)
    with SqliteEventLog(path) as log:
        assert list(log.read(0, PAGE_EVENTS)) == events[:PAGE_EVENTS]  # before it: intact
        with pytest.raises(InputError) as info:
            log.check()
    text = str(info.value)
    assert str(path) in text
    assert f"offsets {first}-{last}" in text
    assert info.value.exit_code == 2


_V1_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE events ("offset" INTEGER PRIMARY KEY, sim_time TEXT NOT NULL, satellite TEXT,
                     type TEXT NOT NULL, payload BLOB NOT NULL);
CREATE INDEX events_sim_time ON events (sim_time);
INSERT INTO meta VALUES ('format', 'orbital-twin-eventlog'), ('format_version', '1');
"""


def _write_v1(path: Path, events: list[Any]) -> None:
    """A log as format version 1 wrote it: one row per event."""
    conn = sqlite3.connect(path)
    conn.executescript(_V1_SCHEMA)
    with conn:
        conn.executemany(
            "INSERT INTO events VALUES (?, ?, ?, ?, ?)",
            [(e.offset, e.sim_time, e.satellite, e.type, encode(e)) for e in events],
        )
    conn.close()


def test_format_1_logs_are_read_and_converted_not_appended(tmp_path: Path) -> None:
    old, new = tmp_path / "old.twinlog", tmp_path / "new.twinlog"
    events = long_run()
    _write_v1(old, events)
    with SqliteEventLog(old) as log:
        assert list(log.read()) == events
        assert list(log.read(3, 9)) == events[3:9]
        t = events[len(events) // 2].sim_time
        assert list(log.read_until(t)) == [e for e in events if e.sim_time <= t]
        info = log.info()
    assert info["format_version"] == 1
    assert info["count"] == len(events) and info["satellites"] == 10
    with pytest.raises(InputError) as refused:
        SqliteEventLog(old, mode="a")
    assert "format version 1" in str(refused.value)
    assert "twin log import" in str(refused.value)
    assert main(["log", "import", str(old), "--log", str(new)]) == 0
    with SqliteEventLog(new) as log:
        assert log.info()["format_version"] == LOG_FORMAT_VERSION
        assert list(log.read_raw()) == [encode(e) for e in events]
