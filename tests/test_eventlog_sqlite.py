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
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from eventlog_contract import EventLogContract, sample_run

from services.eventlog import LogAppendError, SqliteEventLog, atomic_log
from twin.errors import InputError
from twin.events import decode

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
