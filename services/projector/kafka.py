"""The projector: folds the Kafka event topic into fleet state and serves it over HTTP.

Run it as ``twin-projector --bootstrap-server HOST:PORT`` (or ``python -m services.projector``). Several
projectors in one consumer group split the topic's partitions between them; Prometheus sums
their ``/metrics``.

Design
------
**One state per partition.** The publisher keys every event by its satellite id, so each
satellite's events sit in one partition, in order, but partitions are read in no particular
order relative to each other. The projector therefore keeps one :class:`FleetState` per
*assigned partition*, each a fold of that partition alone (:func:`twin.projections.fold`, the same
fold as the embedded log), and merges them at read time (``/state``, ``/metrics``; see
:mod:`services.projector.http`). A partition's state is a self-contained unit that can move
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
(:mod:`services.kafka.fetcher`): kafka-python's record parsing costs about as much CPU as decoding and
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

**A Kafka adapter over the projection runner.** Folding, tracking rows, dead-letter
accounting and readiness are :class:`services.projector.runner.ProjectionRunner`'s, the same
runner the SQLite adapter (:mod:`services.projector.sqlite_source`) drives in-process; this module
feeds it from the fetch process (records, rebalances, end offsets), turns its rewinds into
seeks, gives it the ``<topic>.dlq`` producer as its dead-letter sink, and probes the run info.

**Poison messages.** Undecodable bytes (:class:`twin.errors.DecodeError`: invalid JSON, unknown
type, newer schema...) and events the fold rejects (:class:`twin.errors.TwinError`: illegal
transition, seq gap...) are produced to ``<topic>.dlq`` with the original key and value and the
headers ``reason``, ``detail``, ``source_topic``, ``source_partition``, ``source_offset``, then
counted (``twin_decode_errors_total``, ``twin_dead_letters_total``, kept in the snapshot row so
restarts neither lose nor repeat them) and skipped. A batch's poison records are all produced
first and their acks awaited once. If a dead-letter produce fails, the partition is rewound
(to the poison record, or to its snapshot row if later records were already folded) and
retried after a pause: the offset never moves past a message that is neither folded nor
dead-lettered.

**Who reports what** (so that ``sum`` over projectors is right, see
:mod:`services.projector.http`): every per-satellite count, total, counter and integral is a
sum over partitions, so each projector reports its own partitions' share. Run-level facts from
``scenario_started`` (planned satellites, robots, spares) live in the one partition that holds
the run-level events; only the projector holding that partition reports them (the others
report 0). Values that are not sums (mean time to repair, sim time, lag in sim seconds, ready)
are documented per metric.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeAlias

from kafka import KafkaConsumer, KafkaProducer
from kafka.structs import TopicPartition

from services.kafka.fetcher import (
    Assigned,
    EndOffsets,
    FetchWorker,
    Records,
    Revoked,
)
from services.kafka.settings import KafkaSettings
from services.projector import runner as projection_runner
from services.projector.runner import DeadLetter, ProjectionRunner, TrackingStore
from twin.errors import DecodeError
from twin.events import ScenarioStarted, decode
from twin.projections import FleetState

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

PartitionView: TypeAlias = projection_runner.PartitionView[FleetState]
"""One assigned partition's fold and counters (:class:`services.projector.runner.PartitionView`)."""
SnapshotStore = TrackingStore
"""The snapshot database (rows keyed by consumer group, topic, partition)."""


# ---------------------------------------------------------------------- the dead-letter topic


class KafkaDeadLetters:
    """The runner's dead-letter sink: ``<topic>.dlq``, the original key and value, headers
    ``reason``, ``detail``, ``source_topic``, ``source_partition``, ``source_offset``."""

    def __init__(
        self, producer: KafkaProducer, dlq_topic: str, source_topic: str, timeout_s: float
    ) -> None:
        self.producer = producer
        self.dlq_topic = dlq_topic
        self.source_topic = source_topic
        self.timeout_s = timeout_s
        self._pending: list[tuple[DeadLetter, Any]] = []

    def send(self, letter: DeadLetter) -> None:
        headers = [
            ("reason", letter.reason.encode()),
            ("detail", letter.detail[:1000].encode()),
            ("source_topic", self.source_topic.encode()),
            ("source_partition", str(letter.partition).encode()),
            ("source_offset", str(letter.offset).encode()),
        ]
        future = self.producer.send(
            self.dlq_topic, key=letter.key, value=letter.value, headers=headers
        )
        self._pending.append((letter, future))

    def wait(self) -> list[DeadLetter]:
        """Wait for every ack at once (one deadline for all); return the failed letters."""
        pending, self._pending = self._pending, []
        deadline = time.monotonic() + self.timeout_s
        failed = []
        for letter, future in pending:
            try:
                future.get(timeout=max(0.0, deadline - time.monotonic()))
            except Exception as exc:  # any producer failure: keep the record, retry later
                log.error(
                    "dead-letter of %s-%d offset %d failed (%s); will retry",
                    self.source_topic,
                    letter.partition,
                    letter.offset,
                    exc,
                )
                failed.append(letter)
        return failed


# ---------------------------------------------------------------------- the projector


