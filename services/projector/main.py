"""``twin-projector`` (``python -m services.projector``): the Kafka projector as a service.

Wires the pieces of this package together: the Kafka adapter (:mod:`.kafka`) folds the topic
through the projection runner (:mod:`.runner`), and :mod:`.http` serves what it holds.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sqlite3
import sys
from collections.abc import Sequence

from kafka.errors import KafkaError

from services.cli.common import HelpFormatter
from services.http_server import DEFAULT_HOST
from services.kafka.settings import load_settings
from services.projector.kafka import DEFAULT_GROUP, DEFAULT_PORT, Projector, log
from twin.errors import InfraError, TwinError


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="twin-projector",
        formatter_class=HelpFormatter,
        description="Fold the Kafka event topic into fleet state; serve /metrics, /state, "
        "/satellites/{id}, /healthz and /readyz.",
    )
    p.add_argument(
        "--bootstrap-server",
        "--kafka",  # the old spelling, kept working
        dest="bootstrap_server",
        default=None,
        metavar="HOST:PORT",
        help="Kafka broker(s), comma-separated (default: $TWIN_KAFKA_BOOTSTRAP, else "
        "127.0.0.1:9092)",
    )
    p.add_argument("--topic", default=None, help="event topic (default: twin.events)")
    p.add_argument("--group", default=DEFAULT_GROUP, help="consumer group")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help="HTTP port")
    p.add_argument(
        "--host", default=DEFAULT_HOST, help="HTTP address (0.0.0.0 for all, as in containers)"
    )
    p.add_argument(
        "--state-db", default=None, help="snapshot database (default: ./projector-<group>.db)"
    )
    p.add_argument(
        "--per-satellite-metrics",
        type=int,
        default=0,
        metavar="N",
        help="export per-satellite series for at most N satellites (default 0: off)",
    )
    p.add_argument(
        "--snapshot-every-s", type=float, default=2.0, help="snapshot at most this often, s"
    )
    p.add_argument(
        "--snapshot-every-events",
        type=int,
        default=20_000,
        help="snapshot at least every this many events",
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    from prometheus_client import CollectorRegistry

    from services.metric_names import standard_collectors
    from services.projector.http import ProjectorCollector, serve

    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("kafka").setLevel(logging.WARNING)
    from services.kafka.fetcher import hold_repeats

    hold_repeats()  # a condition kafka-python logs at every refresh: once a minute
    try:
        settings = load_settings(bootstrap=args.bootstrap_server, topic=args.topic)
        projector = Projector(
            settings,
            group=args.group,
            state_db=args.state_db,
            snapshot_every_s=args.snapshot_every_s,
            snapshot_every_events=args.snapshot_every_events,
            per_satellite_metrics=args.per_satellite_metrics,
        )
        registry = CollectorRegistry()
        registry.register(ProjectorCollector(projector))
        standard_collectors(registry)
        server = serve(projector, registry, args.host, args.port)
    except TwinError as exc:  # bad settings or port: 2; broker unreachable: 1 (restart helps)
        print(f"twin-projector: {exc}", file=sys.stderr)
        return exc.exit_code
    except sqlite3.Error as exc:
        print(f"twin-projector: --state-db {args.state_db}: {exc}", file=sys.stderr)
        return 2
    except KafkaError as exc:
        print(
            f"twin-projector: cannot reach Kafka at {settings.bootstrap} ({type(exc).__name__}: {exc});"
            " retrying may help",
            file=sys.stderr,
        )
        return 1
    log.info(
        "serving on http://%s:%d (topic %s, group %s)",
        args.host,
        args.port,
        settings.topic,
        args.group,
    )

    def on_signal(signum: int, frame: object) -> None:
        projector.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        projector.run()
    except InfraError as exc:  # e.g. the fetch process died: exit for the supervisor to restart
        log.error("stopping: %s", exc)
        return exc.exit_code
    finally:
        server.shutdown()
    return 0
