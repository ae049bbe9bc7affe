"""The projector's consume path against plain kafka-python, same broker, same messages.

``python -m benchmarks.projector_bench [n_events] [bootstrap]`` prints a JSON dict. Without a
bootstrap it starts its own broker (:mod:`services.kafka_broker`) in a temporary directory.

:func:`consume_and_fold` times a real :class:`services.projector.Projector` (group consumer,
decode, one fold per partition, snapshots on their default schedule, no HTTP) from its start
until every event of the topic is folded; ``raw_group_consume`` times a bare ``KafkaConsumer``
with the same group options (:data:`services.projector.CONSUMER_OPTIONS`) reading the same
topic, touching every value. Both include joining a fresh consumer group.
``consume_fold_ratio = projector / raw`` (target ≥ 0.8). The group-less consume of the Kafka
event log is measured by :mod:`benchmarks.kafka_bench`; this file reuses its event generator
and publisher timing helpers.
"""

from __future__ import annotations

import json
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer

from benchmarks.kafka_bench import _settings, demo_events, our_publish
from services.kafka_settings import KafkaSettings
from services.projector import CONSUMER_OPTIONS, Projector


def raw_group_consume(settings: KafkaSettings, expected: int) -> float:
    """Seconds for a fresh group's bare consumer to read ``expected`` records."""
    started = time.perf_counter()
    consumer = KafkaConsumer(
        group_id=f"bench-raw-{uuid.uuid4().hex[:8]}", **CONSUMER_OPTIONS, **settings.common()
    )
    try:
        consumer.subscribe([settings.topic])
        count = size = 0
        while count < expected:
            for records in consumer.poll(timeout_ms=1000).values():
                for record in records:
                    size += len(record.value)
                count += len(records)
        return time.perf_counter() - started
    finally:
        consumer.close(autocommit=False)


def consume_and_fold(bootstrap: str, topic: str, n_events: int) -> dict[str, Any]:
    """Time a Projector (fresh group, fresh snapshot db) folding ``n_events`` from ``topic``,
    and a raw group consumer reading them; return both rates and their ratio."""
    settings = _settings(bootstrap, topic)
    raw_s = raw_group_consume(settings, n_events)
    with tempfile.TemporaryDirectory(prefix="projector-bench-") as tmp:
        started = time.perf_counter()
        projector = Projector(
            settings,
            group=f"bench-projector-{uuid.uuid4().hex[:8]}",
            state_db=Path(tmp) / "bench.db",
        )
        thread = threading.Thread(target=projector.run, daemon=True)
        thread.start()
        while True:
            with projector.lock:
                handled = sum(v.next_offset for v in projector.parts.values())
            if handled >= n_events:
                break
            time.sleep(0.005)
        fold_s = time.perf_counter() - started
        with projector.lock:
            folded = sum(v.state.events_applied for v in projector.parts.values())
        projector.stop()
        thread.join(30)
    if folded != n_events:
        raise AssertionError(f"folded {folded} events, expected {n_events}")
    raw_rate, fold_rate = n_events / raw_s, n_events / fold_s
    return {
        "events": n_events,
        "raw_group_consume_per_s": round(raw_rate),
        "projector_consume_fold_per_s": round(fold_rate),
        "consume_fold_ratio": round(fold_rate / raw_rate, 3),
    }


def run(n_events: int = 100_000, bootstrap: str | None = None) -> dict[str, Any]:
    """Publish ``n_events`` demo events to a fresh topic, then :func:`consume_and_fold`."""
    if bootstrap is None:
        from services.kafka_broker import KafkaBroker

        with tempfile.TemporaryDirectory(prefix="kafka-bench-") as tmp, KafkaBroker(tmp) as broker:
            return run(n_events, broker.bootstrap)
    events = demo_events(n_events)
    topic = f"bench-projector-{uuid.uuid4().hex[:8]}"
    our_publish(_settings(bootstrap, topic), events)
    return consume_and_fold(bootstrap, topic, len(events))


def main(argv: list[str]) -> int:
    n_events = int(argv[0]) if argv else 100_000
    bootstrap = argv[1] if len(argv) > 1 else None
    print(json.dumps(run(n_events, bootstrap), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
