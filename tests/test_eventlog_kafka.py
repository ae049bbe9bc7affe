"""The Kafka event log passes the same port contract as the embedded SQLite log.

Each test gets fresh topics on the session's real broker, so nothing leaks between tests.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from eventlog_contract import EventLogContract, sample_run
from kafka import KafkaProducer

from services.kafka.log import KafkaEventLog
from services.kafka.publisher import record_key
from twin.errors import InfraError, InputError
from twin.events import encode

pytestmark = pytest.mark.kafka


def unique_topic(prefix: str = "contract") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


class TestKafkaEventLog(EventLogContract):
    @pytest.fixture
    def make_log(self, kafka_bootstrap: str) -> Iterator[Callable[[], KafkaEventLog]]:
        opened: list[KafkaEventLog] = []

        def make() -> KafkaEventLog:
            log = KafkaEventLog(kafka_bootstrap, topic=unique_topic())
            opened.append(log)
            return log

        yield make
        for log in opened:
            log.close()


def test_reopening_a_topic_finds_its_end(kafka_bootstrap: str) -> None:
    topic = unique_topic("reopen")
    events = sample_run()
    with KafkaEventLog(kafka_bootstrap, topic=topic) as log:
        log.append(events[:10])
    with KafkaEventLog(kafka_bootstrap, topic=topic, create=False) as log:
        assert len(log) == 10
        assert list(log.read()) == events[:10]
        log.append(events[10:])
    with KafkaEventLog(kafka_bootstrap, topic=topic, create=False) as log:
        assert list(log.read()) == events
        info = log.info()
        assert info["topic"] == topic
        assert info["satellites"] == 3


def test_a_missing_topic_is_an_input_error(kafka_bootstrap: str) -> None:
    topic = unique_topic("missing")
    with pytest.raises(InputError, match="does not exist") as caught:
        KafkaEventLog(kafka_bootstrap, topic=topic, create=False)
    assert caught.value.exit_code == 2
    assert topic in str(caught.value)


def _raw_publish(bootstrap: str, topic: str, events: list[Any]) -> None:
    """Write events with a plain producer, bypassing the log's checks (to damage a topic)."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    try:
        for event in events:
            producer.send(topic, value=encode(event), key=record_key(event))
        producer.flush(timeout=30)
    finally:
        producer.close()


def test_a_gap_yields_the_prefix_and_a_duplicate_is_an_infra_error(kafka_bootstrap: str) -> None:
    events = sample_run()
    with KafkaEventLog(kafka_bootstrap, topic=unique_topic("gap")) as gap:
        _raw_publish(kafka_bootstrap, gap.topic, events[:7] + events[8:])
        assert list(gap.read()) == events[:7]  # e.g. a publisher still in flight
    with KafkaEventLog(kafka_bootstrap, topic=unique_topic("dup")) as dup:
        _raw_publish(kafka_bootstrap, dup.topic, events[:7] + events[5:])
        with pytest.raises(InfraError, match="offset 5 twice"):
            list(dup.read())


def test_more_replicas_than_brokers_is_an_input_error_naming_the_setting(
    kafka_bootstrap: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """TWIN_KAFKA_REPLICATION_FACTOR above the cluster's brokers: exit 2 naming the setting,
    the broker count and what is allowed, not the broker's raw CreateTopics response."""
    from services.cli import main

    monkeypatch.setenv("TWIN_KAFKA_REPLICATION_FACTOR", "99")
    log = tmp_path / "rf.twinlog"
    args = ["run", "walker-scale", "--until", "10m", "--log", str(log), "--quiet"]
    kafka = ["--bootstrap-server", kafka_bootstrap, "--topic", unique_topic("rf")]
    assert main([*args, *kafka]) == 2  # noqa: PLR2004
    err = capsys.readouterr().err
    assert "TWIN_KAFKA_REPLICATION_FACTOR" in err and "99 replicas" in err
    assert "the cluster has" in err and "broker(s)" in err and "allowed: 1" in err
    assert "CreateTopicsRequest" not in err
    assert not log.exists()
    # the projector too (its dead-letter topic): exit 2 at start, not a warning and a service
    # that cannot dead-letter
    from services.projector.main import main as projector_main

    code = projector_main([*kafka, "--port", "0", "--state-db", str(tmp_path / "p.db")])
    assert code == 2  # noqa: PLR2004
    err = capsys.readouterr().err
    assert "TWIN_KAFKA_REPLICATION_FACTOR" in err and ".dlq" in err, err
