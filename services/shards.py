"""Sharded runs on this machine: N engine processes, one log (`twin run --shards N`).

Each shard (:mod:`twin.sim.shards`) runs in a forked child: its engine, its own fold (for
the summary), and the codec bytes of its events, sent in batches through a pipe with their
sim time and wire offset. The parent merges the N streams by :func:`twin.sim.shards.merge_key`
(sim time, then wire offset: deterministic), renumbers them from 0
(:func:`twin.events.with_offset`: the bytes are not decoded again), appends them to the log
and hands the same bytes to the publisher, and ends the run with one ``scenario_finished``
counting every shard's events and satellites. A child that runs ahead blocks on its full pipe,
so memory stays bounded by the pipes, not the run.

The summary is the merge of the shards' folds (:meth:`FleetState.merge`, exact because
the fold is partition-exact), with ``scenario_finished`` applied to shard 0's.
"""

from __future__ import annotations

import contextlib
import fcntl
import heapq
import multiprocessing
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any, NoReturn, cast

from services import collector
from services.processes import die_with_parent, forked_child
from twin import events as ev
from twin.errors import InfraError, TwinError
from twin.projections import FleetState
from twin.sim.engine import Engine, EngineConfig, run_id_for
from twin.sim.shards import Shard, check_shardable

BATCH = 5000
PIPE_BYTES = 1 << 20  # the largest pipe an unprivileged process may ask for, by default
STEPS = 200  # a shard runs in steps, as `twin run` does, settling the collector between them
"""Events per message from a shard, and per log append in the parent."""

# A shard's record: (sim_time, wire offset, satellite, type, Kafka key, codec bytes).
ShardRecord = tuple[str, int, "str | None", str, bytes, bytes]


@dataclass
class ShardEnd:
    """What a shard reports once its engine reached the horizon."""

    index: int
    events: int
    run_seq: int
    by_state: dict[str, int]
    snapshot: bytes
    finished_at: str


@dataclass
class ShardedResult:
    state: FleetState
    events: int
    shards: list[ShardEnd] = field(default_factory=list)


def _shard_main(
    config: EngineConfig,
    seed: int,
    shard: Shard,
    conn: Connection,
    parent_ends: tuple[Connection, ...],
) -> None:
    """A shard's child process: simulate, fold, send the encoded events in batches. It ends
    with the merging process: SIGTERM when that dies (its pipes would otherwise keep a
    blocked shard waiting for ever, each shard holding copies of the others' read ends)."""
    die_with_parent()
    forked_child(*parent_ends)
    try:
        state = FleetState()
        buffer: list[ShardRecord] = []
        encode, key_of = ev.encode, ev.stream_key

        def sink(event: ev.EventBase) -> None:
            state.apply(event)
            buffer.append(
                (
                    event.sim_time,
                    event.offset,
                    event.satellite,
                    event.type,
                    key_of(event).encode(),
                    encode(event),
                )
            )
            if len(buffer) >= BATCH:
                conn.send(buffer)
                buffer.clear()

        engine = Engine(config, seed, sink, shard=shard)
        with collector.quiet():  # as `twin run`: off, settled between steps
            engine.start()
            collector.settle()
            for k in range(1, STEPS + 1):
                engine.run(config.until_s * k / STEPS)
                collector.settle()
        engine.run_horizon()  # scenario_finished is the merger's: one for every shard
        if buffer:
            conn.send(buffer)
        conn.send(
            ShardEnd(
                index=shard.index,
                events=engine.offset,
                run_seq=engine.run_seq,
                by_state={s.value: n for s, n in engine.counts.items()},
                snapshot=state.to_snapshot(),
                finished_at=engine.clock.format(config.until_s),
            )
        )
    except BaseException as exc:  # the parent re-raises it with the shard's name
        detail = str(exc) if isinstance(exc, TwinError) else traceback.format_exc()
        conn.send(("error", type(exc).__name__, detail, getattr(exc, "exit_code", 1)))
    finally:
        conn.close()


class _Stream:
    """One shard's records, in its order, read from its pipe as the merge needs them."""

    def __init__(self, index: int, conn: Connection) -> None:
        self.index = index
        self.conn = conn
        self.end: ShardEnd | None = None

    def __iter__(self) -> Iterator[ShardRecord]:
        while True:
            try:
                message = self.conn.recv()
            except EOFError:
                raise InfraError(
                    f"shard {self.index} stopped without finishing (killed, or out of memory)",
                    retryable=True,
                ) from None
            if isinstance(message, ShardEnd):
                self.end = message
                return
            if isinstance(message, tuple):
                _, name, detail, code = message
                if code == 2:
                    raise _ShardInputError(f"shard {self.index}: {detail}")
                raise InfraError(f"shard {self.index} failed: {name}: {detail}", retryable=False)
            yield from message


class _ShardInputError(TwinError):
    exit_code = 2


