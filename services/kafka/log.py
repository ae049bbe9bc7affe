"""The event-log port on a Kafka topic: the same contract as the embedded SQLite log.

A run's log is one topic written by :class:`services.kafka.publisher.Publisher`: one record per event,
keyed by satellite, so the events are spread over the topic's partitions. Each partition keeps
its records in the order they were published, which is log order, so every partition is
sorted by the event's own ``offset`` (carried in the record value). Reading the log back is a
k-way merge of the partitions by that offset: the result is the original log, event for
event and byte for byte.

Reads use a consumer without a group (``assign`` + ``seek_to_beginning``), so they commit
nothing and any number can run side by side. Each read first captures the end offset of every
partition and reads up to it: it sees the log as it was when it started. If another process
is still publishing, a partition may be ahead of another at that instant; the merge then
yields the gap-free prefix and stops at the first missing offset. A duplicated offset (which
the idempotent producer rules out) is an :class:`~twin.errors.InfraError`.

``append`` validates the batch exactly like the SQLite log (:func:`services.eventlog.check_batch`),
publishes it and waits for every record to be acknowledged. Unlike SQLite, Kafka cannot
take a batch spread over partitions all-or-nothing without transactions: if delivery fails
(the append raises :class:`~twin.errors.InfraError`), some records of that batch may be on
the topic; the next append re-reads the topic's tail and refuses a batch that no longer fits.
"""

from __future__ import annotations

import heapq
import re
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Generic, NoReturn, TypeVar

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from services.eventlog import EventLog, canonical_time, check_batch
from services.kafka.publisher import (
    SHARD_END_HEADER,
    SHARD_HEADER,
    Publisher,
    ensure_topic,
    infra_error,
    partition_for,
    record_key,
    resolve_settings,
    shard_partitions,
)
from services.kafka.settings import DEFAULT_TOPIC, KafkaSettings
from twin import events as ev
from twin.errors import DecodeError, InfraError, InputError
from twin.events import Event, EventBase, ScenarioStarted, decode, encode
from twin.sim.shards import Shard, parse_shard

#: Consumer options for reading a whole topic fast: big fetches, many records per poll.
CONSUMER_OPTIONS: dict[str, Any] = {
    "group_id": None,
    "enable_auto_commit": False,
    "auto_offset_reset": "earliest",
    "fetch_max_bytes": 64 * 1024 * 1024,
    "max_partition_fetch_bytes": 8 * 1024 * 1024,
    "max_poll_records": 20_000,
    "fetch_max_wait_ms": 100,
}
POLL_TIMEOUT_MS = 1000
MAX_BUFFERED = 50_000
"""Records buffered per partition before its fetching pauses (bounds memory of a merge
when partitions arrive unevenly)."""
TAIL_RECORDS = 16
RESUME_BATCH = 5000
"""Records handed to the producer at a time when finishing a publish."""
READ_STALL_S = 60.0

# The codec writes the envelope first, in schema order (type, schema_version, event_id,
# run_id, seq, offset, sim_time, ...), and escapes quotes inside strings, so the first
# ``,"offset":N,`` in a value is the envelope's offset.
_OFFSET = re.compile(rb',"offset":(\d+),')
_SIM_TIME = re.compile(rb',"sim_time":"([^"]*)"')
_RUN_ID = re.compile(rb',"run_id":"([^"]*)"')
_TYPE_START = len(b'{"type":"')


def event_offset(value: bytes) -> int:
    """The twin log ``offset`` of an encoded event, without decoding all of it."""
    match = _OFFSET.search(value)
    return int(match.group(1)) if match else decode(value).offset


def _sim_time(value: bytes) -> bytes:
    match = _SIM_TIME.search(value)
    return match.group(1) if match else decode(value).sim_time.encode()


Entry = TypeVar("Entry")


