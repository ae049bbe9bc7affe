"""Our Kafka paths against plain kafka-python, same broker, same messages, same config.

``python -m benchmarks.kafka_bench [n_events] [bootstrap]`` prints a JSON dict. Without a
bootstrap it starts its own broker (:mod:`services.kafka.broker`) in a temporary directory.

The messages are a real demo run's events (the engine run until ``n_events`` are emitted).
Four rates, in events per second:

``raw_produce``        ``KafkaProducer.send`` of the pre-encoded values, keys and headers,
                       then ``flush`` (same producer options as the publisher: acks=all,
                       idempotent, same linger and batch size);
``publish``            :meth:`services.kafka.publisher.Publisher.publish` of the events in batches of
                       5,000 (as ``twin run --kafka``) then ``flush``: encode + send + checking
                       every record's delivery;
``raw_consume``        a group-less ``KafkaConsumer`` (same consumer options as the Kafka log)
                       reading the topic from the beginning, touching every value;
``consume_fold``       :meth:`services.kafka.log.KafkaEventLog.read` (merge the partitions by
                       offset, decode) folded into :class:`twin.projections.FleetState`;
``decode_fold_in_memory``  the same decode + fold over the values in memory, no Kafka: the
                       work the raw consumer does not do. On one core the best
                       ``replay_read_fold_ratio`` is ``1 / (1 + raw_consume / decode_fold_in_memory)``.

``publish_ratio = publish / raw_produce`` (target ≥ 0.8) and ``replay_read_fold_ratio =
consume_fold / raw_consume`` (``twin replay``'s read; the projector's own ratio, the
``consume_fold_ratio`` of the summary, is benchmarks/projector_bench.py's). ``crc32c_c`` says whether kafka-python found the ``crc32c`` C
extension: without it every produced and fetched batch is checksummed in pure Python
(~4 MB/s), which caps both the raw and our rates.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from services.kafka.log import CONSUMER_OPTIONS, KafkaEventLog
from services.kafka.publisher import Publisher, ensure_topic, producer_options, record_key
from services.kafka.settings import KafkaSettings, load_settings
from twin.events import SCHEMA_VERSION, EventBase, decode, encode
from twin.projections import FleetState
from twin.sim.engine import Engine, config_from_scenario
from twin.sim.scenario import resolve_scenario

PUBLISH_BATCH = 5000
DAY_S = 86_400.0
MAX_DAYS = 3650
ROUNDS = 2


def demo_events(n_events: int, scenario: str = "demo", seed: int = 42) -> list[EventBase]:
    """The first ``n_events`` events of the demo scenario (one engine, run a day at a time)."""
    events: list[EventBase] = []
    config = config_from_scenario(resolve_scenario(scenario), until_s=MAX_DAYS * DAY_S)
    engine = Engine(config, seed, events.append)
    engine.start()
    day = 0
    while len(events) < n_events and day < MAX_DAYS:
        day += 1
        engine.run(day * DAY_S)
    return events[:n_events]


def _settings(bootstrap: str, topic: str) -> KafkaSettings:
    settings = load_settings(bootstrap=bootstrap, topic=topic)
    ensure_topic(settings)  # created before timing: both paths start from an empty topic
    return settings


def _producer_options(settings: KafkaSettings) -> dict[str, Any]:
    return {
        **settings.common(),
        **producer_options(settings),
        "delivery_timeout_ms": 120_000,
    }


def raw_produce(settings: KafkaSettings, records: list[tuple[bytes, bytes, Any]]) -> float:
    producer = KafkaProducer(**_producer_options(settings))
    try:
        topic = settings.topic
        send = producer.send
        started = time.perf_counter()
        for key, value, headers in records:
            send(topic, value=value, key=key, headers=headers)
        producer.flush()
        return time.perf_counter() - started
    finally:
        producer.close()


def our_publish(settings: KafkaSettings, events: list[EventBase]) -> float:
    publisher = Publisher.connect(topic=None, settings=settings, create_topic=False)
    try:
        started = time.perf_counter()
        for start in range(0, len(events), PUBLISH_BATCH):
            publisher.publish(events[start : start + PUBLISH_BATCH])
        publisher.flush()
        return time.perf_counter() - started
    finally:
        publisher.close()


def raw_consume(settings: KafkaSettings, expected: int) -> float:
    started = time.perf_counter()
    consumer = KafkaConsumer(**settings.common(), **CONSUMER_OPTIONS)
    try:
        tps = [
            TopicPartition(settings.topic, p) for p in consumer.partitions_for_topic(settings.topic)
        ]
        consumer.assign(tps)
        consumer.seek_to_beginning()
        count = size = 0
        while count < expected:
            for records in consumer.poll(timeout_ms=1000).values():
                for record in records:
                    size += len(record.value)
                count += len(records)
        return time.perf_counter() - started
    finally:
        consumer.close()


def our_consume_fold(settings: KafkaSettings, expected: int) -> tuple[float, FleetState]:
    started = time.perf_counter()
    state = FleetState()
    apply = state.apply
    with KafkaEventLog(topic=None, settings=settings, create=False) as log:
        for event in log.read():
            apply(event)
    elapsed = time.perf_counter() - started
    if state.events_applied != expected:
        raise AssertionError(f"folded {state.events_applied} events, expected {expected}")
    return elapsed, state


def topic_bytes(settings: KafkaSettings) -> int:
    """Bytes the topic's partitions take in the brokers' log directories (all replicas)."""
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(**settings.common())
    try:
        dirs = admin.describe_log_dirs(topic_partitions=[settings.topic])
    finally:
        admin.close()
    total = 0
    for broker in dirs:
        for log_dir in broker.get("log_dirs", []):
            for topic in log_dir.get("topics", []):
                if topic.get("name") == settings.topic:
                    total += sum(p.get("partition_size", 0) for p in topic.get("partitions", []))
    return total


def decode_fold_in_memory(values: list[bytes]) -> float:
    """Seconds to decode and fold ``values`` with no Kafka at all: the floor of our path."""
    started = time.perf_counter()
    state = FleetState()
    apply = state.apply
    for value in values:
        apply(decode(value))
    return time.perf_counter() - started


def run(
    n_events: int = 200_000, bootstrap: str | None = None, rounds: int = ROUNDS
) -> dict[str, Any]:
    """Measure the four rates on ``bootstrap`` (a temporary local broker if ``None``),
    best of ``rounds`` alternating rounds."""
    if bootstrap is None:
        from services.kafka.broker import KafkaBroker

        with tempfile.TemporaryDirectory(prefix="kafka-bench-") as tmp, KafkaBroker(tmp) as broker:
            return run(n_events, broker.bootstrap, rounds)
    from kafka.record.util import crc32c_c

    t0 = time.perf_counter()
    events = demo_events(n_events)
    generate_s = time.perf_counter() - t0
    version = str(SCHEMA_VERSION).encode()
    records = [
        (record_key(e), encode(e), [("type", e.type.encode()), ("schema_version", version)])
        for e in events
    ]
    n = len(events)
    tag = uuid.uuid4().hex[:8]
    warm = _settings(bootstrap, f"bench-warm-{tag}")
    raw_produce(warm, records[:5000])  # JIT-free Python, but the broker's JVM needs warming

    # Alternate the paths and keep each one's best round, so neither is favoured by the
    # broker's state (page cache, segment rolls) at the moment it runs.
    times: dict[str, list[float]] = {"raw_produce": [], "publish": [], "raw_consume": []}
    times["consume_fold"] = []
    times["decode_fold_in_memory"] = []
    for round_ in range(rounds):
        raw_topic = _settings(bootstrap, f"bench-raw-{tag}-{round_}")
        our_topic = _settings(bootstrap, f"bench-ours-{tag}-{round_}")
        times["raw_produce"].append(raw_produce(raw_topic, records))
        times["publish"].append(our_publish(our_topic, events))
        times["raw_consume"].append(raw_consume(our_topic, n))
        fold_s, state = our_consume_fold(our_topic, n)
        times["consume_fold"].append(fold_s)
        times["decode_fold_in_memory"].append(decode_fold_in_memory([v for _k, v, _h in records]))
    mean_bytes = sum(len(v) for _k, v, _h in records) / n
    on_broker = topic_bytes(our_topic)
    rates = {f"{path}_per_s": n / min(seconds) for path, seconds in times.items()}
    return {
        "events": n,
        "rounds": rounds,
        "mean_value_bytes": round(mean_bytes, 1),
        "compression_type": our_topic.compression_type,
        "broker_bytes_per_event": round(on_broker / n, 1),
        "generate_s": round(generate_s, 2),
        "crc32c_c": crc32c_c is not None,
        **{k: round(v) for k, v in rates.items()},
        "publish_ratio": round(rates["publish_per_s"] / rates["raw_produce_per_s"], 3),
        "replay_read_fold_ratio": round(
            rates["consume_fold_per_s"] / rates["raw_consume_per_s"], 3
        ),
        "replay_read_fold_ratio_bound": round(
            1 / (1 + rates["raw_consume_per_s"] / rates["decode_fold_in_memory_per_s"]), 3
        ),
        "last_sim_time": state.sim_time,
    }


def run_from_argv(
    bench: Callable[[int, str | None], dict[str, Any]], argv: list[str], n_events: int
) -> int:
    """``[N_EVENTS [BOOTSTRAP]]`` from the command line: run ``bench`` and print its JSON."""
    n = int(argv[0]) if argv else n_events
    bootstrap = argv[1] if len(argv) > 1 else None
    print(json.dumps(bench(n, bootstrap), indent=2))
    return 0


def main(argv: list[str]) -> int:
    return run_from_argv(run, argv, 200_000)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
