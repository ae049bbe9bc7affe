"""The Kafka pipeline on a real broker: `twin run --kafka`, partitioning, broker restarts,
delivery failures, moving a run between the embedded log and a topic, and replay.

The topic is checked with plain kafka-python reads (not the adapter under test) wherever the
claim is about what sits on the broker: keys, partitions, headers, record counts.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, TopicPartition

from services.cli import main
from services.eventlog import SqliteEventLog
from services.kafka.broker import KafkaBroker
from services.kafka.log import KafkaEventLog
from services.kafka.publisher import Publisher
from services.kafka.settings import load_settings
from twin.errors import InfraError
from twin.events import SCHEMA_VERSION, decode, stream_key

pytestmark = pytest.mark.kafka


def unique_topic(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def topic_records(bootstrap: str, topic: str) -> dict[int, list[Any]]:
    """Every record of ``topic``, per partition, in partition order (plain kafka-python)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
        consumer.assign(tps)
        consumer.seek_to_beginning()
        end = consumer.end_offsets(tps)
        out: dict[int, list[Any]] = {tp.partition: [] for tp in tps}
        deadline = time.monotonic() + 60
        while any(len(out[tp.partition]) < end[tp] for tp in tps):
            assert time.monotonic() < deadline, "topic not fully readable within 60 s"
            for tp, records in consumer.poll(timeout_ms=500).items():
                out[tp.partition].extend(r for r in records if r.offset < end[tp])
    finally:
        consumer.close()
    return out


def assert_satellite_order(records: dict[int, list[Any]], run_id: str) -> None:
    """Each key (a satellite, a job, the run) sits in one partition, its events in gap-free
    ``seq`` order from 1."""
    partition_of: dict[bytes, int] = {}
    seqs: dict[bytes, list[int]] = defaultdict(list)
    for partition, recs in records.items():
        for record in recs:
            event = decode(record.value)
            assert record.key == stream_key(event).encode()
            assert partition_of.setdefault(record.key, partition) == partition, record.key
            seqs[record.key].append(event.seq)
    assert run_id.encode() in seqs
    for key, got in seqs.items():
        assert got == list(range(1, len(got) + 1)), f"{key!r}: seq not gap-free and in order"


