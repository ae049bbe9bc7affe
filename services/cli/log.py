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

from services.cli.common import counted, progress
from services.cli.run import check_log_target
from services.cli.sources import (
    add_kafka_options,
    bootstrap,
    import_source,
    import_target,
    import_to_kafka,
    kafka_url,
    open_kafka_log,
    open_source,
    topic,
)
from services.eventlog import LogAppendError, SqliteEventLog, check_batch
from twin.errors import IllegalTransition, InputError
from twin.events import EventBase
from twin.projections import EventOrderError, FleetState

IMPORT_BATCH = 10_000


def register(subparsers: Any) -> None:
    """Add ``log`` (with ``export``, ``info``, ``import``)."""
    log = subparsers.add_parser("log", help="export, import or describe an event log")
    log_sub = log.add_subparsers(dest="log_command", metavar="ACTION")
    log.set_defaults(func=lambda args: _usage(log))

    p = log_sub.add_parser(
        "export",
        help="write the log as JSON lines (the codec's bytes)",
        description="Write every event of PATH (or of a Kafka topic) as one JSON line, exactly "
        "the codec's bytes: the same JSON that is the Kafka message value, so the SHA-256 of "
        "the output identifies the run (a sweep's runs.csv lists it). Every record is checked "
        "on the way; a corrupted log stops with its offset. With --out the file appears only "
        "once complete (mode 0644 less the umask).",
    )
    p.add_argument("path", metavar="PATH", nargs="?", help="embedded event log")
    add_kafka_options(p, "read the log from this Kafka topic instead of PATH")
    p.add_argument("--out", default=None, metavar="FILE", help="output file (default: stdout)")
    p.set_defaults(func=run_export)

    p = log_sub.add_parser(
        "info",
        help="summarise an event log",
        description="Summarise an event log: its run id, scenario and seed, the number of "
        "events and satellites, the first and last sim time, and the count of each event type "
        "(--json for the same as JSON). An embedded log answers from the tables every append "
        "keeps, and its first record, at once whatever its size; --check also decodes every "
        "record to find a corrupted one (seconds per million events). A Kafka topic keeps no "
        "such tables: info reads and checks every record of it.",
    )
    p.add_argument("path", metavar="PATH", nargs="?", help="embedded event log")
    add_kafka_options(p, "read the log from this Kafka topic instead of PATH")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument(
        "--check",
        action="store_true",
        help="decode every record first and report the first corrupted one (exit 2)",
    )
    p.set_defaults(func=run_info)

    p = log_sub.add_parser(
        "import",
        help="build an embedded log (or a topic) from JSON lines",
        description="Read SOURCE (JSON lines, or an embedded log) or --from-topic, check every "
        "record, and write --log PATH or the Kafka topic --topic. Nothing is written unless "
        "the whole input is valid; an existing --log is replaced only with --force.",
    )
    p.add_argument(
        "jsonl", metavar="SOURCE", nargs="?", help="JSON-lines file (or an embedded log)"
    )
    p.add_argument("--log", default=None, metavar="PATH", help="embedded event log to write")
    p.add_argument(
        "--force", action="store_true", help="replace an existing --log (only once all is read)"
    )
    add_kafka_options(p, "write to this Kafka topic")
    p.add_argument("--from-topic", default=None, metavar="TOPIC", help="read from this Kafka topic")
    p.add_argument(
        "--resume",
        action="store_true",
        help="with --topic: finish publishing a run that stopped part way (publish only the "
        "events the topic lacks; safe to repeat)",
    )
    p.set_defaults(func=run_import)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


# ---------------------------------------------------------------------- export / import


