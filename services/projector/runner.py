"""The projection runner: folds a partitioned log of raw records into one view per partition.

The runner knows nothing of Kafka. It is driven through a few calls, whoever drives it:

* :meth:`ProjectionRunner.assign` / :meth:`~ProjectionRunner.revoke` -- partitions arrive
  (each one's row is loaded from the tracking store; the caller resumes reading at the offset
  returned) and leave (their changed views are saved first, then dropped);
* :meth:`~ProjectionRunner.fold` -- a batch of one partition's raw records
  ``(offset, key, value)``: decode (:func:`twin.events.decode`), apply to the partition's
  projection, and dead-letter what cannot be decoded (:class:`twin.errors.DecodeError`) or
  applied (:class:`twin.errors.TwinError`, or any exception of the fold), counting it;
* :meth:`~ProjectionRunner.set_end_offsets` -- where each assigned partition ended at
  assignment: the runner is ready (:meth:`~ProjectionRunner.is_ready`) once it has folded up
  to there;
* :meth:`~ProjectionRunner.snapshot` -- save every changed partition's view in ONE
  transaction of the :class:`TrackingStore`.

Two ports connect it to the outside: a :class:`PartitionedSource` (partitions of raw records
with end offsets; pulled by :func:`catch_up`) and a :class:`DeadLetterSink`. Adapters:
:mod:`services.projector.sqlite_source` (the SQLite event log seen as N partitions, a dead-letter
table) and :mod:`services.projector` (Kafka: the fetch process pushes records and rebalances,
the ``<topic>.dlq`` producer is the sink).

**Tracking.** A partition's row holds ``(projection snapshot, next offset, pipeline counters)``
and is written in the same transaction as the other changed partitions' rows, so a row is
always a consistent pair: the state after exactly the records before its offset, and the
dead-letter counters of those records. Any row, however old, is a correct resume point: a crash
replays the records since the last snapshot and counts none twice.

**Dead letters.** A batch's poison records are all handed to the sink first and their delivery
is awaited once, at the end of the batch. If the sink refuses a record outright, the fold stops
there (the partition's next offset is that record: a *rewind* to it). If a delivery fails after
later records were folded, the partition goes back to its tracking row (the view is reloaded,
the rewind is to the row's offset): either way the partition's offset never moves past a record
that is neither folded nor dead-lettered, and nothing is applied twice. A rewound fold returns
the offset the driver must read from next.

The projection is anything with ``apply(event)`` and ``to_snapshot() -> bytes``, made by a
:class:`ProjectionFactory` (``factory()`` for an empty one, ``factory.from_snapshot(bytes)``):
today :class:`twin.projections.FleetState` (the class itself is the factory).
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Generic, NamedTuple, Protocol, TypeVar

from twin.errors import DecodeError, IllegalTransition, TwinError
from twin.events import EventBase, decode
from twin.projections import EventOrderError

log = logging.getLogger("twin.projector.runner")


# ---------------------------------------------------------------------- ports


class Projection(Protocol):
    """What the runner folds into: one per partition."""

    def apply(self, event: EventBase) -> None:
        """Apply one event; on an exception nothing may have changed (the event is skipped)."""

    def to_snapshot(self) -> bytes: ...


P = TypeVar("P", bound=Projection)
P_co = TypeVar("P_co", bound=Projection, covariant=True)


class ProjectionFactory(Protocol[P_co]):
    """Makes projections: ``factory()`` an empty one, ``from_snapshot`` a restored one (raising
    :class:`twin.errors.TwinError` or ``ValueError`` on bytes it cannot read)."""

    def __call__(self) -> P_co: ...

    def from_snapshot(self, data: bytes) -> P_co: ...


class RawRecord(NamedTuple):
    """One record of a partition, as stored: its offset there, key and value bytes."""

    offset: int
    key: bytes | None
    value: bytes | None


class PartitionedSource(Protocol):
    """A log split into partitions, each an ordered sequence of raw records from offset 0."""

    def partitions(self) -> list[int]: ...

    def end_offsets(self, partitions: Sequence[int]) -> dict[int, int]:
        """Offset after the last record of each partition, now."""

    def read(self, partition: int, from_offset: int, max_records: int) -> Sequence[RawRecord]:
        """Up to ``max_records`` records from ``from_offset`` on, in offset order."""


@dataclass(frozen=True)
class DeadLetter:
    """A record the projection could not take, and why (``reason`` is a short code)."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    reason: str
    detail: str
    decode_error: bool = False
    """True if the bytes did not decode (also counted as a decode error)."""


