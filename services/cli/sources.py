"""Where the commands read and write event logs: a path, a JSON-lines file or a Kafka topic.

A run moves between the embedded log and a topic unchanged, because both hold exactly the
codec's bytes and both sit behind the same :class:`services.eventlog.EventLog` port:

    twin log import run.twinlog --bootstrap-server HOST:9092 --topic runs.demo   # -> Kafka
    twin log export --bootstrap-server HOST:9092 --topic runs.demo --out run.jsonl
    twin log import --from-topic runs.demo --bootstrap-server HOST:9092 --log copy.twinlog
    twin replay --bootstrap-server HOST:9092 --topic runs.demo --until 36h  # like `twin state`

One vocabulary for Kafka in every command, as in Kafka's own tools: ``--bootstrap-server``
names the broker (default ``$TWIN_KAFKA_BOOTSTRAP``, then 127.0.0.1:9092) and ``--topic`` the
topic; giving either one selects Kafka. ``twin log export/info`` and ``twin state`` read a
PATH or the topic (:func:`open_source`); ``twin log import`` reads a JSON-lines file, an
embedded log or ``--from-topic`` (:func:`import_source`) and writes ``--log PATH`` or the
topic (:func:`import_target`). ``--kafka`` is a deprecated spelling of ``--bootstrap-server``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from services.eventlog import EventLog, SqliteEventLog, atomic_log
from services.kafka.settings import DEFAULT_TOPIC
from twin.errors import DecodeError, InputError
from twin.events import EventBase, decode

if TYPE_CHECKING:
    from services.kafka.log import KafkaEventLog

SQLITE_MAGIC = b"SQLite format 3\x00"


# ---------------------------------------------------------------------- sources and targets


BOOTSTRAP_ENV = "TWIN_KAFKA_BOOTSTRAP"
DEFAULT_BOOTSTRAP = "127.0.0.1:9092"


class _DeprecatedAlias(argparse.Action):
    """``--kafka``: the old spelling of ``--bootstrap-server``; works, with a warning."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        print(
            f"twin: warning: {option_string} is deprecated; use --bootstrap-server",
            file=sys.stderr,
        )
        setattr(namespace, self.dest, values)


def add_kafka_options(parser: argparse.ArgumentParser, topic_help: str) -> None:
    """``--bootstrap-server HOST:PORT`` and ``--topic TOPIC``: giving either selects Kafka."""
    parser.add_argument(
        "--bootstrap-server",
        dest="bootstrap_server",
        default=None,
        metavar="HOST:PORT",
        help=f"Kafka broker(s), comma-separated (default: ${BOOTSTRAP_ENV}, else "
        f"{DEFAULT_BOOTSTRAP})",
    )
    parser.add_argument(
        "--kafka", dest="bootstrap_server", action=_DeprecatedAlias, help=argparse.SUPPRESS
    )
    parser.add_argument("--topic", default=None, help=f"{topic_help} (default: {DEFAULT_TOPIC})")


def wants_kafka(args: argparse.Namespace) -> bool:
    """Whether the command line selected Kafka (``--bootstrap-server`` or ``--topic``; always
    for ``twin replay``)."""
    return (
        getattr(args, "replay", False)
        or args.bootstrap_server is not None
        or args.topic is not None
    )


def bootstrap(args: argparse.Namespace) -> str:
    """The broker: ``--bootstrap-server``, else ``$TWIN_KAFKA_BOOTSTRAP``, else the default."""
    return args.bootstrap_server or os.environ.get(BOOTSTRAP_ENV) or DEFAULT_BOOTSTRAP


def topic(args: argparse.Namespace) -> str:
    return args.topic or os.environ.get("TWIN_KAFKA_TOPIC") or DEFAULT_TOPIC


def kafka_url(args: argparse.Namespace) -> str:
    """``kafka://BOOTSTRAP/TOPIC`` for messages."""
    return f"kafka://{bootstrap(args)}/{topic(args)}"


def open_kafka_log(bootstrap: str, topic: str, *, create: bool = False) -> KafkaEventLog:
    from services.kafka.log import KafkaEventLog

    return KafkaEventLog(bootstrap, topic=topic, create=create)


def open_source(args: argparse.Namespace) -> EventLog:
    """The log named by ``PATH`` (embedded) or the Kafka topic, exactly one of them."""
    kafka = wants_kafka(args)
    if (args.path is None) != kafka:
        raise InputError(
            "give either an embedded log PATH or a Kafka topic (--topic, --bootstrap-server)",
            field="PATH" if not kafka else "--topic",
        )
    if kafka:
        return open_kafka_log(bootstrap(args), topic(args))
    return SqliteEventLog(args.path)


def import_source(args: argparse.Namespace) -> tuple[str, Iterator[tuple[int, EventBase]]]:
    """``(name, (record number, event) ...)`` for ``twin log import``: a JSON-lines file, an
    embedded log (recognised by its SQLite header) or, with ``--from-topic``, a topic."""
    if (args.jsonl is None) == (args.from_topic is None):
        raise InputError(
            "give either a JSONL file / embedded log to import, or --from-topic TOPIC",
            field="JSONL" if args.from_topic is None else "--from-topic",
        )
    if args.from_topic is not None:
        log: EventLog = open_kafka_log(bootstrap(args), args.from_topic)
        return f"kafka://{bootstrap(args)}/{args.from_topic}", _numbered(log)
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
    """The log ``twin log import`` writes: ``--log PATH`` (atomic) or the topic ``--topic``.

    A topic must be new or empty. If the import fails and this call created the topic, the
    topic is deleted again, so a failed import leaves nothing behind on either side.
    """
    to_kafka = import_to_kafka(args)
    if (args.log is None) != to_kafka:
        raise InputError(
            "give either --log PATH (embedded log) or --topic TOPIC (Kafka)",
            field="--log" if to_kafka else "--topic",
        )
    if args.log is not None:
        with atomic_log(args.log) as embedded:
            yield embedded
        return
    log = open_kafka_log(bootstrap(args), topic(args), create=True)
    try:
        if len(log):
            raise InputError(
                f"Kafka topic {topic(args)!r} already holds {len(log):,} events",
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


def import_to_kafka(args: argparse.Namespace) -> bool:
    """``twin log import`` writes to Kafka: ``--topic``, or ``--bootstrap-server`` when the
    source is not itself a topic."""
    return args.topic is not None or (args.bootstrap_server is not None and args.from_topic is None)


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
