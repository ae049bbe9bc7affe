"""The event-log port and its embedded adapter (a SQLite file).

A run's events form one ordered, append-only log. Position ``offset`` (from 0, gap-free) is
the order of record; ``sim_time`` never decreases along it, so "everything up to time t" is a
prefix. Every adapter stores exactly the codec's bytes (:func:`twin.events.encode`), so a log
exported from SQLite, a JSON-lines file and the Kafka topic carry identical records.

:class:`EventLog` is the port; :class:`SqliteEventLog` the embedded adapter. Both are checked by
the adapter-agnostic contract suite in ``tests/eventlog_contract.py``.

Write a whole run with :func:`atomic_log`, which builds the log in a temporary file beside the
target and renames it into place only on success, so a half-written log never sits at the final
path.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, NoReturn

from twin.errors import DecodeError, InputError, TwinError
from twin.events import Event, EventBase, ScenarioStarted, decode, encode
from twin.timeutil import format_time, parse_time

LOG_FORMAT = "orbital-twin-eventlog"
LOG_FORMAT_VERSION = 1
_WIRE_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
_READ_BATCH = 4096


class LogAppendError(TwinError):
    """An append that would break the log: wrong offset, another run, time going backwards.

    Nothing of the batch was written. Retrying the same batch will not help.
    """


def canonical_time(text: str) -> str:
    """Any ISO-8601 time as the wire form (``2026-11-23T00:21:46.244Z``), which sorts as text."""
    return format_time(parse_time(text))


class EventLog(ABC):
    """An ordered, append-only log of one run's events.

    Offsets count from 0 without gaps; ranges are half-open ``[from_offset, to_offset)``.
    ``append`` is all-or-nothing per batch.
    """

    @abstractmethod
    def append(self, events: Sequence[EventBase]) -> None:
        """Append a batch atomically. The first event's offset must be :attr:`next_offset`,
        offsets must be consecutive, ``sim_time`` must not decrease and all events must share
        the log's ``run_id``; otherwise raise :class:`LogAppendError` and write nothing."""

    @abstractmethod
    def read_raw(self, from_offset: int = 0, to_offset: int | None = None) -> Iterator[bytes]:
        """The stored codec bytes of events in ``[from_offset, to_offset)``, in offset order."""

    @property
    @abstractmethod
    def next_offset(self) -> int:
        """Offset the next appended event must carry (= number of events)."""

    @abstractmethod
    def read_raw_until(self, sim_time: str) -> Iterator[bytes]:
        """The codec bytes of every event with ``sim_time <= sim_time``, in offset order."""

    @abstractmethod
    def info(self) -> dict[str, Any]:
        """Summary: run_id, scenario, count, first/last sim_time, counts by type."""

    @abstractmethod
    def close(self) -> None:
        """Release resources; further use is an error. Closing twice is harmless."""

    @property
    def name(self) -> str:
        """How errors name this log (a file path, a topic)."""
        return type(self).__name__

    def read(self, from_offset: int = 0, to_offset: int | None = None) -> Iterator[Event]:
        """Decoded events in ``[from_offset, to_offset)``, in offset order.

        A stored record that is not an event raises :class:`InputError` naming the log and
        the record's offset."""
        for offset, raw in enumerate(self.read_raw(from_offset, to_offset), start=from_offset):
            yield self._decode_at(offset, raw)

    def read_until(self, sim_time: str) -> Iterator[Event]:
        """Decoded events with ``sim_time <= sim_time`` (any ISO-8601 time), in offset order."""
        for offset, raw in enumerate(self.read_raw_until(sim_time)):  # a prefix of the log
            yield self._decode_at(offset, raw)

    def read_checked_raw(self) -> Iterator[bytes]:
        """Every record's stored bytes, each checked to decode as an event whose offset is its
        position (:class:`InputError` with the log and the offset otherwise)."""
        for offset, raw in enumerate(self.read_raw()):
            self._decode_at(offset, raw)
            yield raw

    def check(self) -> None:
        """Read the whole log and raise :class:`InputError` at the first corrupted record."""
        for _ in self.read_checked_raw():
            pass

    def _decode_at(self, offset: int, raw: bytes) -> Event:
        try:
            event = decode(raw)
        except DecodeError as exc:
            raise corrupted(
                self.name, offset, f"not an event ({exc.reason}: {exc.detail})"
            ) from None
        if event.offset != offset:
            raise corrupted(self.name, offset, f"the record says offset {event.offset}")
        return event

    def __len__(self) -> int:
        return self.next_offset

    def __enter__(self) -> EventLog:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def corrupted(name: str, offset: int, problem: str) -> InputError:
    """The error for a stored record that cannot be read back: names the log and the offset."""
    return InputError(
        f"corrupted event log: record at offset {offset}: {problem}",
        file=name,
        field=f"offset {offset}",
        allowed="a log written by `twin run` or `twin log import`; re-create it from its "
        "source (run or JSON lines)",
    )


