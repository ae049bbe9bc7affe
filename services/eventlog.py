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
import glob
import os
import re
import socket
import sqlite3
import tempfile
from abc import ABC, abstractmethod
from collections import Counter, OrderedDict
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, NoReturn

import zstandard

from twin.errors import DecodeError, InfraError, InputError, TwinError
from twin.events import Event, EventBase, ScenarioStarted, decode, encode
from twin.timeutil import format_time, parse_time

LOG_FORMAT = "orbital-twin-eventlog"
LOG_FORMAT_VERSION = 2
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


Record = tuple[int, str, "str | None", str, bytes]
"""A log row: ``(offset, sim_time, satellite, type, codec bytes)``, as :func:`check_batch`
returns them and :meth:`SqliteEventLog.append_records` takes them (longer tuples too: items
after these five are the caller's, e.g. the Kafka key)."""


def check_records(records: Sequence[Record], next_offset: int, last_sim_time: str | None) -> None:
    """The checks of :func:`check_batch` that need no decoding, for rows whose bytes the
    caller encoded itself (the engine's events, a sharded run's merge): consecutive offsets
    from the log's end and ``sim_time`` in wire form, never decreasing."""
    expected = next_offset
    last = last_sim_time or ""
    wire_time = _WIRE_TIME.fullmatch
    for row in records:
        offset, sim_time = row[0], row[1]
        if offset != expected:
            raise LogAppendError(f"record at offset {offset}: the log expects {expected}")
        if sim_time < last or not wire_time(sim_time):
            raise LogAppendError(
                f"record at offset {offset} has sim_time {sim_time!r}, after {last!r}"
                " (expected the wire form 2026-11-23T00:21:46.244Z, never decreasing)"
            )
        last = sim_time
        expected += 1


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


# ------------------------------------------------------------------ the SQLite adapter

