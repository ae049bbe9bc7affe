"""The projection runner in-process, over the SQLite adapter (no broker).

The log: a few satellites of a 3-day demo run (launches, eclipses, load shedding, faults and a
completed repair), with poison rows slipped in: bytes that are not JSON, an unknown event type,
and a replayed event that decodes but that the fold refuses. Seen as 3 partitions the way the
Kafka publisher lays a run out on a topic.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from logfiles import write_raw_log
from summaries import assert_same_summary

from services.eventlog import SqliteEventLog
from services.kafka.publisher import partition_for, record_key
from services.projector.http import merged_summary
from services.projector.runner import (
    DeadLetter,
    ProjectionRunner,
    TrackingStore,
    catch_up,
)
from services.projector.sqlite_source import SqliteDeadLetters, SqlitePartitionedLog
from twin.events import EventBase, encode
from twin.projections import FleetState, fold
from twin.sim.engine import config_from_scenario, simulate
from twin.sim.scenario import resolve_scenario
from twin.timeutil import parse_duration

PARTITIONS = 3
POISON_REASONS = {"invalid_json": 1, "unknown_type": 1, "event_order": 1}
DECODE_REASONS = {"invalid_json": 1, "unknown_type": 1}


@pytest.fixture(scope="module")
def events() -> list[EventBase]:
    """A few satellites of a 3-day demo run, renumbered 0.. (a valid log of its own)."""
    scenario = resolve_scenario("demo")
    run = simulate(
        config_from_scenario(scenario, until_s=parse_duration("3d")), scenario.scenario.seed
    )
    repaired = [e.satellite for e in run if e.type == "repair_completed"]
    faulted = [e.satellite for e in run if e.type == "fault_detected"]
    keep = set(repaired[:1]) | set(faulted[:3]) | {"S0-P00-000", "S1-P00-000"}
    chosen = (e for e in run if e.satellite is None or e.satellite in keep)
    return [e.model_copy(update={"offset": i}) for i, e in enumerate(chosen)]


@pytest.fixture(scope="module")
def log_path(events: list[EventBase], tmp_path_factory: pytest.TempPathFactory) -> Path:
    rows: list[tuple[str, bytes]] = [(e.sim_time, encode(e)) for e in events]
    third = len(events) // 3
    a, b = events[third], events[2 * third]
    good = json.loads(encode(b))
    poison = [
        (third, (a.sim_time, b"{not json")),
        (third + 5, (b.sim_time, json.dumps(dict(good, type="warp")).encode())),
        (2 * third + 1, (b.sim_time, encode(b))),  # replayed: event_order
    ]
    for at, row in reversed(poison):
        rows.insert(at, row)
    path = tmp_path_factory.mktemp("log") / "run.db"
    write_raw_log(path, rows)
    return path


@pytest.fixture(scope="module")
def expected(events: list[EventBase]) -> dict[str, Any]:
    return fold(events).summary()


class Run:
    """A runner over the log with its tracking store and dead-letter table in ``db``."""

    def __init__(
        self,
        log_path: Path,
        db: Path,
        partitions: int = PARTITIONS,
        *,
        source: SqlitePartitionedLog | None = None,
        group: str = "test",
        **opts: Any,
    ) -> None:
        self.source = source or SqlitePartitionedLog(log_path, partitions)
        self.sink = SqliteDeadLetters(db, f"{group}:{self.source.name}")
        store = TrackingStore(db, group, self.source.name)
        self.runner: ProjectionRunner[FleetState] = ProjectionRunner(
            FleetState, store, self.sink, clock=lambda: 0.0, **opts
        )

    def crash(self) -> None:
        """Drop the runner without its final snapshot."""
        self.runner.store.close()
        self.sink.close()

    def summary(self) -> dict[str, Any]:
        views = self.runner.views()
        return merged_summary([v.state for v in views])

    def counters(self) -> tuple[dict[str, int], dict[str, int]]:
        dead: dict[str, int] = {}
        decode: dict[str, int] = {}
        for v in self.runner.views():
            for src, dst in ((v.dead_letters, dead), (v.decode_errors, decode)):
                for k, n in src.items():
                    dst[k] = dst.get(k, 0) + n
        return dead, decode


def schedule(source: SqlitePartitionedLog) -> list[int]:
    """The partition of each log row, in log order: one interleaving of the partitions."""
    owner: dict[int, int] = {}
    for p in source.partitions():
        for log_offset in source.log_offsets(p):
            owner[log_offset] = p
    return [owner[i] for i in range(len(owner))]


# ---------------------------------------------------------------------- the adapter


def test_partitions_follow_kafkas_default_partitioner(log_path: Path) -> None:
    from kafka.partitioner.default import murmur2

    source = SqlitePartitionedLog(log_path, 6)
    for p in source.partitions():
        for record in source.read(p, 0, 10_000):
            assert record.key is not None
            assert (murmur2(record.key) & 0x7FFFFFFF) % 6 == p
    assert partition_for(b"S0-P00-000", 6) == partition_for(b"S0-P00-000", 6)
    assert sum(source.end_offsets(source.partitions()).values()) == len(schedule(source))


def test_keys_are_the_publishers(events: list[EventBase], tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    with SqliteEventLog(path, mode="w") as log:
        log.append(events)
    source = SqlitePartitionedLog(path, 4)
    got = sorted((r.key, r.value) for p in range(4) for r in source.read(p, 0, 100_000))
    assert got == sorted((record_key(e), encode(e)) for e in events)


# ---------------------------------------------------------------------- the runner


@pytest.mark.parametrize("partitions", [1, 2, 6])
def test_merged_partitions_equal_the_one_partition_fold(
    log_path: Path, expected: dict[str, Any], tmp_path: Path, partitions: int
) -> None:
    run = Run(log_path, tmp_path / "t.db", partitions, snapshot_every_events=50)
    assert catch_up(run.runner, run.source, max_records=37)
    assert run.runner.is_ready()
    assert len(run.runner.views()) == partitions
    assert_same_summary(run.summary(), expected)
    assert run.counters() == (POISON_REASONS, DECODE_REASONS)
    assert {x.reason for x in run.sink.letters()} == set(POISON_REASONS)


def test_resume_after_a_crash_at_every_offset(
    log_path: Path, expected: dict[str, Any], tmp_path: Path
) -> None:
    """Crash after each record of the log (any interleaving point of the partitions), restart
    from the tracking store: the same final state, every poison record counted once.

    One runner folds the log record by record (snapshotting every 7 records of a partition);
    after each record a second runner starts from what is durable at that instant (the rows
    and the dead-letter table; the first runner's unsaved progress is what a crash loses),
    catches up without saving, and must end at the fold of the whole log.
    """
    source = SqlitePartitionedLog(log_path, PARTITIONS)
    order = schedule(source)
    db = tmp_path / "crash.db"
    live = Run(log_path, db, source=source, snapshot_every_events=7)
    runner = live.runner
    runner.assign(source.partitions())
    for k in range(len(order) + 1):
        if k:
            p = order[k - 1]
            record = source.read(p, runner.parts[p].next_offset, 1)
            assert runner.fold(p, record) is None
            if runner.snapshot_due():
                runner.snapshot()
        again = Run(log_path, db, source=source, snapshot_every_events=10**9, snapshot_every_s=1e18)
        assert catch_up(again.runner, again.source)
        assert_same_summary(again.summary(), expected, f"crash at {k}")
        assert again.counters() == (POISON_REASONS, DECODE_REASONS), k
        assert sorted(x.reason for x in again.sink.letters()) == sorted(POISON_REASONS)
        again.crash()
    assert_same_summary(live.summary(), expected)


class FlakySink(SqliteDeadLetters):
    """Refuses the first ``refuse`` sends outright, then loses the next ``lose`` waits."""

    def __init__(self, db: Path, source: str, refuse: int, lose: int) -> None:
        super().__init__(db, source)
        self.refuse, self.lose = refuse, lose

    def send(self, letter: DeadLetter) -> None:
        if self.refuse > 0:
            self.refuse -= 1
            raise OSError("dead-letter store unavailable")
        super().send(letter)

    def wait(self) -> list[DeadLetter]:
        if self.lose > 0 and self._pending:
            self.lose -= 1
            pending, self._pending = self._pending, []
            return pending
        return super().wait()


@pytest.mark.parametrize(("refuse", "lose"), [(2, 0), (0, 2), (1, 3)])
def test_a_failing_sink_rewinds_and_nothing_is_lost_or_counted_twice(
    log_path: Path, expected: dict[str, Any], tmp_path: Path, refuse: int, lose: int
) -> None:
    db = tmp_path / "flaky.db"
    run = Run(log_path, db, 1, snapshot_every_events=25)
    flaky = FlakySink(db, run.source.name, refuse, lose)
    run.runner.sink = flaky
    attempts = 0
    while not catch_up(run.runner, run.source):
        attempts += 1
        assert attempts <= refuse + lose, "the sink recovered, the runner must finish"
    assert attempts >= 1
    assert_same_summary(run.summary(), expected)
    assert run.counters() == (POISON_REASONS, DECODE_REASONS)
    assert sorted(x.reason for x in flaky.letters()) == sorted(POISON_REASONS)


def test_revoke_saves_and_a_new_owner_resumes(
    log_path: Path, expected: dict[str, Any], tmp_path: Path
) -> None:
    """Partitions move between two runners sharing one tracking store (a rebalance)."""
    db = tmp_path / "pair.db"
    a, b = Run(log_path, db), Run(log_path, db)
    a.runner.assign([0, 1, 2])
    for p in (0, 1, 2):
        a.runner.fold(p, a.source.read(p, 0, 40))
    moved = a.runner.revoke([1, 2])
    assert [v.partition for v in moved] == [1, 2] and sorted(a.runner.parts) == [0]
    b.runner.assign([1, 2])
    assert {p: b.runner.parts[p].next_offset for p in (1, 2)} == {
        v.partition: v.next_offset for v in moved
    }
    assert catch_up(a.runner, a.source) and catch_up(b.runner, b.source)
    views = a.runner.views() + b.runner.views()
    got = merged_summary([v.state for v in views])
    assert_same_summary(got, expected)


def test_not_ready_until_the_end_offsets_are_folded(log_path: Path, tmp_path: Path) -> None:
    run = Run(log_path, tmp_path / "ready.db")
    runner = run.runner
    runner.assign(run.source.partitions())
    assert not runner.is_ready()  # end offsets not known yet
    runner.set_end_offsets(run.source.end_offsets(run.source.partitions()))
    runner.assignment_complete()
    assert not runner.is_ready()
    assert catch_up(runner, run.source)
    assert runner.is_ready()
    assert runner.lag_sim_seconds() == 0.0


def test_a_row_written_by_the_old_projector_loads(events: list[EventBase], tmp_path: Path) -> None:
    """The tracking table is the projector's ``partition_snapshots``: rows it wrote resume."""
    db = tmp_path / "old.db"
    state = fold(events[:100])
    TrackingStore(db, "g", "topic").close()
    with sqlite3.connect(db) as conn:
        conn.execute(
            "INSERT INTO partition_snapshots VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                "g",
                "topic",
                4,
                100,
                state.to_snapshot(),
                json.dumps(
                    {
                        "decode_errors": {"invalid_json": 2},
                        "dead_letters": {"invalid_json": 2},
                        "spares_seen": [90, 3],
                    }
                ),
                0.0,
            ),
        )
    runner: ProjectionRunner[FleetState] = ProjectionRunner(
        FleetState, TrackingStore(db, "g", "topic"), SqliteDeadLetters(db, "topic")
    )
    assert runner.assign([4, 5]) == {4: 100, 5: 0}
    view = runner.parts[4]
    assert view.state.summary() == state.summary()
    assert view.dead_letters == view.decode_errors == {"invalid_json": 2}
    # spares_seen, written by projectors before the projection split, is ignored: the
    # repairs projection keeps it in the state itself
