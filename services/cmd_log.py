"""``twin log export|info|import`` and ``twin state``: look into and move event logs.

``twin log export PATH [--out FILE]`` writes one event per line, exactly the codec's bytes (the
same JSON that is the Kafka message value). ``twin log import JSONL --log PATH`` is the reverse:
every line is validated with the codec and the log's rules (offsets from 0 without gaps, one
run, non-decreasing sim_time); the first bad line stops the import with its file:line and
nothing is written. ``twin state PATH [--at TIME]`` replays the log into the fleet state
(the same fold the projector uses), up to a sim time if given.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from services.cmd_kafka import add_kafka_source, import_source, import_target, open_source
from services.eventlog import EventLog, LogAppendError, check_batch
from services.kafka_settings import DEFAULT_TOPIC
from twin.constants import SECONDS_PER_HOUR
from twin.errors import DecodeError, InputError
from twin.events import EventBase, decode
from twin.projections import fold
from twin.timeutil import format_sim, format_time, parse_duration, parse_time

IMPORT_BATCH = 10_000


def register(subparsers: Any) -> None:
    """Add ``log`` (with ``export``, ``info``, ``import``) and ``state``."""
    log = subparsers.add_parser("log", help="export, import or describe an event log")
    log_sub = log.add_subparsers(dest="log_command", metavar="ACTION")
    log.set_defaults(func=lambda args: _usage(log))

    p = log_sub.add_parser("export", help="write the log as JSON lines (the codec's bytes)")
    p.add_argument("path", metavar="PATH", nargs="?", help="embedded event log")
    add_kafka_source(p)
    p.add_argument("--jsonl", action="store_true", help="JSON lines (the default and only format)")
    p.add_argument("--out", default=None, metavar="FILE", help="output file (default: stdout)")
    p.set_defaults(func=run_export)

    p = log_sub.add_parser("info", help="summarise an event log")
    p.add_argument("path", metavar="PATH", nargs="?", help="embedded event log")
    add_kafka_source(p)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run_info)

    p = log_sub.add_parser("import", help="build an embedded log (or a topic) from JSON lines")
    p.add_argument("jsonl", metavar="JSONL", nargs="?", help="JSON-lines file (or an embedded log)")
    p.add_argument("--log", default=None, metavar="PATH", help="embedded event log to write")
    p.add_argument("--kafka", default=None, metavar="BOOTSTRAP", help="write to a Kafka topic")
    p.add_argument(
        "--from-kafka", default=None, metavar="BOOTSTRAP", help="read from a Kafka topic"
    )
    p.add_argument("--topic", default=DEFAULT_TOPIC, help=f"Kafka topic (default: {DEFAULT_TOPIC})")
    p.set_defaults(func=run_import)

    p = subparsers.add_parser("state", help="fleet state rebuilt by replaying an event log")
    p.add_argument("path", metavar="PATH", nargs="?", help="embedded event log")
    add_kafka_source(p)
    p.add_argument(
        "--at",
        default=None,
        metavar="TIME",
        help="replay events up to this sim time: ISO-8601, or a duration after the epoch (36h)",
    )
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=run_state)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


# ---------------------------------------------------------------------- export / import


@contextlib.contextmanager
def _output(path: str | None) -> Iterator[IO[bytes]]:
    """stdout, or a file that appears at ``path`` only when writing succeeded."""
    if path is None:
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    target = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise InputError(f"cannot write: {exc.strerror}", file=path, field="--out") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def run_export(args: argparse.Namespace) -> int:
    with open_source(args) as log, _output(args.out) as out:
        for raw in log.read_raw():
            out.write(raw)
            out.write(b"\n")
    return 0


def read_jsonl(path: str) -> Iterator[tuple[int, EventBase]]:
    """``(line number, event)`` for each non-blank line; InputError at the first bad line."""
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed by the with below, errors mapped first
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", file=path) from None
    with fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                yield number, decode(line)
            except DecodeError as exc:
                raise InputError(
                    f"not a valid event ({exc.reason}: {exc.detail})",
                    file=path,
                    line=number,
                    allowed="one JSON event per line, as written by `twin log export`",
                ) from None


def run_import(args: argparse.Namespace) -> int:
    batch: list[EventBase] = []
    next_offset, run_id, last_time = 0, None, None
    source, events = import_source(args)
    with import_target(args) as log:
        for number, event in events:
            try:  # the log's own rules, checked per line to name the line
                check_batch([event], next_offset, run_id, last_time)
            except LogAppendError as exc:
                raise InputError(str(exc), file=source, line=number) from None
            next_offset, run_id, last_time = event.offset + 1, event.run_id, event.sim_time
            batch.append(event)
            if len(batch) >= IMPORT_BATCH:
                log.append(batch)
                batch.clear()
        log.append(batch)
        count = len(log)
    target = args.log or f"kafka://{args.kafka}/{args.topic}"
    print(f"imported {count:,} events into {target}", file=sys.stderr)
    return 0


# ---------------------------------------------------------------------- info


def run_info(args: argparse.Namespace) -> int:
    with open_source(args) as log:
        info = log.info()
    if args.json:
        print(json.dumps(info, indent=2, sort_keys=True))
        return 0
    lines = [
        f"log        {info['path']}",
        f"run        {info['run_id']}  scenario {info['scenario']}  seed {info['seed']}",
        f"events     {info['count']:,}  satellites {info['satellites']:,}",
        f"sim time   {info['first_sim_time']} .. {info['last_sim_time']}",
        "by type:",
    ]
    lines += [f"  {etype:<26}{n:>12,}" for etype, n in info["counts_by_type"].items()]
    print("\n".join(lines))
    return 0


# ---------------------------------------------------------------------- state


def resolve_at(text: str, log: EventLog) -> str:
    """``--at``: an ISO-8601 time, or a duration (``36h``) after the run's epoch."""
    try:
        return format_time(parse_time(text, field="--at"))
    except InputError:
        pass
    try:
        offset_s = parse_duration(text, field="--at")
    except InputError:
        raise InputError(
            f"cannot read time {text!r}",
            field="--at",
            allowed="an ISO-8601 time (2026-11-23T06:00:00Z) or a duration after the epoch (36h)",
        ) from None
    epoch = log.info().get("epoch")
    if epoch is None:
        raise InputError(
            "a duration needs the run's epoch, but the log has no scenario_started event",
            field="--at",
            allowed="an ISO-8601 time",
        )
    return format_sim(parse_time(epoch), offset_s)


