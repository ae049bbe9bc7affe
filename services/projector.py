"""The projector: folds the Kafka event topic into fleet state and serves it over HTTP.

Run it as ``twin-projector --kafka HOST:PORT`` (or ``python -m services.projector``). Several
projectors in one consumer group split the topic's partitions between them; Prometheus sums
their ``/metrics``.

Design
------
**One state per partition.** The publisher keys every event by its satellite id, so each
satellite's events sit in one partition, in order, but partitions are read in no particular
order relative to each other. The projector therefore keeps one :class:`FleetState` per
*assigned partition*, each a fold of that partition alone (:func:`twin.projections.fold`, the same
fold as the embedded log), and merges them at read time (``/state``, ``/metrics``; see
:mod:`services.projector_http`). A partition's state is a self-contained unit that can move
between projectors on a rebalance without touching the others.

**Snapshots are the source of truth.** Every ``--snapshot-every-s`` seconds or
``--snapshot-every-events`` events (and before partitions are revoked, and on shutdown) each
changed partition's ``(state, next offset, pipeline counters)`` is written to SQLite as one row
keyed by *(consumer group, topic, partition)*, all rows of one snapshot in ONE transaction (the
eventsourcing "tracking record in the same transaction as the view"). Only after that commit
are the offsets committed to Kafka, and those commits are informational (for lag tools): when
a partition is assigned, the projector loads its row and seeks to the row's offset, or starts
the partition from offset 0 with an empty state when there is no row. A row is always a
consistent pair (state after exactly the events before its offset), so *any* row, however old,
is a correct resume point: a kill -9 replays at most the events since the last snapshot and
counts none twice. The log must keep every record (the broker's retention is infinite).

**Two processes.** The group consumer runs in a fetch process of the projector's own
(:mod:`services.fetcher`): kafka-python's record parsing costs about as much CPU as decoding and
folding, so fetching on one core while folding on the other lets a projector fold at the rate
a bare kafka-python consumer reads (BENCHMARKS.md). Records and rebalances cross one ordered
pipe; a dead fetch process makes the projector exit (code 1) for its supervisor to restart it,
and a dead projector takes its fetch process with it.

**Rebalances.** On revoke, the revoked partitions are snapshotted (and dropped from memory),
after every record fetched before the revocation is folded and before the group reassigns
them; on assign, each new partition's row is loaded and the fetch process seeks there before
fetching. Members of one group should share one ``--state-db`` file (SQLite in WAL mode, safe
for several processes on one host); a member that cannot see another's rows is still correct,
only slower, because it replays the partition from its last row it can see, or from 0.

**Poison messages.** Undecodable bytes (:class:`twin.errors.DecodeError`: invalid JSON, unknown
type, newer schema...) and events the fold rejects (:class:`twin.errors.TwinError`: illegal
transition, seq gap...) are produced to ``<topic>.dlq`` with the original key and value and the
headers ``reason``, ``detail``, ``source_topic``, ``source_partition``, ``source_offset``, then
counted (``twin_decode_errors_total``, ``twin_dead_letters_total``, kept in the snapshot row so
restarts neither lose nor repeat them) and skipped. If the dead-letter produce fails, the
partition is rewound to the poison record and retried after a pause: the offset never moves
past a message that is neither folded nor dead-lettered.

**Who reports what** (so that ``sum`` over projectors is right, see
:mod:`services.projector_http`): every per-satellite count, total, counter and integral is a
sum over partitions, so each projector reports its own partitions' share. Run-level facts from
``scenario_started`` (planned satellites, robots, spares) live in the one partition that holds
the run-level events; only the projector holding that partition reports them (the others
report 0). Values that are not sums (mean time to repair, sim time, lag in sim seconds, ready)
are documented per metric.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sqlite3
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer, KafkaProducer
from kafka.structs import TopicPartition

from services.fetcher import (
    Assigned,
    EndOffsets,
    FetchedRecord,
    FetchWorker,
    Records,
    Revoked,
)
from services.kafka_settings import KafkaSettings, load_settings
from twin.errors import DecodeError, IllegalTransition, InfraError, TwinError
from twin.events import ScenarioStarted, decode
from twin.projections import EventOrderError, FleetState, SnapshotError

log = logging.getLogger("twin.projector")

DEFAULT_GROUP = "twin-projector"
DEFAULT_PORT = 9108
POLL_TIMEOUT_MS = 200
MAX_POLL_RECORDS = 2000
DLQ_TIMEOUT_S = 10.0
DLQ_RETRY_PAUSE_S = 1.0
RUN_PROBE_EVERY_S = 5.0
SESSION_TIMEOUT_MS = 10_000
"""A projector that dies without leaving the group (kill -9) holds its partitions this long."""
#: The group consumer's options (besides connection settings and ``group_id``). Offsets are
#: committed by hand after each snapshot; a new group without snapshots reads from the start.
CONSUMER_OPTIONS: dict[str, Any] = {
    "enable_auto_commit": False,
    "auto_offset_reset": "earliest",
    "max_poll_records": MAX_POLL_RECORDS,
    "session_timeout_ms": SESSION_TIMEOUT_MS,
    "heartbeat_interval_ms": SESSION_TIMEOUT_MS // 4,
    # refresh topic metadata every 5 s (default 5 min): a group whose leader joined before
    # the topic's metadata reached it assigns nothing until the next refresh, which then
    # triggers a rebalance (seen as a rare 60 s stall of a two-projector group)
    "metadata_max_age_ms": 5_000,
}


def _unix_s(sim_time: str) -> float:
    """Unix seconds of a wire timestamp (``2026-11-23T00:21:46.244Z``)."""
    return datetime.fromisoformat(sim_time).timestamp()


# ---------------------------------------------------------------------- per-partition state


@dataclass
class PartitionView:
    """One assigned partition: its fold, where to read next, and its pipeline counters."""

    partition: int
    state: FleetState = field(default_factory=FleetState)
    next_offset: int = 0
    """Kafka offset of the next record to fold (= records folded or dead-lettered so far)."""
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


class SnapshotStore:
    """Partition snapshots in SQLite, one row per (consumer group, topic, partition)."""

    def __init__(self, path: str | Path, group: str, topic: str) -> None:
        self.path = str(path)
        self.group = group
        self.topic = topic
        # check_same_thread=False: the consumer thread writes, nothing else touches it, but a
        # rebalance callback may run on the thread that created the store.
        self._conn = sqlite3.connect(self.path, timeout=30.0, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        with self._conn:
            self._conn.execute(_SCHEMA)

    def load(self, partition: int) -> PartitionView | None:
        """The partition's last snapshot, or None (none yet, or unreadable: then replay)."""
        row = self._conn.execute(
            "SELECT next_offset, state, pipeline FROM partition_snapshots"
            " WHERE consumer_group = ? AND topic = ? AND partition = ?",
            (self.group, self.topic, partition),
        ).fetchone()
        if row is None:
            return None
        next_offset, blob, pipeline = row
        try:
            state = FleetState.from_snapshot(blob)
            extra = json.loads(pipeline)
        except (SnapshotError, ValueError) as exc:
            log.warning("partition %d: snapshot unreadable (%s); replaying from 0", partition, exc)
            return None
        return PartitionView(
            partition=partition,
            state=state,
            next_offset=int(next_offset),
            decode_errors=dict(extra.get("decode_errors", {})),
            dead_letters=dict(extra.get("dead_letters", {})),
        )

    def save(self, views: Iterable[PartitionView]) -> None:
        """Write the views' snapshots in one transaction (all or nothing)."""
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


