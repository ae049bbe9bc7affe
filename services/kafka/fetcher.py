"""The projector's Kafka fetch process: the group consumer on a core of its own.

kafka-python parses every fetched record batch in pure Python (varints, headers, one
``ConsumerRecord`` per record): about as much CPU per event as decoding and folding it. A
projector that did both on one thread could never fold faster than ~60 % of what a bare
kafka-python consumer reads. So a projector is two processes in a pipeline:

``fetch process`` (this module, :func:`_fetch_main`)
    owns the :class:`kafka.KafkaConsumer`: joins the group, polls, commits, and forwards
    each poll's records as plain ``(offset, key, value)`` tuples, with the partitions'
    high-water marks, through a pipe.
``projector process`` (:class:`services.projector.kafka.Projector`)
    decodes, folds, snapshots, dead-letters and serves HTTP.

Ordering and rebalances are kept exact by sending everything through ONE ordered pipe: a
rebalance arrives as a control message after every record fetched before it. The fetch
process's rebalance callback waits (blocking the rebalance, as the in-process callback did)
until the projector has answered: after ``revoked``, once the revoked partitions' folds are
snapshotted; after ``assigned``, with the offset to resume each partition from (its snapshot
row), which the callback seeks to before any fetch. Every seek (a resume, or a rewind to a
record whose dead-letter failed) bumps the partition's *epoch* on both sides; records are
tagged with the epoch they were fetched in and the projector drops older ones, so records
fetched before a seek can never be folded after it.

Failure: if the fetch process dies, :meth:`FetchWorker.poll` raises
:class:`twin.errors.InfraError` (the projector exits non-zero; its supervisor restarts it and
it resumes from its snapshots). If the projector process dies, the fetch process sees its
pipe close, leaves the group and exits, so the partitions move on at once.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from typing import Any, NamedTuple

from kafka import ConsumerRebalanceListener, KafkaConsumer
from kafka.coordinator.base import MemberState
from kafka.errors import KafkaConnectionError, KafkaError
from kafka.structs import OffsetAndMetadata, TopicPartition

from twin.errors import InfraError

log = logging.getLogger("twin.projector.fetch")

ACK_TIMEOUT_S = 120.0
"""The longest a rebalance callback waits for the projector (a snapshot of big states)."""
STOP_TIMEOUT_S = 15.0
MAX_RECORDS_PER_POLL = 5000
RECONNECT_PAUSE_S = 1.0  # between polls that found the broker unreachable
""":meth:`FetchWorker.poll` returns once it holds this many records."""


class FetchedRecord(NamedTuple):
    """What the projector needs of a Kafka record."""

    offset: int
    key: bytes | None
    value: bytes | None


class Records(NamedTuple):
    """One partition's records of one poll, as three parallel lists (they cross the pipe
    ~40 % cheaper than a tuple per record)."""

    partition: int
    offsets: list[int]
    keys: list[bytes | None]
    values: list[bytes | None]


class Revoked(NamedTuple):
    """Partitions leaving this member: snapshot them, then :meth:`FetchWorker.revoked_done`."""

    partitions: list[int]


class Assigned(NamedTuple):
    """Partitions joining this member: answer with :meth:`FetchWorker.assigned_done`."""

    partitions: list[int]


class EndOffsets(NamedTuple):
    """End offsets of the partitions just assigned (the mark ``/readyz`` waits for)."""

    ends: dict[int, int]


Message = Records | Revoked | Assigned | EndOffsets


# ---------------------------------------------------------------------- projector side


class FetchWorker:
    """The projector's handle on its fetch process (see the module docstring)."""

    def __init__(
        self,
        settings: Any,
        group: str,
        consumer_options: dict[str, Any],
        *,
        poll_timeout_ms: int,
    ) -> None:
        # A child interpreter of its own (not multiprocessing's spawn, which re-imports the
        # caller's main module): it imports only this module and kafka-python.
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        _widen_pipe(from_child_w)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "services.kafka.fetcher", str(to_child_r), str(from_child_w)],
            pass_fds=(to_child_r, from_child_w),
            env={**os.environ, "PYTHONPATH": _import_path()},
        )
        os.close(to_child_r)
        os.close(from_child_w)
        self._from_fetch = Connection(from_child_r, writable=False)
        self._to_fetch = Connection(to_child_w, readable=False)
        self._epochs: dict[int, int] = {}
        self._highwater: dict[int, int] = {}
        self._pending: Any = None  # a control message read ahead of the records before it
        self._closed = False
        self._send("config", (settings, group, consumer_options, poll_timeout_ms))

    def poll(self, timeout_s: float) -> list[Message]:
        """Messages in fetch order, waiting up to ``timeout_s`` for the first. A control
        message (revoked, assigned, end offsets) ends the list, so the caller handles it
        after the records fetched before it and before any fetched after it."""
        out: list[Message] = []
        taken = 0
        wait = timeout_s
        while True:
            if self._pending is not None:
                raw, self._pending = self._pending, None
            elif self._from_fetch.poll(wait):
                raw = self._recv()
            else:
                return out
            wait = 0.0
            kind = raw[0]
            if kind == "records":
                _, batches, highwater = raw
                self._highwater.update(highwater)
                epochs = self._epochs
                for partition, epoch, offsets, keys, values in batches:
                    if epoch == epochs.get(partition, 0):  # else fetched before a seek
                        out.append(Records(partition, offsets, keys, values))
                        taken += len(offsets)
                if taken >= MAX_RECORDS_PER_POLL:  # fold these first: the pipe may never empty
                    return out
                continue
            if out:  # hand the records over first; this message opens the next list
                self._pending = raw
                return out
            return [_CONTROL[kind](raw[1])]

    def _recv(self) -> Any:
        try:
            raw = self._from_fetch.recv()
        except (EOFError, OSError):
            code = self.process.poll()
            raise InfraError(
                f"the projector's Kafka fetch process ended (exit code {code}); restart the "
                "projector: it resumes from its snapshots",
                retryable=True,
            ) from None
        if raw[0] == "fatal":
            raise InfraError(f"Kafka fetch process failed: {raw[1]}", retryable=True)
        return raw

    def _send(self, *command: Any) -> None:
        try:
            self._to_fetch.send(command)
        except (BrokenPipeError, OSError) as exc:
            raise InfraError(
                f"the projector's Kafka fetch process is gone ({exc}); restart the projector: "
                "it resumes from its snapshots",
                retryable=True,
            ) from None

    def assigned_done(self, positions: dict[int, int]) -> None:
        """Resume each newly assigned partition at ``positions[p]`` (then fetching starts)."""
        for p in positions:
            self._epochs[p] = self._epochs.get(p, 0) + 1
            self._highwater.pop(p, None)
        self._send("assigned_ack", positions)

    def revoked_done(self) -> None:
        self._send("revoked_ack", None)

    def seek(self, partition: int, offset: int) -> None:
        """Fetch ``partition`` again from ``offset``; records fetched before are dropped."""
        self._epochs[partition] = self._epochs.get(partition, 0) + 1
        self._send("seek", (partition, offset))

    def commit(self, offsets: dict[int, int]) -> None:
        """Commit ``offsets`` to the group (informational: the snapshots hold positions)."""
        self._send("commit", offsets)

    def highwater(self, partition: int) -> int | None:
        return self._highwater.get(partition)

    def close(self) -> None:
        """Ask the fetch process to leave the group and exit; kill it if it does not."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(OSError):
            self._to_fetch.send(("stop", None))
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while self.process.poll() is None and time.monotonic() < deadline:
            try:  # drain, so a fetch process blocked on a full pipe can see the stop
                while self._from_fetch.poll(0.05):
                    self._from_fetch.recv()
            except (EOFError, OSError):
                break
        try:
            self.process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        self._from_fetch.close()
        self._to_fetch.close()


_CONTROL: dict[str, Any] = {
    "revoked": Revoked,
    "assigned": Assigned,
    "ends": EndOffsets,
}


# ---------------------------------------------------------------------- fetch process


PIPE_BYTES = (4 << 20, 1 << 20)
"""Records pipe capacities to try (Linux; default 64 KiB; 1 MiB is the usual unprivileged
``/proc/sys/fs/pipe-max-size``): room for polls of records, so the fetch process goes on
fetching while the projector folds, instead of in lock-step."""


def _widen_pipe(fd: int) -> int:
    """Grow the pipe behind ``fd``; return its capacity in bytes (0 if unknown)."""
    for size in PIPE_BYTES:
        try:
            return int(fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, size))
        except (OSError, AttributeError):  # above pipe-max-size, or not Linux
            continue
    return 0


def _import_path() -> str:
    """PYTHONPATH for the child: where this package was imported from, then the caller's."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)


