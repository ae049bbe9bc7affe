"""Kafka connection settings, in the style of pydantic-settings.

Sources, highest priority first: explicit arguments (e.g. ``--bootstrap-server HOST:PORT``),
environment variables ``TWIN_KAFKA_*`` (``TWIN_KAFKA_BOOTSTRAP``,
``TWIN_KAFKA_SECURITY_PROTOCOL``, ``TWIN_KAFKA_SASL_USERNAME``...), a TOML file named by
``TWIN_KAFKA_CONFIG`` (keys as the field names below, e.g. ``sasl_mechanism = "SCRAM-SHA-512"``),
then the defaults. SASL and TLS settings are passed straight to kafka-python.
"""

from __future__ import annotations

import contextlib
import os
import tomllib
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from twin.errors import InputError

DEFAULT_TOPIC = "twin.events"
DLQ_SUFFIX = ".dlq"


class _TomlFile(PydanticBaseSettingsSource):
    """Settings from the TOML file named by ``TWIN_KAFKA_CONFIG`` (if set)."""

    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        super().__init__(settings_cls)
        path = os.environ.get("TWIN_KAFKA_CONFIG")
        self.data: dict[str, Any] = {}
        if path:
            try:
                with open(path, "rb") as fh:
                    self.data = tomllib.load(fh)
            except FileNotFoundError:
                raise InputError("Kafka config file not found", file=path) from None
            except tomllib.TOMLDecodeError as exc:
                raise InputError(f"invalid TOML: {exc}", file=path) from None

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self.data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self.data)


class KafkaSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TWIN_KAFKA_", extra="forbid")

    bootstrap: str = "127.0.0.1:9092"
    topic: str = DEFAULT_TOPIC
    partitions: int = Field(default=6, ge=1)
    replication_factor: int | None = Field(default=None, ge=1)
    """Replicas of each partition of topics this creates; default: the cluster's
    ``default.replication.factor`` (1 on the local single broker, 3 on ``scripts/kafka-local
    start --brokers 3``)."""
    min_insync_replicas: int | None = Field(default=None, ge=1)
    """``min.insync.replicas`` of topics this creates; default: the cluster's (1 on the local
    single broker, 2 on the local 3-broker cluster). With ``acks=all`` a write needs this many
    replicas in sync: 2 of 3 keeps a run publishing while any one broker is down, and never
    acknowledges a record that only one broker holds."""
    compression_type: Literal["none", "gzip", "zstd"] = "zstd"
    """How the producer compresses record batches (codecs kafka-python can use here: zstd
    needs the ``zstandard`` package, a dependency). Consumers decompress whatever they get."""
    client_id: str = "orbital-twin"
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    request_timeout_ms: int = Field(default=30_000, ge=1000)
    max_block_ms: int = Field(default=30_000, ge=100)
    delivery_timeout_ms: int = Field(default=120_000, ge=1000)
    """How long a record may keep being retried (a broker restart) before it counts as lost:
    the longest a run waits for Kafka at its end when the broker is gone."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _TomlFile(settings_cls))

    @property
    def replicas(self) -> int:
        """``replication_factor`` for a CreateTopics request (-1: the cluster's default)."""
        return -1 if self.replication_factor is None else self.replication_factor

    @property
    def compression(self) -> str | None:
        """``compression_type`` as kafka-python's producer option (None: uncompressed)."""
        return None if self.compression_type == "none" else self.compression_type

    @property
    def dlq_topic(self) -> str:
        return self.topic + DLQ_SUFFIX

    def common(self) -> dict[str, Any]:
        """Connection options shared by producers, consumers and admin clients."""
        out: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap.split(","),
            "client_id": self.client_id,
            "security_protocol": self.security_protocol,
            "request_timeout_ms": self.request_timeout_ms,
        }
        if self.sasl_mechanism:
            out["sasl_mechanism"] = self.sasl_mechanism
            out["sasl_plain_username"] = self.sasl_username
            out["sasl_plain_password"] = (
                self.sasl_password.get_secret_value() if self.sasl_password else None
            )
        for key in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
            value = getattr(self, key)
            if value:
                out[key] = value
        return out


def load_settings(**overrides: Any) -> KafkaSettings:
    """Settings from arguments, environment and config file; bad values → InputError (exit 2)."""
    clean = {k: v for k, v in overrides.items() if v is not None}
    try:
        return KafkaSettings(**clean)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise _setting_error(where, first["msg"], clean) from None


def _setting_error(key: str, problem: str, overrides: dict[str, Any]) -> InputError:
    """Name where the bad value came from, in the order settings are read: an argument, the
    environment variable, or the ``TWIN_KAFKA_CONFIG`` file (with its line)."""
    env = f"TWIN_KAFKA_{key.upper()}"
    message = f"invalid Kafka setting: {problem}"
    if not key:
        return InputError(message, field="kafka settings")
    if key in overrides:
        return InputError(message, field=f"--{key.replace('_', '-')}")
    path = os.environ.get("TWIN_KAFKA_CONFIG")
    if env not in os.environ and path:
        line = None
        with contextlib.suppress(OSError, UnicodeDecodeError):
            for number, text in enumerate(open(path, encoding="utf-8"), start=1):  # noqa: SIM115
                if text.split("=", 1)[0].strip() == key:
                    line = number
                    break
        return InputError(message, file=path, line=line, field=key)
    return InputError(message, field=env)
