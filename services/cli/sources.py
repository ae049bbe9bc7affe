"""Where the commands read and write event logs: a path, a JSON-lines file or a Kafka topic.

A run moves between the embedded log and a topic unchanged, because both hold exactly the
codec's bytes and both sit behind the same :class:`services.eventlog.EventLog` port:

    twin log import run.twinlog --kafka HOST:9092 --topic runs.demo     # embedded -> Kafka
    twin log export --kafka HOST:9092 --topic runs.demo --out run.jsonl  # Kafka -> JSON lines
    twin log import --from-kafka HOST:9092 --topic runs.demo --log copy.twinlog
    twin replay --kafka HOST:9092 --topic runs.demo --until 36h          # like `twin state`

``twin log export/info`` and ``twin state`` take ``--kafka``/``--topic`` instead of a path
(see :func:`open_source`); ``twin log import`` reads a JSON-lines file, an embedded log or a
topic (:func:`import_source`) and writes an embedded log or a topic (:func:`import_target`).
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from services.eventlog import EventLog, SqliteEventLog, atomic_log
from services.kafka.settings import DEFAULT_TOPIC
from twin.errors import DecodeError, InputError
from twin.events import EventBase, decode

if TYPE_CHECKING:
    from services.kafka.log import KafkaEventLog

SQLITE_MAGIC = b"SQLite format 3\x00"


# ---------------------------------------------------------------------- sources and targets


def add_kafka_source(parser: argparse.ArgumentParser) -> None:
    """``--kafka BOOTSTRAP [--topic T]``: read the log from a topic instead of a PATH."""
    parser.add_argument(
        "--kafka", default=None, metavar="BOOTSTRAP", help="read the log from this Kafka broker"
    )
    parser.add_argument(
        "--topic", default=DEFAULT_TOPIC, help=f"Kafka topic (default: {DEFAULT_TOPIC})"
    )


def open_kafka_log(bootstrap: str, topic: str, *, create: bool = False) -> KafkaEventLog:
    from services.kafka.log import KafkaEventLog

    return KafkaEventLog(bootstrap, topic=topic, create=create)


def open_source(args: argparse.Namespace) -> EventLog:
    """The log named by ``PATH`` (embedded) or ``--kafka``/``--topic``, exactly one of them."""
    kafka = getattr(args, "kafka", None)
    if (args.path is None) == (kafka is None):
        raise InputError(
            "give either an embedded log PATH or --kafka BOOTSTRAP (with --topic)",
            field="PATH" if kafka is None else "--kafka",
        )
    if kafka is not None:
        return open_kafka_log(kafka, args.topic)
    return SqliteEventLog(args.path)


def import_source(args: argparse.Namespace) -> tuple[str, Iterator[tuple[int, EventBase]]]:
    """``(name, (record number, event) ...)`` for ``twin log import``: a JSON-lines file, an
    embedded log (recognised by its SQLite header) or, with ``--from-kafka``, a topic."""
    if (args.jsonl is None) == (args.from_kafka is None):
        raise InputError(
            "give either a JSONL file / embedded log to import, or --from-kafka BOOTSTRAP",
            field="JSONL" if args.from_kafka is None else "--from-kafka",
        )
    if args.from_kafka is not None:
        log: EventLog = open_kafka_log(args.from_kafka, args.topic)
        return f"kafka://{args.from_kafka}/{args.topic}", _numbered(log)
    try:
        with open(args.jsonl, "rb") as fh:
            embedded = fh.read(len(SQLITE_MAGIC)) == SQLITE_MAGIC
    except OSError:
        embedded = False  # read_jsonl reports the file error with its name
    if embedded:
        return args.jsonl, _numbered(SqliteEventLog(args.jsonl))
    return args.jsonl, read_jsonl(args.jsonl)


def _numbered(log: EventLog) -> Iterator[tuple[int, EventBase]]:
    with log:
        yield from enumerate(log.read(), start=1)


@contextlib.contextmanager
def import_target(args: argparse.Namespace) -> Iterator[EventLog]:
    """The log ``twin log import`` writes: ``--log PATH`` (atomic) or ``--kafka`` + ``--topic``.

    A topic must be new or empty. If the import fails and this call created the topic, the
    topic is deleted again, so a failed import leaves nothing behind on either side.
    """
    if (args.log is None) == (args.kafka is None):
        raise InputError(
            "give either --log PATH (embedded log) or --kafka BOOTSTRAP (with --topic)",
            field="--log" if args.kafka is None else "--kafka",
        )
    if args.log is not None:
        with atomic_log(args.log) as embedded:
            yield embedded
        return
    log = open_kafka_log(args.kafka, args.topic, create=True)
    try:
        if len(log):
            raise InputError(
                f"Kafka topic {args.topic!r} already holds {len(log):,} events",
                field="--topic",
                allowed="a new or empty topic",
            )
        yield log
        log.close()
    except BaseException:
        with contextlib.suppress(Exception):
            log.close()
        if log.created:
            log.delete_topic()
        raise


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
