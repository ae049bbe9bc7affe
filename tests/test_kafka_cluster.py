"""A replicated 3-broker KRaft cluster on this machine (:class:`KafkaCluster`) under a sharded
run: the run's topic gets the configured partitions (12: a multiple of the 2 shards and at
least the 2 projectors of the group), 3 replicas and ``min.insync.replicas`` 2; two shard
processes (``twin run --shard 0/2`` and ``1/2``) publish to it while two projectors of one
group consume, and one broker, leader of partitions of both shards, is killed with kill -9
while both shards publish. Then both shards exit 0, nothing is lost and nothing duplicated
(the projectors together folded exactly the unsharded run's event count; the topic holds each
shard's wire offsets ``j·2 + K`` once, gap-free), and the folds merge to the unsharded run's.

The pause is measured, not bounded (the project's rule: no wall-clock limits in tests; CI
machines can be several times slower): the leader election, from the kill until the metadata
names a live leader for every partition the dead broker led, and the longest stall of event
flow to the projectors (their combined folded count not moving) after the kill; both are
printed (``-s``). No relation between the two is asserted: the stall is sampled from the
projectors' metrics and the election from metadata this process polls, so "the stall ends
after the election" can be observed reversed when a projector learns the new leader before
this test's poll does; and the stall depends on how far behind the projectors run (one still
folding a backlog of live partitions does not stall at all), so any bound would flake or say
nothing. What is asserted about the failover does not depend on speed: the kill lands while
both shards are mid-publish (a condition on the topic's records, not a sleep), and every
partition the dead broker led received records after the kill, i.e. the shards' producers
moved to the new leaders.

Every wait is on a condition with a generous deadline (only to detect a hang); every process
started here is stopped in ``finally`` (the shards with die-with-parent as well).
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.admin import ConfigResource
from kafka.errors import KafkaError
from summaries import assert_same_summary
from test_projector import ProjectorProcess, Series, poll_until
from test_shards import _read_partitions, pool_spares_text

from services.cli import main
from services.eventlog import SqliteEventLog
from services.kafka.broker import BrokerError, KafkaCluster
from services.kafka.log import KafkaEventLog
from services.kafka.publisher import ensure_topic
from services.kafka.settings import load_settings
from services.processes import die_with_parent
from twin.projections import FleetState, fold

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

REPO = Path(__file__).resolve().parent.parent
DEADLINE_S = 600.0  # conditions, not speed: only to detect a hang on a busy 2-core machine
START_TIMEOUT_S = 180.0  # three JVMs starting at once on a busy 2-core machine
UNTIL = "20d"  # ~156,000 events, 41 % of them shard 0's: ~10 s of publishing here
PARTITIONS = 12  # a multiple of the shards, at least the projectors of the group
SHARDS = 2
PROJECTORS = 2
GROUP = "cluster"
KILL_AFTER = 2000  # the kill: once each shard has this many records on the topic...
KILL_BEFORE = 0.3  # ...and the topic less than this share of the run (each shard has more)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaCluster]:
    cluster = KafkaCluster(tmp_path_factory.mktemp("cluster"), 3)
    try:
        cluster.start(START_TIMEOUT_S)
    except BrokerError as exc:
        pytest.fail(f"local Kafka cluster could not start: {exc}", pytrace=False)
    try:
        yield cluster
    finally:
        cluster.stop()


def _describe(bootstrap: str, topic: str) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The topic's partitions (leader, replicas, ISR) and its effective configs."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap.split(","), request_timeout_ms=5000)
    try:
        (described,) = admin.describe_topics([topic])
        configs = admin.describe_configs([ConfigResource("TOPIC", topic)])
    finally:
        admin.close()
    values = {k: v["value"] for k, v in configs["topic"][topic].items()}
    return described["partitions"], values


class Election(threading.Thread):
    """Polls the topic's metadata (from the surviving brokers) until every partition in
    ``led`` has a live leader other than ``victim``; ``done_at`` is when that was first seen."""

    def __init__(self, bootstrap: str, topic: str, victim: int, led: list[int]) -> None:
        super().__init__(daemon=True)
        self.bootstrap, self.topic, self.victim, self.led = bootstrap, topic, victim, set(led)
        self.done_at: float | None = None
        self.leaders: dict[int, int] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        admin = None
        while not self.stop.is_set():
            try:
                if admin is None:
                    admin = KafkaAdminClient(
                        bootstrap_servers=self.bootstrap.split(","), request_timeout_ms=5000
                    )
                (described,) = admin.describe_topics([self.topic])
                leaders = {p["partition_index"]: p["leader_id"] for p in described["partitions"]}
                if all(leaders.get(p) not in (None, -1, self.victim) for p in self.led):
                    self.done_at, self.leaders = time.monotonic(), leaders
                    break
            except KafkaError:  # the client may try the dead node before it is fenced
                pass
            self.stop.wait(0.05)
        if admin is not None:
            with contextlib.suppress(Exception):
                admin.close()


def _total(m: Series, name: str) -> float:
    return sum(v for (n, _), v in m.items() if n == name)


def _last_offsets(m: Series) -> dict[int, float]:
    """The Kafka offset last folded, by partition."""
    return {int(dict(labels)["partition"]): v for (n, labels), v in m.items()
            if n == "twin_last_offset"}  # fmt: skip


def _longest_gap(times: list[float]) -> float:
    return max((b - a for a, b in zip(times, times[1:], strict=False)), default=0.0)


def test_a_broker_killed_under_two_shards_and_two_projectors_loses_nothing(
    cluster: KafkaCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    t0 = time.monotonic()
    bootstrap = cluster.bootstrap
    topic = f"cluster-{uuid.uuid4().hex[:10]}"
    scenario = tmp_path / "pool-spares.toml"
    scenario.write_text(pool_spares_text())  # shardable: robots and spares per plane

    # the unsharded run: the event count and the fold every route must reach
    whole = tmp_path / "whole.twinlog"
    with contextlib.redirect_stdout(io.StringIO()):
        code = main(["run", str(scenario), "--until", UNTIL, "--log", str(whole), "--quiet"])
    assert code == 0
    with SqliteEventLog(whole) as log:
        expected_state = fold(log.read())
        n_events = len(log)
    expected = expected_state.summary()
    expected.pop("position")  # the shards' wire offsets interleave: another last offset

    # the topic, as an operator creates it for a big run (docs/operators.md): the settings
    # from the environment, before the shards start
    monkeypatch.setenv("TWIN_KAFKA_PARTITIONS", str(PARTITIONS))
    monkeypatch.setenv("TWIN_KAFKA_REPLICATION_FACTOR", "3")
    monkeypatch.setenv("TWIN_KAFKA_MIN_INSYNC_REPLICAS", "2")
    assert ensure_topic(load_settings(bootstrap=bootstrap, topic=topic))
    # the broker that answers may not know the new topic yet (its metadata spreads from the
    # controller): ask until every partition is there with its replicas in sync
    described: dict[str, Any] = {}

    def complete() -> bool:
        try:
            described["partitions"], described["configs"] = _describe(bootstrap, topic)
        except KafkaError:  # not known to the broker asked, yet
            return False
        parts = described["partitions"]
        return len(parts) == PARTITIONS and all(len(p["isr_nodes"]) == 3 for p in parts)  # noqa: PLR2004

    poll_until(complete, DEADLINE_S, 0.2)
    partitions, configs = described["partitions"], described["configs"]
    assert len(partitions) == PARTITIONS
    assert all(len(p["replica_nodes"]) == 3 for p in partitions), partitions
    assert all(sorted(p["isr_nodes"]) == [1, 2, 3] for p in partitions), partitions
    assert configs["min.insync.replicas"] == "2"

    db = tmp_path / "projector.db"
    projectors: list[ProjectorProcess] = []
    shards: list[subprocess.Popen[bytes]] = []
    outs = [tmp_path / f"shard{k}.out" for k in range(SHARDS)]
    errs = [tmp_path / f"shard{k}.err" for k in range(SHARDS)]
    consumer: KafkaConsumer | None = None
    election: Election | None = None
    try:
        # two projectors of one group, each folding 6 partitions, ready before any record
        projectors = [ProjectorProcess(bootstrap, topic, GROUP, db) for _ in range(PROJECTORS)]
        seen: dict[str, Any] = {}

        def assigned() -> bool:
            ms = [p.metrics() for p in projectors]
            seen["partitions"] = [_total(m, "twin_projector_partitions") for m in ms]
            ready = [p.get("/readyz")[0] for p in projectors]
            return (
                ready == [200] * PROJECTORS
                and seen["partitions"] == [PARTITIONS // PROJECTORS] * PROJECTORS
            )

        assert poll_until(assigned, DEADLINE_S, 0.2), f"group not formed: {seen}"

        def error_of(k: int) -> str:
            return errs[k].read_text()[-3000:]

        def scrape() -> list[Series]:
            """Both projectors' metrics (a projector that died fails the test)."""
            for p in projectors:
                assert p.proc.poll() is None, p.log_path.read_text()[-3000:]
            return [p.metrics() for p in projectors]

        def folded() -> float:
            try:
                return sum(_total(m, "twin_events_consumed_total") for m in scrape())
            except OSError:  # a scrape timed out on a busy machine: not yet
                return 0.0

        # the broker to kill: the one leading the most partitions of both shards (leadership
        # only moves on a failure)
        leaders = {p["partition_index"]: p["leader_id"] for p in partitions}
        both = [b for b in set(leaders.values())
                if {p % SHARDS for p, leader in leaders.items() if leader == b} == {0, 1}]  # fmt: skip
        assert both, f"no broker leads partitions of both shards: {leaders}"
        victim = max(both, key=list(leaders.values()).count)
        led = sorted(p for p, leader in leaders.items() if leader == victim)
        command = [sys.executable, "-m", "services.cli", "run", str(scenario), "--until", UNTIL,
                   "--bootstrap-server", bootstrap, "--topic", topic, "--quiet", "--json"]  # fmt: skip
        for k in range(SHARDS):
            shard_log = tmp_path / f"shard{k}.twinlog"
            with outs[k].open("wb") as out, errs[k].open("wb") as err:
                shards.append(
                    subprocess.Popen(
                        [*command, "--shard", f"{k}/{SHARDS}", "--log", str(shard_log)],
                        cwd=REPO,
                        stdout=out,
                        stderr=err,
                        preexec_fn=die_with_parent,
                        env={**os.environ, "PYTHONPATH": str(REPO)},
                    )
                )

        # the moment of the kill: both shards publishing (records of each on the topic, and
        # the topic short of KILL_BEFORE of the run, less than either shard's share), and
        # the projectors folding
        consumer = KafkaConsumer(bootstrap_servers=bootstrap.split(","))
        tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        deadline = time.monotonic() + DEADLINE_S
        while True:
            for k, shard in enumerate(shards):
                assert shard.poll() is None, f"shard {k} ended before the kill: {error_of(k)}"
            ends = {tp.partition: n for tp, n in consumer.end_offsets(tps).items()}
            per_shard = [sum(n for p, n in ends.items() if p % SHARDS == k) for k in range(SHARDS)]
            if min(per_shard) >= KILL_AFTER and folded() > 0:
                break
            assert time.monotonic() < deadline, f"the shards do not publish: {per_shard}"
            time.sleep(0.02)
        consumer.close()
        consumer = None
        assert sum(per_shard) < KILL_BEFORE * n_events, (
            f"the shards published {per_shard} of {n_events:,} before the kill: too fast "
            "for this test to kill a broker mid-publish; raise UNTIL"
        )

        alive = ",".join(n.bootstrap for n in cluster.nodes if n.node_id != victim)
        killed_at = time.monotonic()
        cluster.node(victim).kill()
        election = Election(alive, topic, victim, led)
        election.start()
        print(f"\nkill -9 broker {victim}, leader of partitions {led}, with {per_shard} "
              f"records of the shards on the topic (of {n_events:,})")  # fmt: skip

        # until both shards have ended and the projectors folded every event
        samples: list[tuple[float, float, dict[int, float]]] = []
        running = list(shards)
        deadline = time.monotonic() + DEADLINE_S
        while True:
            now = time.monotonic()
            try:
                ms = scrape()
            except OSError:  # a scrape timed out on a busy machine: no sample this time
                ms = []
            if ms:
                last: dict[int, float] = {}
                for m in ms:
                    last.update(_last_offsets(m))
                total = sum(_total(m, "twin_events_consumed_total") for m in ms)
                samples.append((now, total, last))
            for k, shard in enumerate(shards):
                if shard in running and shard.poll() is not None:
                    assert shard.returncode == 0, f"shard {k} failed: {error_of(k)}"
                    running.remove(shard)
            if not running and samples and samples[-1][1] >= n_events:
                break
            assert time.monotonic() < deadline, (
                f"stuck: shards running {len(running)}, folded "
                f"{samples[-1][1] if samples else '?'} of {n_events:,}"
            )
            time.sleep(0.1)
        for k in range(SHARDS):
            assert "publishing stopped" not in errs[k].read_text(), error_of(k)

        assert poll_until(lambda: not election.is_alive(), DEADLINE_S), "no new leaders"  # type: ignore[union-attr]
        assert election.done_at is not None, "no new leaders"
        election_s = election.done_at - killed_at
        # the stall: the longest wait, from the kill on, for the folded count to move
        moved = [t for (t, n, _), (_, m, _) in zip(samples[1:], samples, strict=False) if n > m]
        stall_s = _longest_gap([killed_at, *moved])
        # the dead leader's partitions flowing again: every one of them folded past its end
        # offset seen before the kill
        resumed = next((t for t, _, last in samples
                        if all(last.get(p, -1) >= ends[p] for p in led)), None)  # fmt: skip
        resumed_s = f"{resumed - killed_at:.2f} s" if resumed is not None else "never"
        print(f"new leaders seen {election_s:.2f} s after the kill; longest stall of the "
              f"projectors' flow {stall_s:.2f} s; the dead leader's partitions folded again "
              f"{resumed_s} after the kill; all folded {moved[-1] - killed_at:.1f} s after it "
              f"({len(samples)} samples)")  # fmt: skip

        # the topic, read back raw: every event once, each partition one shard's, gap-free
        parts = _read_partitions(alive, topic)
        assert sum(len(events) for events in parts.values()) == n_events
        by_shard: dict[int, list[int]] = {k: [] for k in range(SHARDS)}
        for p, events in parts.items():
            offsets = [e.offset for e in events]
            assert offsets == sorted(offsets), f"partition {p}: out of order"
            assert {o % SHARDS for o in offsets} == {p % SHARDS}, f"partition {p}: mixed shards"
            by_shard[p % SHARDS] += offsets
        for k, offsets in by_shard.items():
            assert sorted(offsets) == list(range(k, SHARDS * len(offsets), SHARDS)), (
                f"shard {k}: gaps or duplicates"
            )
            assert len(offsets) > KILL_BEFORE * n_events  # each shard was mid-publish
        # the producers failed over: each partition the dead broker led grew after the kill
        for p in led:
            assert len(parts[p]) > ends[p], f"partition {p}: nothing published after the kill"

        # the partitions' folds merge to the unsharded run's fold
        merged = FleetState.merge([fold(events) for events in parts.values()]).summary()
        merged.pop("position")
        assert_same_summary(merged, expected)

        # the topic read back as one log (`twin replay`): the unsharded run's state
        with KafkaEventLog(alive, topic=topic, create=False) as read_back:
            replayed = fold(read_back.read()).summary()
        replayed.pop("position")
        assert_same_summary(replayed, expected)

        # the projectors: every event folded once, nothing dead-lettered; one leaves the
        # group and the other, then folding all 12 partitions, holds the whole fleet's state
        ms = [p.metrics() for p in projectors]
        assert sum(_total(m, "twin_events_consumed_total") for m in ms) == n_events
        assert sum(_total(m, "twin_dead_letters_total") for m in ms) == 0
        assert sum(_total(m, "twin_decode_errors_total") for m in ms) == 0
        survivor, leaver = projectors
        leaver.stop()

        def alone() -> bool:
            m = survivor.metrics()
            seen["alone"] = (_total(m, "twin_projector_partitions"),
                             _total(m, "twin_events_consumed_total"))  # fmt: skip
            return seen["alone"] == (PARTITIONS, n_events) and survivor.get("/readyz")[0] == 200

        assert poll_until(alone, DEADLINE_S, 0.2), f"the survivor did not take over: {seen}"
        state = survivor.json("/state")
        state.pop("position")
        assert_same_summary(state, expected)
        print(f"test body {time.monotonic() - t0:.1f} s")
    finally:
        if election is not None:
            election.stop.set()
        if consumer is not None:
            consumer.close()
        for shard in shards:
            if shard.poll() is None:
                shard.kill()
                shard.wait(10)
        for projector in projectors:
            projector.stop()