class Projector:
    """Consumes ``topic`` in ``group`` and runs a :class:`ProjectionRunner` over it.

    The group consumer runs in a fetch process of its own (:mod:`services.kafka.fetcher`), which
    hands records and rebalances, in order, to the thread that calls :meth:`run`; that thread
    folds them through the runner. HTTP threads read through :meth:`views` (holding
    :attr:`lock`, the lock the fold takes per batch).
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
        self.store = TrackingStore(state_db or f"projector-{group}.db", group, self.topic)
        self.producer = KafkaProducer(
            acks="all",
            retries=3,
            max_block_ms=settings.max_block_ms,
            **settings.common(),
        )
        self.dead_letters = KafkaDeadLetters(
            self.producer, settings.dlq_topic, self.topic, DLQ_TIMEOUT_S
        )
        self.runner: ProjectionRunner[FleetState] = ProjectionRunner(
            FleetState,
            self.store,
            self.dead_letters,
            snapshot_every_s=snapshot_every_s,
            snapshot_every_events=snapshot_every_events,
        )
        self.lock = self.runner.lock
        self.run_info: FleetState | None = None
        """A state holding only the run's ``scenario_started`` when no assigned partition has it
        (found by :meth:`_probe_run_info`): gives TFLOPS per accelerator and the epoch."""
        self.stop_event = threading.Event()
        self._last_probe = 0.0
        self.fetch: FetchWorker | None = None
        self._ensure_dlq_topic()

    @property
    def parts(self) -> dict[int, PartitionView]:
        return self.runner.parts

    @property
    def awaiting_assignment(self) -> bool:
        return self.runner.awaiting_assignment

    @property
    def newest_seen_unix_s(self) -> float | None:
        return self.runner.newest_seen_unix_s

    # -- lifecycle

    def run(self) -> None:
        """Consume until :attr:`stop_event` is set; then snapshot, commit and leave the group."""
        self.fetch = fetch = FetchWorker(
            self.settings, self.group, CONSUMER_OPTIONS, poll_timeout_ms=POLL_TIMEOUT_MS
        )
        runner = self.runner
        try:
            while not self.stop_event.is_set():
                retry = False
                for message in fetch.poll(POLL_TIMEOUT_MS / 1000):
                    if isinstance(message, Records):
                        partition = message.partition
                        rewind = runner.fold(
                            partition,
                            zip(message.offsets, message.keys, message.values, strict=True),
                        )
                        if rewind is not None:  # a dead letter failed: read it again later
                            fetch.seek(partition, rewind)
                            retry = True
                    elif isinstance(message, Revoked):
                        self.on_revoked(message.partitions)
                        fetch.revoked_done()
                    elif isinstance(message, Assigned):
                        fetch.assigned_done(self.on_assigned(message.partitions))
                    elif isinstance(message, EndOffsets):
                        self._capture_end_offsets(message.ends)
                with self.lock:
                    self._refresh_highwater()
                if runner.snapshot_due():
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

    def _capture_end_offsets(self, ends: dict[int, int]) -> None:
        """End offsets of newly assigned partitions: the mark /readyz waits for."""
        self.runner.set_end_offsets(ends)
        # before reporting ready: without the run's TFLOPS per accelerator, compute would read 0
        if self.run_info is None and self._needs_run_info():
            self._probe_run_info(force=True)
        self.runner.assignment_complete()

    def _refresh_highwater(self) -> None:
        if self.fetch is None:
            return
        for view in self.parts.values():
            hw = self.fetch.highwater(view.partition)
            if hw is not None:
                view.highwater = hw

    # -- snapshots and rebalances

    def snapshot(self, views: Sequence[PartitionView], *, commit: bool = True) -> None:
        """Store the changed views in one transaction, then commit their offsets to Kafka."""
        changed = self.runner.snapshot(views)
        if changed and commit and self.fetch is not None:
            # informational: the snapshot already holds the offset
            self.fetch.commit({v.partition: v.next_offset for v in changed})

    def on_revoked(self, revoked: Sequence[int]) -> None:
        """Snapshot the revoked partitions (after folding everything fetched before the
        revocation) and drop them; the informational offset commit is left to the next
        owner's first snapshot."""
        mine = self.runner.revoke(revoked)
        log.info("revoked partitions %s", sorted(v.partition for v in mine))

    def on_assigned(self, assigned: Sequence[int]) -> dict[int, int]:
        """Load each new partition's snapshot row; return the offset to resume each from."""
        positions = self.runner.assign(assigned)
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
        return self.runner.views()

    def is_ready(self) -> bool:
        """True once every assigned partition has reached its end offset at assignment."""
        return self.runner.is_ready()

    def lag_sim_seconds(self) -> float:
        """Newest sim time folded anywhere here minus the oldest of the partitions still behind."""
        return self.runner.lag_sim_seconds()

    # -- setup

    def _ensure_dlq_topic(self) -> None:
        from kafka.admin import KafkaAdminClient, NewTopic
        from kafka.errors import InvalidReplicationFactorError, TopicAlreadyExistsError

        from services.kafka.publisher import broker_count, min_insync, replication_error

        admin = KafkaAdminClient(**self.settings.common())
        try:
            admin.create_topics(
                [
                    NewTopic(
                        self.settings.dlq_topic,
                        num_partitions=1,
                        replication_factor=self.settings.replicas,
                        topic_configs=min_insync(self.settings),
                    )
                ]
            )
        except TopicAlreadyExistsError:
            pass
        except InvalidReplicationFactorError:  # a setting the cluster cannot honour: exit 2
            dlq = self.settings.model_copy(update={"topic": self.settings.dlq_topic})
            raise replication_error(dlq, broker_count(admin)) from None
        except Exception as exc:  # dead-letters retry until the topic can be written
            log.warning("could not create %s: %s", self.settings.dlq_topic, exc)
        finally:
            admin.close()
