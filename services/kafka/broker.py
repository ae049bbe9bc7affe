"""A real single-node Apache Kafka 4 broker (KRaft mode) run from Maven Central jars.

Kafka 4 has no ZooKeeper: one JVM plays both roles, *controller* (keeps the cluster
metadata in a Raft log) and *broker* (serves produce/fetch). Running it takes three steps:

1. **fetch** the jars: Maven resolves ``org.apache.kafka:kafka_2.13`` and its runtime
   dependencies (listed in ``scripts/kafka/pom.xml``, version from ``.env``) into a per-user cache,
   ``${XDG_CACHE_HOME:-~/.cache}/orbital-twin/kafka-<version>/libs``; later runs reuse it.
2. **format** the data directory once: the storage tool writes ``meta.properties`` with a
   random cluster id and node id 1. A formatted directory is never formatted again, so a
   restart keeps every topic and record.
3. **start** ``java -cp 'libs/*' kafka.Kafka server.properties`` in the background, with the
   log in ``<data>/broker.log`` and the pid in ``<data>/broker.pid``, then wait until a
   Kafka client (kafka-python's admin client) sees the broker in the cluster metadata.

``fetch`` also records a class-data-sharing archive (AppCDS: the JVM's parsed classes, dumped
once at the exit of a throw-away broker) next to the jars; every later JVM maps it instead of
parsing ~40 MB of jars, which halves the broker's start-up (about 5 s to 2.5 s here).

The broker listens on 127.0.0.1 only. Ports are chosen free when not given, and a data
directory remembers its ports (in ``server.properties``) so a restart keeps the bootstrap
address clients already hold. :class:`KafkaBroker` is the API; ``scripts/kafka-local`` is a
thin command line over it.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path

from services.processes import die_with_parent
from twin.errors import InfraError

REPO_ROOT = Path(__file__).resolve().parents[2]
POM_PATH = REPO_ROOT / "scripts" / "kafka" / "pom.xml"
VERSIONS_PATH = REPO_ROOT / ".env"
HOST = "127.0.0.1"
NODE_ID = 1
DEFAULT_HEAP = ("-Xmx512m", "-Xms256m")
DEFAULT_START_TIMEOUT_S = 90.0
DEFAULT_STOP_GRACE_S = 30.0

# Why each non-default setting is here:
# - replication factors / min ISR of internal topics must be 1 on a single node, or the
#   first consumer group or transaction waits forever for replicas that do not exist;
# - auto.create.topics.enable=false: the app creates its topic with explicit partitions, so
#   a misspelt topic name is an error (UNKNOWN_TOPIC_OR_PARTITION) instead of a silent new topic;
# - group.initial.rebalance.delay.ms=0: a test's consumer gets partitions at once, not after 3 s;
# - log.retention.ms=-1: the event log is the source of truth; records carrying simulated
#   timestamps in the past would otherwise be deleted by the default 7-day retention;
# - log.message.timestamp.after.max.ms: Kafka 4 rejects records stamped more than 1 h in the
#   future by default (InvalidTimestampException); simulated epochs can be years ahead;
# - broker.session.timeout.ms: after a SIGKILL the restarted node's registration is refused
#   (DUPLICATE_BROKER_REGISTRATION) until its old session expires: 9 s by default, 3 s here.
DEFAULT_CONFIG: dict[str, str] = {
    "num.partitions": "6",
    "default.replication.factor": "1",
    "min.insync.replicas": "1",
    "auto.create.topics.enable": "false",
    "offsets.topic.replication.factor": "1",
    "offsets.topic.num.partitions": "6",
    "transaction.state.log.replication.factor": "1",
    "transaction.state.log.min.isr": "1",
    "transaction.state.log.num.partitions": "6",
    "share.coordinator.state.topic.replication.factor": "1",
    "share.coordinator.state.topic.min.isr": "1",
    "group.initial.rebalance.delay.ms": "0",
    "broker.heartbeat.interval.ms": "500",
    "broker.session.timeout.ms": "3000",
    "log.retention.ms": "-1",
    "log.message.timestamp.after.max.ms": str(2**63 - 1),
    "num.network.threads": "2",
    "num.io.threads": "4",
    "num.recovery.threads.per.data.dir": "1",
}

LOG4J2_PROPERTIES = """\
# Written by services/kafka/broker.py: broker log to stdout, which is <data>/broker.log.
status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.statechange.name = state.change.logger
logger.statechange.level = WARN
logger.config.name = org.apache.kafka.common.config.AbstractConfig
logger.config.level = WARN
"""

Progress = Callable[[str], None]


class BrokerError(InfraError):
    """The local Kafka broker could not be fetched, formatted, started or stopped.

    ``log_tail`` holds the end of ``broker.log`` (or of the tool's output) when there is one.
    """

    def __init__(self, message: str, *, retryable: bool, log_tail: str = "") -> None:
        self.log_tail = log_tail
        super().__init__(message, retryable=retryable)

    def __str__(self) -> str:
        text = super().__str__()
        if self.log_tail:
            text += "\n--- log tail ---\n" + self.log_tail.rstrip()
        return text


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- jars


def stack_versions(path: Path = VERSIONS_PATH) -> dict[str, str]:
    """``NAME=value`` lines of the repository's ``.env``: the versions of Kafka, Prometheus
    and Grafana that docker compose and the tests both use."""
    out: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            out[key.strip()] = value.strip()
    return out


def kafka_version(path: Path = VERSIONS_PATH) -> str:
    """The Apache Kafka version pinned as ``KAFKA_VERSION`` in the repository's ``.env``
    (compose's image tag too); Maven gets it as ``-Dkafka.version``."""
    version = stack_versions(path).get("KAFKA_VERSION", "")
    if not version:
        raise BrokerError(f"{path}: no KAFKA_VERSION", retryable=False)
    return version


def cache_root() -> Path:
    """``${XDG_CACHE_HOME:-~/.cache}/orbital-twin``: where fetched jars live."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "orbital-twin"


def default_data_dir() -> Path:
    """``${XDG_STATE_HOME:-~/.local/state}/orbital-twin/kafka``: the CLI's default data dir."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "orbital-twin" / "kafka"


def libs_dir(version: str | None = None) -> Path:
    """Directory holding the broker's class path for ``version`` (default: the pinned one)."""
    return cache_root() / f"kafka-{version or kafka_version()}" / "libs"


def _java() -> str:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").exists():
        return str(Path(home) / "bin" / "java")
    found = shutil.which("java")
    if not found:
        raise BrokerError(
            "no `java` on PATH and no JAVA_HOME; Kafka 4 needs Java 17 or newer "
            "(Debian: apt-get install default-jre-headless)",
            retryable=False,
        )
    return found


def class_archive_path(version: str | None = None) -> Path:
    """The AppCDS archive for this JVM (archives are specific to one JVM build) and version."""
    java = os.path.realpath(_java())
    tag = hashlib.sha256(java.encode()).hexdigest()[:12]
    return libs_dir(version).parent / f"classes-{tag}.jsa"


def build_class_archive(progress: Progress = _stderr, timeout_s: float = 180.0) -> Path | None:
    """Record the AppCDS archive by starting and stopping a broker in a temporary directory.

    Optional speed-up only: returns ``None`` (and the broker simply starts slower) if the
    JVM could not write it. Written under a temporary name and renamed when complete.
    """
    archive = class_archive_path()
    if archive.exists():
        return archive
    fetch_jars(progress)
    partial = archive.with_name(f"{archive.name}.partial-{os.getpid()}")
    progress(f"Recording JVM class archive {archive.name} (once; speeds up broker start-up)")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="kafka-cds-") as tmp:
        broker = KafkaBroker(
            tmp,
            jvm_options=(*DEFAULT_HEAP, f"-XX:ArchiveClassesAtExit={partial}"),
            progress=lambda _msg: None,
        )
        try:
            broker.start(timeout_s)
        except BrokerError as exc:
            progress(f"  could not start a broker to record it: {exc}")
        finally:
            broker.stop(grace_s=timeout_s)  # the JVM writes the archive while exiting
    if not partial.exists() or partial.stat().st_size == 0:
        partial.unlink(missing_ok=True)
        progress("  the JVM wrote no class archive; brokers will start without it")
        return None
    partial.rename(archive)
    progress(f"  class archive ready ({time.monotonic() - started:.0f} s)")
    return archive


def fetch_jars(progress: Progress = _stderr) -> Path:
    """Return the broker's ``libs`` directory, downloading it with Maven the first time.

    The jars are copied into a temporary sibling directory and renamed into place, so an
    interrupted download never looks like a complete cache.
    """
    version = kafka_version()
    target = libs_dir(version)
    if (target / f"kafka_2.13-{version}.jar").exists():
        return target
    mvn = shutil.which("mvn")
    if not mvn:
        raise BrokerError(
            "no `mvn` on PATH: Maven is needed once to fetch the Kafka jars "
            "(Debian: apt-get install maven)",
            retryable=False,
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f"libs.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    progress(f"Fetching Apache Kafka {version} jars with Maven into {target} (first time only)")
    cmd = [
        mvn,
        "-B",
        "-f",
        str(POM_PATH),
        "dependency:copy-dependencies",
        f"-Dkafka.version={version}",
        f"-DoutputDirectory={staging}",
        "-DincludeScope=runtime",
    ]
    started = time.monotonic()
    output: list[str] = []
    downloaded = 0
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True
    )
    assert proc.stdout is not None
    for line in proc.stdout:  # one progress line per jar downloaded from the registry
        output.append(line)
        url = next((w for w in line.split() if w.startswith("http")), "")
        if line.startswith("Downloaded from") and url.endswith(".jar"):
            downloaded += 1
            name = url.rsplit("/", 1)[-1]
            progress(f"  [{time.monotonic() - started:5.1f} s] {downloaded:3d} {name}")
    if proc.wait() != 0:
        shutil.rmtree(staging, ignore_errors=True)
        raise BrokerError(
            f"Maven could not fetch Kafka {version} (exit {proc.returncode}): {' '.join(cmd)}",
            retryable=True,
            log_tail="".join(output[-40:]),
        )
    try:
        staging.rename(target)
    except OSError:  # another process finished first; keep its copy
        shutil.rmtree(staging, ignore_errors=True)
    progress(f"Kafka {version} jars ready ({time.monotonic() - started:.0f} s)")
    return target


# --------------------------------------------------------------------------- helpers


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
        return True


def _read_properties(path: Path) -> dict[str, str]:
    props: dict[str, str] = {}
    if not path.exists():
        return props
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            props[key.strip()] = value.strip()
    return props


def _port_of(listeners: str, name: str) -> int | None:
    for item in listeners.split(","):
        if item.strip().startswith(f"{name}://"):
            with contextlib.suppress(ValueError):
                return int(item.rsplit(":", 1)[1])
    return None


def _random_cluster_id() -> str:
    """A Kafka cluster id: 16 random bytes, URL-safe base64 without padding (22 chars)."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):  # Kafka's Uuid.randomUuid avoids these too (CLI args)
            return text


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# --------------------------------------------------------------------------- broker


class KafkaBroker:
    """One single-node KRaft broker+controller whose state lives in ``data_dir``.

    ``port`` is the client (PLAINTEXT) port and ``controller_port`` the Raft port; when
    ``None`` the ports last used by ``data_dir`` are reused if free, else free ones are
    picked. ``config`` overrides or adds ``server.properties`` entries; ``jvm_options``
    replaces the default heap bounds (``-Xmx512m -Xms256m``). The same object can
    start, stop, kill and restart the broker; another process can control it through the
    pid file (that is what ``scripts/kafka-local stop`` does).

    ``detached=False`` (the default: tests, benchmarks) ties the broker to the thread that
    started it: if that dies, even by SIGKILL or a test runner's timeout, the kernel sends the
    broker SIGTERM (Linux ``PR_SET_PDEATHSIG``), so no orphan broker outlives its owner.
    ``scripts/kafka-local start`` passes ``detached=True``: that broker outlives the command.
    """

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        port: int | None = None,
        *,
        controller_port: int | None = None,
        config: Mapping[str, str] | None = None,
        jvm_options: tuple[str, ...] = DEFAULT_HEAP,
        progress: Progress = _stderr,
        detached: bool = False,
        node_id: int = NODE_ID,
    ) -> None:
        self.detached = detached
        self.node_id = node_id
        #: node id → controller port of every voter of the KRaft quorum (a cluster sets it;
        #: ``None``: this node alone)
        self.voters: dict[int, int] | None = None
        self.cluster_id: str | None = None  # the id to format with (a cluster's, shared)
        self.data_dir = Path(data_dir).expanduser().resolve()
        # the broker's files, all inside data_dir
        self.properties_path = self.data_dir / "server.properties"
        self.log_path = self.data_dir / "broker.log"
        self.pid_path = self.data_dir / "broker.pid"
        self.log_dirs = self.data_dir / "kraft-combined-logs"
        self.extra_config = dict(config or {})
        self.jvm_options = jvm_options
        self.progress = progress
        previous = _read_properties(self.properties_path).get("listeners", "")
        self._requested_port = port
        self._requested_controller_port = controller_port
        self.port = port or _port_of(previous, "PLAINTEXT")
        self.controller_port = controller_port or _port_of(previous, "CONTROLLER")
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_offset = 0

    # -- paths and addresses

    @property
    def bootstrap(self) -> str:
        """``127.0.0.1:PORT``, the address clients pass as ``bootstrap_servers``."""
        if self.port is None:
            raise BrokerError("broker has no port yet: call start() first", retryable=False)
        return f"{HOST}:{self.port}"

    def __repr__(self) -> str:
        return f"KafkaBroker({str(self.data_dir)!r}, port={self.port}, pid={self.pid})"

    # -- state

    @property
    def pid(self) -> int | None:
        """The broker's pid if it is running, else ``None``."""
        if self._proc is not None:
            return self._proc.pid if self._proc.poll() is None else None
        try:
            pid = int(self.pid_path.read_text().strip())
        except (OSError, ValueError):
            return None
        if not _pid_alive(pid):
            return None
        cmdline = Path(f"/proc/{pid}/cmdline")
        if cmdline.exists():  # guard against a recycled pid
            args = cmdline.read_bytes().split(b"\0")
            if b"kafka.Kafka" not in args or str(self.properties_path).encode() not in args:
                return None
        return pid

    def is_running(self) -> bool:
        return self.pid is not None

    def is_formatted(self) -> bool:
        return (self.log_dirs / "meta.properties").exists()

    def log_tail(self, lines: int = 60, *, since_start: bool = True) -> str:
        """The last ``lines`` lines of ``broker.log`` (by default only from the last start)."""
        try:
            with self.log_path.open("rb") as fh:
                fh.seek(self._log_offset if since_start else 0)
                data = fh.read()
        except OSError:
            return ""
        return "\n".join(data.decode(errors="replace").splitlines()[-lines:])

    # -- lifecycle

    def start(self, timeout_s: float = DEFAULT_START_TIMEOUT_S) -> str:
        """Fetch jars if needed, format once, start the broker, wait until it serves.

        Returns the bootstrap address. Starting a running broker returns its address.
        Raises :class:`BrokerError` with the log tail if it exits or is not ready in time.
        """
        if self.is_running():
            return self.bootstrap
        libs = fetch_jars(self.progress)
        java = _java()
        self._prepare(java, libs)
        self._launch(java, libs)
        self._wait_ready(timeout_s)
        return self.bootstrap

    def _prepare(self, java: str, libs: Path) -> None:
        """Ports, ``server.properties`` and (once) the formatted storage."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._choose_ports()
        self._write_config()
        if not self.is_formatted():
            self._format(java, libs)

    def stop(self, grace_s: float = DEFAULT_STOP_GRACE_S) -> None:
        """Ask the broker to shut down cleanly (SIGTERM); SIGKILL it after ``grace_s``."""
        self._signal_and_wait(signal.SIGTERM, grace_s)

    def kill(self) -> None:
        """Kill the broker at once (SIGKILL), as a crash would. Data already written survives."""
        self._signal_and_wait(signal.SIGKILL, 0.0)

    def restart(self, timeout_s: float = DEFAULT_START_TIMEOUT_S, *, hard: bool = False) -> str:
        """Stop (or kill, if ``hard``) and start again on the same data and ports."""
        if hard:
            self.kill()
        else:
            self.stop()
        return self.start(timeout_s)

    def __enter__(self) -> KafkaBroker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- internals

    def _choose_ports(self) -> None:
        for attr, requested in (
            ("port", self._requested_port),
            ("controller_port", self._requested_controller_port),
        ):
            current = getattr(self, attr)
            if requested is not None:
                if not _port_is_free(requested):
                    raise BrokerError(
                        f"port {requested} on {HOST} is in use (another broker?)", retryable=True
                    )
            elif current is None or not _port_is_free(current):
                setattr(self, attr, free_port())
        if self.port == self.controller_port:
            raise BrokerError(f"port and controller port are both {self.port}", retryable=False)

    def _write_config(self) -> None:
        settings = {
            "process.roles": "broker,controller",
            "node.id": str(self.node_id),
            "controller.quorum.voters": ",".join(
                f"{node}@{HOST}:{port}"
                for node, port in sorted(
                    (self.voters or {self.node_id: self.controller_port}).items()
                )
            ),
            "listeners": f"PLAINTEXT://{HOST}:{self.port},CONTROLLER://{HOST}:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://{HOST}:{self.port}",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "log.dirs": str(self.log_dirs),
            **DEFAULT_CONFIG,
            **self.extra_config,
        }
        body = "".join(f"{key}={value}\n" for key, value in settings.items())
        header = "# Written by services/kafka/broker.py on every start; edits are overwritten.\n"
        self.properties_path.write_text(header + body)
        (self.data_dir / "log4j2.properties").write_text(LOG4J2_PROPERTIES)

    def _jvm_args(self, java: str, libs: Path) -> list[str]:
        sharing: list[str] = []
        archive = class_archive_path()
        recording = any(o.startswith("-XX:ArchiveClassesAtExit") for o in self.jvm_options)
        if archive.exists() and not recording:
            # A stale archive (other JVM build, re-fetched jars) is ignored by the JVM with a
            # warning in broker.log; the broker still starts, only slower.
            sharing = [f"-XX:SharedArchiveFile={archive}"]
        return [
            java,
            *self.jvm_options,
            *sharing,
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.data_dir / 'log4j2.properties'}",
            f"-Dkafka.logs.dir={self.data_dir}",
            "-cp",
            f"{libs}{os.sep}*",  # expanded by java itself, not a shell
        ]

    def _format(self, java: str, libs: Path) -> None:
        cluster_id = self.cluster_id or _random_cluster_id()
        self.progress(f"Formatting KRaft storage in {self.log_dirs} (cluster id {cluster_id})")
        cmd = [
            *self._jvm_args(java, libs),
            "-XX:TieredStopAtLevel=1",  # a short-lived tool: skip the optimizing JIT
            "kafka.tools.StorageTool",
            "format",
            "--config",
            str(self.properties_path),
            "--cluster-id",
            cluster_id,
        ]
        done = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if done.returncode != 0 or not self.is_formatted():
            raise BrokerError(
                f"kafka storage format failed (exit {done.returncode})",
                retryable=False,
                log_tail=(done.stdout + done.stderr)[-4000:],
            )

    def _launch(self, java: str, libs: Path) -> None:
        cmd = [*self._jvm_args(java, libs), "kafka.Kafka", str(self.properties_path)]
        with self.log_path.open("ab") as log:
            self._log_offset = log.tell()
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
            log.write(f"\n==== kafka_broker.py start {stamp} {self.bootstrap} ====\n".encode())
            log.flush()
            # New session: Ctrl-C in the terminal that ran `kafka-local start` must not stop it.
            self._proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.data_dir,
                start_new_session=True,
                preexec_fn=None if self.detached else die_with_parent,
            )
        self.pid_path.write_text(f"{self._proc.pid}\n")

    def _wait_ready(self, timeout_s: float) -> None:
        """Poll until the broker answers a Metadata request listing itself."""
        deadline = time.monotonic() + timeout_s
        last_error = "no answer yet"
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                code = self._proc.returncode
                self._forget_process()
                raise BrokerError(
                    f"Kafka broker exited with code {code} during start-up (log: {self.log_path})",
                    retryable=False,
                    log_tail=self.log_tail(),
                )
            try:
                with socket.create_connection((HOST, self.port or 0), timeout=1.0):
                    pass
                last_error = self._probe()
                if not last_error:
                    return
            except OSError as exc:
                last_error = f"connect: {exc}"
            time.sleep(0.3)
        tail = self.log_tail()
        self.kill()
        raise BrokerError(
            f"Kafka broker on {self.bootstrap} not ready after {timeout_s:.0f} s "
            f"({last_error}); killed it (log: {self.log_path})",
            retryable=True,
            log_tail=tail,
        )

    def _probe(self) -> str:
        """Empty string if a Kafka client sees this node in the metadata, else why not."""
        from kafka import KafkaAdminClient  # imported late: `fetch` needs no kafka-python

        quiet = logging.getLogger("kafka")
        old_level = quiet.level
        quiet.setLevel(logging.CRITICAL)  # refused connections while starting are expected
        try:
            admin = KafkaAdminClient(
                bootstrap_servers=self.bootstrap,
                client_id="kafka-local-probe",
                request_timeout_ms=5000,
                bootstrap_timeout_ms=5000,
            )
            try:
                cluster = admin.describe_cluster()
                admin.list_topics()
            finally:
                admin.close()
        except Exception as exc:  # any client error just means "not ready yet"
            return f"{type(exc).__name__}: {exc}"
        finally:
            quiet.setLevel(old_level)
        ids = [b.get("broker_id") for b in cluster.get("brokers", [])]
        if self.node_id not in ids:
            return f"metadata lists brokers {ids}, not {self.node_id}"
        return ""

    def _signal_and_wait(self, sig: signal.Signals, grace_s: float) -> None:
        pid = self.pid
        if pid is None:
            self._forget_process()
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        if not self._wait_exit(pid, grace_s) and sig != signal.SIGKILL:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if not self._wait_exit(pid, 10.0):
            raise BrokerError(f"Kafka broker pid {pid} did not exit after SIGKILL", retryable=True)
        self._forget_process()

    def _wait_exit(self, pid: int, timeout_s: float) -> bool:
        deadline = time.monotonic() + max(timeout_s, 0.5)
        while time.monotonic() < deadline:
            if self._proc is not None:
                if self._proc.poll() is not None:  # reaps our own child (no zombie)
                    return True
            elif not _pid_alive(pid):
                return True
            time.sleep(0.1)
        return False

    def _forget_process(self) -> None:
        if self._proc is not None:
            self._proc.poll()
        self._proc = None
        with contextlib.suppress(FileNotFoundError):
            self.pid_path.unlink()


# --------------------------------------------------------------------------- cluster

#: Heap of each node of a local cluster: three JVMs share this machine with everything else.
CLUSTER_HEAP = ("-Xmx256m", "-Xms128m")


def cluster_config(brokers: int) -> dict[str, str]:
    """What a cluster of ``brokers`` nodes changes in :data:`DEFAULT_CONFIG`: every topic (the
    internal ones too) replicated on up to 3 nodes, and a write acknowledged (``acks=all``)
    only once up to 2 of them hold it, so any one node can die without losing a record or
    stopping writes."""
    replicas, min_isr = str(min(3, brokers)), str(min(2, brokers))
    return {
        "default.replication.factor": replicas,
        "min.insync.replicas": min_isr,
        "offsets.topic.replication.factor": replicas,
        "transaction.state.log.replication.factor": replicas,
        "transaction.state.log.min.isr": min_isr,
        "share.coordinator.state.topic.replication.factor": replicas,
        "share.coordinator.state.topic.min.isr": min_isr,
    }


class KafkaCluster:
    """``brokers`` KRaft nodes on this machine, each broker and controller, in
    ``data_dir/node-<id>`` (ids from 1); the controller quorum is every node, so a majority
    (2 of 3) keeps the cluster's metadata moving when one node dies.

    The nodes are :class:`KafkaBroker` objects (:attr:`nodes`): kill, stop and start one to
    play a failure. ``bootstrap`` lists every node. All nodes are formatted with one cluster
    id and started together (a node's controller waits for a quorum before it serves).
    ``config`` adds to :func:`cluster_config`; ``detached`` as for :class:`KafkaBroker`.
    """

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        brokers: int = 3,
        *,
        config: Mapping[str, str] | None = None,
        jvm_options: tuple[str, ...] = CLUSTER_HEAP,
        progress: Progress = _stderr,
        detached: bool = False,
    ) -> None:
        if brokers < 1:
            raise ValueError("a cluster needs at least one broker")
        self.data_dir = Path(data_dir).expanduser().resolve()
        self.progress = progress
        merged = {**cluster_config(brokers), **(config or {})}
        self.nodes = [
            KafkaBroker(
                self.data_dir / f"node-{node}",
                config=merged,
                jvm_options=jvm_options,
                progress=progress,
                detached=detached,
                node_id=node,
            )
            for node in range(1, brokers + 1)
        ]

    @staticmethod
    def size_of(data_dir: str | os.PathLike[str]) -> int:
        """How many nodes the cluster in ``data_dir`` has (0: it holds no cluster)."""
        return len(list(Path(data_dir).expanduser().glob("node-*/server.properties")))

    @property
    def bootstrap(self) -> str:
        return ",".join(node.bootstrap for node in self.nodes)

    def node(self, node_id: int) -> KafkaBroker:
        return self.nodes[node_id - 1]

    def is_running(self) -> bool:
        """True if every node runs."""
        return all(node.is_running() for node in self.nodes)

    def start(self, timeout_s: float = DEFAULT_START_TIMEOUT_S) -> str:
        """Start the nodes that are not running (formatting new ones with the cluster's id)
        and wait until each serves; return the bootstrap list."""
        libs = fetch_jars(self.progress)
        java = _java()
        for node in self.nodes:  # every node's ports first: each config lists all voters
            if not node.is_running():
                node.data_dir.mkdir(parents=True, exist_ok=True)
                node._choose_ports()
        voters = {node.node_id: node.controller_port for node in self.nodes}
        if None in voters.values():
            raise BrokerError("a running node has no controller port on record", retryable=False)
        cluster_id = self._cluster_id()
        waiting = []
        for node in self.nodes:
            node.voters = voters  # type: ignore[assignment]
            node.cluster_id = cluster_id
            if not node.is_running():
                node._prepare(java, libs)
                node._launch(java, libs)
                waiting.append(node)
        try:
            for node in waiting:
                node._wait_ready(timeout_s)
        except BaseException:
            self.stop()
            raise
        return self.bootstrap

    def _cluster_id(self) -> str:
        """The id the formatted nodes carry (new nodes join it), or a new one."""
        for node in self.nodes:
            props = _read_properties(node.log_dirs / "meta.properties")
            if props.get("cluster.id"):
                return props["cluster.id"]
        return _random_cluster_id()

    def stop(self, grace_s: float = DEFAULT_STOP_GRACE_S) -> None:
        """Stop every node (SIGTERM, then SIGKILL after ``grace_s``)."""
        for node in self.nodes:  # all at once: a node left alone waits for a quorum to go
            pid = node.pid
            if pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
        errors = []
        for node in self.nodes:
            try:
                node.stop(grace_s)
            except BrokerError as exc:
                errors.append(exc)
        if errors:
            raise errors[0]

    def __enter__(self) -> KafkaCluster:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
