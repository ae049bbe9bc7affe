"""The local Apache Kafka 4 broker against kafka-python: topics, idempotent produce, group
consume, per-key order, and durability across a clean restart and a SIGKILL.

Each test uses its own topic and consumer group, so they share the session broker safely.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from pathlib import Path

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer

from services.kafka.broker import BrokerError, KafkaBroker

pytestmark = pytest.mark.kafka

PARTITIONS = 6
MESSAGES = 1_000
KEYS = 37  # not a multiple of the partition count, so keys spread unevenly like satellite ids


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def _create_topic(bootstrap: str, topic: str) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="test-admin")
    try:
        admin.create_topics(
            {topic: {"num_partitions": PARTITIONS, "replication_factor": 1}},
            wait_for_metadata=True,
        )
        (described,) = admin.describe_topics([topic])
    finally:
        admin.close()
    assert described["error_code"] == 0
    assert sorted(p["partition_index"] for p in described["partitions"]) == list(range(PARTITIONS))


def _produce(bootstrap: str, topic: str) -> dict[bytes, set[int]]:
    """Send MESSAGES records ``key=sat-K``, ``value=K:SEQ``; return partitions seen per key."""
    producer = KafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        client_id="test-producer",
    )
    try:
        futures = []
        for seq in range(MESSAGES):
            key = f"sat-{seq % KEYS}".encode()
            futures.append((key, producer.send(topic, key=key, value=f"{seq}".encode())))
        producer.flush(timeout=60)
        partitions: dict[bytes, set[int]] = defaultdict(set)
        for key, future in futures:
            partitions[key].add(future.get(timeout=30).partition)
        # Idempotence really on (not silently dropped): the broker gave us a producer id.
        assert producer._transaction_manager.producer_id_and_epoch.producer_id >= 0
    finally:
        producer.close(timeout=10)
    return partitions


def _consume_all(bootstrap: str, topic: str, expected: int, timeout_s: float = 60.0):
    """Read ``expected`` records with a fresh consumer group from the earliest offset."""
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=_unique("test-group"),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        client_id="test-consumer",
    )
    records = []
    try:
        deadline = time.monotonic() + timeout_s
        while len(records) < expected and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend(batch)
        assert consumer.assignment(), "consumer group never got partitions"
        consumer.commit()
    finally:
        consumer.close()
    return records


def _check_records(records, partitions_by_key: dict[bytes, set[int]]) -> None:
    assert len(records) == MESSAGES
    seqs = sorted(int(r.value) for r in records)
    assert seqs == list(range(MESSAGES)), "lost or duplicated records"
    by_key: dict[bytes, list[int]] = defaultdict(list)
    for record in records:  # poll() returns each partition's records in offset order
        assert int(record.value) % KEYS == int(record.key.split(b"-")[1])
        assert partitions_by_key[record.key] == {record.partition}
        by_key[record.key].append(int(record.value))
    assert len(by_key) == KEYS
    for key, values in by_key.items():
        assert values == sorted(values), f"key {key!r} out of order"
    used = {r.partition for r in records}
    assert len(used) > 1, "all keys landed on one partition"


def test_broker_speaks_kafka_4(kafka_bootstrap: str) -> None:
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        cluster = admin.describe_cluster()
        version = admin._manager.broker_version
    finally:
        admin.close()
    assert len(cluster["brokers"]) >= 1
    assert version >= (4, 0), f"kafka-python detected broker version {version}"


def test_produce_then_consume_in_a_group_keeps_per_key_order(kafka_bootstrap: str) -> None:
    topic = _unique("roundtrip")
    _create_topic(kafka_bootstrap, topic)
    partitions_by_key = _produce(kafka_bootstrap, topic)
    assert all(len(parts) == 1 for parts in partitions_by_key.values())
    _check_records(_consume_all(kafka_bootstrap, topic, MESSAGES), partitions_by_key)


def test_producing_to_a_missing_topic_fails_fast(kafka_bootstrap: str) -> None:
    """auto.create.topics.enable=false: a wrong topic name is an error, not a new topic."""
    from kafka.errors import KafkaTimeoutError

    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, max_block_ms=2000)
    try:
        with pytest.raises(KafkaTimeoutError):
            producer.send(_unique("no-such-topic"), b"x").get(timeout=5)
    finally:
        producer.close(timeout=5)


@pytest.mark.parametrize("hard", [False, True], ids=["sigterm", "sigkill"])
def test_records_survive_a_broker_restart(kafka_broker: KafkaBroker, hard: bool) -> None:
    topic = _unique("durable")
    bootstrap = kafka_broker.bootstrap
    _create_topic(bootstrap, topic)
    partitions_by_key = _produce(bootstrap, topic)
    pid_before = kafka_broker.pid

    assert kafka_broker.restart(hard=hard) == bootstrap  # same data dir, same address
    assert kafka_broker.pid != pid_before

    _check_records(_consume_all(bootstrap, topic, MESSAGES), partitions_by_key)


def test_a_broker_that_cannot_start_says_why(tmp_path) -> None:
    broker = KafkaBroker(tmp_path / "bad", config={"num.partitions": "many"})
    with pytest.raises(BrokerError) as caught:
        broker.start(timeout_s=60)
    assert "Invalid value many for configuration num.partitions" in caught.value.log_tail
    assert not broker.is_running()


def test_a_busy_port_is_refused_before_starting_java(tmp_path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(BrokerError, match=f"port {port} .* is in use"):
            KafkaBroker(tmp_path / "busy", port).start(timeout_s=10)


def test_cli_status_of_a_stopped_broker(tmp_path) -> None:
    script = Path(__file__).resolve().parent.parent / "scripts" / "kafka-local"
    done = subprocess.run(
        [sys.executable, str(script), "status", "--data", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 3
    assert done.stdout.strip() == f"stopped ({tmp_path.resolve()})"