def check_batch(
    events: Sequence[EventBase], next_offset: int, run_id: str | None, last_sim_time: str | None
) -> list[tuple[int, str, str | None, str, bytes]]:
    """Validate a batch against the log's end; return rows ``(offset, sim_time, satellite,
    type, payload)``. Shared by adapters so they refuse exactly the same appends."""
    rows = []
    expected = next_offset
    last = last_sim_time or ""
    wire_time = _WIRE_TIME.fullmatch
    for event in events:
        sim_time = event.sim_time
        if event.offset != expected or event.run_id != (run_id or event.run_id):
            _refuse(event, expected, run_id)
        if sim_time < last or not wire_time(sim_time):
            _refuse_time(event, last)
        run_id = event.run_id
        last = sim_time
        rows.append((expected, sim_time, event.satellite, event.type, encode(event)))
        expected += 1
    return rows


def _refuse(event: EventBase, expected: int, run_id: str | None) -> NoReturn:
    if event.offset != expected:
        raise LogAppendError(
            f"event {event.event_id!r} has offset {event.offset}, the log expects {expected}"
        )
    raise LogAppendError(
        f"event at offset {event.offset} is from run {event.run_id!r}, "
        f"this log holds run {run_id!r}"
    )


def _refuse_time(event: EventBase, last: str) -> NoReturn:
    if not _WIRE_TIME.fullmatch(event.sim_time):
        raise LogAppendError(
            f"event at offset {event.offset} has sim_time {event.sim_time!r}; "
            "expected the wire form 2026-11-23T00:21:46.244Z"
        )
    raise LogAppendError(
        f"event at offset {event.offset} has sim_time {event.sim_time}, before {last}"
    )


_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    "offset"  INTEGER PRIMARY KEY,
    sim_time  TEXT NOT NULL,
    satellite TEXT,
    type      TEXT NOT NULL,
    payload   BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS events_sim_time ON events (sim_time);