class _Fetch(Generic[Entry]):
    """The fetching side of a merged read: a queue of entries per partition, filled by
    polling up to the end offsets captured at the start; a partition whose queue holds
    :data:`MAX_BUFFERED` entries is paused until the merge has taken half of them.
    ``entries`` turns a partition's polled records into queue entries; ``on_head`` is told
    when a queue that was empty has entries again."""

    def __init__(
        self,
        log: KafkaEventLog,
        consumer: KafkaConsumer,
        todo: list[TopicPartition],
        end: dict[TopicPartition, int],
        entries: Callable[[list[Any]], list[Entry]],
        on_head: Callable[[TopicPartition, deque[Entry]], None],
    ) -> None:
        self.log, self.consumer, self.end = log, consumer, end
        self.entries, self.on_head = entries, on_head
        self.queues: dict[TopicPartition, deque[Entry]] = {tp: deque() for tp in todo}
        self.remaining = set(todo)  # partitions not read up to their end yet
        self.paused: set[TopicPartition] = set()

    def fill(self, done: Callable[[], bool], waiting: str) -> None:
        """Poll until ``done()`` or every partition still to read has an entry queued;
        an :class:`InfraError` (mentioning ``waiting``) after :data:`READ_STALL_S` of
        polls that bring nothing."""
        consumer, queues, remaining, paused = (
            self.consumer,
            self.queues,
            self.remaining,
            self.paused,
        )
        stalled = 0
        while not done() and any(not queues[tp] for tp in remaining):
            for tp in list(paused):
                if len(queues[tp]) < MAX_BUFFERED // 2:
                    consumer.resume(tp)
                    paused.discard(tp)
            polled = self.log._poll(consumer)
            stalled = 0 if polled else stalled + 1
            if stalled * POLL_TIMEOUT_MS / 1000 > READ_STALL_S:
                raise InfraError(
                    f"Kafka read of topic {self.log.topic!r} made no progress for "
                    f"{READ_STALL_S:.0f} s{waiting}",
                    retryable=True,
                )
            for tp, records in polled.items():
                if tp not in remaining or not records:
                    continue
                stop = self.end[tp]
                if records[-1].offset >= stop:
                    records = [r for r in records if r.offset < stop]
                queue = queues[tp]
                was_empty = not queue
                queue.extend(self.entries(records))
                if was_empty and queue:
                    self.on_head(tp, queue)
                if not records or records[-1].offset + 1 >= stop:
                    remaining.discard(tp)
                    consumer.pause(tp)
                elif len(queue) >= MAX_BUFFERED:
                    consumer.pause(tp)
                    paused.add(tp)


_FINISHED = b'{"type":"scenario_finished"'


def _shard_tag(record: Any) -> Shard | None:
    """The shard that published ``record`` (its :data:`SHARD_HEADER`), if a shard did."""
    for key, value in record.headers or ():
        if key == SHARD_HEADER:
            return parse_shard(value.decode(), field=f"header {SHARD_HEADER!r}")
    return None


def _event_type(value: bytes) -> str:
    if value.startswith(b'{"type":"'):
        return value[_TYPE_START : value.index(b'"', _TYPE_START)].decode()
    return decode(value).type