#: Events per page. 256 codec records of ~330 bytes compress to ~23 bytes each (zstd level 3,
#: a 3-day demo log); larger pages gain little and make every rewrite of the tail page dearer.
PAGE_EVENTS = 256
ZSTD_LEVEL = 3
_PAGE_SEPARATOR = b"\n"  # the codec's JSON never holds a raw newline (it escapes them)
_READ_PAGES = 16  # pages fetched per query while streaming (~4,096 events)
_CACHED_PAGES = 8  # decoded pages kept for readers that come back to the same page

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS pages (
    first_offset   INTEGER PRIMARY KEY,
    count          INTEGER NOT NULL,
    first_sim_time TEXT NOT NULL,
    last_sim_time  TEXT NOT NULL,
    body           BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS pages_last_sim_time ON pages (last_sim_time);
CREATE TABLE IF NOT EXISTS type_counts (
    type  TEXT PRIMARY KEY,
    count INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS satellites (satellite TEXT PRIMARY KEY) WITHOUT ROWID;
"""
_NOT_A_LOG = "a SQLite event log written by `twin run` or `twin log import`"
_CONVERT = "convert it with `twin log import OLD.twinlog --log NEW.twinlog`"


def pack_page(
    records: Sequence[bytes], compressor: zstandard.ZstdCompressor | None = None
) -> bytes:
    """A page body: the records joined by newlines, zstd-compressed (one frame, checksummed).
    A writer passes its own ``compressor`` (:func:`page_compressor`): reusing one saves a third
    of the cost of a small page."""
    body = _PAGE_SEPARATOR.join(records)
    if body.count(_PAGE_SEPARATOR) != len(records) - 1:
        raise LogAppendError("a record holds a newline: not the codec's bytes")
    return (compressor or page_compressor()).compress(body)


def page_compressor() -> zstandard.ZstdCompressor:
    """The compressor of page bodies (not thread-safe: one per writer)."""
    return zstandard.ZstdCompressor(level=ZSTD_LEVEL, write_checksum=True)


def unpack_page(body: bytes) -> list[bytes]:
    """The records of a page body (:func:`pack_page`'s inverse); ``zstandard.ZstdError`` if
    the body is not a whole, intact zstd frame."""
    return zstandard.ZstdDecompressor().decompress(body).split(_PAGE_SEPARATOR)


class SqliteEventLog(EventLog):
    """The embedded event log: one SQLite file (WAL journal) of compressed pages.

    Format version 2. Table ``pages`` holds the log in pages of :data:`PAGE_EVENTS` events:
    ``first_offset`` (the key), ``count``, the first and last ``sim_time`` (so a time prefix
    is found from the index) and ``body``, the codec's bytes of the events joined by newlines
    and zstd-compressed (:func:`pack_page`). The last page is re-written by each append until
    it is full, so small appends (live mode) still compress as well as big ones. Tables
    ``type_counts`` and ``satellites`` are kept by every append, so :meth:`info` reads no
    page. Reads stream page by page (bounded memory).

    Logs of format version 1 (one row per event, table ``events``) are read as they are;
    appending to one is refused (``twin log import OLD --log NEW`` converts it).

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
        self._cache: OrderedDict[tuple[int, int], list[bytes]] = OrderedDict()
        self._tail: list[bytes] = []  # the last page's records while it is not full (writers)
        self._tail_times: list[str] = []
        self._compressor = page_compressor()
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
        except sqlite3.DatabaseError as exc:
            raise InputError(
                f"not an Orbital Twin event log ({exc})", file=str(self.path), allowed=_NOT_A_LOG
            ) from None
        if meta.get("format") != LOG_FORMAT:
            raise InputError(
                "not an Orbital Twin event log", file=str(self.path), allowed=_NOT_A_LOG
            )
        version = meta.get("format_version")
        if version not in ("1", str(LOG_FORMAT_VERSION)):
            raise InputError(
                f"event log format version {version} is not supported",
                file=str(self.path),
                allowed=f"format version {LOG_FORMAT_VERSION} (and 1, read-only)",
            )
        self._version = int(version)
        if self._version == 1 and self.mode != "r":
            raise InputError(
                "event log format version 1 (one row per event) is read-only",
                file=str(self.path),
                allowed=f"appending to a log of format version {LOG_FORMAT_VERSION}; {_CONVERT}",
            )
        self._next_offset = 0
        self._last_sim_time: str | None = None
        self._run_id: str | None = None
        self.refresh()
        if self.mode != "r" and self._next_offset % PAGE_EVENTS:
            first = self._next_offset - self._next_offset % PAGE_EVENTS
            self._tail = list(self.read_raw(first))
            self._tail_times = [
                self._decode_at(o, r).sim_time for o, r in enumerate(self._tail, first)
            ]

    def refresh(self) -> int:
        """Re-read where the log ends (another process may be appending to it) and return
        :attr:`next_offset`. A reader sees only what was there when it opened, or last
        refreshed."""
        try:
            if self._version == 1:
                end, last = self._conn.execute(
                    'SELECT MAX("offset") + 1, MAX(sim_time) FROM events'
                ).fetchone()
            else:
                end, last = self._conn.execute(
                    "SELECT first_offset + count, last_sim_time FROM pages"
                    " ORDER BY first_offset DESC LIMIT 1"
                ).fetchone() or (None, None)
        except sqlite3.DatabaseError as exc:
            raise self._unreadable(exc) from None
        self._next_offset = end or 0
        self._last_sim_time = last
        if self._run_id is None and self._next_offset:
            self._run_id = self._decode_at(0, next(self.read_raw(0, 1))).run_id
        return self._next_offset

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
        self._write(rows, events[0].run_id)

    def append_records(self, rows: Sequence[Record], run_id: str) -> None:
        """Append rows already encoded by the caller (:data:`Record`), all of run ``run_id``:
        the same transaction as :meth:`append` without encoding again. The offsets and times
        are checked (:func:`check_records`); the bytes are trusted to be the codec's, so
        only writers that built them from typed events call this."""
        if self.mode == "r":
            raise LogAppendError(f"{self.path} was opened read-only")
        if not rows:
            return
        if self._run_id is not None and run_id != self._run_id:
            raise LogAppendError(f"records of run {run_id!r}; this log holds run {self._run_id!r}")
        check_records(rows, self._next_offset, self._last_sim_time)
        self._write(rows, run_id)

    def _write(self, rows: Sequence[Record], run_id: str) -> None:
        records = self._tail + [row[4] for row in rows]
        times = self._tail_times + [row[1] for row in rows]
        first = self._next_offset - len(self._tail)
        pages = [
            (
                first + i,
                len(records[i : i + PAGE_EVENTS]),
                times[i],
                times[min(i + PAGE_EVENTS, len(times)) - 1],
                pack_page(records[i : i + PAGE_EVENTS], self._compressor),
            )
            for i in range(0, len(records), PAGE_EVENTS)
        ]
        by_type = Counter(row[3] for row in rows)
        satellites = {(row[2],) for row in rows if row[2] is not None}
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            (end,) = conn.execute(
                "SELECT COALESCE(MAX(first_offset + count), 0) FROM pages"
                " WHERE first_offset = (SELECT MAX(first_offset) FROM pages)"
            ).fetchone()
            if end != self._next_offset:  # another writer got in: refuse, never interleave
                raise LogAppendError(
                    f"{self.path} now ends at offset {end}, expected {self._next_offset}"
                )
            conn.executemany("INSERT OR REPLACE INTO pages VALUES (?, ?, ?, ?, ?)", pages)
            conn.executemany(
                "INSERT INTO type_counts VALUES (?, ?)"
                " ON CONFLICT (type) DO UPDATE SET count = count + excluded.count",
                sorted(by_type.items()),
            )
            conn.executemany("INSERT OR IGNORE INTO satellites VALUES (?)", sorted(satellites))
            conn.execute("COMMIT")
        except BaseException as exc:
            if conn.in_transaction:  # SQLite may have rolled back already (a full disk)
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):  # a full disk, an I/O error: nothing written
                raise InfraError(
                    f"cannot append to event log {self.path}: {exc}", retryable=True
                ) from None
            raise
        full = len(records) % PAGE_EVENTS == 0
        self._tail = [] if full else records[pages[-1][0] - first :]
        self._tail_times = [] if full else times[pages[-1][0] - first :]
        self._next_offset = rows[-1][0] + 1
        self._last_sim_time = rows[-1][1]
        self._run_id = run_id

    def read_raw(self, from_offset: int = 0, to_offset: int | None = None) -> Iterator[bytes]:
        stop = self._next_offset if to_offset is None else min(to_offset, self._next_offset)
        return self._records(max(from_offset, 0), stop)

    def _records(self, start: int, stop: int) -> Iterator[bytes]:
        for first, records in self._pages(start, stop):
            yield from records[max(start - first, 0) : stop - first]

    def read_raw_until(self, sim_time: str) -> Iterator[bytes]:
        until = canonical_time(sim_time)
        stop = self._next_offset  # at the call, as read_raw

        def records() -> Iterator[bytes]:
            yield from self._records(0, min(self._count_until(until), stop))

        return records()

    def _count_until(self, sim_time: str) -> int:
        """How many events have ``sim_time <= sim_time`` (a prefix: time never decreases)."""
        try:
            if self._version == 1:
                return int(
                    self._conn.execute(
                        "SELECT COUNT(*) FROM events WHERE sim_time <= ?", (sim_time,)
                    ).fetchone()[0]
                )
            row = self._conn.execute(
                "SELECT first_offset, count FROM pages WHERE last_sim_time > ?"
                " ORDER BY last_sim_time, first_offset LIMIT 1",
                (sim_time,),
            ).fetchone()
        except sqlite3.DatabaseError as exc:
            raise self._unreadable(exc) from None
        if row is None:
            return self._next_offset
        first, count = row
        for offset, raw in enumerate(self._records(first, first + count), start=first):
            if self._decode_at(offset, raw).sim_time > sim_time:
                return offset
        return first + count

    def _pages(self, start: int, stop: int) -> Iterator[tuple[int, list[bytes]]]:
        """``(first offset, records)`` of the pages holding offsets ``[start, stop)``, in
        order. Each query is read to its end before anything is yielded, so no cursor stays
        open between pages (an append on this connection may rewrite the last page)."""
        if self._version == 1:
            yield from self._rows_v1(start, stop)
            return
        try:  # the page holding ``start``
            (at,) = self._conn.execute(
                "SELECT COALESCE(MAX(first_offset), 0) FROM pages WHERE first_offset <= ?",
                (start,),
            ).fetchone()
        except sqlite3.DatabaseError as exc:
            raise self._unreadable(exc) from None
        while at < stop:
            try:
                rows = self._conn.execute(
                    "SELECT first_offset, count, body FROM pages"
                    " WHERE first_offset >= ? AND first_offset < ? ORDER BY first_offset LIMIT ?",
                    (at, stop, _READ_PAGES),
                ).fetchall()
            except sqlite3.DatabaseError as exc:
                raise self._unreadable(exc) from None
            if not rows:
                raise self._bad_page(at, 1, f"no page holds offset {at}")
            for first, count, body in rows:
                if first != at:
                    raise self._bad_page(at, first - at, f"no page holds offset {at}")
                yield first, self._page(first, count, body)
                at = first + count

    def _page(self, first: int, count: int, body: bytes) -> list[bytes]:
        key = (first, count)
        records = self._cache.get(key)
        if records is None:
            try:
                records = unpack_page(body)
            except (zstandard.ZstdError, TypeError) as exc:
                raise self._bad_page(first, count, f"not a zstd page ({exc})") from None
            if len(records) != count:
                raise self._bad_page(
                    first, count, f"the page holds {len(records)} records, not {count}"
                )
            self._cache[key] = records
            if len(self._cache) > _CACHED_PAGES:
                self._cache.popitem(last=False)
        return records

    def _bad_page(self, first: int, count: int, problem: str) -> InputError:
        last = first + max(count, 1) - 1
        return InputError(
            f"corrupted event log: page of offsets {first}-{last}: {problem}",
            file=str(self.path),
            field=f"offsets {first}-{last}",
            allowed="a log written by `twin run` or `twin log import`; re-create it from its "
            "source (run or JSON lines)",
        )

    def _rows_v1(self, start: int, stop: int) -> Iterator[tuple[int, list[bytes]]]:
        """Format version 1 (a row per event) read as pages of up to 4,096 rows."""
        while start < stop:
            try:
                rows = self._conn.execute(
                    'SELECT payload FROM events WHERE "offset" >= ? AND "offset" < ?'
                    ' ORDER BY "offset" LIMIT ?',
                    (start, stop, _READ_BATCH),
                ).fetchall()
            except sqlite3.DatabaseError as exc:
                raise self._unreadable(exc) from None
            if not rows:
                return
            yield start, [p if isinstance(p, bytes) else str(p).encode() for (p,) in rows]
            start += len(rows)

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

    def check(self) -> None:
        """Every record decoded and checked (:meth:`EventLog.check`), then the tables that
        :meth:`info` answers from compared with what the records say: the count of each
        type, the satellites and the first and last sim time (an :class:`InputError`
        naming the figure that differs)."""
        by_type: dict[str, int] = {}
        satellites: set[str] = set()
        first = last = None
        for event in self.read():  # each record checked as EventLog.check does
            by_type[event.type] = by_type.get(event.type, 0) + 1
            if event.satellite is not None:
                satellites.add(event.satellite)
            first = first or event.sim_time
            last = event.sim_time
        info = self.info()
        found = {
            "counts_by_type": dict(sorted(by_type.items())),
            "satellites": len(satellites),
            "first_sim_time": first,
            "last_sim_time": last,
        }
        for name, value in found.items():
            told = info[name]
            if told != value:
                if isinstance(value, dict):  # name the types that differ
                    keys = sorted(k for k in {*told, *value} if told.get(k) != value.get(k))
                    told = {k: told.get(k, 0) for k in keys}
                    value = {k: value.get(k, 0) for k in keys}
                raise InputError(
                    f"corrupted event log: its tables give {name} {told} but its records {value}",
                    file=self.name,
                    field=name,
                    allowed="a log whose tables match its records: re-create it from its "
                    "source (run or JSON lines), or `twin log export` it and import the lines",
                )

    def _info(self) -> dict[str, Any]:
        conn = self._conn
        if self._version == 1:
            by_type = dict(
                conn.execute("SELECT type, COUNT(*) FROM events GROUP BY type ORDER BY type")
            )
            first, last = conn.execute("SELECT MIN(sim_time), MAX(sim_time) FROM events").fetchone()
            satellites = conn.execute(
                "SELECT COUNT(DISTINCT satellite) FROM events WHERE satellite IS NOT NULL"
            ).fetchone()[0]
        else:
            by_type = dict(conn.execute("SELECT type, count FROM type_counts ORDER BY type"))
            first, last = conn.execute(
                "SELECT MIN(first_sim_time), MAX(last_sim_time) FROM pages"
            ).fetchone()
            satellites = conn.execute("SELECT COUNT(*) FROM satellites").fetchone()[0]
        head = next(self.read_raw(0, 1), None)
        start = self._decode_at(0, head) if head is not None else None
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
            "satellites": satellites,
            "counts_by_type": by_type,
            "format_version": self._version,
        }

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._conn.close()

    def __enter__(self) -> SqliteEventLog:
        return self

    def without_fsync(self) -> None:
        """Skip this connection's per-checkpoint fsyncs (~1.5x faster bulk appends; a killed
        process still leaves a consistent file), for a file its writer syncs itself: the
        temporary log of :func:`atomic_log`, synced once before its rename."""
        self._conn.execute("PRAGMA synchronous=OFF")

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
    _remove_abandoned(directory, final.name)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{final.name}.{_writer()}.", suffix=".tmp", dir=directory
    )
    try:  # a signal while the log is being created must not leave the temporary file
        os.close(fd)
        log = SqliteEventLog(tmp_name, mode="w")
    except BaseException:
        _remove_temporary(tmp_name)
        raise
    try:
        # The temporary file is thrown away unless the block succeeds, so skip
        # per-checkpoint fsyncs and sync once before the rename instead.
        log.without_fsync()
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


def _remove_abandoned(directory: Path, name: str) -> None:
    """Remove the temporary logs for ``name`` left by runs that were killed (kill -9, the OOM
    killer: no chance to clean up; a big run's can be gigabytes): those whose writer, named
    in the file's name (:func:`_writer`), was a process of this machine that no longer runs.
    Any other (its writer runs, is another host's on a shared directory, or is not named)
    is left alone."""
    host = _host()
    for path in directory.glob(f".{glob.escape(name)}.*.tmp"):
        writer = path.name[len(name) + 2 :].split(".", 1)[0]
        writer_host, _, pid_text = writer.rpartition("-")
        if writer_host != host or not pid_text.isdigit():
            continue
        try:
            os.kill(int(pid_text), 0)
        except ProcessLookupError:
            _remove_temporary(str(path))
        except OSError:  # it runs (as another user): not ours to remove
            continue


def _host() -> str:
    """This machine's name in temporary logs' names (its dots replaced)."""
    return socket.gethostname().replace(".", "_")


def _writer() -> str:
    """This process, as named in its temporary logs: ``{host}-{pid}``."""
    return f"{_host()}-{os.getpid()}"


def _remove_temporary(tmp_name: str) -> None:
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name + suffix)
