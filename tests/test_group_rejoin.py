"""A group member must get its partitions back after a slow revoke during a rejoin.

kafka-python 3.0 loses a leader's assignment when a rejoin that the coordinator derived from a
metadata change (new partitions, or the first metadata after start-up) outlasts the poll's
timer: the round trip completes in the background, and the next poll no longer sees a reason
to rejoin, so the completed assignment is never applied. This is what stalled projectors
("revoked partitions [0..5]" and nothing after). The fetch process makes the need to rejoin
sticky (:func:`services.kafka.fetcher._make_rejoin_sticky`); this test drives the exact sequence
against a real broker: a stable member, partitions added to its topic, and a revoke callback
that takes longer than the poll timeout, as the projector's snapshot can.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from kafka import ConsumerRebalanceListener, KafkaConsumer
from kafka.admin import KafkaAdminClient, NewPartitions, NewTopic

from services.kafka.fetcher import _make_rejoin_sticky

pytestmark = pytest.mark.kafka

POLL_MS = 100
SLOW_REVOKE_S = 0.5  # five poll timeouts: the rejoin's round trip finishes after poll returned
DEADLINE_S = 120.0  # a condition, not a speed limit: generous for a busy CI machine


class _SlowRevoke(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self) -> None:
        self.revokes = 0
        self.assigns = 0

    def on_partitions_revoked(self, revoked: Any) -> None:
        self.revokes += 1
        time.sleep(SLOW_REVOKE_S)

    def on_partitions_assigned(self, assigned: Any) -> None:
        self.assigns += 1


def _member(bootstrap: str, group: str) -> KafkaConsumer:
    return KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        metadata_max_age_ms=500,  # see new partitions soon
        session_timeout_ms=10_000,
        heartbeat_interval_ms=500,
    )


def _poll_until(members: list[KafkaConsumer], n_partitions: int, what: str) -> None:
    """Poll the members in turn until they hold ``n_partitions`` between them, each some."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        held = [sorted(tp.partition for tp in m.assignment()) for m in members]
        if sum(map(len, held)) == n_partitions and all(held):
            return
        if time.monotonic() > deadline:
            pytest.fail(
                f"{what}: the members hold {held} after {DEADLINE_S:.0f} s, expected "
                f"{n_partitions} partitions between them",
                pytrace=False,
            )
        for m in members:
            m.poll(timeout_ms=POLL_MS)


def test_a_slow_revoke_during_a_metadata_rejoin_keeps_the_assignment(kafka_bootstrap: str) -> None:
    """The leader (first to join) sees the new partitions and rejoins; its JoinGroup waits
    for the other member, so the round trip outlasts the leader's poll."""
    topic = f"rejoin-{uuid.uuid4().hex[:12]}"
    group = f"rejoin-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    leader = _member(kafka_bootstrap, group)
    follower = _member(kafka_bootstrap, group)
    try:
        admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])
        _make_rejoin_sticky(leader)
        _make_rejoin_sticky(follower)
        listener = _SlowRevoke()
        leader.subscribe([topic], listener=listener)
        _poll_until([leader], 2, "the leader's first assignment")
        follower.subscribe([topic])
        _poll_until([leader, follower], 2, "after the follower joined")
        revokes = listener.revokes
        admin.create_partitions({topic: NewPartitions(total_count=4)})
        _poll_until([leader, follower], 4, "after adding partitions, with a slow revoke")
        assert listener.revokes > revokes, "the new partitions came without a rebalance"
        assert listener.assigns == listener.revokes  # every revoke was followed by an assign
    finally:
        for m in (leader, follower):
            m.close(autocommit=False)
        admin.close()
