"""`twin run`: simulate a scenario into an event log (embedded SQLite by default).

The log is written atomically: events go to a temporary file beside the target, which is
renamed into place only when the run finishes; on an error or interrupt nothing is left at
the target path. Progress goes to stderr; the closing summary to stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from services import collector, parallel_passes
from services.cli import options
from services.cli.common import add_scenario_argument, progress, stop_if_terminated
from services.cli.sources import add_kafka_options, bootstrap, kafka_url, topic, wants_kafka
from services.http_server import DEFAULT_HOST
from services.parallel_passes import ParallelPasses
from services.shards import BackgroundFold
from twin import events as ev
from twin.constants import SECONDS_PER_DAY
from twin.errors import InfraError, InputError
from twin.events import EventBase
from twin.projections import FleetState
from twin.sim.engine import (
    Engine,
    EngineConfig,
    WireSink,
    config_from_scenario,
    run_id_for,
)
from twin.sim.passes import window_passes
from twin.sim.scenario import resolve_scenario
from twin.sim.shards import Shard, check_shardable

if TYPE_CHECKING:
    from services.eventlog import Record, SqliteEventLog
    from services.kafka.publisher import Publisher

BATCH = 5000


def register(sub: argparse._SubParsersAction[Any]) -> None:
    p = sub.add_parser(
        "run",
        help="simulate a scenario into an event log",
        description="Simulate SCENARIO (a preset name from `twin scenarios` or a TOML path) "
        "and write its event log. The log appears only when the run has finished; an "
        "existing log is replaced only with --force, and a failed run leaves it untouched.",
    )
    add_scenario_argument(p)
    p.add_argument(
        "--seed", type=options.seed, default=None, help="random seed (default: the scenario's)"
    )
    p.add_argument(
        "--set",
        type=options.assignment,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a scenario value, e.g. --set repair.robots=2 (repeatable)",
    )
    p.add_argument(
        "--until",
        type=options.until,
        default=None,
        metavar="TIME",
        help="simulate up to this sim time: a duration after the epoch (36h, 30d, 5y) or an "
        "ISO-8601 UTC time (default: the scenario's duration)",
    )
    p.add_argument(
        "--log", default=None, help="embedded event log to write (default: SCENARIO.twinlog)"
    )
    p.add_argument("--force", action="store_true", help="replace an existing --log")
    p.add_argument(
        "--shard",
        type=options.shard,
        default=None,
        metavar="K/N",
        help="simulate only shard K (from 0) of N: its satellites (whole planes, or robot "
        "pools), run-level events on shard 0; the log holds this shard's events, and with "
        "Kafka options they go to the shard's own partitions of the topic "
        "(docs/operators.md, shards on several hosts)",
    )
    p.add_argument(
        "--shards",
        type=options.integer(1, 1024, "a number of shards"),
        default=None,
        metavar="N",
        help="simulate in N shard processes on this machine and write one log (the same "
        "bytes for the same scenario, seed and N)",
    )
    p.add_argument(
        "--eclipse-workers",
        type=options.integer(1, 64, "a number of processes"),
        default=None,
        metavar="N",
        help="compute each eclipse window's passes in N processes at once (the same log, "
        "byte for byte; windows under 500 satellites stay in one); default 2 on a "
        "machine with 2 or more cores, else 1; not with --shard(s), whose processes already "
        "use every core",
    )
    p.add_argument("--live", action="store_true", help="pace the simulation by the wall clock")
    p.add_argument(
        "--speed",
        type=options.positive_number(1e9, "sim seconds per wall second"),
        default=60.0,
        help="live mode: sim seconds per wall second",
    )
    add_kafka_options(p, "Kafka topic; giving it or --bootstrap-server also publishes the run")
    p.add_argument(
        "--metrics-port",
        type=options.port,
        default=None,
        metavar="PORT",
        help="serve the simulation's own Prometheus metrics on this port",
    )
    p.add_argument(
        "--metrics-host",
        default=DEFAULT_HOST,
        metavar="HOST",
        help="address for --metrics-port (0.0.0.0 for all)",
    )
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


class Progress:
    """The run's progress bar on stderr (:func:`services.cli.common.progress`): simulated
    days done, events and their rate."""

    def __init__(self, total_s: float, enabled: bool) -> None:
        self.bar = progress(
            total=round(total_s / SECONDS_PER_DAY, 3),
            desc="simulate",
            unit="sim-day",
            enabled=enabled,
            bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.1f}/{total:.1f} sim days "
            "[{elapsed}<{remaining}{postfix}]",
        )

    def update(self, sim_s: float, sim_time: str, events: int) -> None:
        self.bar.n = min(round(sim_s / SECONDS_PER_DAY, 3), self.bar.total)
        self.bar.set_postfix_str(f"{sim_time[:16]}Z, {events:,} events", refresh=False)
        self.bar.refresh()

    def close(self) -> None:
        self.bar.close()


def default_log_path(name: str) -> str:
    return f"{Path(name).stem}.twinlog"


def check_log_target(path: str, option: str, *, force: bool = False) -> None:
    """Refuse, before any work, a log path that cannot be written: a directory, a missing
    directory, one without write permission, or (without ``force``) an existing file."""
    target = Path(path)
    allowed = "a file path in an existing, writable directory"
    if target.is_dir():
        raise InputError("is a directory", file=path, field=option, allowed=allowed)
    if target.exists() and not force:
        raise InputError(
            "already exists; it was left as it is",
            file=path,
            field=option,
            allowed="a new path, or --force to replace it once the new log is complete",
        )
    directory = target.parent if str(target.parent) else Path(".")
    if not directory.is_dir():
        raise InputError(
            f"directory {directory} does not exist", file=path, field=option, allowed=allowed
        )
    if not os.access(directory, os.W_OK | os.X_OK):
        raise InputError(
            f"directory {directory} is not writable", file=path, field=option, allowed=allowed
        )


def _check_shard_options(args: argparse.Namespace) -> None:
    if args.shard is not None and args.shards is not None:
        raise InputError(
            "--shard and --shards together",
            field="--shards",
            allowed="--shard K/N (one shard, e.g. on one of several hosts) or --shards N "
            "(N shard processes here, one log)",
        )
    sharded = args.shard is not None or args.shards is not None
    if sharded and args.live:
        raise InputError(
            "a live run cannot be sharded", field="--live", allowed="--live without --shard(s)"
        )
    if sharded and args.eclipse_workers is not None and args.eclipse_workers > 1:
        raise InputError(
            "--eclipse-workers with a sharded run: its shard processes already use every core",
            field="--eclipse-workers",
            allowed="--eclipse-workers N without --shard(s), or --shard(s) alone",
        )
    if args.shards is not None and args.metrics_port is not None:
        raise InputError(
            "--metrics-port serves one engine's metrics; --shards runs several",
            field="--metrics-port",
            allowed="--metrics-port with one engine (no --shards, or --shard K/N)",
        )


def run(args: argparse.Namespace) -> int:
    _check_shard_options(args)
    scenario = resolve_scenario(args.scenario, dict(args.set) or None)
    until_s = None
    if args.until is not None:
        until_s = options.until_seconds(args.until, scenario.scenario.epoch)
    seed = scenario.scenario.seed if args.seed is None else args.seed
    config = config_from_scenario(scenario, until_s=until_s)
    shard = args.shard
    if shard is not None:
        check_shardable(config, shard.count, field="--shard")
    if args.shards is not None:
        check_shardable(config, args.shards, field="--shards")
    log_path = args.log or default_log_path(scenario.scenario.name)
    check_log_target(log_path, "--log", force=args.force)
    # forked now: the workers inherit the fleet, and no thread or child exists yet
    passes = eclipse_passes(config, eclipse_workers(args))
    try:
        return _run(args, config, seed, shard, log_path, passes)
    finally:
        if passes is not None:
            passes.close()


def eclipse_workers(args: argparse.Namespace) -> int:
    """Processes per eclipse window: ``--eclipse-workers``, by default 2 where there are
    2 cores; 1 for sharded runs (their shard processes use the cores)."""
    if args.shard is not None or (args.shards is not None and args.shards > 1):
        return 1
    if args.eclipse_workers is not None:
        return int(args.eclipse_workers)
    return default_eclipse_workers()


def default_eclipse_workers() -> int:
    """2 where there are 2 cores, else 1."""
    return 2 if (os.cpu_count() or 1) >= 2 else 1


def eclipse_passes(config: EngineConfig, processes: int) -> ParallelPasses | None:
    """The engine's window passes in ``processes`` processes (``None``: the engine's own,
    in this process, also for fleets too small to split)."""
    smallest = parallel_passes.MIN_SATELLITES
    if processes < 2 or len(config.fleet) < smallest:  # no window would be split
        return None
    return ParallelPasses(config.fleet.satrecs, processes, min_satellites=smallest)


def _run(
    args: argparse.Namespace,
    config: EngineConfig,
    seed: int,
    shard: Shard | None,
    log_path: str,
    passes: ParallelPasses | None,
) -> int:
    from services.eventlog import atomic_log

    # batch runs fold in a child process (started before any Kafka client thread exists);
    # live runs fold in-process: events must be visible as they happen
    state: FleetState | BackgroundFold
    if args.live or (args.shards is not None and args.shards > 1):
        state = FleetState()
    else:
        state = BackgroundFold()
    publisher = None
    if wants_kafka(args):
        if shard is not None and shard.count > 1:
            connected = connect_shard_topic(bootstrap(args), topic(args), shard)
        else:
            connected = connect_empty_topic(bootstrap(args), topic(args))
        publisher = KeepGoingPublisher(connected)

    if args.shards is not None and args.shards > 1:
        return _run_shards(args, config, seed, log_path, publisher)

    with atomic_log(log_path) as log, _stopped_on_failure(state):
        sink, flush = make_sink(state, log, publisher, shard=shard)
        env = None
        if args.live:
            from services.live import LiveEnvironment

            def on_idle() -> None:
                stop_if_terminated()
                flush()

            env = LiveEnvironment(args.speed, on_idle=on_idle)
        engine = Engine(config, seed, sink, env=env, shard=shard, passes=passes or window_passes)
        if args.metrics_port is not None:
            from services.live_metrics import serve_live_metrics

            serve_live_metrics(
                args.metrics_host, args.metrics_port, engine, args.speed if args.live else None
            )
        bar = Progress(config.until_s, enabled=not args.quiet)
        t0 = time.monotonic()
        try:
            simulate(engine, config.until_s, flush, live=args.live, progress=bar)
        except BaseException:
            if publisher is not None:
                publisher.abandon()  # what was published stays; the log file is discarded
            raise
        finally:
            bar.close()
        if passes is not None:
            passes.release()  # the eclipse workers exit while the fold completes
        if publisher is not None:
            publisher.close()  # never raises: a Kafka failure must not cost the local log
        summary = state.summary()  # a BackgroundFold's once every batch is folded
        stop_if_terminated()  # a SIGTERM lost after the last step: still no log
        wall_s = time.monotonic() - t0
    lag = {k: round(v, 4) for k, v in env.lag_report().items()} if env is not None else None
    extra = {"shard": str(shard)} if shard is not None else {}
    return _report(args, summary, log_path, engine.offset, wall_s, seed, publisher, lag, extra)


@contextlib.contextmanager
def _stopped_on_failure(state: FleetState | BackgroundFold) -> Iterator[None]:
    """Stop the background process if the run fails, before its log file is removed."""
    try:
        yield
    except BaseException:
        if isinstance(state, BackgroundFold):
            state.close()
        raise


def _run_shards(
    args: argparse.Namespace,
    config: EngineConfig,
    seed: int,
    log_path: str,
    publisher: KeepGoingPublisher | None,
) -> int:
    """``--shards N``: N shard processes (:func:`services.shards.run_sharded`), one log, the
    same bytes to the log and to Kafka."""
    from services.eventlog import atomic_log
    from services.shards import run_sharded

    run_id = run_id_for(config, seed)
    t0 = time.monotonic()
    with atomic_log(log_path) as log:

        def write(rows: list[Any]) -> None:
            log.append_records(rows, run_id)
            if publisher is not None:
                publisher.publish_encoded([(r[5], r[4], r[3]) for r in rows])

        try:
            result = run_sharded(config, seed, args.shards, write)
        except BaseException:
            if publisher is not None:
                publisher.abandon()
            raise
        if publisher is not None:
            publisher.close()
        stop_if_terminated()
        wall_s = time.monotonic() - t0
    extra = {"shards": args.shards}
    return _report(
        args, result.state.summary(), log_path, result.events, wall_s, seed, publisher, None, extra
    )


def _report(
    args: argparse.Namespace,
    summary: dict[str, Any],
    log_path: str,
    events: int,
    wall_s: float,
    seed: int,
    publisher: KeepGoingPublisher | None,
    lag: dict[str, float] | None,
    extra: dict[str, Any],
) -> int:
    summary["wall"] = {
        "log": log_path,
        "events": events,
        "wall_s": round(wall_s, 3),
        "events_per_s": round(events / wall_s, 1) if wall_s > 0 else None,
        "seed": seed,
        **extra,
    }
    if lag is not None:
        summary["wall"]["live_lag"] = lag
    if args.shard is not None:
        # one shard's fold: its own satellites; shard 0's log holds the run-level facts
        summary["shard"] = {
            "shard": str(args.shard),
            "run_level_events": args.shard.owns_run,
            "run_level_facts_in": "this log" if args.shard.owns_run else "shard 0's log",
        }
    if args.json:
        print(json.dumps(summary, indent=2, sort_keys=True))
    else:
        print_summary(summary, sys.stdout)
    if publisher is not None and publisher.failure is not None:
        if args.shard is not None and args.shard.count > 1:
            again = (
                "a shard's partitions must hold its events from the start: delete the topic "
                "and run every shard again (runs are deterministic)"
            )
        else:
            again = (
                f"finish it with: twin log import {log_path} --bootstrap-server "
                f"{bootstrap(args)} --topic {topic(args)} --resume"
            )
        raise InfraError(
            f"the run is complete in {log_path} ({events:,} events), but publishing to "
            f"{kafka_url(args)} stopped: {publisher.failure}; {again}",
            retryable=True,
        )
    return 0


def connect_empty_topic(bootstrap: str, topic: str) -> Publisher:
    """A publisher to ``topic``, refused (before any simulation) if the topic holds events:
    a second run on one topic would be dead-lettered by every projector."""
    from services.kafka.log import KafkaEventLog
    from services.kafka.publisher import Publisher

    with KafkaEventLog(bootstrap, topic=topic, create=True) as existing:
        held, run_id = existing.next_offset, existing.run_id
    if held:
        raise InputError(
            f"Kafka topic {topic!r} already holds events of run {run_id}",
            field="--topic",
            allowed="a new or empty topic; to finish publishing a run that stopped part way: "
            "twin log import LOG --bootstrap-server HOST:PORT --topic TOPIC --resume",
        )
    return Publisher.connect(bootstrap, topic=topic)


def connect_shard_topic(bootstrap: str, topic: str, shard: Shard) -> Publisher:
    """A publisher of one shard of N to ``topic``, writing only the shard's partitions
    (:func:`services.kafka.publisher.shard_partitions`); refused (before any simulation) if
    those partitions hold records: the shard already ran, or another run used the topic."""
    from services.kafka.log import KafkaEventLog
    from services.kafka.publisher import Publisher, shard_partitions

    with KafkaEventLog(bootstrap, topic=topic, create=True) as existing:
        counts = existing.partition_counts()
    own = shard_partitions(len(counts), shard)
    uneven = uneven_partitions_warning(topic, len(counts), shard)
    if uneven:
        print(uneven, file=sys.stderr)
    held = sum(counts[p] for p in own)
    if held:
        raise InputError(
            f"Kafka topic {topic!r} already holds {held:,} records in the partitions of shard "
            f"{shard} ({', '.join(map(str, own))})",
            field="--topic",
            allowed="a new topic for the run, created with at least N partitions, every "
            "shard of the run publishing to it once",
        )
    publisher = Publisher.connect(bootstrap, topic=topic)
    publisher.for_shard(shard)
    return publisher


def uneven_partitions_warning(topic: str, partitions: int, shard: Shard) -> str | None:
    """A warning when ``partitions`` is not a multiple of the shard count: still exact (each
    partition holds one shard's events), but some shards then write one partition more."""
    if partitions % shard.count == 0:
        return None
    mine = len(range(shard.index, partitions, shard.count))
    low, high = partitions // shard.count, partitions // shard.count + 1
    return (
        f"twin: warning: Kafka topic {topic!r} has {partitions} partitions, not a multiple of "
        f"the {shard.count} shards (--shard {shard}): shards write {high} or {low} partitions "
        f"(this one {mine}), so projectors get uneven shares; the fold is still exact. For a "
        f"new topic set TWIN_KAFKA_PARTITIONS to a multiple of {shard.count}"
    )


class KeepGoingPublisher:
    """Publishes a run alongside its local log; the first Kafka failure stops publishing,
    never the run. The log is the source of truth: it is kept complete whatever happens to
    Kafka, and ``twin log import LOG --topic ... --resume`` finishes the publish later."""

    def __init__(self, publisher: Publisher) -> None:
        self.publisher = publisher
        self.failure: Exception | None = None

    def publish(self, events: Sequence[EventBase]) -> None:
        if self.failure is None:
            try:
                self.publisher.publish(events)
            except Exception as exc:  # whatever Kafka does, the run and its log go on
                self._fail(exc)

    def publish_encoded(self, records: Sequence[tuple[bytes, bytes, str]]) -> None:
        if self.failure is None:
            try:
                self.publisher.publish_encoded(records)
            except Exception as exc:
                self._fail(exc)

    def close(self) -> None:
        if self.failure is None:
            try:
                self.publisher.close()
            except Exception as exc:
                self._fail(exc)

    def abandon(self) -> None:
        self.publisher.abandon()

    def _fail(self, exc: Exception) -> None:
        self.failure = exc
        with contextlib.suppress(Exception):
            self.publisher.abandon()
        print(
            f"twin: warning: Kafka publishing stopped ({exc}); the simulation goes on and "
            "its log is kept",
            file=sys.stderr,
        )


def make_sink(
    state: FleetState | BackgroundFold,
    log: SqliteEventLog,
    publisher: Publisher | KeepGoingPublisher | None,
    batch: int = BATCH,
    shard: Shard | None = None,
) -> tuple[Callable[[EventBase], None], Callable[[], None]]:
    """The engine's event sink and the flush that empties its buffer (``twin run``'s path).

    The sink folds each event into ``state`` at once (a :class:`FleetState`), or sends the
    bytes to a :class:`services.shards.BackgroundFold` with each flush; it encodes each event
    once and buffers the bytes; ``flush`` appends the buffer to ``log`` in one transaction
    (:meth:`SqliteEventLog.append_records`) and hands the same bytes to ``publisher`` (sent
    in the background: :meth:`Publisher.flush` waits for delivery). A batch run without
    Kafka gets a :class:`WireSink`: the engine hands it each event's bytes and its log row's
    fields, and never builds the event. The sink flushes by itself every ``batch`` events;
    live mode also flushes whenever the simulation is about to sleep, so events leave within
    one wall-clock idle gap of their emission.

    With ``shard`` (K of N), Kafka gets the engine's wire offsets (``j·N + K``) and the log
    the shard's own, from 0 (:func:`twin.events.with_offset`), so it reads like any log.
    """
    encode, key_of, reoffset = ev.encode, ev.stream_key, ev.with_offset
    stride, first = (shard.count, shard.index) if shard is not None else (1, 0)
    background = state if isinstance(state, BackgroundFold) else None
    fold_now = state.apply if isinstance(state, FleetState) else None

    if background is not None and publisher is None:
        # the lightest path (a batch run without Kafka): the engine's process encodes each
        # event once and writes the log; the background process decodes (validates) and folds
        records: list[Record] = []
        run_of: list[str] = []
        batch = min(batch, background.SEND_BATCH)

        def flush_records() -> None:
            if records:
                log.append_records(records, run_of[0])
                background.send([r[4] for r in records])
                records.clear()

        class RecordSink(WireSink):  # the engine sends it bytes and the row's fields
            def __call__(self, event: EventBase) -> None:
                self.wire(encode(event), event.type, event.__dict__)

            def wire(self, raw: bytes, etype: str, fields: Mapping[str, Any]) -> None:
                offset = fields["offset"]
                if stride != 1:
                    offset = (offset - first) // stride
                    raw = reoffset(raw, offset)
                if not run_of:
                    run_of.append(fields["run_id"])
                records.append((offset, fields["sim_time"], fields.get("satellite"), etype, raw))
                if len(records) >= batch:
                    flush_records()

        return RecordSink(), flush_records

    rows: list[tuple[Any, ...]] = []
    run: list[str] = []

    def flush() -> None:
        if rows:
            log.append_records(rows, run[0])
            if background is not None:
                background.send([r[4] for r in rows])
            if publisher is not None:
                publisher.publish_encoded([(r[5], r[6], r[3]) for r in rows])
            rows.clear()

    def sink(event: EventBase) -> None:
        if fold_now is not None:
            fold_now(event)
        if not run:
            run.append(event.run_id)
        wire = encode(event)
        offset = event.offset
        raw = wire
        if stride != 1:
            offset = (offset - first) // stride
            raw = reoffset(wire, offset)
        rows.append(
            (offset, event.sim_time, event.satellite, event.type, raw, key_of(event).encode(), wire)
        )
        if len(rows) >= batch:
            flush()

    return sink, flush


def simulate(
    engine: Engine,
    until_s: float,
    flush: Callable[[], None],
    *,
    live: bool,
    progress: Progress | None = None,
) -> None:
    """Start ``engine``, run it to ``until_s`` sim seconds, finish it and flush the sink.

    The run advances in 200 steps (progress updates between them); in live mode each step
    also ends with a flush, so a simulation that never idles still publishes regularly.
    """
    # the cyclic collector stays off and settles between steps (services/collector.py):
    # its automatic passes rescanned the run's live processes and events over and over
    with collector.quiet():
        engine.start()
        collector.settle()
        _run_in_steps(engine, until_s, progress, flush if live else None)
    engine.finish()
    flush()


def _run_in_steps(
    engine: Engine,
    until_s: float,
    progress: Progress | None,
    flush: Callable[[], None] | None,
) -> None:
    steps = 200
    for k in range(1, steps + 1):
        engine.run(until_s * k / steps)
        stop_if_terminated()
        collector.settle()
        if flush is not None:
            flush()
        if progress is not None:
            progress.update(engine.env.now, engine.clock.format(engine.env.now), engine.offset)


def print_summary(summary: dict[str, Any], out: TextIO) -> None:
    """A human summary of a finished run (the same figures as `twin state`)."""
    from services.cli.state import format_state

    run = summary.get("wall", {})
    out.write(format_state(summary, shard=run.get("shard")))
    if run:
        out.write(
            f"\nlog: {run['log']}  ({run['events']:,} events in {run['wall_s']:.1f} s wall,"
            f" {run.get('events_per_s') or 0:,.0f} events/s, seed {run['seed']})\n"
        )
        lag = run.get("live_lag")
        if lag:
            out.write(
                f"live lag behind wall clock: p50 {lag['p50_s']:.3f} s, p99 {lag['p99_s']:.3f} s,"
                f" max {lag['max_s']:.3f} s\n"
            )