class KafkaEventLog(EventLog):
    """One run's event log on a Kafka topic.

    ``create``: create the topic if it is missing (for writing); with ``create=False`` a
    missing topic is an :class:`~twin.errors.InputError` (for reading: a misspelt name).
    Opening reads the last records of each partition to learn where the log ends.
    """

    def __init__(
        self,
        bootstrap: str | None = None,
        topic: str | None = DEFAULT_TOPIC,
        settings: KafkaSettings | None = None,
        *,
        create: bool = True,
        delivery_timeout_ms: int | None = None,
    ) -> None:
        self.settings = resolve_settings(bootstrap, topic, settings)
        self.topic = self.settings.topic
        self.delivery_timeout_ms = delivery_timeout_ms
        self.created = ensure_topic(self.settings) if create else False
        self._idle: list[KafkaConsumer] = []
        self._busy: set[KafkaConsumer] = set()
        self._publisher: Publisher | None = None
        self._closed = False
        self._stale = False
        self._shards: set[Shard] = set()  # the shards seen at the partitions' tails
        self._shard_ends: dict[Shard, int] = {}  # and the records of those that finished
        self._shard_runs: dict[str, set[Shard]] = {}  # and their run ids
        if not create:
            self._check_exists()
        self._sync_tail()

    # ------------------------------------------------------------------ consumers

    def _consumer(self) -> KafkaConsumer:
        if self._closed:
            raise InfraError(f"Kafka event log {self.topic!r} is closed", retryable=False)
        if self._idle:
            consumer = self._idle.pop()
        else:
            try:
                consumer = KafkaConsumer(**self.settings.common(), **CONSUMER_OPTIONS)
            except KafkaError as exc:
                raise infra_error("connect", self.settings, exc) from exc
        self._busy.add(consumer)
        return consumer

    def _release(self, consumer: KafkaConsumer) -> None:
        self._busy.discard(consumer)
        if self._closed:
            consumer.close()
        else:
            self._idle.append(consumer)

    def _check_exists(self) -> None:
        consumer = self._consumer()
        try:
            topics = consumer.topics()
        except KafkaError as exc:
            raise infra_error("list topics", self.settings, exc) from exc
        finally:
            self._release(consumer)
        if self.topic not in topics:
            known = sorted(t for t in topics if not t.startswith("__"))
            raise InputError(
                f"Kafka topic {self.topic!r} does not exist on {self.settings.bootstrap}",
                field="--topic",
                allowed=", ".join(known[:10])
                + (f" (+{len(known) - 10} more)" if len(known) > 10 else "")
                or "no topics exist yet",
            )

    def _partitions(self, consumer: KafkaConsumer) -> list[TopicPartition]:
        # a topic just created is known to the broker that created it first: on a cluster,
        # the broker this consumer asks may lag behind, so refresh until it knows (bounded)
        deadline = time.monotonic() + self.settings.max_block_ms / 1000.0
        while True:
            try:
                ids = consumer.partitions_for_topic(self.topic)
                if ids or time.monotonic() >= deadline:
                    break
                consumer.topics()  # a metadata request: the cache above is refreshed
            except KafkaError as exc:
                raise infra_error("read metadata", self.settings, exc) from exc
            time.sleep(0.1)
        if not ids:
            raise InfraError(
                f"Kafka topic {self.topic!r} has no partitions in the metadata of "
                f"{self.settings.bootstrap}",
                retryable=True,
            )
        return [TopicPartition(self.topic, p) for p in sorted(ids)]

    def _positions(
        self, consumer: KafkaConsumer, tail: int | None
    ) -> tuple[list[TopicPartition], dict[TopicPartition, int]]:
        """Assign every partition, seek to its start (or ``tail`` records before its end);
        return the partitions still to read and their end offsets captured now."""
        tps = self._partitions(consumer)
        try:
            consumer.assign(tps)
            begin = consumer.beginning_offsets(tps)
            end = consumer.end_offsets(tps)
            todo = [tp for tp in tps if end[tp] > begin[tp]]
            for tp in todo:
                start = begin[tp] if tail is None else max(begin[tp], end[tp] - tail)
                consumer.seek(tp, start)
            consumer.resume(*todo)
            consumer.pause(*(tp for tp in tps if tp not in todo))
        except KafkaError as exc:
            raise infra_error("read offsets", self.settings, exc) from exc
        return todo, end

    def _scan(self, tail: int | None = None) -> Iterator[tuple[TopicPartition, Any]]:
        """Every record up to the ends captured at the start, partition by partition as
        fetched (not merged): ``(partition, record)``."""
        consumer = self._consumer()
        try:
            todo, end = self._positions(consumer, tail)
            remaining = set(todo)
            while remaining:
                for tp, records in self._poll(consumer).items():
                    if tp not in remaining:
                        continue
                    stop = end[tp]
                    for record in records:
                        if record.offset >= stop:
                            break
                        yield tp, record
                    if records and records[-1].offset + 1 >= stop:
                        remaining.discard(tp)
                        consumer.pause(tp)
        finally:
            self._release(consumer)

    def _poll(self, consumer: KafkaConsumer) -> dict[TopicPartition, list[Any]]:
        try:
            polled: dict[TopicPartition, list[Any]] = consumer.poll(timeout_ms=POLL_TIMEOUT_MS)
        except KafkaError as exc:
            raise infra_error("read", self.settings, exc) from exc
        return polled

    def _merged(self) -> Iterator[tuple[int, bytes]]:
        """``(offset, value)`` of every event in log order: the partitions merged by offset.

        Offsets run 0, 1, 2, ... without gaps, so the merge needs no heap: each partition has
        a queue of ``(offset, value)`` sorted by offset, ``heads`` maps the offset at the
        front of each non-empty queue to its queue, and the next event is always
        ``heads.pop(expected)``. Only when ``expected`` is at no queue's front does the merge
        poll (which fills several queues at once). A partition whose queue holds
        :data:`MAX_BUFFERED` records is paused until the merge catches up.
        """
        if self._shards:
            yield from self._merged_shards()
            return
        consumer = self._consumer()
        try:
            todo, end = self._positions(consumer, None)
            heads: dict[int, deque[tuple[int, bytes]]] = {}
            search = _OFFSET.search
            duplicate = self._duplicate

            def entries(records: list[Any]) -> list[tuple[int, bytes]]:
                return [
                    (int(m.group(1)) if (m := search(v)) else event_offset(v), v)
                    for v in [r.value for r in records]
                ]

            def put_head(_tp: TopicPartition, queue: deque[tuple[int, bytes]]) -> None:
                if queue[0][0] in heads:
                    duplicate(queue[0][0])
                heads[queue[0][0]] = queue

            fetch = _Fetch(self, consumer, todo, end, entries, put_head)

            def refill(expected: int) -> None:
                """Poll until ``expected`` heads a queue or no partition can supply it."""
                fetch.fill(lambda: expected in heads, f" (waiting for event offset {expected})")

            expected = 0
            while True:
                queue = heads.pop(expected, None)
                if queue is None:
                    refill(expected)
                    queue = heads.pop(expected, None)
                    if queue is None:
                        if heads and min(heads) < expected:
                            duplicate(min(heads))
                        return  # the end, or a gap: only the gap-free prefix (module docstring)
                _offset, value = queue.popleft()
                if queue:
                    head = queue[0][0]
                    if head in heads:
                        duplicate(head)
                    heads[head] = queue
                yield expected, value
                expected += 1
        finally:
            self._release(consumer)

    def _merged_shards(self) -> Iterator[tuple[int, bytes]]:
        """A topic fed by the shards of one run (``twin run --shard K/N`` on several hosts;
        their records carry :data:`~services.kafka.publisher.SHARD_HEADER`), as one log: every
        partition holds one shard's events in its order, with wire offsets ``j·N + K``. They
        are merged by :func:`twin.sim.shards.merge_key` (sim time, then wire offset), the
        order ``twin run --shards N`` writes, with shard 0's ``scenario_finished`` last, and
        renumbered from 0 (:func:`twin.events.with_offset`). A k-way merge: every partition
        still to read must have a record queued before the smallest is taken. Every shard
        must have finished publishing: its last record carries
        :data:`~services.kafka.publisher.SHARD_END_HEADER` with the number it published, which
        its partitions must hold. Otherwise (a shard still running, failed part-way, or not
        started) an :class:`InfraError` names the shard: the merge would be a part of the
        run."""
        self._sync_tail()  # the shards' state now, not when the log was opened
        if len(self._shard_runs) > 1:
            runs = "; ".join(
                f"{run} from shard(s) {', '.join(sorted(map(str, shards)))}"
                for run, shards in sorted(self._shard_runs.items())
            )
            raise InfraError(
                f"Kafka topic {self.topic!r} holds shards of different runs ({runs}): a topic "
                "holds one run, every shard with the same scenario, seed and N. Delete the "
                "topic and run every shard again",
                retryable=False,
            )
        counts = {shard.count for shard in self._shards}
        seen = {shard.index for shard in self._shards}
        if len(counts) > 1:
            raise InfraError(
                f"Kafka topic {self.topic!r} holds shards of runs split {sorted(counts)} ways; "
                "a topic holds one run",
                retryable=False,
            )
        count = counts.pop()
        if seen != set(range(count)):
            missing = ", ".join(f"{k}/{count}" for k in sorted(set(range(count)) - seen))
            raise InfraError(
                f"Kafka topic {self.topic!r} has no events from shard(s) {missing}: run "
                f"`twin run SCENARIO --shard K/{count}` for each onto the topic before reading it",
                retryable=True,
            )
        counts_now = self.partition_counts()
        for k in range(count):
            shard = Shard(k, count)
            published = self._shard_ends.get(shard)
            held = sum(counts_now[p] for p in shard_partitions(len(counts_now), shard))
            if published is None:
                raise InfraError(
                    f"shard {shard} has not finished publishing to Kafka topic {self.topic!r} "
                    f"({held:,} records so far, none marked as its last): it is still "
                    "running, or it stopped part-way (then delete the topic and run every "
                    "shard again)",
                    retryable=True,
                )
            if held != published:
                raise InfraError(
                    f"shard {shard} published {published:,} records to Kafka topic "
                    f"{self.topic!r} but its partitions hold {held:,}: not a clean event log",
                    retryable=False,
                )
        consumer = self._consumer()
        try:
            todo, end = self._positions(consumer, None)
            heap: list[tuple[tuple[bytes, int], TopicPartition]] = []
            finished: list[bytes] = []

            def entries(records: list[Any]) -> list[tuple[tuple[bytes, int], bytes]]:
                out = []
                for value in [r.value for r in records]:
                    if value.startswith(_FINISHED):
                        finished.append(value)
                    else:
                        out.append(((_sim_time(value), event_offset(value)), value))
                return out

            def put_head(tp: TopicPartition, queue: deque[tuple[tuple[bytes, int], bytes]]) -> None:
                heapq.heappush(heap, (queue[0][0], tp))

            fetch = _Fetch(self, consumer, todo, end, entries, put_head)
            queues, remaining = fetch.queues, fetch.remaining

            def fill() -> None:
                """Poll until every partition still to read has a record queued."""
                fetch.fill(lambda: False, "")

            fill()
            offset = 0
            last: tuple[bytes, int] | None = None
            while heap:
                key, tp = heapq.heappop(heap)
                queue = queues[tp]
                _key, value = queue.popleft()
                if key == last:
                    self._duplicate(key[1])
                last = key
                if queue:
                    heapq.heappush(heap, (queue[0][0], tp))
                elif tp in remaining:
                    fill()
                yield offset, ev.with_offset(value, offset)
                offset += 1
            if len(finished) > 1:
                self._duplicate(event_offset(finished[1]))
            for value in finished:
                yield offset, ev.with_offset(value, offset)
        finally:
            self._release(consumer)

    def _duplicate(self, offset: int) -> NoReturn:
        raise InfraError(
            f"Kafka topic {self.topic!r} holds event offset {offset} twice; "
            "it is not a clean event log",
            retryable=False,
        )

    def _sync_tail(self) -> None:
        """Learn the log's end (next offset, run id, last sim time) from partition tails."""
        last: EventBase | None = None
        self._shards, self._shard_ends, self._shard_runs = set(), {}, {}
        for _tp, record in self._scan(tail=TAIL_RECORDS):
            tag = _shard_tag(record)
            try:  # a record that is not an event (dead-lettered by projectors) is not the end
                event = decode(record.value or b"")
            except DecodeError:
                continue
            if tag is not None:
                self._shards.add(tag)
                self._shard_runs.setdefault(event.run_id, set()).add(tag)
                for key, value in record.headers:
                    if key == SHARD_END_HEADER:
                        self._shard_ends[tag] = int(value)
            if last is None or event.offset > last.offset:
                last = event
        if last is None:
            self._next_offset, self._run_id, self._last_sim_time = 0, None, None
            return
        self._next_offset = last.offset + 1
        self._run_id = last.run_id
        self._last_sim_time = last.sim_time

    # ------------------------------------------------------------------ port

    @property
    def next_offset(self) -> int:
        return self._next_offset

    def append(self, events: Sequence[EventBase]) -> None:
        if not events:
            return
        if self._stale:
            self._sync_tail()
            self._stale = False
        if self._shards:
            raise InfraError(
                f"Kafka topic {self.topic!r} holds a sharded run (shards "
                f"{', '.join(sorted(map(str, self._shards)))}); it cannot be appended to",
                retryable=False,
            )
        rows = check_batch(events, self._next_offset, self._run_id, self._last_sim_time)
        if self._publisher is None:
            self._publisher = Publisher.connect(
                settings=self.settings,
                topic=self.topic,
                delivery_timeout_ms=self.delivery_timeout_ms,
                create_topic=False,
            )
        run_key = events[0].run_id.encode()
        try:
            self._publisher.publish_encoded(
                (run_key if sat is None else sat.encode(), payload, etype)
                for _offset, _time, sat, etype, payload in rows
            )
            self._publisher.flush()
        except InfraError:
            self._publisher.abandon()
            self._publisher = None
            self._stale = True  # part of the batch may have landed: re-read the tail first
            raise
        self._next_offset = rows[-1][0] + 1
        self._last_sim_time = rows[-1][1]
        self._run_id = events[0].run_id

    def read(self, from_offset: int = 0, to_offset: int | None = None) -> Iterator[Event]:
        for offset, value in self._merged():
            if to_offset is not None and offset >= to_offset:
                return
            if offset >= from_offset:
                yield decode(value)

    def read_raw(self, from_offset: int = 0, to_offset: int | None = None) -> Iterator[bytes]:
        for offset, value in self._merged():
            if to_offset is not None and offset >= to_offset:
                return
            if offset >= from_offset:
                yield value

    def read_raw_until(self, sim_time: str) -> Iterator[bytes]:
        limit = canonical_time(sim_time).encode()
        for _offset, value in self._merged():
            if _sim_time(value) > limit:
                return
            yield value

    def info(self) -> dict[str, Any]:
        count = 0
        by_type: dict[str, int] = {}
        keys: set[bytes] = set()
        first: tuple[int, bytes] | None = None
        last: tuple[tuple[bytes, int], bytes] | None = None
        sharded = bool(self._shards)  # wire offsets: the last event is the latest in time
        for _tp, record in self._scan():
            value = record.value
            offset = event_offset(value)
            count += 1
            etype = _event_type(value)
            by_type[etype] = by_type.get(etype, 0) + 1
            keys.add(record.key)
            if first is None or offset < first[0]:
                first = (offset, value)
            order = (_sim_time(value) if sharded else b"", offset)
            if last is None or order > last[0]:
                last = (order, value)
        head = decode(first[1]) if first else None
        started = head if isinstance(head, ScenarioStarted) else None
        run_key = head.run_id.encode() if head else None
        return {
            "path": f"kafka://{self.settings.bootstrap}/{self.topic}",
            "bootstrap": self.settings.bootstrap,
            "topic": self.topic,
            "run_id": head.run_id if head else None,
            "scenario": started.scenario if started else None,
            "seed": started.seed if started else None,
            "epoch": started.epoch if started else None,
            "count": count,
            "first_sim_time": _sim_time(first[1]).decode() if first else None,
            "last_sim_time": _sim_time(last[1]).decode() if last else None,
            "satellites": len(keys - {run_key}),
            "counts_by_type": dict(sorted(by_type.items())),
        }

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            if self._publisher is not None:
                self._publisher.close()
        finally:
            for consumer in self._idle:
                consumer.close()
            self._idle.clear()

    def __enter__(self) -> KafkaEventLog:
        return self

    @property
    def run_id(self) -> str | None:
        """The run id of the newest event on the topic (None when empty)."""
        return self._run_id

    def partition_counts(self) -> list[int]:
        """Records held by each partition (end − beginning offset), by partition id."""
        consumer = self._consumer()
        try:
            tps = self._partitions(consumer)
            begin, end = consumer.beginning_offsets(tps), consumer.end_offsets(tps)
        except KafkaError as exc:
            raise infra_error("read offsets", self.settings, exc) from exc
        finally:
            self._release(consumer)
        return [end[tp] - begin[tp] for tp in tps]

    # ------------------------------------------------------------------ resuming a publish

    def published_offsets(self) -> tuple[int, dict[int, list[int]], set[str]]:
        """``(partitions, event offsets per partition in topic order, run ids seen)``: what
        a publish has put on the topic so far (one scan of every partition)."""
        consumer = self._consumer()
        try:
            n = len(self._partitions(consumer))
        finally:
            self._release(consumer)
        offsets: dict[int, list[int]] = {p: [] for p in range(n)}
        run_ids: set[str] = set()
        for tp, record in self._scan():
            value = record.value or b""
            match, run = _OFFSET.search(value), _RUN_ID.search(value)
            if match is None or run is None:
                continue  # not an event (projectors dead-letter it); not part of any run
            offsets[tp.partition].append(int(match.group(1)))
            run_ids.add(run.group(1).decode())
        return n, offsets, run_ids

    def resume(self, events: Iterable[EventBase], *, source: str) -> tuple[int, int]:
        """Publish what ``events`` (a whole run, in log order) has that the topic lacks;
        return ``(already on the topic, published now)``. Idempotent: a second call finds
        nothing missing.

        Each partition must hold a prefix of the run's events for that partition (what an
        interrupted publish leaves: the idempotent producer keeps a partition's records in
        order and never duplicates them); the rest are appended after it, so the topic
        ends up equal to the log with no gap and no duplicate. A topic that holds another
        run, duplicates, or a hole before events already on it cannot be repaired by
        appending: :class:`InputError` says so and changes nothing.
        """
        n, present, run_ids = self.published_offsets()
        where = f"kafka://{self.settings.bootstrap}/{self.topic}"
        tails: dict[int, int] = {}
        for partition, offsets in present.items():
            if any(b <= a for a, b in zip(offsets, offsets[1:], strict=False)):
                raise InputError(
                    f"partition {partition} of {where} holds duplicate or out-of-order events;"
                    " appending cannot repair it",
                    field="--topic",
                    allowed="a new topic (publish the run again there)",
                )
            tails[partition] = offsets[-1] if offsets else -1
        expected: dict[int, int] = dict.fromkeys(range(n), 0)  # events per partition up to tail
        missing: list[tuple[bytes, bytes, str]] = []
        run_id: str | None = None
        for event in events:
            run_id = run_id or event.run_id
            key = record_key(event)
            partition = partition_for(key, n)
            if event.offset <= tails[partition]:
                expected[partition] += 1
            else:
                missing.append((key, encode(event), event.type))
        if run_ids and run_ids != {run_id}:
            raise InputError(
                f"{where} holds run {', '.join(sorted(run_ids))}, but {source} is run {run_id}",
                field="--topic",
                allowed="the topic this run was published to, or a new topic",
            )
        holes = {
            p: expected[p] - len(present[p]) for p in present if expected[p] != len(present[p])
        }
        if holes:
            raise InputError(
                f"{where} misses events of {source} that lie before events already on it "
                f"(partitions {sorted(holes)}); appending them would break each satellite's order",
                field="--topic",
                allowed="a new topic (publish the run again there)",
            )
        if missing:
            publisher = Publisher.connect(
                settings=self.settings,
                topic=self.topic,
                delivery_timeout_ms=self.delivery_timeout_ms,
                create_topic=False,
            )
            try:
                for start in range(0, len(missing), RESUME_BATCH):
                    publisher.publish_encoded(missing[start : start + RESUME_BATCH])
                publisher.close()
            except BaseException:
                publisher.abandon()
                raise
        self._sync_tail()
        return sum(len(v) for v in present.values()), len(missing)

    def delete_topic(self) -> None:
        """Delete this log's topic (used to undo a failed import into a topic it created)."""
        try:
            admin = KafkaAdminClient(**self.settings.common())
            try:
                admin.delete_topics([self.topic])
            finally:
                admin.close()
        except KafkaError as exc:
            raise infra_error("delete topic", self.settings, exc) from exc