"""
_NOT_A_LOG = "a SQLite event log written by `twin run` or `twin log import`"


class SqliteEventLog(EventLog):
    """The embedded event log: one SQLite file (WAL journal), table ``events``.

    ``mode``: ``"r"`` read an existing log; ``"w"`` create a new empty log (replacing any file
    at ``path``); ``"a"`` append to an existing log or create one. Each :meth:`append` is one
    transaction, so a crash leaves a readable prefix ending at a batch boundary.
    """

    def __init__(self, path: str | os.PathLike[str], mode: Literal["r", "w", "a"] = "r") -> None:
        self.path = Path(path)
        self.mode = mode
        if mode not in ("r", "w", "a"):
            raise ValueError(f"mode must be 'r', 'w' or 'a', not {mode!r}")
        if mode == "w":
            for suffix in ("", "-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(f"{self.path}{suffix}")
        elif mode == "r" and not self.path.is_file():
            what = "is a directory" if self.path.is_dir() else "does not exist"
            raise InputError(f"event log {what}", file=str(self.path), allowed=_NOT_A_LOG)
        try:
            self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise InputError(f"cannot open event log: {exc}", file=str(self.path)) from None
        self._closed = False
        try:
            self._setup()
        except BaseException:
            self._conn.close()
            raise

    def _setup(self) -> None:
        conn = self._conn
        try:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
            if self.mode != "r":
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
            if not tables and self.mode != "r":
                conn.executescript(_SCHEMA)
                conn.executemany(
                    "INSERT INTO meta VALUES (?, ?)",
                    [("format", LOG_FORMAT), ("format_version", str(LOG_FORMAT_VERSION))],
                )
            meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
            row = conn.execute('SELECT MAX("offset"), MAX(sim_time) FROM events').fetchone()
            first = conn.execute('SELECT payload FROM events ORDER BY "offset" LIMIT 1').fetchone()
        except sqlite3.DatabaseError as exc:
            raise InputError(
                f"not an Orbital Twin event log ({exc})", file=str(self.path), allowed=_NOT_A_LOG
            ) from None
        if meta.get("format") != LOG_FORMAT:
            raise InputError(
                "not an Orbital Twin event log", file=str(self.path), allowed=_NOT_A_LOG
            )
        if meta.get("format_version") != str(LOG_FORMAT_VERSION):
            raise InputError(
                f"event log format version {meta.get('format_version')} is not supported",
                file=str(self.path),
                allowed=f"format version {LOG_FORMAT_VERSION}",
            )
        self._next_offset = 0 if row[0] is None else int(row[0]) + 1
        self._last_sim_time: str | None = row[1]
        self._run_id: str | None = None if first is None else self._decode_at(0, first[0]).run_id

    @property
    def name(self) -> str:
        return str(self.path)

    # ------------------------------------------------------------------ port

    @property
    def next_offset(self) -> int:
        return self._next_offset

    def append(self, events: Sequence[EventBase]) -> None:
        if self.mode == "r":
            raise LogAppendError(f"{self.path} was opened read-only")
        if not events:
            return
        rows = check_batch(events, self._next_offset, self._run_id, self._last_sim_time)
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            (count,) = conn.execute('SELECT COALESCE(MAX("offset") + 1, 0) FROM events').fetchone()
            if count != self._next_offset:  # another writer got in: refuse, never interleave
                raise LogAppendError(
                    f"{self.path} now ends at offset {count}, expected {self._next_offset}"
                )
            conn.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?)", rows)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        self._next_offset = rows[-1][0] + 1
        self._last_sim_time = rows[-1][1]
        self._run_id = events[0].run_id

    def read_raw(self, from_offset: int = 0, to_offset: int | None = None) -> Iterator[bytes]:
        stop = self._next_offset if to_offset is None else to_offset
        return self._rows(
            'SELECT payload FROM events WHERE "offset" >= ? AND "offset" < ? ORDER BY "offset"',
            (from_offset, stop),
        )

    def read_raw_until(self, sim_time: str) -> Iterator[bytes]:
        return self._rows(
            'SELECT payload FROM events WHERE sim_time <= ? ORDER BY "offset"',
            (canonical_time(sim_time),),
        )

    def _rows(self, sql: str, params: tuple[Any, ...]) -> Iterator[bytes]:
        try:
            cursor = self._conn.execute(sql, params)
        except sqlite3.DatabaseError as exc:
            raise self._unreadable(exc) from None
        try:
            while True:
                try:
                    rows = cursor.fetchmany(_READ_BATCH)
                except sqlite3.DatabaseError as exc:
                    raise self._unreadable(exc) from None
                if not rows:
                    break
                for (payload,) in rows:
                    if not isinstance(payload, bytes):
                        payload = str(payload).encode()
                    yield payload
        finally:
            cursor.close()

    def _unreadable(self, exc: sqlite3.DatabaseError) -> InputError:
        return InputError(
            f"corrupted event log: SQLite cannot read it ({exc})",
            file=str(self.path),
            allowed=_NOT_A_LOG,
        )

    def info(self) -> dict[str, Any]:
        try:
            return self._info()
        except sqlite3.DatabaseError as exc:
            raise self._unreadable(exc) from None

    def _info(self) -> dict[str, Any]:
        conn = self._conn
        by_type = dict(
            conn.execute("SELECT type, COUNT(*) FROM events GROUP BY type ORDER BY type")
        )
        first, last = conn.execute("SELECT MIN(sim_time), MAX(sim_time) FROM events").fetchone()
        head = conn.execute('SELECT payload FROM events ORDER BY "offset" LIMIT 1').fetchone()
        start = self._decode_at(0, head[0]) if head else None
        started = start if isinstance(start, ScenarioStarted) else None
        return {
            "path": str(self.path),
            "run_id": self._run_id,
            "scenario": started.scenario if started else None,
            "seed": started.seed if started else None,
            "epoch": started.epoch if started else None,
            "count": self._next_offset,
            "first_sim_time": first,
            "last_sim_time": last,
            "satellites": conn.execute(
                "SELECT COUNT(DISTINCT satellite) FROM events WHERE satellite IS NOT NULL"
            ).fetchone()[0],
            "counts_by_type": by_type,
        }

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._conn.close()

    def __enter__(self) -> SqliteEventLog:
        return self

    def finalize(self) -> None:
        """Fold the WAL into the main file and leave a single self-contained file."""
        self._conn.execute("PRAGMA journal_mode=DELETE")


@contextlib.contextmanager
def atomic_log(final_path: str | os.PathLike[str]) -> Iterator[SqliteEventLog]:
    """Write a new log that appears at ``final_path`` only if the block succeeds.

    The log is built in a hidden temporary file in the same directory (so the final rename is
    atomic), then renamed over ``final_path``. On any exception the temporary file is removed
    and ``final_path`` is left untouched.
    """
    final = Path(final_path)
    directory = final.parent if str(final.parent) else Path(".")
    if not directory.is_dir():
        raise InputError("directory does not exist", file=str(directory))
    fd, tmp_name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=directory)
    try:  # a signal while the log is being created must not leave the temporary file
        os.close(fd)
        log = SqliteEventLog(tmp_name, mode="w")
    except BaseException:
        _remove_temporary(tmp_name)
        raise
    try:
        # The temporary file is thrown away unless the block succeeds, so skip
        # per-checkpoint fsyncs (~1.5x faster bulk appends; a killed process still leaves a
        # consistent file) and sync once before the rename instead.
        log._conn.execute("PRAGMA synchronous=OFF")
        yield log
        log.finalize()
        log.close()
        with open(tmp_name, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_name, final)
    except BaseException:
        log.close()
        _remove_temporary(tmp_name)
        raise


def _remove_temporary(tmp_name: str) -> None:
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name + suffix)
