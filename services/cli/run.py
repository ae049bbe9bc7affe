"""`twin run`: simulate a scenario into an event log (embedded SQLite by default).

The log is written atomically: events go to a temporary file beside the target, which is
renamed into place only when the run finishes; on an error or interrupt nothing is left at
the target path. Progress goes to stderr; the closing summary to stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from services.cli import options
from services.http_server import DEFAULT_HOST
from twin.errors import InfraError, InputError
from twin.events import EventBase
from twin.projections import FleetState
from twin.sim.engine import Engine, config_from_scenario
from twin.sim.scenario import resolve_scenario

if TYPE_CHECKING:
    from services.eventlog import EventLog
    from services.kafka.publisher import Publisher

BATCH = 5000


def register(sub: argparse._SubParsersAction[Any]) -> None:
    p = sub.add_parser(
        "run",
        help="simulate a scenario into an event log",
        description="Simulate SCENARIO (a preset name from `twin scenarios` or a TOML path) "
        "and write its event log.",
    )
    p.add_argument("scenario", metavar="SCENARIO")
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
        type=options.duration,
        default=None,
        help="simulated span, e.g. 36h, 30d (default: the scenario's)",
    )
    p.add_argument(
        "--log", default=None, help="embedded event log to write (default: SCENARIO.twinlog)"
    )
    p.add_argument("--live", action="store_true", help="pace the simulation by the wall clock")
    p.add_argument(
        "--speed",
        type=options.positive_number(1e9, "sim seconds per wall second"),
        default=60.0,
        help="live mode: sim seconds per wall second",
    )
    p.add_argument("--kafka", default=None, metavar="BOOTSTRAP", help="also publish to Kafka")
    p.add_argument("--topic", default="twin.events", help="Kafka topic (with --kafka)")
    p.add_argument(
        "--metrics-port",
        type=options.port,
        default=None,
        help="serve the live simulation's own Prometheus metrics on this port",
    )
    p.add_argument(
        "--metrics-host",
        default=DEFAULT_HOST,
        help=f"address for --metrics-port (default: {DEFAULT_HOST}; 0.0.0.0 for all)",
    )
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


class Progress:
    """A progress bar on stderr (a line per 10 % when stderr is not a terminal)."""

    def __init__(self, total_s: float, stream: TextIO, enabled: bool) -> None:
        self.total_s = max(total_s, 1e-9)
        self.stream = stream
        self.enabled = enabled
        self.tty = stream.isatty()
        self.t0 = time.monotonic()
        self._last_decile = -1

    def update(self, sim_s: float, sim_time: str, events: int) -> None:
        if not self.enabled:
            return
        frac = min(sim_s / self.total_s, 1.0)
        wall = time.monotonic() - self.t0
        rate = events / wall if wall > 0 else 0.0
        eta = wall * (1 - frac) / frac if frac > 0 else float("nan")
        bar = "#" * int(frac * 30)
        line = (
            f"[{bar:<30}] {frac * 100:5.1f}%  sim {sim_time}  {events:,} events"
            f"  {rate / 1000:,.1f}k ev/s  eta {eta:,.0f}s"
        )
        if self.tty:
            self.stream.write("\r" + line)
            if frac >= 1.0:
                self.stream.write("\n")
        else:
            decile = int(frac * 10)
            if decile == self._last_decile:
                return
            self._last_decile = decile
            self.stream.write(line + "\n")
        self.stream.flush()


def default_log_path(name: str) -> str:
    return f"{Path(name).stem}.twinlog"


def check_log_target(path: str, option: str) -> None:
    """Refuse, before any work, a log path that cannot be written: a directory, a missing
    directory, or one without write permission."""
    target = Path(path)
    allowed = "a file path in an existing, writable directory"
    if target.is_dir():
        raise InputError("is a directory", file=path, field=option, allowed=allowed)
    directory = target.parent if str(target.parent) else Path(".")
    if not directory.is_dir():
        raise InputError(
            f"directory {directory} does not exist", file=path, field=option, allowed=allowed
        )
    if not os.access(directory, os.W_OK | os.X_OK):
        raise InputError(
            f"directory {directory} is not writable", file=path, field=option, allowed=allowed
        )


def run(args: argparse.Namespace) -> int:
    from services.eventlog import atomic_log

    scenario = resolve_scenario(args.scenario, dict(args.set) or None)
    until_s = args.until
    seed = scenario.scenario.seed if args.seed is None else args.seed
    config = config_from_scenario(scenario, until_s=until_s)
    log_path = args.log or default_log_path(scenario.scenario.name)
    check_log_target(log_path, "--log")
    state = FleetState()
    publisher = None
    if args.kafka:
        publisher = KeepGoingPublisher(connect_empty_topic(args.kafka, args.topic))

    with atomic_log(log_path) as log:
        sink, flush = make_sink(state, log, publisher)
        env = None
        if args.live:
            from services.live import LiveEnvironment

            env = LiveEnvironment(args.speed, on_idle=flush)
        engine = Engine(config, seed, sink, env=env)
        if args.metrics_port is not None:
            from services.live_metrics import serve_live_metrics

            serve_live_metrics(
                args.metrics_host, args.metrics_port, engine, args.speed if args.live else None
            )
        progress = Progress(config.until_s, sys.stderr, enabled=not args.quiet)
        t0 = time.monotonic()
        try:
            simulate(engine, config.until_s, flush, live=args.live, progress=progress)
        except BaseException:
            if publisher is not None:
                publisher.abandon()  # what was published stays; the log file is discarded
            raise
        if publisher is not None:
            publisher.close()  # never raises: a Kafka failure must not cost the local log
        wall_s = time.monotonic() - t0
    summary = state.summary()
    summary["wall"] = {
        "log": log_path,
        "events": engine.offset,
        "wall_s": round(wall_s, 3),
        "events_per_s": round(engine.offset / wall_s, 1) if wall_s > 0 else None,
        "seed": seed,
    }
    if env is not None:
        summary["wall"]["live_lag"] = {k: round(v, 4) for k, v in env.lag_report().items()}
    if args.json:
        print(json.dumps(summary, indent=2, sort_keys=True))
    else:
        print_summary(summary, sys.stdout)
    if publisher is not None and publisher.failure is not None:
        raise InfraError(
            f"the run is complete in {log_path} ({engine.offset:,} events), but publishing to "
            f"kafka://{args.kafka}/{args.topic} stopped: {publisher.failure}. Finish it with: "
            f"twin log import {log_path} --kafka {args.kafka} --topic {args.topic} --resume",
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
            "twin log import LOG --kafka BOOTSTRAP --topic TOPIC --resume",
        )
    return Publisher.connect(bootstrap, topic=topic)


class KeepGoingPublisher:
    """Publishes a run alongside its local log; the first Kafka failure stops publishing,
    never the run. The log is the source of truth: it is kept complete whatever happens to
    Kafka, and ``twin log import LOG --kafka ... --resume`` finishes the publish later."""

    def __init__(self, publisher: Publisher) -> None:
        self.publisher = publisher
        self.failure: Exception | None = None

    def publish(self, events: Sequence[EventBase]) -> None:
        if self.failure is None:
            try:
                self.publisher.publish(events)
            except Exception as exc:  # whatever Kafka does, the run and its log go on
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
    state: FleetState,
    log: EventLog,
    publisher: Publisher | KeepGoingPublisher | None,
    batch: int = BATCH,
) -> tuple[Callable[[EventBase], None], Callable[[], None]]:
    """The engine's event sink and the flush that empties its buffer (``twin run``'s path).

    The sink folds each event into ``state`` at once and buffers it; ``flush`` appends the
    buffer to ``log`` in one transaction and hands it to ``publisher`` (sent in the
    background: :meth:`Publisher.flush` waits for delivery). The sink flushes by itself every
    ``batch`` events; live mode also flushes whenever the simulation is about to sleep, so
    events leave within one wall-clock idle gap of their emission.
    """
    buffer: list[EventBase] = []

    def flush() -> None:
        if buffer:
            log.append(buffer)
            if publisher is not None:
                publisher.publish(buffer)
            buffer.clear()

    def sink(event: EventBase) -> None:
        state.apply(event)
        buffer.append(event)
        if len(buffer) >= batch:
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
    engine.start()
    # Everything built so far (modules, fleet, satellite records, SimPy processes) lives for
    # the whole run: move it out of the cyclic collector's view, so full collections stop
    # rescanning it (~6 s of 50 s on 10k satellites × 1 day). Events are unaffected.
    gc.collect()
    gc.freeze()
    try:
        _run_in_steps(engine, until_s, progress, flush if live else None)
    finally:
        gc.unfreeze()
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
        if flush is not None:
            flush()
        if progress is not None:
            progress.update(engine.env.now, engine.clock.format(engine.env.now), engine.offset)


def print_summary(summary: dict[str, Any], out: TextIO) -> None:
    """A human summary of a finished run (the same figures as `twin state`)."""
    from services.cli.state import format_state

    out.write(format_state(summary))
    run = summary.get("wall", {})
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