def run_sharded(
    config: EngineConfig,
    seed: int,
    count: int,
    write: Callable[[list[Any]], None],
) -> ShardedResult:
    """Simulate ``config`` as ``count`` shard processes and pass the merged log, renumbered
    from 0, to ``write`` in batches of rows ``(offset, sim_time, satellite, type, codec
    bytes, Kafka key)`` (:data:`services.eventlog.Record` and the key)."""
    check_shardable(config, count)
    ctx = multiprocessing.get_context("fork")  # the children share the built fleet
    procs, streams = [], []
    try:
        for k in range(count):
            ours, theirs = ctx.Pipe(duplex=False)
            parent_ends = (ours, *(s.conn for s in streams))
            proc = ctx.Process(
                target=_shard_main,
                args=(config, seed, Shard(k, count), theirs, parent_ends),
                name=f"twin-shard-{k}",
                daemon=True,
            )
            proc.start()
            theirs.close()
            procs.append(proc)
            streams.append(_Stream(k, ours))
        offset = 0
        rows: list[Any] = []
        with_offset = ev.with_offset
        # records compare by (sim_time, wire offset): unique, so never further
        for sim_time, _, satellite, etype, key, raw in heapq.merge(*streams):
            rows.append((offset, sim_time, satellite, etype, with_offset(raw, offset), key))
            offset += 1
            if len(rows) >= BATCH:
                write(rows)
                rows = []
        ends = [s.end for s in streams]
        assert all(e is not None for e in ends)
        head: ShardEnd = ends[0]  # type: ignore[assignment]
        states = [FleetState.from_snapshot(e.snapshot) for e in ends]  # type: ignore[union-attr]
        by_state: dict[str, int] = {}
        for e in ends:
            for name, n in e.by_state.items():  # type: ignore[union-attr]
                by_state[name] = by_state.get(name, 0) + n
        run_id = run_id_for(config, seed)
        finished = ev.ScenarioFinished(
            event_id=f"{run_id}-{offset:010d}",
            run_id=run_id,
            seq=head.run_seq + 1,
            offset=offset,
            sim_time=head.finished_at,
            events=offset + 1,
            satellites_by_state={name: n for name, n in by_state.items() if n},
        )
        states[0].apply(finished)
        rows.append(
            (
                offset,
                finished.sim_time,
                None,
                finished.type,
                ev.encode(finished),
                ev.stream_key(finished).encode(),
            )
        )
        write(rows)
        for proc in procs:
            proc.join()
        merged = FleetState.merge(states)
        merged.core.last_offset = offset  # the log's, not the shards' wire offsets
        return ShardedResult(merged, offset + 1, ends)  # type: ignore[arg-type]
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.kill()
                proc.join()


def _fold_main(inbox: Connection, outbox: Connection, parent_ends: tuple[Connection, ...]) -> None:
    """The fold process: decode (validate) and fold every record it is sent, and answer the
    final state's summary when sent ``None``. The first error is sent at once (the engine
    stops) and again as the answer."""
    forked_child(*parent_ends)
    state = FleetState()
    apply, decode = state.apply, ev.decode
    error: str | None = None
    try:
        with collector.quiet():  # the fold's records live for the run: settled per batch
            while True:
                try:
                    message = inbox.recv()
                except EOFError:  # the engine's process stopped the run
                    return
                if message is None:
                    break
                if error is not None:
                    continue
                try:
                    for raw in message:
                        apply(decode(raw))
                except Exception as exc:
                    error = f"{type(exc).__name__}: {exc}"
                    with contextlib.suppress(OSError):  # the engine may have stopped already
                        outbox.send(("error", error))
                collector.settle()
        # the summary, not the state: all `twin run` prints, and a fraction of a snapshot's
        # cost to build, send and restore; the engine's process may have read the early
        # error and gone
        with contextlib.suppress(OSError):
            outbox.send(("error", error) if error else ("ok", state.summary()))
    finally:
        inbox.close()
        outbox.close()


def _widen(conn: Connection) -> None:
    """Let a pipe hold ~1 MB (Linux; the default 64 KB is a fifth of one message), so the
    engine runs on while the fold process works through the batch before."""
    with contextlib.suppress(OSError, AttributeError):
        fcntl.fcntl(conn.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)


class BackgroundFold:
    """The run's fold in a forked child process: off the engine's critical path, for runs
    that need the fold only for the closing summary (`twin run` in batch mode). The engine's
    process sends the codec bytes it already encoded (and wrote to the log), in batches;
    the child decodes them, so every event of the run is validated once more at no cost to
    the engine, and folds them. :meth:`summary` returns the final state's
    :meth:`FleetState.summary` once every batch is folded. A failure in the child (an
    event that does not decode or breaks the log's order) reaches the engine's process at
    its next :meth:`send` as :class:`InfraError`."""

    def __init__(self) -> None:
        ctx = multiprocessing.get_context("fork")
        inbox, self._to = ctx.Pipe(duplex=False)
        self._from, outbox = ctx.Pipe(duplex=False)
        _widen(self._to)
        self._proc = ctx.Process(
            target=_fold_main,
            args=(inbox, outbox, (self._to, self._from)),
            name="twin-fold",
            daemon=True,
        )
        self._proc.start()
        inbox.close()
        outbox.close()

    SEND_BATCH = 2000
    """Events per message that fit the widened pipe with room for the next (~330 bytes
    each): the child works through one while the engine fills the next."""

    def send(self, raws: list[bytes]) -> None:
        try:
            if self._from.poll():  # the child only ever speaks early to report a failure
                self._raise(self._from.recv()[1])
            self._to.send(raws)
        except (EOFError, OSError):
            self._gone()

    def _gone(self) -> NoReturn:
        self.close()
        raise InfraError(
            "the fold process stopped (killed, or out of memory) before the run's summary "
            "was complete",
            retryable=True,
        ) from None

    def summary(self) -> dict[str, Any]:
        """The folded state's summary, once every batch sent is folded."""
        try:
            self._to.send(None)
            status, payload = self._from.recv()
        except (EOFError, OSError):
            self._gone()
        finally:
            self.close()
        if status != "ok":
            self._raise(payload)
        return cast(dict[str, Any], payload)

    def _raise(self, detail: str) -> NoReturn:
        self.close()
        raise InfraError(f"the run's fold failed: {detail}", retryable=False)

    def close(self) -> None:
        self._to.close()
        self._from.close()
        self._proc.join(timeout=30)
        if self._proc.is_alive():
            self._proc.kill()
            self._proc.join()
