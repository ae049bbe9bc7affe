"""Publish a run's events to a Kafka topic: one record per event, keyed by satellite.

Record layout (the contract every consumer relies on):

``value``    exactly :func:`twin.events.encode` of the event: the bytes ``twin log export``
             writes, carrying the event's own ``offset``, so the topic's partitions can be
             merged back into log order (:mod:`services.kafka.log`).
``key``      the satellite id; job events by the job id; other run-level events
             (``scenario_started``, ``scenario_finished``, ...) by the run id. Same key → same partition → a satellite's events stay in
             ``seq`` order for any consumer.
``headers``  ``type`` and ``schema_version`` (ASCII), so a router or a dead-letter tool can
             look at a record without decoding it.
timestamp    left to the producer (wall-clock create time). Simulated time lives in the value
             only: a simulated epoch years ahead would otherwise be refused by a stock broker
             (``message.timestamp.after.max.ms``, 1 h by default in Kafka 4), and time-based
             retention would act on simulated, not real, age.

Delivery is ``acks=all`` with the idempotent producer, so broker restarts and retries never
duplicate or reorder a partition's records. Every record's delivery is checked on
:meth:`Publisher.flush` (and :meth:`Publisher.close`); a failure raises
:class:`twin.errors.InfraError` naming the topic, the count and the first cause, never a silent
drop. The topic is created if missing with ``settings.partitions`` partitions,
``settings.replication_factor`` replicas (and ``min.insync.replicas`` if set) and unlimited
retention (``retention.ms=-1``): the topic is an event log, the source of truth of a run.
Record batches are compressed with ``settings.compression_type`` (zstd by default: the codec
bytes of a run shrink ~9x on the broker).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Sequence
from typing import Any

from kafka import KafkaAdminClient, KafkaProducer
from kafka.errors import InvalidReplicationFactorError, KafkaError, TopicAlreadyExistsError
from kafka.partitioner.default import murmur2

from services.kafka.settings import DEFAULT_TOPIC, KafkaSettings, load_settings
from twin.errors import InfraError, InputError
from twin.events import SCHEMA_VERSION, EventBase, encode, stream_key
from twin.sim.shards import Shard

#: Producer options that matter for throughput and safety. ``linger_ms`` lets a batch fill
#: (a run hands us thousands of events at once, so batches fill long before it expires);
#: 256 KiB batches amortise kafka-python's per-batch work (CRC, request framing).
PRODUCER_OPTIONS: dict[str, Any] = {
    "acks": "all",
    "enable_idempotence": True,
    "linger_ms": 20,
    "batch_size": 256 * 1024,
    "max_in_flight_requests_per_connection": 5,  # ≤ 5 keeps idempotent ordering
}
FLUSH_GRACE_S = 30.0
TOPIC_CONFIGS = {"retention.ms": "-1", "retention.bytes": "-1"}

log = logging.getLogger(__name__)


def resolve_settings(
    bootstrap: str | None, topic: str | None, settings: KafkaSettings | None
) -> KafkaSettings:
    """``settings`` (or environment/config-file settings) with bootstrap and topic applied."""
    if settings is None:
        return load_settings(bootstrap=bootstrap, topic=topic)
    update = {k: v for k, v in (("bootstrap", bootstrap), ("topic", topic)) if v is not None}
    return settings.model_copy(update=update)


def infra_error(action: str, settings: KafkaSettings, exc: BaseException) -> InfraError:
    """An :class:`InfraError` for a Kafka client failure, retryable if the client says so."""
    retryable = bool(getattr(exc, "retriable", False)) or isinstance(exc, OSError)
    error = InfraError(
        f"Kafka {action} (bootstrap {settings.bootstrap}, topic {settings.topic!r}) failed: "
        f"{type(exc).__name__}: {exc}",
        retryable=retryable,
    )
    error.__cause__ = exc
    return error


def ensure_topic(settings: KafkaSettings) -> bool:
    """Create ``settings.topic`` if missing; return True if this call created it.

    New topics get ``settings.partitions`` partitions, ``settings.replication_factor``,
    ``settings.min_insync_replicas`` (if set) and unlimited retention. An existing topic is
    left exactly as it is.
    """
    try:
        admin = KafkaAdminClient(**settings.common(), bootstrap_timeout_ms=settings.max_block_ms)
    except KafkaError as exc:
        raise infra_error("connect", settings, exc) from exc
    try:
        admin.create_topics(
            {
                settings.topic: {
                    "num_partitions": settings.partitions,
                    "replication_factor": settings.replicas,
                    "configs": topic_configs(settings),
                }
            },
            wait_for_metadata=True,
        )
        return True
    except TopicAlreadyExistsError:
        return False
    except InvalidReplicationFactorError:
        raise replication_error(settings, broker_count(admin)) from None
    except KafkaError as exc:
        raise infra_error("create topic", settings, exc) from exc
    finally:
        admin.close()


def broker_count(admin: KafkaAdminClient) -> int | None:
    """Brokers of the cluster ``admin`` is connected to, if it can say."""
    try:
        return len(admin.describe_cluster()["brokers"])
    except (KafkaError, OSError, KeyError, TypeError):
        return None


def replication_error(settings: KafkaSettings, brokers: int | None) -> InputError:
    """The topic cannot have the replicas asked for (more than the cluster's brokers): an
    :class:`InputError` naming the setting, instead of the broker's raw response."""
    have = f"the cluster has {brokers} broker(s)" if brokers is not None else "too few brokers"
    most = "at most the number of brokers" if brokers is None else f"1 to {brokers}"
    most = "1" if brokers == 1 else most
    if settings.replication_factor is None:  # the cluster's default.replication.factor
        return InputError(
            f"Kafka cannot create topic {settings.topic!r} with the cluster's "
            f"default.replication.factor: {have}",
            field="TWIN_KAFKA_REPLICATION_FACTOR",
            allowed=f"{most} (set it, or lower the brokers' default.replication.factor)",
        )
    return InputError(
        f"Kafka cannot create topic {settings.topic!r} with {settings.replication_factor} "
        f"replicas per partition: {have}",
        field="TWIN_KAFKA_REPLICATION_FACTOR",
        allowed=f"{most}, or unset for the cluster's default.replication.factor",
    )


def min_insync(settings: KafkaSettings) -> dict[str, str]:
    """``min.insync.replicas`` as a topic config, when the settings set one."""
    if settings.min_insync_replicas is None:
        return {}
    return {"min.insync.replicas": str(settings.min_insync_replicas)}


def topic_configs(settings: KafkaSettings) -> dict[str, str]:
    """The configs of a run's topic: unlimited retention, and the settings' minimum of
    in-sync replicas when one is set."""
    return {**TOPIC_CONFIGS, **min_insync(settings)}


def producer_options(settings: KafkaSettings) -> dict[str, Any]:
    """:data:`PRODUCER_OPTIONS` with the settings' compression and blocking bound."""
    return {
        **PRODUCER_OPTIONS,
        "compression_type": settings.compression,
        "max_block_ms": settings.max_block_ms,
    }


def record_key(event: EventBase) -> bytes:
    """The Kafka key of an event: its satellite id, the job id for job events, or the run id
    for other run-level events (:func:`twin.events.stream_key`)."""
    return stream_key(event).encode()


def partition_for(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner gives ``key`` among ``partitions`` (the one
    the producer picks for every keyed record: murmur2 of the key, as the Java client)."""
    return int(murmur2(key) & 0x7FFFFFFF) % partitions


SHARD_HEADER = "shard"
"""The record header a shard's publisher adds to each record: ``K/N``. It tells readers of
the topic (:class:`services.kafka.log.KafkaEventLog`) that the offsets are shards' wire
offsets, to be merged by sim time, and which shards have published. A shard's publisher
holds back its latest record until the next is sent, so that the last one can carry
:data:`SHARD_END_HEADER`."""


SHARD_END_HEADER = "shard_end"
"""The header a shard's publisher adds to the shard's last record, on a clean close only: the
number of records the shard published. Readers of the topic check that every shard has one
and that its partitions hold that many records."""


def shard_partitions(partitions: int, shard: Shard) -> list[int]:
    """The partitions shard ``K`` of ``N`` writes: ``p ≡ K (mod N)``. Each partition then
    holds one shard's events only, in that shard's order (sim time never decreasing,
    offsets increasing), so a projector folds every partition as it folds an unsharded one;
    a topic needs at least N partitions (a multiple of N shares them evenly)."""
    if partitions < shard.count:
        raise InputError(
            f"the topic has {partitions} partition(s), fewer than the {shard.count} shards",
            field="--shard",
            allowed=f"a topic with at least {shard.count} partitions (a multiple of "
            f"{shard.count}; TWIN_KAFKA_PARTITIONS or the settings' partitions for a new topic)",
        )
    return list(range(shard.index, partitions, shard.count))


class Publisher:
    """Sends events to one topic and reports every failed delivery. Use :meth:`connect`."""

    def __init__(self, producer: KafkaProducer, settings: KafkaSettings) -> None:
        self._producer = producer
        self.settings = settings
        self.topic = settings.topic
        self._pending: list[Any] = []  # futures sent since the last flush
        self._headers: dict[str, list[tuple[str, bytes]]] = {}
        self._version = str(SCHEMA_VERSION).encode()
        self._closed = False
        self._failure: InfraError | None = None  # sticky: a lost record is never forgotten
        self._own: list[int] | None = None  # a shard's partitions (None: Kafka's partitioner)
        self._tag: list[tuple[str, bytes]] = []  # a shard's header
        # a shard's last record so far, sent with the next one or, marked, on close
        self._held: tuple[bytes, bytes, str] | None = None
        self._shard_sent = 0

    def for_shard(self, shard: Shard) -> list[int]:
        """Send every later record to ``shard``'s partitions (:func:`shard_partitions`),
        spread by the key's murmur2 hash as Kafka's partitioner would; return them."""
        try:
            ids = self._producer.partitions_for(self.topic)
        except KafkaError as exc:
            raise infra_error("read metadata", self.settings, exc) from exc
        self._own = shard_partitions(len(ids), shard)
        self._tag = [(SHARD_HEADER, str(shard).encode())]
        self._headers.clear()
        return self._own

    @classmethod
    def connect(
        cls,
        bootstrap: str | None = None,
        topic: str | None = DEFAULT_TOPIC,
        settings: KafkaSettings | None = None,
        *,
        delivery_timeout_ms: int | None = None,
        create_topic: bool = True,
    ) -> Publisher:
        """A publisher to ``topic`` on ``bootstrap`` (``host:port[,host:port]``).

        ``settings`` supplies security, timeouts and partitions (default: environment and
        ``TWIN_KAFKA_CONFIG``); ``bootstrap`` and ``topic`` override it unless ``None``
        (pass ``topic=None`` to publish to ``settings.topic``). ``delivery_timeout_ms``
        (default: ``settings.delivery_timeout_ms``) bounds how long one record may keep being
        retried (e.g. across a broker restart) before it counts as failed.
        """
        settings = resolve_settings(bootstrap, topic, settings)
        if create_topic:
            ensure_topic(settings)
        options = producer_options(settings)
        if delivery_timeout_ms is None:
            delivery_timeout_ms = settings.delivery_timeout_ms
        options["delivery_timeout_ms"] = max(
            delivery_timeout_ms, settings.request_timeout_ms + options["linger_ms"]
        )
        try:
            producer = KafkaProducer(**settings.common(), **options)
        except KafkaError as exc:
            raise infra_error("connect", settings, exc) from exc
        return cls(producer, settings)

    def _headers_for(self, event_type: str) -> list[tuple[str, bytes]]:
        headers = self._headers.get(event_type)
        if headers is None:
            headers = [
                ("type", event_type.encode()),
                ("schema_version", self._version),
                *self._tag,
            ]
            self._headers[event_type] = headers
        return headers

    def publish(self, events: Sequence[EventBase]) -> None:
        """Queue ``events`` for sending, in order. Returns before delivery: call :meth:`flush`.

        Raises :class:`InfraError` if the producer cannot take them (no metadata for the
        topic within ``max_block_ms``, e.g. the broker is down).
        """
        self.publish_encoded([(record_key(e), encode(e), e.type) for e in events])

    def publish_encoded(self, records: Iterable[tuple[bytes, bytes, str]]) -> None:
        """Queue already-encoded ``(key, value, event type)`` records, in order.

        For callers that hold the codec bytes already (the Kafka event log, log import), so
        no event is encoded twice.
        """
        if self._failure is not None:
            raise self._failure
        if self._closed:
            raise InfraError(f"publisher to {self.topic!r} is closed", retryable=False)
        send = self._producer.send
        topic = self.topic
        pending = self._pending
        headers_for = self._headers_for
        own = self._own
        try:
            if own is None:
                for key, value, event_type in records:
                    pending.append(
                        send(topic, value=value, key=key, headers=headers_for(event_type))
                    )
            else:
                held = self._held
                for record in records:
                    if held is not None:
                        self._send_own(held, headers_for(held[2]))
                    held = record
                self._held = held
        except KafkaError as exc:
            raise infra_error("publish", self.settings, exc) from exc

    def _send_own(self, record: tuple[bytes, bytes, str], headers: list[tuple[str, bytes]]) -> None:
        """Send a shard's record to its partition among the shard's own (:meth:`for_shard`)."""
        own = self._own
        assert own is not None
        key, value, _etype = record
        part = own[(murmur2(key) & 0x7FFFFFFF) % len(own)]
        self._pending.append(
            self._producer.send(self.topic, value=value, key=key, headers=headers, partition=part)
        )
        self._shard_sent += 1

    def _end_shard(self) -> None:
        """Send a shard's held last record, marked :data:`SHARD_END_HEADER` with the number
        of records the shard published (on a clean :meth:`close` only: a shard that failed
        part-way leaves no mark, and readers refuse its topic)."""
        held, self._held = self._held, None
        if held is None:
            return
        count = str(self._shard_sent + 1).encode()
        headers = [*self._headers_for(held[2]), (SHARD_END_HEADER, count)]
        try:
            self._send_own(held, headers)
        except KafkaError as exc:
            raise infra_error("publish", self.settings, exc) from exc

    def flush(self, timeout_s: float | None = None) -> None:
        """Wait until every queued record is acknowledged; raise InfraError if any failed.

        ``timeout_s`` defaults to the delivery timeout plus a grace period: each record
        resolves (delivered or failed) within its delivery timeout. After a failure every
        later flush (and :meth:`close`) raises the same error again.
        """
        if self._failure is not None:
            raise self._failure
        if timeout_s is None:
            timeout_s = self._producer.config["delivery_timeout_ms"] / 1000 + FLUSH_GRACE_S
        try:
            self._producer.flush(timeout=timeout_s)
        except KafkaError as exc:
            raise infra_error("flush", self.settings, exc) from exc
        pending, self._pending = self._pending, []
        failed = [f for f in pending if f.exception is not None or not f.is_done]
        if failed:
            first = failed[0].exception or TimeoutError("record not acknowledged")
            self._failure = infra_error(
                f"delivery of {len(failed):,} of {len(pending):,} records", self.settings, first
            )
            raise self._failure

    def close(self, timeout_s: float | None = None) -> None:
        """Flush (raising on failed deliveries), then release the producer. Idempotent."""
        if self._closed:
            return
        try:
            if self._failure is None:
                self._end_shard()
            self.flush(timeout_s)
        except BaseException:
            self.abandon()
            raise
        self._closed = True
        try:
            self._producer.close(timeout=5)
        except KafkaError as exc:  # everything was acknowledged: only the shutdown failed
            log.warning("closing the Kafka producer: %s", exc)

    def __enter__(self) -> Publisher:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.close()
        else:  # already failing: release without masking the original error
            self.abandon()

    def abandon(self) -> None:
        """Release the producer at once, dropping whatever is still queued (after an error)."""
        self._closed = True
        with contextlib.suppress(KafkaError):  # records still queued are dropped by design
            self._producer.close(timeout=0)