def _umask() -> int:
    """The process's umask (read by setting it and putting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


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
        # mkstemp makes the file 0600; give it the mode open() would (0666 less the umask)
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as fh:
            yield fh
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def run_export(args: argparse.Namespace) -> int:
    with open_source(args) as log, _output(args.out) as out:
        bar = progress(total=len(log), desc="export", unit="ev")
        for raw in counted(log.read_checked_raw(), bar):
            out.write(raw)
            out.write(b"\n")
    return 0


def checked(source: str, events: Iterator[tuple[int, EventBase]]) -> Iterator[EventBase]:
    """``events`` with every rule of the log and of the fold checked per record, so an error
    names the line: offsets from 0 without gaps, one run, non-decreasing sim_time, unique
    event ids, gap-free ``seq`` per satellite and legal state transitions (the same
    :class:`FleetState` fold ``twin state`` and the projectors run). An input without events
    is refused too. Used as a generator, it raises before the bad record is handed on, so a
    caller writing into an atomic target never publishes a partial import."""
    next_offset, run_id, last_time = 0, None, None
    seen_ids: set[str] = set()
    state = FleetState()
    for number, event in events:
        try:
            check_batch([event], next_offset, run_id, last_time)
        except LogAppendError as exc:
            raise InputError(str(exc), file=source, line=number) from None
        if event.event_id in seen_ids:
            raise InputError(
                f"duplicate event_id {event.event_id!r} (offset {event.offset})",
                file=source,
                line=number,
                field="event_id",
                allowed="each event once; event ids are unique within a run",
            )
        seen_ids.add(event.event_id)
        try:
            state.apply(event)
        except (EventOrderError, IllegalTransition) as exc:
            raise InputError(
                f"the event does not continue the run: {exc}",
                file=source,
                line=number,
                field="seq" if "seq" in str(exc) else None,
                allowed="a whole run in log order, as written by `twin log export`",
            ) from None
        next_offset, run_id, last_time = event.offset + 1, event.run_id, event.sim_time
        yield event
    if next_offset == 0:
        raise InputError(
            "nothing to import: the input is empty (no events)",
            file=source,
            allowed="one JSON event per line, as written by `twin log export`",
        )


def run_import(args: argparse.Namespace) -> int:
    if args.resume:
        return run_resume(args)
    batch: list[EventBase] = []
    source, events = import_source(args)
    if args.log is not None:
        check_log_target(args.log, "--log", force=args.force)
    bar = progress(desc="import", unit="ev")
    with bar, import_target(args) as log:
        for event in counted(checked(source, events), bar):
            batch.append(event)
            if len(batch) >= IMPORT_BATCH:
                log.append(batch)
                batch.clear()
        log.append(batch)
        count = len(log)
    target = args.log or kafka_url(args)
    print(f"imported {count:,} events into {target}", file=sys.stderr)
    return 0


def run_resume(args: argparse.Namespace) -> int:
    """``twin log import LOG --topic T --resume``: publish what the topic lacks."""
    if not import_to_kafka(args) or args.log is not None:
        raise InputError(
            "--resume finishes publishing to Kafka",
            field="--resume",
            allowed="twin log import LOG --bootstrap-server HOST:PORT --topic TOPIC --resume",
        )
    source, events = import_source(args)
    bar = progress(desc="resume", unit="ev")
    with bar, open_kafka_log(bootstrap(args), topic(args), create=True) as log:
        had, sent = log.resume(counted(checked(source, events), bar), source=source)
        total = log.next_offset
    print(
        f"{kafka_url(args)}: {had:,} events were there, published the other "
        f"{sent:,}; the topic now holds the whole run ({total:,} events)",
        file=sys.stderr,
    )
    return 0


# ---------------------------------------------------------------------- info


def run_info(args: argparse.Namespace) -> int:
    with open_source(args) as log:
        # a topic is read whole anyway (no tables to answer from), so it is always checked
        if args.check or not isinstance(log, SqliteEventLog):
            log.check()  # every record, so a corrupted log is reported with its offset
        info = log.info()
    if args.json:
        print(json.dumps(info, indent=2, sort_keys=True))
        return 0
    lines = [
        f"log        {info['path']}",
        f"run        {info['run_id']}  scenario {info['scenario']}  seed {info['seed']}"
        if info["scenario"] is not None or not info["run_id"]
        else f"run        {info['run_id']}  (no scenario_started: a shard's log other than "
        "shard 0's, whose log has the scenario and seed)",
        f"events     {info['count']:,}  satellites {info['satellites']:,}",
        f"sim time   {info['first_sim_time']} .. {info['last_sim_time']}",
        "by type:",
    ]
    lines += [f"  {etype:<26}{n:>12,}" for etype, n in info["counts_by_type"].items()]
    print("\n".join(lines))
    return 0
