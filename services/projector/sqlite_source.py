"""The projection runner's SQLite adapter: an embedded event log seen as N partitions.

:class:`SqlitePartitionedLog` presents a :class:`services.eventlog.SqliteEventLog` file the
way the Kafka publisher lays a run out on a topic: every event keyed by its satellite id (the
job id for job events, the run id for other run-level events,
:func:`services.kafka.publisher.record_key`), the key hashed to a
partition by Kafka's default partitioner (:func:`partition_for`: murmur2 of the key, as
kafka-python's and the Java client's), each partition numbered from offset 0 in log order. So
a :class:`~services.projector.runner.ProjectionRunner` folds the embedded log exactly as the
projectors fold the topic, in-process and without a broker. The records are the stored bytes
as they are (not re-validated), so poison rows reach the runner's dead-letter path. The log's pages carry no key column:
a record's satellite is read from its bytes (:func:`satellite_of`), and a record whose bytes
are not an event with a satellite is keyed by the run id.

:class:`SqliteDeadLetters` is the dead-letter sink: a table keyed by (source, partition,
offset), so a record dead-lettered again after a crash is stored once.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
from collections.abc import Sequence
from pathlib import Path

from services.eventlog import SqliteEventLog
from services.kafka.publisher import partition_for
from services.projector.runner import DeadLetter, RawRecord
from twin.errors import DecodeError
from twin.events import JOB_EVENT_TYPES, decode


def _job_key(payload: bytes) -> bytes | None:
    """The key of a job event: its job id (None for any other event, or bytes that are not a
    JSON object)."""
    try:
        data = json.loads(payload)
        job = data.get("job") if data.get("type") in JOB_EVENT_TYPES else None
    except (ValueError, UnicodeDecodeError, AttributeError):
        return None
    return job.encode() if isinstance(job, str) else None


# The codec writes the envelope's fields first, ``satellite`` among them; inside a JSON string a
# quote is escaped, so the first ``"satellite":`` is the envelope's.
_SATELLITE = re.compile(rb'"satellite":(?:null|"((?:[^"\\]|\\.)*)")')


def satellite_of(payload: bytes) -> str | None:
    """The ``satellite`` of an event's codec bytes without decoding the event (None for
    run-level events and for bytes that carry none)."""
    found = _SATELLITE.search(payload)
    if found is None or found.group(1) is None:
        return None
    text = found.group(1)
    return json.loads(b'"' + text + b'"') if b"\\" in text else text.decode()


def _run_key(payload: bytes) -> bytes | None:
    """The key of run-level events: the run id (None if these bytes do not decode)."""
    try:
        return decode(payload).run_id.encode()
    except DecodeError:
        return None


class SqlitePartitionedLog:
    """A SQLite event log read as ``partitions`` partitions of raw records (see the module doc).

    Partition offsets are positions within a partition; the log offset of partition ``p``'s
    record ``i`` is ``log_offsets(p)[i]``. :meth:`end_offsets` re-reads the log's new rows, so
    a log that grows is followed.
    """

    def __init__(self, path: str | os.PathLike[str], partitions: int = 6) -> None:
        if partitions < 1:
            raise ValueError("partitions must be at least 1")
        self.path = Path(path)
        self.n = partitions
        self._log = SqliteEventLog(self.path)
        self._index: list[list[int]] = [[] for _ in range(partitions)]
        self._scanned = 0
        self._run_key: bytes | None = None
        self._refresh()

    @property
    def name(self) -> str:
        """The source's name in the tracking store (the log file and the partition count)."""
        return f"{self.path.resolve()}#{self.n}"

    def _refresh(self) -> None:
        log = self._log
        log.refresh()
        cache: dict[str, int] = {}
        for offset, payload in enumerate(log.read_raw(self._scanned), start=self._scanned):
            satellite = satellite_of(payload)
            if satellite is None:  # a job event (keyed by job) or a run-level event (by run)
                partition = partition_for(self._key(None, payload), self.n)
            else:
                partition = cache.get(satellite)
                if partition is None:
                    partition = cache[satellite] = partition_for(satellite.encode(), self.n)
            self._index[partition].append(offset)
            self._scanned = offset + 1

    def _key(self, satellite: str | None, payload: bytes) -> bytes:
        """The Kafka key the publisher gives these bytes: satellite, job id or run id."""
        if satellite is not None:
            return satellite.encode()
        job = _job_key(payload)
        if job is not None:
            return job
        if self._run_key is None:
            self._run_key = _run_key(payload)
        return self._run_key or b""

    # -- the PartitionedSource port

    def partitions(self) -> list[int]:
        return list(range(self.n))

    def end_offsets(self, partitions: Sequence[int]) -> dict[int, int]:
        self._refresh()
        return {p: len(self._index[p]) for p in partitions}

    def read(self, partition: int, from_offset: int, max_records: int) -> list[RawRecord]:
        wanted = self._index[partition][from_offset : from_offset + max_records]
        if not wanted:
            return []
        out = []
        position = from_offset
        wanted_set = set(wanted)
        records = self._log.read_raw(wanted[0], wanted[-1] + 1)
        for offset, payload in enumerate(records, start=wanted[0]):
            if offset in wanted_set:
                key = self._key(satellite_of(payload), payload)
                out.append(RawRecord(position, key, payload))
                position += 1
        return out

    def log_offsets(self, partition: int) -> list[int]:
        """Log offsets of the partition's records, in partition order."""
        return list(self._index[partition])

    def close(self) -> None:
        self._log.close()


_DLQ_SCHEMA = """
CREATE TABLE IF NOT EXISTS dead_letters (
    source TEXT NOT NULL,
    partition INTEGER NOT NULL,
    "offset" INTEGER NOT NULL,
    key BLOB,
    value BLOB,
    reason TEXT NOT NULL,
    detail TEXT NOT NULL,
    PRIMARY KEY (source, partition, "offset")
)
"""


class SqliteDeadLetters:
    """The dead-letter sink: table ``dead_letters`` in a SQLite file (may be the tracking
    store's file; its own connection, so never in a snapshot's transaction)."""

    def __init__(self, path: str | os.PathLike[str], source: str) -> None:
        self.source = source
        self._conn = sqlite3.connect(str(path), timeout=30.0)
        self._conn.execute("PRAGMA journal_mode=WAL")
        with self._conn:
            self._conn.execute(_DLQ_SCHEMA)
        self._pending: list[DeadLetter] = []

    def send(self, letter: DeadLetter) -> None:
        self._pending.append(letter)

    def wait(self) -> list[DeadLetter]:
        """Store the letters sent since the last wait in one transaction."""
        pending, self._pending = self._pending, []
        if not pending:
            return []
        try:
            with self._conn:
                self._conn.executemany(
                    "INSERT OR REPLACE INTO dead_letters VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [
                        (self.source, x.partition, x.offset, x.key, x.value, x.reason, x.detail)
                        for x in pending
                    ],
                )
        except sqlite3.Error:
            return pending
        return []

    def letters(self) -> list[DeadLetter]:
        """Every stored letter of this source, by (partition, offset)."""
        rows = self._conn.execute(
            'SELECT partition, "offset", key, value, reason, detail FROM dead_letters'
            ' WHERE source = ? ORDER BY partition, "offset"',
            (self.source,),
        )
        return [DeadLetter(p, o, k, v, r, d) for p, o, k, v, r, d in rows]

    def close(self) -> None:
        self._conn.close()