# ---------------------------------------------------------------------- the projector


class DeadLetterFailed(Exception):
    """The dead-letter produce failed; the record must be retried, not skipped."""


def _rejection_reason(exc: Exception) -> str:
    if isinstance(exc, IllegalTransition):
        return "illegal_transition"
    if isinstance(exc, EventOrderError):
        return "event_order"
    if isinstance(exc, TwinError):
        return "rejected"
    return "fold_error"


class Projector:
    """Consumes ``topic`` in ``group``, folds each partition, snapshots, dead-letters poison.

    The group consumer runs in a fetch process of its own (:mod:`services.fetcher`), which
    hands records and rebalances, in order, to the thread that calls :meth:`run`; that thread
    decodes and folds. HTTP threads read through :meth:`views` (holding :attr:`lock`, the lock
    the fold takes per batch).
    """

    def __init__(
        self,
        settings: KafkaSettings,
        *,
        group: str = DEFAULT_GROUP,
        state_db: str | Path | None = None,
        snapshot_every_s: float = 2.0,
        snapshot_every_events: int = 20_000,
        per_satellite_metrics: int = 0,
    ) -> None:
        self.settings = settings
        self.topic = settings.topic
        self.group = group
        self.snapshot_every_s = snapshot_every_s
        self.snapshot_every_events = snapshot_every_events
        self.per_satellite_metrics = per_satellite_metrics
        self.store = SnapshotStore(state_db or f"projector-{group}.db", group, self.topic)
        self.lock = threading.RLock()
        self.parts: dict[int, PartitionView] = {}
        self.awaiting_assignment = True
        """True until the first assignment's end offsets are known, and again from each
        revocation or assignment until the next end offsets: not ready meanwhile (which
        partitions this member holds, and up to where, is not known yet)."""
        self.newest_seen_unix_s: float | None = None
        self.run_info: FleetState | None = None
        """A state holding only the run's ``scenario_started`` when no assigned partition has it
        (found by :meth:`_probe_run_info`): gives TFLOPS per accelerator and the epoch."""
        self.stop_event = threading.Event()
        self._last_snapshot = time.monotonic()
        self._last_probe = 0.0
        self.fetch: FetchWorker | None = None
        common = settings.common()
        self.producer = KafkaProducer(
            acks="all",
            retries=3,
            max_block_ms=settings.max_block_ms,
            **common,
        )
        self._ensure_dlq_topic()

    # -- lifecycle

    def run(self) -> None:
        """Consume until :attr:`stop_event` is set; then snapshot, commit and leave the group."""
        self.fetch = fetch = FetchWorker(
            self.settings, self.group, CONSUMER_OPTIONS, poll_timeout_ms=POLL_TIMEOUT_MS
        )
        try:
            while not self.stop_event.is_set():
                retry = False
                for message in fetch.poll(POLL_TIMEOUT_MS / 1000):
                    if isinstance(message, Records):
                        with self.lock:
                            retry |= self._fold_records(message)
                    elif isinstance(message, Revoked):
                        self.on_revoked(message.partitions)
                        fetch.revoked_done()
                    elif isinstance(message, Assigned):
                        fetch.assigned_done(self.on_assigned(message.partitions))
                    elif isinstance(message, EndOffsets):
                        self._capture_end_offsets(message.ends)
                with self.lock:
                    self._refresh_highwater()
                if self._snapshot_due():
                    self.snapshot(list(self.parts.values()))
                if self.run_info is None and self._needs_run_info():
                    self._probe_run_info()
                if retry:
                    self.stop_event.wait(DLQ_RETRY_PAUSE_S)
        finally:
            try:
                self.snapshot(list(self.parts.values()))
            finally:
                fetch.close()
                self.producer.close(timeout=5)
                self.store.close()

    def stop(self) -> None:
        self.stop_event.set()

    # -- folding

    def _fold_records(self, batch: Records) -> bool:
        """Fold one partition's batch; True if a dead-letter failed (retry later: the
        partition is rewound to that record)."""
        partition = batch.partition
        view = self.parts.get(partition)
        if view is None:  # revoked while fetched; its new owner reads it
            return False
        apply = view.state.apply
        last_time: str | None = None
        try:
            for offset, key, value in zip(batch.offsets, batch.keys, batch.values, strict=True):
                if offset < view.next_offset:
                    continue  # already folded (a re-fetch after a seek)
                try:
                    event = decode(value if value is not None else b"")
                except DecodeError as exc:
                    rec = FetchedRecord(offset, key, value)
                    if not self._reject(view, rec, exc.reason, exc.detail, decode_error=True):
                        return True
                else:
                    try:
                        apply(event)
                    except Exception as exc:  # a poison event must never become a crash loop
                        reason = _rejection_reason(exc)
                        if reason == "fold_error":
                            log.exception(
                                "fold failed at partition %d offset %d", partition, offset
                            )
                        rec = FetchedRecord(offset, key, value)
                        if not self._reject(view, rec, reason, str(exc)):
                            return True
                    else:
                        last_time = event.sim_time
                view.next_offset = offset + 1
                view.dirty += 1
        finally:
            if last_time is not None:
                view.folded_unix_s = _unix_s(last_time)
                if self.newest_seen_unix_s is None or view.folded_unix_s > self.newest_seen_unix_s:
                    self.newest_seen_unix_s = view.folded_unix_s
        return False

    def _reject(
        self,
        view: PartitionView,
        rec: FetchedRecord,
        reason: str,
        detail: str,
        *,
        decode_error: bool = False,
    ) -> bool:
        """Dead-letter a record and count it; if that fails, rewind to it and return False."""
        tp = TopicPartition(self.topic, view.partition)
        if not self._dead_letter(tp, rec, reason, detail):
            self._rewind(view.partition, rec.offset)
            return False
        if decode_error:
            view.decode_errors[reason] = view.decode_errors.get(reason, 0) + 1
        view.dead_letters[reason] = view.dead_letters.get(reason, 0) + 1
        return True

    def _rewind(self, partition: int, offset: int) -> None:
        """Fetch the partition again from ``offset`` (a record that could not be dead-lettered)."""
        if self.fetch is not None:
            self.fetch.seek(partition, offset)

    def _dead_letter(self, tp: TopicPartition, rec: Any, reason: str, detail: str) -> bool:
        headers = [
            ("reason", reason.encode()),
            ("detail", detail[:1000].encode()),
            ("source_topic", tp.topic.encode()),
            ("source_partition", str(tp.partition).encode()),
            ("source_offset", str(rec.offset).encode()),
        ]
        try:
            future = self.producer.send(
                self.settings.dlq_topic, key=rec.key, value=rec.value, headers=headers
            )
            future.get(timeout=DLQ_TIMEOUT_S)
        except Exception as exc:  # any producer failure: keep the record, retry later
            log.error("dead-letter of %s offset %d failed (%s); will retry", tp, rec.offset, exc)
            return False
        log.warning("dead-lettered %s offset %d: %s: %s", tp, rec.offset, reason, detail[:200])
        return True

    def _capture_end_offsets(self, ends: dict[int, int]) -> None:
        """End offsets of newly assigned partitions: the mark /readyz waits for."""
        with self.lock:
            for partition, end_offset in ends.items():
                view = self.parts.get(partition)
                if view is not None:
                    view.end_at_assign = end_offset
        # before reporting ready: without the run's TFLOPS per accelerator, compute would read 0
        if self.run_info is None and self._needs_run_info():
            self._probe_run_info(force=True)
        with self.lock:
            self.awaiting_assignment = False

    def _refresh_highwater(self) -> None:
        if self.fetch is None:
            return
        for view in self.parts.values():
            hw = self.fetch.highwater(view.partition)
            if hw is not None:
                view.highwater = hw

    # -- snapshots and rebalances

    def _snapshot_due(self) -> bool:
        if any(v.dirty >= self.snapshot_every_events for v in self.parts.values()):
            return True
        return time.monotonic() - self._last_snapshot >= self.snapshot_every_s

    def snapshot(self, views: Sequence[PartitionView], *, commit: bool = True) -> None:
        """Store the changed views in one transaction, then commit their offsets to Kafka."""
        self._last_snapshot = time.monotonic()
        changed = [v for v in views if v.dirty]
        if not changed:
            return
        with self.lock:
            self.store.save(changed)
            for v in changed:
                v.dirty = 0
        if not commit:
            return
        if self.fetch is not None:  # informational: the snapshot already holds the offset
            self.fetch.commit({v.partition: v.next_offset for v in changed})

    def on_revoked(self, revoked: Sequence[int]) -> None:
        """Snapshot the revoked partitions (after folding everything fetched before the
        revocation) and drop them; the informational offset commit is left to the next
        owner's first snapshot."""
        mine = [self.parts[p] for p in revoked if p in self.parts]
        with self.lock:
            self.awaiting_assignment = True
        self.snapshot(mine, commit=False)
        with self.lock:
            for v in mine:
                del self.parts[v.partition]
        log.info("revoked partitions %s", sorted(v.partition for v in mine))

    def on_assigned(self, assigned: Sequence[int]) -> dict[int, int]:
        """Load each new partition's snapshot row; return the offset to resume each from."""
        with self.lock:
            self.awaiting_assignment = True
            for p in assigned:
                view = self.parts.get(p)
                if view is None:
                    view = self.store.load(p) or PartitionView(p)
                    self.parts[p] = view
                view.highwater = None
            positions = {p: self.parts[p].next_offset for p in assigned}
        log.info(
            "assigned partitions %s (resume at %s)",
            sorted(assigned),
            {p: v.next_offset for p, v in sorted(self.parts.items())},
        )
        return positions

    # -- run info for partitions without scenario_started

    def _needs_run_info(self) -> bool:
        """True if this projector holds events (or will: data at assignment) but no partition
        with the run's ``scenario_started``. Empty partitions need nothing yet: probing an
        empty topic would block the fold loop for the probe's whole deadline, and a run
        starting meanwhile would wait for it."""
        views = self.parts.values()
        if not any(v.next_offset > 0 or v.end_at_assign > 0 for v in views):
            return False
        return not any(v.state.scenario is not None for v in views)

    def _probe_run_info(self, *, force: bool = False) -> None:
        """Read the first record of every partition to find the run's ``scenario_started``.

        It is the run's first event, so it is the first record of the partition that holds the
        run-level events. Used only to convert accelerators to TFLOPS and for the epoch; the
        run's planned satellites, robots and spares are reported by that partition's owner.
        """
        now = time.monotonic()
        if not force and now - self._last_probe < RUN_PROBE_EVERY_S:
            return
        self._last_probe = now
        probe = KafkaConsumer(enable_auto_commit=False, **self.settings.common())
        try:
            parts = probe.partitions_for_topic(self.topic) or set()
            tps = [TopicPartition(self.topic, p) for p in parts]
            probe.assign(tps)
            probe.seek_to_beginning(*tps)
            pending, deadline = set(tps), time.monotonic() + 10.0
            while pending and time.monotonic() < deadline:
                for tp, records in probe.poll(timeout_ms=200, max_records=len(tps)).items():
                    pending.discard(tp)
                    probe.pause(tp)
                    try:
                        event = decode(records[0].value or b"")
                    except DecodeError:
                        continue
                    if isinstance(event, ScenarioStarted):
                        info = FleetState()
                        info.apply(event)
                        with self.lock:
                            self.run_info = info
                        return
        except Exception as exc:  # best effort: TFLOPS stay 0 until a probe succeeds
            log.info("run-info probe failed: %s", exc)
        finally:
            probe.close(autocommit=False)

    # -- reading (HTTP threads)

    def views(self) -> list[PartitionView]:
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

    # -- setup

    def _ensure_dlq_topic(self) -> None:
        from kafka.admin import KafkaAdminClient, NewTopic
        from kafka.errors import TopicAlreadyExistsError

        admin = KafkaAdminClient(**self.settings.common())
        try:
            admin.create_topics(
                [
                    NewTopic(
                        self.settings.dlq_topic,
                        num_partitions=1,
                        replication_factor=self.settings.replication_factor,
                    )
                ]
            )
        except TopicAlreadyExistsError:
            pass
        except Exception as exc:  # dead-letters retry until the topic can be written
            log.warning("could not create %s: %s", self.settings.dlq_topic, exc)
        finally:
            admin.close()