class DeadLetterSink(Protocol):
    """Where poison records go. :meth:`send` starts a delivery (and may raise: the record is
    then not sent); :meth:`wait` waits once for every delivery started since the last wait and
    returns the letters that were NOT delivered (empty: all delivered)."""

    def send(self, letter: DeadLetter) -> None: ...

    def wait(self) -> list[DeadLetter]: ...


# ---------------------------------------------------------------------- per-partition views


def _unix_s(sim_time: str) -> float:
    """Unix seconds of a wire timestamp (``2026-11-23T00:21:46.244Z``)."""
    return datetime.fromisoformat(sim_time).timestamp()


@dataclass
class PartitionView(Generic[P]):
    """One assigned partition: its fold, where to read next, and its pipeline counters."""

    partition: int
    state: P
    next_offset: int = 0
    """Offset of the next record to fold (= records folded or dead-lettered so far)."""
    decode_errors: dict[str, int] = field(default_factory=dict)
    dead_letters: dict[str, int] = field(default_factory=dict)
    dirty: int = 0
    """Records handled since the last snapshot of this partition."""
    end_at_assign: int = 0
    """End offset when the partition was assigned: ready once ``next_offset`` reaches it."""
    highwater: int | None = None
    folded_unix_s: float | None = None
    """Sim time (Unix s) of the last event folded from this partition."""

    def pipeline_json(self) -> str:
        return json.dumps(
            {
                "decode_errors": self.decode_errors,
                "dead_letters": self.dead_letters,
            },
            sort_keys=True,
        )

    @property
    def lag_events(self) -> int:
        end = self.highwater if self.highwater is not None else self.end_at_assign
        return max(0, end - self.next_offset)


# ---------------------------------------------------------------------- tracking store


_SCHEMA = """
CREATE TABLE IF NOT EXISTS partition_snapshots (
    consumer_group TEXT NOT NULL,
    topic TEXT NOT NULL,
    partition INTEGER NOT NULL,
    next_offset INTEGER NOT NULL,
    state BLOB NOT NULL,
    pipeline TEXT NOT NULL,
    saved_at_unix REAL NOT NULL,
    PRIMARY KEY (consumer_group, topic, partition)
)
"""


class TrackingRow(NamedTuple):
    next_offset: int
    state: bytes
    pipeline: dict[str, Any]


