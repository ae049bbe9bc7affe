"""The projector side of the fetch pipe: message order and seek epochs.

The fetch process itself runs against a real broker in ``test_projector.py`` (every projector
test goes through it, including kill -9 of either process). Here the pipe is driven from the
test, as the fetch process would write it, to pin down the two rules the projector's
correctness rests on: a control message is handed over after every record sent before it and
before any sent after it, and records fetched before a seek are never handed over after it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from multiprocessing.connection import Connection
from typing import Any

import pytest

from services.kafka.fetcher import Assigned, EndOffsets, FetchWorker, Records, Revoked, _widen_pipe


class _NoProcess:
    def poll(self) -> int:
        return 1


@pytest.fixture
def pipe() -> Iterator[tuple[FetchWorker, Connection, Connection]]:
    """A FetchWorker wired to pipes the test writes and reads in place of a fetch process."""
    down_r, down_w = os.pipe()
    up_r, up_w = os.pipe()
    _widen_pipe(up_w)  # as the real records pipe: the tests write before they read
    worker = FetchWorker.__new__(FetchWorker)
    worker._from_fetch = Connection(up_r, writable=False)
    worker._to_fetch = Connection(down_w, readable=False)
    worker._epochs, worker._highwater, worker._pending, worker._closed = {}, {}, None, False
    worker.process = _NoProcess()  # type: ignore[assignment]
    fetch_out = Connection(up_w, readable=False)
    fetch_in = Connection(down_r, writable=False)
    yield worker, fetch_out, fetch_in
    for conn in (worker._from_fetch, worker._to_fetch, fetch_out, fetch_in):
        conn.close()


def records(partition: int, epoch: int, first: int, n: int) -> tuple[Any, ...]:
    offsets = list(range(first, first + n))
    return (partition, epoch, offsets, [b"k"] * n, [b"v%d" % o for o in offsets])


def test_control_messages_come_after_the_records_before_them(pipe: Any) -> None:
    worker, out, _ = pipe
    out.send(("records", [records(0, 0, 0, 3)], {0: 10}))
    out.send(("records", [records(1, 0, 0, 2)], {1: 5}))
    out.send(("revoked", [0, 1]))
    out.send(("records", [records(0, 0, 3, 1)], {}))
    first = worker.poll(1.0)
    assert [type(m) for m in first] == [Records, Records]
    assert first[0] == Records(0, [0, 1, 2], [b"k"] * 3, [b"v0", b"v1", b"v2"])
    assert worker.highwater(0) == 10 and worker.highwater(1) == 5
    assert worker.poll(1.0) == [Revoked([0, 1])]
    assert worker.poll(1.0) == [Records(0, [3], [b"k"], [b"v3"])]
    assert worker.poll(0.05) == []


def test_records_fetched_before_a_seek_are_dropped(pipe: Any) -> None:
    worker, out, fetch_in = pipe
    out.send(("records", [records(2, 0, 0, 4)], {}))
    assert [m.offsets for m in worker.poll(1.0)] == [[0, 1, 2, 3]]
    worker.seek(2, 1)  # e.g. a dead-letter of offset 1 failed: fetch again from there
    assert fetch_in.recv() == ("seek", (2, 1))
    # already in the pipe when the fetch process saw the seek: epoch 0, dropped
    out.send(("records", [records(2, 0, 4, 2), records(3, 0, 0, 1)], {}))
    # fetched after the seek: epoch 1
    out.send(("records", [records(2, 1, 1, 3)], {}))
    got = [(m.partition, m.offsets) for m in worker.poll(1.0)]
    assert got == [(3, [0]), (2, [1, 2, 3])]


def test_an_assignment_answer_starts_a_new_epoch(pipe: Any) -> None:
    worker, out, fetch_in = pipe
    out.send(("assigned", [0, 4]))
    out.send(("records", [records(4, 0, 7, 1)], {}))  # stale: before the answer
    assert worker.poll(1.0) == [Assigned([0, 4])]
    worker.assigned_done({0: 0, 4: 7})
    assert fetch_in.recv() == ("assigned_ack", {0: 0, 4: 7})
    out.send(("ends", {0: 3, 4: 9}))
    out.send(("records", [records(4, 1, 7, 2)], {4: 9}))
    assert worker.poll(1.0) == [EndOffsets({0: 3, 4: 9})]
    assert worker.poll(1.0) == [Records(4, [7, 8], [b"k"] * 2, [b"v7", b"v8"])]


def test_a_poll_returns_once_it_holds_enough_records(pipe: Any) -> None:
    """A fetch process that is always ahead must not keep the projector reading forever."""
    worker, out, _ = pipe
    for first in range(0, 12_000, 2000):  # ~200 KB: fits the widened pipe
        out.send(("records", [records(0, 0, first, 2000)], {}))
    sizes = [sum(len(m.offsets) for m in worker.poll(1.0)) for _ in range(3)]
    assert sizes == [6000, 6000, 0]


def test_repeated_log_lines_pass_once_a_minute_with_a_count() -> None:
    """kafka-python logs a missing topic on every metadata refresh (~10 lines a second): the
    fetch process lets each distinct line through once a minute, saying how many it held."""
    import logging

    from services.kafka.fetcher import Repeats

    now = [0.0]
    repeats = Repeats(every_s=60.0, clock=lambda: now[0])

    def line(msg: str, *args: Any) -> logging.LogRecord:
        return logging.LogRecord("kafka.cluster", logging.ERROR, __file__, 1, msg, args, None)

    missing = "Topic %s not found in cluster metadata"
    assert repeats.filter(line(missing, "t"))  # the first
    passed = []
    for _ in range(99):  # 10 s at ~10 a second
        now[0] += 0.1
        passed.append(repeats.filter(line(missing, "t")))
    assert not any(passed)
    assert repeats.filter(line(missing, "other"))  # another message is another line
    now[0] = 61.0
    record = line(missing, "t")
    assert repeats.filter(record)
    assert record.getMessage() == (
        "Topic t not found in cluster metadata (99 more like it in the last 61 s)"
    )
    now[0] = 200.0
    record = line(missing, "t")
    assert repeats.filter(record) and record.getMessage() == missing % "t"  # none held back
