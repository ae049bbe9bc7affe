"""A replicated 3-broker KRaft cluster on this machine (:class:`KafkaCluster`): a topic
created for a run gets the configured partitions, 3 replicas and ``min.insync.replicas`` 2;
while a live run publishes and a projector consumes, one broker is killed with kill -9. Then
nothing is lost and nothing is duplicated (the topic equals the run's embedded log), the run
succeeds, the projector's state is the fold of the log, and the pause is measured: from the
kill until the projector folds again (about one broker session timeout + a leader election).

Every wait is on a condition with a generous deadline; every process started here is stopped
in ``finally`` (and started with die-with-parent where this test owns the ``Popen``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka import KafkaAdminClient
from kafka.admin import ConfigResource
from kafka.errors import KafkaError
from summaries import assert_same_summary
from test_chaos import _partition_counts, _records_on
from test_projector import ProjectorProcess, poll_until

from services.eventlog import SqliteEventLog
from services.kafka.broker import BrokerError, KafkaCluster
from services.kafka.log import KafkaEventLog
from services.processes import die_with_parent
from twin.projections import fold

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

REPO = Path(__file__).resolve().parent.parent
DEADLINE_S = 300.0  # conditions, not speed: generous for a busy 2-core machine
START_TIMEOUT_S = 180.0  # three JVMs starting at once on a busy 2-core machine
UNTIL = "3d"  # ~25,000 events
SPEED = 6000.0  # 3 sim days in ~43 s of wall clock
PARTITIONS = 4  # not the default 6: the partition count is configurable


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


def _describe(bootstrap: str, topic: str) -> tuple[list[dict], dict[str, str]]:
    """The topic's partitions (leader, replicas, ISR) and its effective configs."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap.split(","), request_timeout_ms=5000)
    try:
        (described,) = admin.describe_topics([topic])
        configs = admin.describe_configs([ConfigResource("TOPIC", topic)])
    finally:
        admin.close()
    values = {k: v["value"] for k, v in configs["topic"][topic].items()}
    return described["partitions"], values


def test_a_broker_killed_mid_run_loses_nothing(
    cluster: KafkaCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bootstrap = cluster.bootstrap
    topic = f"cluster-{uuid.uuid4().hex[:10]}"
    log_path, db = tmp_path / "run.twinlog", tmp_path / "projector.db"
    # the settings mechanism (environment) as an operator would set it for a big run
    monkeypatch.setenv("TWIN_KAFKA_PARTITIONS", str(PARTITIONS))
    monkeypatch.setenv("TWIN_KAFKA_REPLICATION_FACTOR", "3")
    monkeypatch.setenv("TWIN_KAFKA_MIN_INSYNC_REPLICAS", "2")
    run: subprocess.Popen[str] | None = None
    projector: ProjectorProcess | None = None
    try:
        run = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "run", "demo", "--until", UNTIL, "--live",
             "--speed", str(SPEED), "--bootstrap-server", bootstrap, "--topic", topic,
             "--log", str(log_path), "--quiet"],
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "PYTHONPATH": str(REPO)}, preexec_fn=die_with_parent,
        )  # fmt: skip
        deadline = time.monotonic() + DEADLINE_S
        while _records_on(bootstrap, topic) < 200:
            assert run.poll() is None, f"the run ended early: {run.communicate()[1]}"
            assert time.monotonic() < deadline, "no records reached the topic"
            time.sleep(0.2)
        partitions, configs = _describe(bootstrap, topic)
        assert len(partitions) == PARTITIONS
        assert all(len(p["replica_nodes"]) == 3 for p in partitions), partitions
        assert all(sorted(p["isr_nodes"]) == [1, 2, 3] for p in partitions), partitions
        assert configs["min.insync.replicas"] == "2"

        projector = ProjectorProcess(bootstrap, topic, "cluster", db)
        consumed: list[tuple[float, float]] = []

        def folded() -> float:
            n = projector._handled()  # type: ignore[union-attr]
            consumed.append((time.monotonic(), n))
            return n

        assert poll_until(lambda: folded() >= 1000, DEADLINE_S), "the projector does not fold"

        # kill -9 the broker that leads the most partitions (the active controller, maybe)
        leaders = [p["leader_id"] for p in partitions]
        victim = max(set(leaders), key=leaders.count)
        killed_at = time.monotonic()
        cluster.node(victim).kill()
        print(f"\nkill -9 broker {victim} (leader of {leaders.count(victim)} partitions)")
        # the run and the projector keep all three addresses; this test's own admin and
        # consumer clients bootstrap from the survivors
        alive = ",".join(n.bootstrap for n in cluster.nodes if n.node_id != victim)

        def reelected() -> bool:
            try:
                ps, _ = _describe(alive, topic)
            except KafkaError:  # the client may try the dead node before it is fenced
                return False
            return all(p["leader_id"] not in (-1, victim) for p in ps)

        assert poll_until(reelected, DEADLINE_S, 0.05), "no new leaders"
        election_s = time.monotonic() - killed_at
        before = folded()
        assert poll_until(lambda: folded() > before, DEADLINE_S), "the projector stopped"

        while run.poll() is None:
            assert time.monotonic() < deadline + DEADLINE_S, "the run did not end"
            folded()
            time.sleep(0.1)
        _, run_err = run.communicate()
        assert run.returncode == 0, run_err
        assert "publishing stopped" not in run_err, run_err

        # pause: the longest wait for the projector's count to move after the kill
        after = [(t, n) for t, n in consumed if t >= killed_at]
        times = [killed_at] + [t for (t, n), (_, m) in zip(after[1:], after, strict=False) if n > m]
        pause_s = max(b - a for a, b in zip(times, times[1:], strict=False))
        print(f"leaders re-elected {election_s:.2f} s after the kill; longest pause in the "
              f"projector's progress {pause_s:.2f} s")  # fmt: skip

        # nothing lost, nothing duplicated: the topic equals the embedded log
        with SqliteEventLog(log_path) as local:
            raws = list(local.read_raw())
            events = list(local.read())
        with KafkaEventLog(alive, topic=topic, create=False) as on_kafka:
            assert list(on_kafka.read_raw()) == raws, "the topic differs from the log"
        per_partition = _partition_counts(alive, topic)
        for partition, offsets in per_partition.items():
            assert len(offsets) == len(set(offsets)), f"partition {partition}: duplicates"
            assert offsets == sorted(offsets), f"partition {partition}: out of order"
        assert sorted(o for v in per_partition.values() for o in v) == list(range(len(raws)))

        # the projector folded every event once: its state is the fold of the log
        projector.wait_events(len(events))
        assert_same_summary(projector.json("/state"), fold(events).summary())
    finally:
        if run is not None and run.poll() is None:
            run.kill()
            run.communicate()
        if projector is not None:
            projector.stop()
