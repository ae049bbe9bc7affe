"""Shared pytest fixtures: a real Apache Kafka broker for the whole test session.

Markers (registered in pyproject.toml; all of them run in CI, `-m "not slow"` for a quick run):
- ``kafka``: needs a real Apache Kafka broker. The session fixture ``kafka_bootstrap`` uses
  ``TWIN_KAFKA_BOOTSTRAP`` (host:port) if set, else starts a local single-node KRaft broker
  (services/kafka/broker.py, jars fetched once with Maven) in a temporary directory.
  A broker that cannot start FAILS the tests that need it; it never skips them.
- ``stack``: whole-stack integration (Kafka, projectors, Prometheus).
- ``slow``: long-running accuracy sweeps or soak tests (minutes, not seconds).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.kafka.broker import BrokerError, KafkaBroker

EXTERNAL_ENV = "TWIN_KAFKA_BOOTSTRAP"
START_TIMEOUT_S = 120.0  # first start on a cold, busy 2-core machine


def pytest_configure(config: pytest.Config) -> None:
    # kafka-python 3.0 loads its protocol schemas with importlib.resources' legacy API,
    # which warns ~200 times per session on Python 3.11; not ours to fix.
    for message in ("read_text is deprecated", "open_text is deprecated"):
        config.addinivalue_line("filterwarnings", f"ignore:{message}:DeprecationWarning")


@pytest.fixture(scope="session")
def _local_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker | BrokerError]:
    """Start the local broker once per session; yield it, or the error that stopped it."""
    if os.environ.get(EXTERNAL_ENV):
        yield BrokerError(
            f"{EXTERNAL_ENV} is set, so the tests use an external broker and have no local "
            "KafkaBroker to restart; unset it to run this test",
            retryable=False,
        )
        return
    data_dir: Path = tmp_path_factory.mktemp("kafka")
    broker = KafkaBroker(data_dir)
    try:
        broker.start(START_TIMEOUT_S)
    except BrokerError as exc:
        yield exc
        return
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def kafka_bootstrap(request: pytest.FixtureRequest) -> str:
    """``host:port`` of a running Kafka broker: ``$TWIN_KAFKA_BOOTSTRAP`` or a local one."""
    external = os.environ.get(EXTERNAL_ENV)
    if external:
        return external
    broker = request.getfixturevalue("_local_kafka")
    if isinstance(broker, BrokerError):
        pytest.fail(f"local Kafka broker could not start: {broker}", pytrace=False)
    return broker.bootstrap


@pytest.fixture
def kafka_broker(request: pytest.FixtureRequest) -> Iterator[KafkaBroker]:
    """The session's local :class:`KafkaBroker`, for tests that stop, kill or restart it.

    Fails (does not skip) with an external broker, which cannot be restarted from here.
    Restarts keep the data dir and the port, so ``kafka_bootstrap`` stays valid; a test that
    leaves the broker stopped gets it started again afterwards for the tests that follow.
    """
    broker = request.getfixturevalue("_local_kafka")
    if isinstance(broker, BrokerError):
        pytest.fail(str(broker), pytrace=False)
    _ensure_running(broker)
    yield broker
    _ensure_running(broker)


def _ensure_running(broker: KafkaBroker) -> None:
    if broker.is_running():
        return
    try:
        broker.start(START_TIMEOUT_S)
    except BrokerError as exc:
        pytest.fail(f"local Kafka broker could not restart: {exc}", pytrace=False)