class TrackingStore:
    """Partition snapshots in SQLite, one row per (runner group, source, partition).

    ``group`` names the runner (a Kafka consumer group), ``source`` the log (a topic); the
    table and columns are the projector's since its first release, so old rows load.
    """

    def __init__(self, path: str | Path, group: str, source: str) -> None:
        self.path = str(path)
        self.group = group
        self.topic = source
        # check_same_thread=False: one thread folds and saves, but a rebalance callback may run
        # on the thread that created the store.
        self._conn = sqlite3.connect(self.path, timeout=30.0, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        with self._conn:
            self._conn.execute(_SCHEMA)

    def load(self, partition: int) -> TrackingRow | None:
        """The partition's row, or None (none yet, or its pipeline unreadable: then replay)."""
        row = self._conn.execute(
            "SELECT next_offset, state, pipeline FROM partition_snapshots"
            " WHERE consumer_group = ? AND topic = ? AND partition = ?",
            (self.group, self.topic, partition),
        ).fetchone()
        if row is None:
            return None
        next_offset, blob, pipeline = row
        try:
            extra = json.loads(pipeline)
        except ValueError as exc:
            log.warning("partition %d: tracking row unreadable (%s); replaying", partition, exc)
            return None
        return TrackingRow(int(next_offset), bytes(blob), extra)

    def save(self, views: Iterable[PartitionView[Any]]) -> None:
        """Write the views' rows in one transaction (all or nothing)."""
        now = time.time()
        rows = [
            (
                self.group,
                self.topic,
                v.partition,
                v.next_offset,
                v.state.to_snapshot(),
                v.pipeline_json(),
                now,
            )
            for v in views
        ]
        with self._conn:
            self._conn.executemany(
                "INSERT INTO partition_snapshots VALUES (?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (consumer_group, topic, partition) DO UPDATE SET"
                " next_offset = excluded.next_offset, state = excluded.state,"
                " pipeline = excluded.pipeline, saved_at_unix = excluded.saved_at_unix",
                rows,
            )

    def close(self) -> None:
        self._conn.close()


# ---------------------------------------------------------------------- the runner


def rejection_reason(exc: BaseException) -> str:
    """The dead-letter reason of an event the fold refused."""
    if isinstance(exc, IllegalTransition):
        return "illegal_transition"
    if isinstance(exc, EventOrderError):
        return "event_order"
    if isinstance(exc, TwinError):
        return "rejected"
    return "fold_error"


class ProjectionRunner(Generic[P]):
    """Per-partition folds with tracking, dead letters and readiness (see the module doc).

    Not thread-safe by itself: one thread drives it; readers (HTTP) hold :attr:`lock`, which
    :meth:`fold` holds per batch and every call that changes the set of views holds too.
    """

    def __init__(
        self,
        factory: ProjectionFactory[P],
        store: TrackingStore,
        sink: DeadLetterSink,
        *,
        snapshot_every_s: float = 2.0,
        snapshot_every_events: int = 20_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.factory = factory
        self.store = store
        self.sink = sink
        self.snapshot_every_s = snapshot_every_s
        self.snapshot_every_events = snapshot_every_events
        self.clock = clock
        self.lock = threading.RLock()
        self.parts: dict[int, PartitionView[P]] = {}
        self.awaiting_assignment = True
        """True until the first assignment's end offsets are known, and again from each
        revocation or assignment until the next end offsets: not ready meanwhile."""
        self.newest_seen_unix_s: float | None = None
        self._last_snapshot = clock()

    # -- assignment

    def load_view(self, partition: int) -> PartitionView[P]:
        """The partition's view from its tracking row, or an empty one at offset 0."""
        row = self.store.load(partition)
        if row is not None:
            try:
                state = self.factory.from_snapshot(row.state)
            except (TwinError, ValueError) as exc:
                log.warning("partition %d: snapshot unreadable (%s); replaying", partition, exc)
            else:
                extra = row.pipeline
                return PartitionView(
                    partition=partition,
                    state=state,
                    next_offset=row.next_offset,
                    decode_errors=dict(extra.get("decode_errors", {})),
                    dead_letters=dict(extra.get("dead_letters", {})),
                )
        return PartitionView(partition, self.factory())

    def assign(self, partitions: Sequence[int]) -> dict[int, int]:
        """Take on ``partitions`` (load their rows); return the offset to read each from."""
        with self.lock:
            self.awaiting_assignment = True
            for p in partitions:
                view = self.parts.get(p)
                if view is None:
                    view = self.parts[p] = self.load_view(p)
                view.highwater = None
            return {p: self.parts[p].next_offset for p in partitions}

    def revoke(self, partitions: Sequence[int]) -> list[PartitionView[P]]:
        """Save the revoked partitions' changed views, then drop them; return the dropped."""
        with self.lock:
            self.awaiting_assignment = True
            mine = [self.parts[p] for p in partitions if p in self.parts]
        self.snapshot(mine)
        with self.lock:
            for v in mine:
                del self.parts[v.partition]
        return mine

    def set_end_offsets(self, ends: dict[int, int]) -> None:
        """End offsets of assigned partitions at assignment: the marks readiness waits for."""
        with self.lock:
            for partition, end_offset in ends.items():
                view = self.parts.get(partition)
                if view is not None:
                    view.end_at_assign = end_offset

    def assignment_complete(self) -> None:
        """The assignment and its end offsets are known: readiness now follows the folds."""
        with self.lock:
            self.awaiting_assignment = False

    def set_highwater(self, partition: int, highwater: int) -> None:
        view = self.parts.get(partition)
        if view is not None:
            view.highwater = highwater

    # -- folding

    def fold(
        self, partition: int, records: Iterable[tuple[int, bytes | None, bytes | None]]
    ) -> int | None:
        """Fold one partition's records (in offset order; ones before ``next_offset`` are
        skipped). Return None, or the offset to read the partition from again after a
        dead-letter failure (then retry after a pause)."""
        with self.lock:
            view = self.parts.get(partition)
            if view is None:  # revoked while fetched; its new owner reads it
                return None
            letters: list[DeadLetter] = []
            rewind: int | None = None
            apply = view.state.apply
            send = self.sink.send
            last_time: str | None = None
            try:
                for offset, key, value in records:
                    if offset < view.next_offset:
                        continue  # already folded (a re-read after a seek)
                    try:
                        event = decode(value if value is not None else b"")
                    except DecodeError as exc:
                        letter = DeadLetter(
                            partition, offset, key, value, exc.reason, exc.detail, True
                        )
                    else:
                        try:
                            apply(event)
                        except Exception as exc:  # poison must never become a crash loop
                            reason = rejection_reason(exc)
                            if reason == "fold_error":
                                log.exception(
                                    "fold failed at partition %d offset %d", partition, offset
                                )
                            letter = DeadLetter(partition, offset, key, value, reason, str(exc))
                        else:
                            last_time = event.sim_time
                            view.next_offset = offset + 1
                            view.dirty += 1
                            continue
                    try:
                        send(letter)
                    except Exception as exc:  # keep the record; retry it later
                        log.error(
                            "dead-letter of partition %d offset %d failed (%s); will retry",
                            partition,
                            offset,
                            exc,
                        )
                        rewind = offset
                        break
                    letters.append(letter)
                    view.next_offset = offset + 1
                    view.dirty += 1
            finally:
                if last_time is not None:
                    view.folded_unix_s = t = _unix_s(last_time)
                    if self.newest_seen_unix_s is None or t > self.newest_seen_unix_s:
                        self.newest_seen_unix_s = t
            if letters:
                failed = self.sink.wait()
                if failed:
                    return self._reload(view, failed)
                for letter in letters:
                    if letter.decode_error:
                        view.decode_errors[letter.reason] = (
                            view.decode_errors.get(letter.reason, 0) + 1
                        )
                    view.dead_letters[letter.reason] = view.dead_letters.get(letter.reason, 0) + 1
                    log.warning(
                        "dead-lettered partition %d offset %d: %s: %s",
                        partition,
                        letter.offset,
                        letter.reason,
                        letter.detail[:200],
                    )
            return rewind

    def _reload(self, view: PartitionView[P], failed: list[DeadLetter]) -> int:
        """A delivery failed after later records were folded: back to the tracking row."""
        first = min(letter.offset for letter in failed)
        fresh = self.load_view(view.partition)
        fresh.end_at_assign = view.end_at_assign
        fresh.highwater = view.highwater
        self.parts[view.partition] = fresh
        log.error(
            "dead-letter of partition %d offset %d failed; back to its snapshot at offset %d",
            view.partition,
            first,
            fresh.next_offset,
        )
        return fresh.next_offset

    # -- snapshots

    def snapshot_due(self) -> bool:
        if any(v.dirty >= self.snapshot_every_events for v in self.parts.values()):
            return True
        return self.clock() - self._last_snapshot >= self.snapshot_every_s

    def snapshot(self, views: Sequence[PartitionView[P]] | None = None) -> list[PartitionView[P]]:
        """Save the changed views (default: all assigned) in one transaction; return them."""
        self._last_snapshot = self.clock()
        with self.lock:
            candidates = list(self.parts.values()) if views is None else views
            changed = [v for v in candidates if v.dirty]
            if changed:
                self.store.save(changed)
                for v in changed:
                    v.dirty = 0
        return changed

    # -- reading (HTTP threads: hold lock)

    def views(self) -> list[PartitionView[P]]:
        """The assigned partitions' views, by partition (hold :attr:`lock` while using them)."""
        return [self.parts[p] for p in sorted(self.parts)]

    def is_ready(self) -> bool:
        """True once every assigned partition has reached its end offset at assignment."""
        with self.lock:
            return not self.awaiting_assignment and all(
                v.next_offset >= v.end_at_assign for v in self.parts.values()
            )

    def lag_sim_seconds(self) -> float:
        """Newest sim time folded anywhere here minus the oldest of the partitions still behind."""
        behind = [
            v.folded_unix_s
            for v in self.parts.values()
            if v.lag_events > 0 and v.folded_unix_s is not None
        ]
        if not behind or self.newest_seen_unix_s is None:
            return 0.0
        return max(0.0, self.newest_seen_unix_s - min(behind))

    def close(self) -> None:
        """Save every changed view (a clean stop) and close the tracking store."""
        try:
            self.snapshot()
        finally:
            self.store.close()


# ---------------------------------------------------------------------- pull driver


def catch_up(
    runner: ProjectionRunner[Any], source: PartitionedSource, *, max_records: int = 2000
) -> bool:
    """Fold every partition of a pull source up to its end now (assigning all of them first,
    if nothing is assigned); snapshot when due. True if all reached their end; False if a
    dead letter failed (call again later: the partition resumes at the rewound offset)."""
    if not runner.parts:
        parts = source.partitions()
        runner.assign(parts)
        runner.set_end_offsets(source.end_offsets(parts))
        runner.assignment_complete()
    ends = source.end_offsets(sorted(runner.parts))
    complete = True
    for partition, end in ends.items():
        runner.set_highwater(partition, end)
        while (view := runner.parts.get(partition)) is not None and view.next_offset < end:
            batch = source.read(partition, view.next_offset, max_records)
            if not batch:
                break
            if runner.fold(partition, batch) is not None:
                complete = False
                break
            if runner.snapshot_due():
                runner.snapshot()
    return complete
