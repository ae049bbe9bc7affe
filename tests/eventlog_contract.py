"""The contract every :class:`services.eventlog.EventLog` adapter must meet.

Use it by subclassing in a test module and providing a ``make_log`` fixture that returns a
factory of fresh, empty, writable logs (each call a new log; the suite closes them)::

    class TestSqliteEventLog(EventLogContract):
        @pytest.fixture
        def make_log(self, tmp_path):
            paths = (tmp_path / f"log{i}.sqlite" for i in itertools.count())
            return lambda: SqliteEventLog(next(paths), mode="w")

The suite only uses the port (append, read, read_raw, read_until, read_raw_until, len,
next_offset, info, close, context manager), so the Kafka adapter runs it unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from factories import EventFactory

from services.eventlog import EventLog, LogAppendError
from twin.events import encode

MakeLog = Callable[[], EventLog]


def sample_run(n_sats: int = 3, run_id: str = "contract-run") -> list[Any]:
    """A small legal run: each satellite goes operational then crosses the shadow twice."""
    f = EventFactory(run_id=run_id)
    events = [f.scenario_started(satellites_planned=n_sats)]
    for i in range(n_sats):
        events += f.to_operational(f"sat-{i}", t_s=10.0 * i)
    t_s = 100.0
    for _ in range(2):
        for i in range(n_sats):
            events.append(f.event("eclipse_entered", f"sat-{i}", t_s=t_s))
            t_s += 60.0
        for i in range(n_sats):
            events.append(f.event("eclipse_exited", f"sat-{i}", t_s=t_s, duration_s=1800.0))
        t_s += 1800.0
    events.append(f.event("scenario_finished", t_s=t_s, events=len(events) + 1))
    return events


class EventLogContract:
    """Tests every adapter must pass. Subclass as ``Test<Adapter>`` and define ``make_log``."""

    @pytest.fixture
    def log(self, make_log: MakeLog) -> Iterator[EventLog]:
        log = make_log()
        try:
            yield log
        finally:
            log.close()

    @pytest.fixture
    def events(self) -> list[Any]:
        return sample_run()

    # ---------------------------------------------------------------- append and read

    def test_new_log_is_empty(self, log: EventLog) -> None:
        assert len(log) == 0
        assert log.next_offset == 0
        assert list(log.read()) == []
        assert list(log.read_raw()) == []
        info = log.info()
        assert info["count"] == 0
        assert info["counts_by_type"] == {}

    def test_append_then_read_everything_in_order(self, log: EventLog, events: list[Any]) -> None:
        log.append(events)
        assert len(log) == log.next_offset == len(events)
        assert list(log.read()) == events
        assert list(log.read_raw()) == [encode(e) for e in events]

    def test_stores_exactly_the_codec_bytes(self, log: EventLog, events: list[Any]) -> None:
        log.append(events)
        for raw, event in zip(log.read_raw(), events, strict=True):
            assert isinstance(raw, bytes)
            assert raw == encode(event)

    def test_batches_accumulate(self, log: EventLog, events: list[Any]) -> None:
        for start in range(0, len(events), 4):
            log.append(events[start : start + 4])
            assert len(log) == min(start + 4, len(events))
        log.append([])  # an empty batch is a no-op
        assert list(log.read()) == events

    def test_read_by_offset_range(self, log: EventLog, events: list[Any]) -> None:
        log.append(events)
        n = len(events)
        assert list(log.read(5, 9)) == events[5:9]
        assert list(log.read(5)) == events[5:]
        assert list(log.read(0, 1)) == events[:1]
        assert list(log.read(n)) == []
        assert list(log.read(n + 10)) == []
        assert list(log.read(3, 3)) == []
        assert list(log.read(4, n + 100)) == events[4:]
        assert list(log.read_raw(2, 4)) == [encode(e) for e in events[2:4]]

    def test_read_until_sim_time(self, log: EventLog, events: list[Any]) -> None:
        log.append(events)
        for event in events:
            expected = [e for e in events if e.sim_time <= event.sim_time]
            assert list(log.read_until(event.sim_time)) == expected
        assert list(log.read_until("2000-01-01T00:00:00Z")) == []
        assert list(log.read_until("2100-01-01T00:00:00Z")) == events

    def test_read_until_accepts_any_iso_form(self, log: EventLog, events: list[Any]) -> None:
        log.append(events)
        # 00:01:40Z is the first eclipse (t=100 s); with and without milliseconds, or an offset
        at_100 = [e for e in events if e.sim_time <= "2026-11-23T00:01:40.000Z"]
        assert list(log.read_until("2026-11-23T00:01:40Z")) == at_100
        assert list(log.read_until("2026-11-23T01:01:40+01:00")) == at_100
        assert list(log.read_raw_until("2026-11-23T00:01:40Z")) == [encode(e) for e in at_100]

    def test_reads_are_repeatable_and_independent(self, log: EventLog, events: list[Any]) -> None:
        log.append(events)
        a, b = log.read(), log.read(3)
        assert next(a) == events[0]
        assert next(b) == events[3]
        assert list(a) == events[1:]
        assert list(b) == events[4:]

    def test_append_while_a_reader_is_open(self, log: EventLog, events: list[Any]) -> None:
        log.append(events[:10])
        reader = log.read()
        assert next(reader) == events[0]
        log.append(events[10:])
        assert list(log.read()) == events

    # ---------------------------------------------------------------- info

    def test_info(self, log: EventLog, events: list[Any]) -> None:
        log.append(events)
        info = log.info()
        assert info["run_id"] == "contract-run"
        assert info["scenario"] == "test"
        assert info["count"] == len(events)
        assert info["first_sim_time"] == events[0].sim_time
        assert info["last_sim_time"] == events[-1].sim_time
        counts: dict[str, int] = {}
        for e in events:
            counts[e.type] = counts.get(e.type, 0) + 1
        assert info["counts_by_type"] == counts

    # ---------------------------------------------------------------- refusals (atomicity)

    def _refused(self, log: EventLog, batch: list[Any], before: list[Any], match: str) -> None:
        with pytest.raises(LogAppendError, match=match):
            log.append(batch)
        assert len(log) == len(before)
        assert list(log.read()) == before

    def test_refuses_a_batch_not_starting_at_next_offset(
        self, log: EventLog, events: list[Any]
    ) -> None:
        log.append(events[:5])
        self._refused(log, events[6:9], events[:5], "offset 6, the log expects 5")
        self._refused(log, events[3:9], events[:5], "offset 3, the log expects 5")
        log.append(events[5:])
        assert list(log.read()) == events

    def test_a_bad_event_mid_batch_writes_nothing(self, log: EventLog, events: list[Any]) -> None:
        log.append(events[:5])
        batch = events[5:12] + events[13:]  # a hole at 12
        self._refused(log, batch, events[:5], "offset 13, the log expects 12")

    def test_refuses_another_run(self, log: EventLog, events: list[Any]) -> None:
        log.append(events[:5])
        stranger = sample_run(run_id="other-run")[5:7]
        self._refused(log, stranger, events[:5], "other-run")

    def test_refuses_time_going_backwards(self, log: EventLog, events: list[Any]) -> None:
        log.append(events[:20])
        back = events[20].model_copy(update={"sim_time": events[0].sim_time})
        self._refused(log, [back], events[:20], "before")

    def test_refuses_non_wire_times(self, log: EventLog, events: list[Any]) -> None:
        odd = events[0].model_copy(update={"sim_time": "2026-11-23T00:00:00Z"})
        self._refused(log, [odd], [], "wire form")

    # ---------------------------------------------------------------- lifecycle

    def test_context_manager_closes(self, make_log: MakeLog, events: list[Any]) -> None:
        with make_log() as log:
            log.append(events[:3])
            assert len(log) == 3
        log.close()  # closing twice is harmless