def run_state(args: argparse.Namespace) -> int:
    with open_source(args) as log:
        events = log.read() if args.at is None else log.read_until(resolve_at(args.at, log))
        summary = fold(events).summary()
    if args.json:
        print(json.dumps(summary, indent=2, sort_keys=True))
    else:
        sys.stdout.write(format_state(summary))
    return 0


def _num(x: float | None, fmt: str = ",.1f") -> str:
    return "-" if x is None else format(x, fmt)


def format_state(summary: dict[str, Any]) -> str:
    """A human table of a :meth:`twin.projections.FleetState.summary` (also used by ``twin run``)."""
    run = summary.get("run", {})
    pos = summary["position"]
    fleet = summary["fleet"]
    counters = summary["counters"]
    repair = summary["repair"]
    integrals = summary["integrals"]
    lines = []
    if run.get("run_id"):
        lines.append(
            f"run        {run['run_id']}  scenario {run.get('scenario')}  seed {run.get('seed')}"
        )
    lines.append(
        f"sim time   {pos['sim_time']}  ({pos['events_applied']:,} events, "
        f"last offset {pos['last_offset']})"
    )
    lines.append("satellites by state:")
    lines += [
        f"  {state:<18}{n:>10,}" for state, n in summary["satellites"]["by_state"].items() if n
    ]
    lines += [
        f"compute online     {fleet['compute_online_accelerators']:,} accelerators"
        f"  ({fleet['compute_online_tflops'] / 1000:,.1f} PFLOPS)",
        f"power              {fleet['power_generated_w'] / 1000:,.1f} kW generated,"
        f" {fleet['power_consumed_w'] / 1000:,.1f} kW consumed",
        f"in eclipse         {fleet['in_shadow']:,} satellites  (load shed {fleet['load_shed']:,})",
        f"compute delivered  {integrals['compute_accelerator_hours']:,.1f} accelerator-hours"
        f"  ({integrals['compute_pflop_days']:,.3f} PFLOP-days)",
        f"energy             {integrals['energy_generated_kwh']:,.1f} kWh generated,"
        f" {integrals['energy_consumed_kwh']:,.1f} kWh consumed",
        f"eclipse time       {integrals['eclipse_satellite_s'] / SECONDS_PER_HOUR:,.1f} satellite-hours"
        f"  (load shed {integrals['load_shed_satellite_s'] / SECONDS_PER_HOUR:,.1f})",
        f"launches           {counters['launches']:,}  (failed {counters['launch_failures']:,})"
        f"  deorbits {counters['deorbits']:,}",
        f"faults             {counters['faults_total']:,}  reboots {counters['reboots']:,}"
        f"  repairs {counters['repairs_completed']:,}",
        f"repair queue       {repair['queue_length']:,} waiting, "
        f"{len(repair['robots_busy']):,} robots busy, spares left {repair['spares_left']:,}",
        f"MTTR               {_num(None if repair['mttr_s'] is None else repair['mttr_s'] / SECONDS_PER_HOUR)} h",
    ]
    return "\n".join(lines) + "\n"