# ---------------------------------------------------------------------- command line


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="twin-projector",
        description="Fold the Kafka event topic into fleet state; serve /metrics, /state, "
        "/satellites/{id}, /healthz and /readyz.",
    )
    p.add_argument("--kafka", required=True, metavar="BOOTSTRAP", help="host:port[,host:port]")
    p.add_argument("--topic", default=None, help="event topic (default: twin.events)")
    p.add_argument("--group", default=DEFAULT_GROUP, help="consumer group")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help="HTTP port")
    p.add_argument("--host", default="0.0.0.0", help="HTTP address")
    p.add_argument(
        "--state-db", default=None, help="snapshot database (default: ./projector-<group>.db)"
    )
    p.add_argument(
        "--per-satellite-metrics",
        type=int,
        default=0,
        metavar="N",
        help="export per-satellite series for at most N satellites (default 0: off)",
    )
    p.add_argument("--snapshot-every-s", type=float, default=2.0)
    p.add_argument("--snapshot-every-events", type=int, default=20_000)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    from prometheus_client import CollectorRegistry

    from services.projector_http import ProjectorCollector, serve

    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("kafka").setLevel(logging.WARNING)
    try:
        settings = load_settings(bootstrap=args.kafka, topic=args.topic)
    except TwinError as exc:
        print(f"twin-projector: {exc}", file=sys.stderr)
        return getattr(exc, "exit_code", 2)
    projector = Projector(
        settings,
        group=args.group,
        state_db=args.state_db,
        snapshot_every_s=args.snapshot_every_s,
        snapshot_every_events=args.snapshot_every_events,
        per_satellite_metrics=args.per_satellite_metrics,
    )
    registry = CollectorRegistry()
    registry.register(ProjectorCollector(projector))
    server = serve(projector, registry, args.host, args.port)
    log.info(
        "serving on http://%s:%d (topic %s, group %s)",
        args.host,
        args.port,
        settings.topic,
        args.group,
    )

    def on_signal(signum: int, frame: object) -> None:
        projector.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        projector.run()
    except InfraError as exc:  # e.g. the fetch process died: exit for the supervisor to restart
        log.error("stopping: %s", exc)
        return exc.exit_code
    finally:
        server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