class Repeats(logging.Filter):
    """Lets a message through once per ``every_s`` seconds: the first time, then once a
    window with how many like it were held back. kafka-python logs some conditions on every
    metadata refresh (a topic that does not exist yet: "Topic ... not found in cluster
    metadata", ~10 lines a second), which buried everything else in a projector's log."""

    def __init__(self, every_s: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.every_s, self.clock = every_s, clock
        self._seen: dict[tuple[str, int, str], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        key = (record.name, record.levelno, message)
        now = self.clock()
        seen = self._seen.get(key)
        if seen is not None and now - seen[0] < self.every_s:
            self._seen[key] = (seen[0], seen[1] + 1)
            return False
        if seen is not None and seen[1]:
            record.msg = f"{message} ({seen[1]} more like it in the last {now - seen[0]:.0f} s)"
            record.args = ()
        self._seen[key] = (now, 0)
        return True


def hold_repeats(every_s: float = 60.0) -> None:
    """Install :class:`Repeats` on the root logger's handlers (the projector and its fetch
    process, after ``logging.basicConfig``)."""
    repeats = Repeats(every_s)
    for handler in logging.getLogger().handlers:
        handler.addFilter(repeats)


def _fetch_main(inbox_fd: int, out_fd: int) -> int:
    # Ctrl-C, or a SIGTERM to the projector's whole process group (systemd, `timeout`, a
    # terminal), is the projector's to handle: it stops this process through the pipe and
    # exits 0. Ending here first made it exit 1 ("fetch process ended") with a traceback from
    # here. A projector that dies closes the pipe, which stops this process too.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("kafka").setLevel(os.environ.get("TWIN_KAFKA_LOG_LEVEL", "WARNING").upper())
    hold_repeats()
    inbox = Connection(inbox_fd, writable=False)
    out = Connection(out_fd, readable=False)
    try:
        kind, (settings, group, consumer_options, poll_timeout_ms) = inbox.recv()
        if kind != "config":
            raise AssertionError(f"expected config, got {kind}")
        _Fetch(out, inbox, settings, group, consumer_options, poll_timeout_ms).run()
    except EOFError:  # the projector went away before or while starting us
        return 1
    except KafkaError as exc:  # e.g. the broker unreachable at start: one line, no traceback
        detail = traceback.format_exception_only(exc)[-1].strip()
        log.error("fetch process failed: %s", detail)
        with contextlib.suppress(OSError):
            out.send(("fatal", detail))
        return 1
    except BaseException:
        detail = traceback.format_exc(limit=6)
        log.error("fetch process failed:\n%s", detail)
        with contextlib.suppress(OSError):
            out.send(("fatal", detail.strip().splitlines()[-1]))
        return 1
    return 0


def _make_rejoin_sticky(consumer: KafkaConsumer) -> None:
    """Work around two kafka-python 3.0 coordinator bugs that stall a group member.

    Both show when a JoinGroup/SyncGroup round trip outlasts the ``poll`` that started it,
    which is common here: the revoke callback waits for the projector's snapshot, and a
    JoinGroup waits for every other member to rejoin. kafka-python leaves the round trip
    running, and:

    1. *The need to rejoin is forgotten.* A rejoin the coordinator derives from a metadata
       change (new partitions; or, right after start-up, the first metadata reaching a
       leader that assigned without it) is recomputed from two snapshots on every ``poll``
       and never recorded. The leader's new assignment makes the snapshots equal, so the
       next ``poll`` sees no need to rejoin and never collects the round trip's result:
       the member holds no partitions while the group thinks it holds them. This is the
       projector stall ("revoked partitions [0..5]" and nothing after, seen with debug logs
       of a hung ``benchmarks.projector_bench``). The Java consumer calls ``requestRejoin``
       when it sees the mismatch; do the same, so the need persists until a join completes.
    2. *A finished round trip is thrown away.* If it completes between two polls, the next
       ``poll`` sees a done task and starts another JoinGroup instead of applying the
       result; with two members polled in turn this repeats for ever. Apply it instead.

    Tested against a real broker in ``tests/test_group_rejoin.py``.
    """
    coordinator = getattr(consumer, "_coordinator", None)
    if coordinator is None or not all(
        hasattr(coordinator, name)
        for name in ("request_rejoin", "join_group_async", "_join_task", "_on_join_complete_async")
    ):
        raise InfraError(
            "this kafka-python's group coordinator is not the 3.0 one the projector's fetch "
            "process was written for; install kafka-python 3.0.x"
        )
    derived_need = coordinator.need_rejoin
    join_group_async = coordinator.join_group_async

    def need_rejoin() -> bool:
        if derived_need():
            coordinator.request_rejoin()
            return True
        return False

    async def join_or_apply_finished(timeout_ms: Any = None) -> Any:
        task = coordinator._join_task
        if task is None or not task.is_done or task.exception is not None:
            return await join_group_async(timeout_ms)
        # the round trip finished after the poll that awaited it gave up: apply its result,
        # exactly as kafka-python does when the poll is still waiting
        coordinator._join_task = None
        with coordinator._lock:
            coordinator.rejoining = False
            coordinator.rejoin_needed = False
            coordinator.state = MemberState.STABLE
            coordinator._enable_heartbeat()
        generation = coordinator._generation
        await coordinator._on_join_complete_async(
            generation.generation_id, generation.member_id, generation.protocol, task.value
        )
        return True

    coordinator.need_rejoin = need_rejoin
    coordinator.join_group_async = join_or_apply_finished


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, fetch: _Fetch) -> None:
        self.fetch = fetch

    def on_partitions_revoked(self, revoked: Sequence[Any]) -> None:
        self.fetch.on_revoked(revoked)

    def on_partitions_assigned(self, assigned: Sequence[Any]) -> None:
        self.fetch.on_assigned(assigned)


class _Fetch:
    def __init__(
        self,
        out: Connection,
        inbox: Connection,
        settings: Any,
        group: str,
        consumer_options: dict[str, Any],
        poll_timeout_ms: int,
    ) -> None:
        self.out = out
        self.topic: str = settings.topic
        self.poll_timeout_ms = poll_timeout_ms
        self.epochs: dict[int, int] = {}
        self.commands: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.acks: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.stopping = threading.Event()
        self._send_lock = threading.Lock()  # callbacks may run on kafka-python's IO thread
        self.ends_pending: list[int] | None = None
        self.consumer = KafkaConsumer(group_id=group, **consumer_options, **settings.common())
        _make_rejoin_sticky(self.consumer)
        self._reader = threading.Thread(target=self._read_inbox, args=(inbox,), daemon=True)
        self._reader.start()

    def _read_inbox(self, inbox: Connection) -> None:
        """Route the projector's commands: answers to a rebalance go to the waiting callback,
        the rest to the poll loop. A closed pipe means the projector is gone: stop."""
        while True:
            try:
                command = inbox.recv()
            except (EOFError, OSError):
                command = ("stop", None)
            if command[0].endswith("_ack"):
                self.acks.put(command)
            else:
                self.commands.put(command)
            if command[0] == "stop":
                self.stopping.set()
                self.acks.put(command)  # release a callback waiting for an answer
                return

    def send(self, message: tuple[Any, ...]) -> None:
        """Send to the projector; a broken pipe means it is gone (exited or killed): stop,
        as a closed inbox does, rather than fail with a traceback."""
        with self._send_lock:
            try:
                self.out.send(message)
            except OSError as exc:
                log.info("the projector is gone (%s): the fetch process stops", exc)
                self.stopping.set()
                self.acks.put(("stop", None))  # release a callback waiting for an answer

    def _wait_ack(self, kind: str) -> Any:
        try:
            command = self.acks.get(timeout=ACK_TIMEOUT_S)
        except queue.Empty:
            raise InfraError(f"projector did not answer {kind} in {ACK_TIMEOUT_S:.0f} s") from None
        if command[0] == "stop":
            return None
        if command[0] != f"{kind}_ack":
            raise AssertionError(f"expected {kind}_ack, got {command[0]}")
        return command[1]

    # rebalance callbacks (kafka-python runs them inside poll)

    def on_revoked(self, revoked: Sequence[Any]) -> None:
        mine = sorted(tp.partition for tp in revoked if tp.topic == self.topic)
        if not mine or self.stopping.is_set():
            return
        self.send(("revoked", mine))
        self._wait_ack("revoked")

    def on_assigned(self, assigned: Sequence[Any]) -> None:
        mine = sorted(tp.partition for tp in assigned if tp.topic == self.topic)
        if self.stopping.is_set():
            return  # sent even when empty: the projector is not ready until it hears
        self.send(("assigned", mine))
        positions = self._wait_ack("assigned")
        if positions is None:
            return
        for p, offset in positions.items():
            self.epochs[p] = self.epochs.get(p, 0) + 1
            self.consumer.seek(TopicPartition(self.topic, p), offset)
        self.ends_pending = mine

    def run(self) -> None:
        self._await_topic_metadata()
        consumer = self.consumer
        consumer.subscribe([self.topic], listener=_Listener(self))
        try:
            while not self.stopping.is_set():
                self._run_commands()
                try:
                    batches = consumer.poll(timeout_ms=self.poll_timeout_ms)
                except KafkaConnectionError as exc:
                    # kafka-python 3.0 raises this from poll (finding the group coordinator)
                    # while the broker is unreachable, e.g. restarting; it is transient: retry
                    # after a pause (never spin), as the poll itself does on other paths
                    log.warning("Kafka unreachable (%s); retrying", exc)
                    self.stopping.wait(RECONNECT_PAUSE_S)
                    continue
                if self.stopping.is_set():
                    break
                if self.ends_pending is not None:
                    self._send_end_offsets()
                if batches:
                    self._forward(batches)
        finally:
            consumer.close(autocommit=False)

    def _forward(self, batches: dict[Any, list[Any]]) -> None:
        epochs = self.epochs
        out = [
            (
                tp.partition,
                epochs.get(tp.partition, 0),
                [r.offset for r in rs],
                [r.key for r in rs],
                [r.value for r in rs],
            )
            for tp, rs in batches.items()
        ]
        highwater = {}
        for tp in self.consumer.assignment():
            hw = self.consumer.highwater(tp)
            if hw is not None:
                highwater[tp.partition] = hw
        self.send(("records", out, highwater))

    def _send_end_offsets(self) -> None:
        parts, self.ends_pending = self.ends_pending or [], None
        tps = [TopicPartition(self.topic, p) for p in parts]
        ends = self.consumer.end_offsets(tps) if tps else {}
        self.send(("ends", {tp.partition: off for tp, off in ends.items()}))

    def _run_commands(self) -> None:
        while True:
            try:
                kind, arg = self.commands.get_nowait()
            except queue.Empty:
                return
            if kind == "seek":
                p, offset = arg
                self.epochs[p] = self.epochs.get(p, 0) + 1
                tp = TopicPartition(self.topic, p)
                if tp in self.consumer.assignment():
                    self.consumer.seek(tp, offset)
            elif kind == "commit":
                offsets = {
                    TopicPartition(self.topic, p): OffsetAndMetadata(off, "", -1)
                    for p, off in arg.items()
                }
                try:
                    self.consumer.commit(offsets)
                except Exception as exc:  # informational only: the snapshot holds the offset
                    log.info("offset commit skipped (%s); the snapshot holds the position", exc)
            elif kind == "stop":
                self.stopping.set()
                return

    def _await_topic_metadata(self, timeout_s: float = 30.0) -> None:
        """Know the topic's partitions before joining the group. A member that joins (and
        leads) without them assigns nothing and was seen to stall in the next rebalance, so
        fetch the metadata first; a topic that does not exist yet is waited for a while and
        then left to the periodic metadata refresh."""
        deadline = time.monotonic() + timeout_s
        while not self.stopping.is_set() and time.monotonic() < deadline:
            try:
                if self.consumer.partitions_for_topic(self.topic):
                    return
            except Exception as exc:  # broker not reachable yet: keep trying until the deadline
                log.info("waiting for topic metadata (%s)", exc)
            time.sleep(0.2)
        log.warning("topic %s has no partition metadata yet; joining the group anyway", self.topic)


if __name__ == "__main__":
    sys.exit(_fetch_main(int(sys.argv[1]), int(sys.argv[2])))
