"""A run whose broker dies mid-publish loses nothing: the log is kept, one command finishes
the publish, and the topic then equals the log (no gap, no duplicate). Real broker."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
import uuid
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
from kafka import KafkaConsumer, TopicPartition

from services.cli import main
from services.eventlog import SqliteEventLog
from services.kafka.broker import KafkaBroker
from services.kafka.log import KafkaEventLog

pytestmark = pytest.mark.kafka

REPO = Path(__file__).resolve().parent.parent
DEADLINE_S = 300.0  # conditions, not speed: generous for a busy CI machine


def _records_on(bootstrap: str, topic: str) -> int:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in parts]
        return sum(consumer.end_offsets(tps).values()) if tps else 0
    finally:
        consumer.close()


def _raws(path: Path) -> list[bytes]:
    with SqliteEventLog(path) as log:
        return list(log.read_raw())


def test_a_run_outlives_its_broker_and_resume_finishes_the_topic(
    kafka_broker: KafkaBroker, tmp_path: Path
) -> None:
    bootstrap = kafka_broker.bootstrap
    topic = f"resume-{uuid.uuid4().hex[:10]}"
    reference, log = tmp_path / "reference.twinlog", tmp_path / "live.twinlog"
    assert main(["run", "demo", "--until", "3d", "--log", str(reference), "--quiet"]) == 0

    # live pacing spreads the run over ~20 s of wall clock, so the broker can die mid-run
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "TWIN_KAFKA_REQUEST_TIMEOUT_MS": "2000",
        "TWIN_KAFKA_MAX_BLOCK_MS": "2000",
        "TWIN_KAFKA_DELIVERY_TIMEOUT_MS": "5000",
    }
    run = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "run", "demo", "--until", "3d", "--live",
         "--speed", "13000", "--bootstrap-server", bootstrap, "--topic", topic, "--log", str(log),
         "--quiet"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + DEADLINE_S
        while _records_on(bootstrap, topic) < 100:
            assert run.poll() is None, "the run ended before the broker could be stopped"
            assert time.monotonic() < deadline, "no records reached the topic"
            time.sleep(0.2)
        kafka_broker.stop()
        _, stderr = run.communicate(timeout=DEADLINE_S)
    finally:
        if run.poll() is None:
            run.kill()
        kafka_broker.start()

    assert run.returncode == 1, stderr
    assert "--resume" in stderr and str(log) in stderr, stderr
    assert _raws(log) == _raws(reference), "the local log must be complete and unchanged"
    published = _records_on(bootstrap, topic)
    assert 0 < published < len(_raws(log)), "the broker was to die mid-publish"

    # a second run onto the same topic is refused before it simulates anything
    with redirect_stderr(io.StringIO()) as err:
        code = main(["run", "demo", "--until", "1h", "--bootstrap-server", bootstrap, "--topic", topic,
                     "--log", str(tmp_path / "other.twinlog"), "--quiet"])  # fmt: skip
    assert code == 2 and "already holds events" in err.getvalue()
    assert not (tmp_path / "other.twinlog").exists()
    assert _records_on(bootstrap, topic) == published

    resume = [
        "log",
        "import",
        str(log),
        "--bootstrap-server",
        bootstrap,
        "--topic",
        topic,
        "--resume",
    ]
    with redirect_stderr(io.StringIO()) as err:
        assert main(resume) == 0
    assert f"{published:,} events were there" in err.getvalue()
    with KafkaEventLog(bootstrap, topic=topic, create=False) as on_kafka:
        assert list(on_kafka.read_raw()) == _raws(log)  # merged by offset: no gap, no dup
    assert _records_on(bootstrap, topic) == len(_raws(log))

    with redirect_stderr(io.StringIO()) as err:  # idempotent
        assert main(resume) == 0
    assert "published the other 0" in err.getvalue()
    assert _records_on(bootstrap, topic) == len(_raws(log))


def test_resume_refuses_a_topic_of_another_run(kafka_bootstrap: str, tmp_path: Path) -> None:
    topic = f"resume-other-{uuid.uuid4().hex[:10]}"
    first, second = tmp_path / "a.twinlog", tmp_path / "b.twinlog"
    assert main(["run", "demo", "--until", "2h", "--seed", "1", "--log", str(first), "--quiet",
                 "--bootstrap-server", kafka_bootstrap, "--topic", topic]) == 0  # fmt: skip
    assert main(["run", "demo", "--until", "2h", "--seed", "2", "--log", str(second),
                 "--quiet"]) == 0  # fmt: skip
    before = _records_on(kafka_bootstrap, topic)
    with redirect_stderr(io.StringIO()) as err:
        code = main(["log", "import", str(second), "--bootstrap-server", kafka_bootstrap, "--topic", topic,
                     "--resume"])  # fmt: skip
    assert code == 2, err.getvalue()
    assert "holds run" in err.getvalue() and str(second) in err.getvalue()
    assert _records_on(kafka_bootstrap, topic) == before


def test_log_info_refuses_a_topic_that_holds_a_run_twice(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    from services.kafka.publisher import Publisher
    from twin.events import decode

    topic = f"twice-{uuid.uuid4().hex[:10]}"
    log = tmp_path / "run.twinlog"
    assert main(["run", "demo", "--until", "1h", "--log", str(log), "--quiet"]) == 0
    events = [decode(raw) for raw in _raws(log)]
    with Publisher.connect(kafka_bootstrap, topic=topic) as publisher:
        publisher.publish(events)
        publisher.publish(events)  # what re-running onto one topic used to do
    err = io.StringIO()
    with redirect_stderr(err), redirect_stdout(io.StringIO()):
        code = main(["log", "info", "--bootstrap-server", kafka_bootstrap, "--topic", topic])
    assert code != 0  # not a count inflated without comment
    assert "holds event offset 0 twice" in err.getvalue(), err.getvalue()
