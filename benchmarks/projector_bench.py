"""The projector's consume path against plain kafka-python, same broker, same messages.

``python -m benchmarks.projector_bench [n_events] [bootstrap]`` prints a JSON dict. Without a
bootstrap it starts its own broker (:mod:`services.kafka.broker`) in a temporary directory.

:func:`consume_and_fold` times a real :class:`services.projector.kafka.Projector` (its fetch process,
group consumer, decode, one fold per partition, snapshots on their default schedule, no HTTP)
until every event of the topic is folded; ``raw_group_consume`` times a bare ``KafkaConsumer``
with the same group options (:data:`services.projector.kafka.CONSUMER_OPTIONS`) reading the same
topic, touching every value. Rates are throughput, from the first record to the last; the
start-up before it (joining a fresh group; for the projector also starting its fetch process,
~0.4 s more) is reported apart. The two paths alternate for :data:`ROUNDS` rounds and each
keeps its best.
``consume_fold_ratio = projector / raw`` (target ≥ 0.8). The group-less consume of the Kafka
event log is measured by :mod:`benchmarks.kafka_bench`; this file reuses its event generator
and publisher timing helpers.
"""

from __future__ import annotations

import gc
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer

from benchmarks.kafka_bench import _settings, demo_events, our_publish, run_from_argv
from services.kafka.settings import KafkaSettings
from services.projector.kafka import CONSUMER_OPTIONS, Projector

ROUNDS = 5
DEADLINE_S = 600.0
"""Longest wait for one path to read every event: a stall fails the benchmark with a
message instead of hanging it (not a speed limit: a round takes seconds)."""


class BenchStalled(AssertionError):
    """A consume path stopped making progress before it read every event."""


def raw_group_consume(settings: KafkaSettings, expected: int) -> tuple[float, float]:
    """A fresh group's bare consumer reading ``expected`` records: (seconds from start to
    the first record, seconds from the first record to the last)."""
    started = time.perf_counter()
    first: float | None = None
    consumer = KafkaConsumer(
        group_id=f"bench-raw-{uuid.uuid4().hex[:8]}", **CONSUMER_OPTIONS, **settings.common()
    )
    try:
        consumer.subscribe([settings.topic])
        count = size = 0
        deadline = time.monotonic() + DEADLINE_S
        while count < expected:
            if time.monotonic() > deadline:
                raise BenchStalled(
                    f"raw group consumer read {count} of {expected} events in {DEADLINE_S:.0f} s"
                )
            for records in consumer.poll(timeout_ms=1000).values():
                if first is None:
                    first = time.perf_counter()
                for record in records:
                    size += len(record.value)
                count += len(records)
        done = time.perf_counter()
        assert first is not None
        return first - started, done - first
    finally:
        consumer.close(autocommit=False)


def projector_fold(settings: KafkaSettings, n_events: int) -> tuple[float, float]:
    """A fresh Projector (fresh group, fresh snapshot db, its fetch process included)
    folding ``n_events`` from the topic: (seconds from start to the first record folded,
    seconds from then until the last)."""
    with tempfile.TemporaryDirectory(prefix="projector-bench-") as tmp:
        started = time.perf_counter()
        first: float | None = None
        projector = Projector(
            settings,
            group=f"bench-projector-{uuid.uuid4().hex[:8]}",
            state_db=Path(tmp) / "bench.db",
        )
        thread = threading.Thread(target=projector.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + DEADLINE_S
        try:
            while True:
                with projector.lock:
                    handled = sum(v.next_offset for v in projector.parts.values())
                    held = sorted(projector.parts)
                if handled and first is None:
                    first = time.perf_counter()
                if handled >= n_events:
                    break
                if not thread.is_alive():
                    raise BenchStalled(f"projector stopped after {handled} of {n_events} events")
                if time.monotonic() > deadline:
                    raise BenchStalled(
                        f"projector folded {handled} of {n_events} events in {DEADLINE_S:.0f} s"
                        f" (holding partitions {held})"
                    )
                time.sleep(0.002)
        except BaseException:
            projector.stop()
            thread.join(30)
            raise
        done = time.perf_counter()
        with projector.lock:
            folded = sum(v.state.events_applied for v in projector.parts.values())
        projector.stop()
        thread.join(30)
    if folded != n_events:
        raise AssertionError(f"folded {folded} events, expected {n_events}")
    assert first is not None
    return first - started, done - first


def consume_and_fold(
    bootstrap: str, topic: str, n_events: int, rounds: int = ROUNDS
) -> dict[str, Any]:
    """Time a Projector folding ``n_events`` from ``topic`` and a raw group consumer reading
    them, alternating, ``rounds`` times each. Rates are throughput, from the first record to
    the last (joining the group and, for the projector, starting its fetch process are
    reported apart as ``*_start_s``), from each path's best round (the broker's page cache and
    the machine's other load move single rounds by ±30 %)."""
    settings = _settings(bootstrap, topic)
    raw: list[tuple[float, float]] = []
    ours: list[tuple[float, float]] = []
    for _ in range(rounds):
        raw.append(raw_group_consume(settings, n_events))
        ours.append(projector_fold(settings, n_events))
    raw_rate = n_events / min(t for _, t in raw)
    fold_rate = n_events / min(t for _, t in ours)
    return {
        "events": n_events,
        "rounds": rounds,
        "raw_group_start_s": round(min(s for s, _ in raw), 3),
        "projector_start_s": round(min(s for s, _ in ours), 3),
        "raw_group_consume_s": [round(t, 3) for _, t in raw],
        "projector_s": [round(t, 3) for _, t in ours],
        "raw_group_consume_per_s": round(raw_rate),
        "projector_consume_fold_per_s": round(fold_rate),
        "consume_fold_ratio": round(fold_rate / raw_rate, 3),
    }


def run(n_events: int = 100_000, bootstrap: str | None = None) -> dict[str, Any]:
    """Publish ``n_events`` demo events to a fresh topic, then :func:`consume_and_fold`."""
    if bootstrap is None:
        from services.kafka.broker import KafkaBroker

        with tempfile.TemporaryDirectory(prefix="kafka-bench-") as tmp, KafkaBroker(tmp) as broker:
            return run(n_events, broker.bootstrap)
    topic = f"bench-projector-{uuid.uuid4().hex[:8]}"
    published = _publish_demo(bootstrap, topic, n_events)
    gc.collect()  # the run's events are gone, as in a projector process of its own
    return consume_and_fold(bootstrap, topic, published)


def _publish_demo(bootstrap: str, topic: str, n_events: int) -> int:
    events = demo_events(n_events)
    our_publish(_settings(bootstrap, topic), events)
    return len(events)


def main(argv: list[str]) -> int:
    return run_from_argv(run, argv, 100_000)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