@pytest.fixture(scope="module")
def demo_run(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One day of the demo scenario, run with ``--kafka`` into a fresh topic and a log."""
    topic = unique_topic("demo")
    log = tmp_path_factory.mktemp("demo") / "demo.twinlog"
    argv = ["run", "demo", "--until", "1d", "--quiet", "--log", str(log)]
    assert main([*argv, "--bootstrap-server", kafka_bootstrap, "--topic", topic]) == 0
    with SqliteEventLog(log) as embedded:
        raws = list(embedded.read_raw())
    return {"topic": topic, "log": log, "raws": raws, "run_id": decode(raws[0]).run_id}


def test_run_publishes_the_embedded_log_event_for_event(
    kafka_bootstrap: str, demo_run: dict[str, Any]
) -> None:
    raws = demo_run["raws"]
    assert len(raws) > 5000
    records = topic_records(kafka_bootstrap, demo_run["topic"])
    assert len(records) == 6  # settings.partitions
    assert sum(len(r) for r in records.values()) == len(raws)  # nothing lost or repeated
    merged = sorted(
        (r.value for recs in records.values() for r in recs), key=lambda v: decode(v).offset
    )
    assert merged == raws  # byte for byte
    some = records[0][0]
    headers = dict(some.headers)
    assert headers["type"] == decode(some.value).type.encode()
    assert headers["schema_version"] == str(SCHEMA_VERSION).encode()
    with KafkaEventLog(kafka_bootstrap, topic=demo_run["topic"], create=False) as log:
        assert list(log.read_raw()) == raws  # the adapter's own merge
        assert len(log) == len(raws)


def test_a_satellite_stays_in_one_partition_in_seq_order(
    kafka_bootstrap: str, demo_run: dict[str, Any]
) -> None:
    assert_satellite_order(topic_records(kafka_bootstrap, demo_run["topic"]), demo_run["run_id"])


def test_round_trip_embedded_kafka_embedded_is_byte_identical(
    kafka_bootstrap: str, demo_run: dict[str, Any], tmp_path: Path
) -> None:
    topic = unique_topic("roundtrip")
    log = str(demo_run["log"])
    assert (
        main(["log", "import", log, "--bootstrap-server", kafka_bootstrap, "--topic", topic]) == 0
    )
    back = tmp_path / "back.twinlog"
    argv = [
        "log",
        "import",
        "--from-topic",
        topic,
        "--bootstrap-server",
        kafka_bootstrap,
        "--log",
        str(back),
    ]
    assert main(argv) == 0
    with SqliteEventLog(back) as copy:
        assert list(copy.read_raw()) == demo_run["raws"]
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    assert main(["log", "export", log, "--out", str(a)]) == 0
    assert (
        main(
            [
                "log",
                "export",
                "--bootstrap-server",
                kafka_bootstrap,
                "--topic",
                topic,
                "--out",
                str(b),
            ]
        )
        == 0
    )
    assert a.read_bytes() == b.read_bytes()
    # a topic that already holds a run is refused, not appended to
    assert (
        main(["log", "import", log, "--bootstrap-server", kafka_bootstrap, "--topic", topic]) == 2
    )


@pytest.mark.parametrize("until", ["2026-11-23T17:30:00Z", "2d"])
def test_replay_until_equals_state_at(
    kafka_bootstrap: str,
    demo_run: dict[str, Any],
    until: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    topic = demo_run["topic"]
    assert (
        main(["replay", "--bootstrap-server", kafka_bootstrap, "--topic", topic, "--until", until])
        == 0
    )
    replayed = capsys.readouterr().out
    assert main(["state", str(demo_run["log"]), "--until", until]) == 0
    assert replayed == capsys.readouterr().out
    argv = [
        "replay",
        "--bootstrap-server",
        kafka_bootstrap,
        "--topic",
        topic,
        "--until",
        until,
        "--json",
    ]
    assert main(argv) == 0
    replayed_json = json.loads(capsys.readouterr().out)
    assert main(["state", str(demo_run["log"]), "--until", until, "--json"]) == 0
    assert replayed_json == json.loads(capsys.readouterr().out)
    assert replayed_json["position"]["events_applied"] > 0


def test_publishing_through_a_broker_restart_loses_and_repeats_nothing(
    kafka_broker: KafkaBroker, demo_run: dict[str, Any]
) -> None:
    bootstrap = kafka_broker.bootstrap
    topic = unique_topic("restart")
    events = [decode(raw) for raw in demo_run["raws"]]
    publisher = Publisher.connect(bootstrap, topic=topic)
    published_at: list[float] = []
    failure: list[BaseException] = []
    first_delivered = threading.Event()

    def publish() -> None:
        try:
            for start in range(0, len(events), 100):
                published_at.append(time.monotonic())
                publisher.publish(events[start : start + 100])
                if start == 0:
                    publisher.flush()
                    first_delivered.set()
                time.sleep(0.01)  # spread the run over the restart
            publisher.close()
        except BaseException as exc:  # reported by the main thread
            failure.append(exc)
            first_delivered.set()

    thread = threading.Thread(target=publish)
    thread.start()
    assert first_delivered.wait(60)
    down = time.monotonic()
    kafka_broker.restart()
    up = time.monotonic()
    thread.join(180)
    assert not thread.is_alive()
    assert not failure, failure
    assert any(down <= t <= up for t in published_at), "no batch was published while down"
    records = topic_records(bootstrap, topic)
    assert sum(len(r) for r in records.values()) == len(events)  # no duplicate, none lost
    assert_satellite_order(records, demo_run["run_id"])
    with KafkaEventLog(bootstrap, topic=topic, create=False) as log:
        assert list(log.read_raw()) == demo_run["raws"]


def test_a_delivery_failure_is_an_infra_error(
    kafka_broker: KafkaBroker, demo_run: dict[str, Any]
) -> None:
    settings = load_settings(
        bootstrap=kafka_broker.bootstrap,
        topic=unique_topic("failure"),
        request_timeout_ms=1000,
        max_block_ms=2000,
    )
    events = [decode(raw) for raw in demo_run["raws"][:200]]
    publisher = Publisher.connect(topic=None, settings=settings, delivery_timeout_ms=3000)
    publisher.publish(events[:100])
    publisher.flush()  # delivered while the broker is up
    kafka_broker.stop()
    started = time.monotonic()
    publisher.publish(events[100:])
    with pytest.raises(InfraError) as caught:
        publisher.flush()
    assert time.monotonic() - started < 30
    err = caught.value
    assert err.retryable
    assert "delivery of 100 of 100 records" in str(err)
    assert settings.topic in str(err) and settings.bootstrap in str(err)
    assert "retrying may help" in str(err)
    with pytest.raises(InfraError):
        publisher.close()  # nothing was silently dropped: still failed, still says so
