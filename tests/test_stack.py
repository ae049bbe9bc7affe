"""Whole stack, for real: Kafka, two projectors, the live simulator, Prometheus.

The same wiring as docker-compose.yml, as local processes: a real Apache Kafka broker (the
session fixture), two ``python -m services.projector`` in one consumer group, ``twin run
--live`` publishing to Kafka with its own ``--metrics-port``, and Debian's ``prometheus``
with the repository's rule files and a scrape config derived from ``prometheus/prometheus.yml``
(localhost targets, 1 s intervals). Then every panel query of every dashboard and every
recording rule must return data through Prometheus' HTTP API, and every alert rule must load.
One poison message is published first, so the dead-letter series exist (and their alert fires).

Neither Kafka nor Prometheus failing to start skips this test: it fails.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from grafana import generate
from services.kafka.broker import free_port
from services.kafka.publisher import ensure_topic
from services.kafka.settings import DLQ_SUFFIX, KafkaSettings

pytestmark = pytest.mark.stack

REPO = Path(__file__).resolve().parent.parent
PROM_DIR = REPO / "prometheus"
RULE_FILES = sorted((PROM_DIR / "rules").glob("*.yml"))
HOST = "127.0.0.1"
#: Simulated seconds per wall second: the demo's faults, eclipses and repairs show up within
#: a minute of wall time, and a 30-day run outlasts the test.
SPEED = 3000.0
READY_TIMEOUT_S = 60.0
DATA_TIMEOUT_S = 180.0


def local_prometheus_config(
    targets: dict[str, str], *, interval: str = "1s", source: Path = PROM_DIR / "prometheus.yml"
) -> dict[str, Any]:
    """``prometheus/prometheus.yml`` with each compose target replaced by ``targets[old]``,
    scrape and evaluation at ``interval`` and the repository's rule files by absolute path."""
    config = yaml.safe_load(source.read_text())
    config["global"]["scrape_interval"] = interval
    config["global"]["evaluation_interval"] = interval
    config["rule_files"] = [str(p) for p in RULE_FILES]
    for job in config["scrape_configs"]:
        for static in job["static_configs"]:
            static["targets"] = [targets[t] for t in static["targets"]]
    return config


class Processes:
    """Child processes with their output in files; all stopped at the end."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, cmd: list[str]) -> subprocess.Popen[bytes]:
        with (self.log_dir / f"{name}.log").open("wb") as out:
            proc = subprocess.Popen(
                cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=REPO
            )
        self.procs[name] = proc
        return proc

    def log(self, name: str, lines: int = 40) -> str:
        path = self.log_dir / f"{name}.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                pytest.fail(
                    f"{name} exited with {proc.returncode}:\n{self.log(name)}", pytrace=False
                )

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)


def http_get(url: str, timeout_s: float = 5.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def wait_http(url: str, procs: Processes, timeout_s: float = READY_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    last = "no answer"
    while time.monotonic() < deadline:
        procs.check_alive()
        with contextlib.suppress(OSError):
            status, _ = http_get(url, timeout_s=2.0)
            if status == 200:
                return
            last = f"HTTP {status}"
        time.sleep(0.5)
    pytest.fail(f"{url} not ready after {timeout_s:.0f} s ({last})", pytrace=False)


def prom_query(base: str, expr: str) -> list[dict[str, Any]]:
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    status, body = http_get(url)
    data = json.loads(body)
    assert status == 200 and data["status"] == "success", f"{expr}: {data}"
    result: list[dict[str, Any]] = data["data"]["result"]
    return result


@pytest.fixture(scope="module")
def stack(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Start the stack; yield Prometheus' base URL."""
    prometheus = shutil.which("prometheus")
    if prometheus is None:
        pytest.fail("prometheus is not installed (scripts/test installs it)", pytrace=False)
    tmp = tmp_path_factory.mktemp("stack")
    run = uuid.uuid4().hex[:8]
    topic = f"twin.events.stack-{run}"
    for name, partitions in ((topic, 6), (topic + DLQ_SUFFIX, 1)):
        ensure_topic(KafkaSettings(bootstrap=kafka_bootstrap, topic=name, partitions=partitions))
    _publish_poison(kafka_bootstrap, topic)

    procs = Processes(tmp)
    ports = {name: free_port() for name in ("projector-1", "projector-2", "twin", "prometheus")}
    try:
        for name in ("projector-1", "projector-2"):
            procs.start(
                name,
                [
                    *(sys.executable, "-m", "services.projector"),
                    *("--bootstrap-server", kafka_bootstrap, "--topic", topic),
                    *("--group", f"stack-{run}", "--host", HOST),
                    *("--port", str(ports[name]), "--state-db", str(tmp / "projectors.db")),
                    *("--per-satellite-metrics", "20"),  # the Satellite board's series
                ],
            )
        procs.start(
            "twin",
            [
                *(sys.executable, "-m", "services.cli", "run", "demo", "--live"),
                *("--speed", str(SPEED), "--until", "30d", "--quiet"),
                *("--bootstrap-server", kafka_bootstrap, "--topic", topic),
                *("--metrics-port", str(ports["twin"]), "--log", str(tmp / "live.twinlog")),
            ],
        )
        config = local_prometheus_config(
            {
                "projector-1:9108": f"{HOST}:{ports['projector-1']}",
                "projector-2:9108": f"{HOST}:{ports['projector-2']}",
                "twin:9107": f"{HOST}:{ports['twin']}",
                "localhost:9090": f"{HOST}:{ports['prometheus']}",
            }
        )
        (tmp / "prometheus.yml").write_text(yaml.safe_dump(config, sort_keys=False))
        (tmp / "tsdb").mkdir()
        procs.start(
            "prometheus",
            [
                prometheus,
                f"--config.file={tmp / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp / 'tsdb'}",
                f"--web.listen-address={HOST}:{ports['prometheus']}",
            ],
        )
        base = f"http://{HOST}:{ports['prometheus']}"
        wait_http(f"{base}/-/ready", procs)
        for name in ("projector-1", "projector-2"):
            wait_http(f"http://{HOST}:{ports[name]}/healthz", procs)
        wait_http(f"http://{HOST}:{ports['twin']}/metrics", procs)
        yield base
    finally:
        procs.stop_all()


def _publish_poison(bootstrap: str, topic: str) -> None:
    """One record that is not an event: the projector must dead-letter it."""
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    try:
        producer.send(topic, key=b"stack-test-poison", value=b"this is not an event").get(30)
    finally:
        producer.close()


def _expressions() -> list[tuple[str, str]]:
    """(where, expr) for every panel query and every recording rule."""
    out = [(f"{uid} / {title}", expr) for uid, title, expr in generate.panel_queries()]
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                if "record" in rule:
                    out.append((f"rule {rule['record']}", rule["record"]))
    return out


def test_real_scrapes_pass_promtool_check_metrics(stack: str) -> None:
    """The projector's and the live twin's /metrics, as Prometheus scrapes them, pass
    `promtool check metrics` (naming, base units, help texts) and carry build info and the
    process collector."""
    # Prometheus lists a static target only once its scrape pool has started: wait for both
    urls: dict[str, str] = {}
    deadline = time.monotonic() + DATA_TIMEOUT_S
    while not {"twin-projector", "twin-live"} <= urls.keys() and time.monotonic() < deadline:
        targets = json.loads(
            urllib.request.urlopen(f"{stack}/api/v1/targets?state=active", timeout=30).read()
        )["data"]["activeTargets"]
        urls = {t["labels"]["job"]: t["scrapeUrl"] for t in targets}
        time.sleep(0.5)
    assert {"twin-projector", "twin-live"} <= urls.keys(), urls
    for job in ("twin-projector", "twin-live"):
        body = urllib.request.urlopen(urls[job], timeout=30).read()
        done = subprocess.run(
            [shutil.which("promtool") or "promtool", "check", "metrics"],
            input=body,
            capture_output=True,
            timeout=60,
        )
        assert done.returncode == 0, (job, done.stdout.decode(), done.stderr.decode())
        text = body.decode()
        assert "twin_build_info{" in text and "process_cpu_seconds_total" in text, job


def test_every_board_query_and_recording_rule_returns_data(stack: str) -> None:
    pending = {where: expr for where, expr in _expressions()}
    deadline = time.monotonic() + DATA_TIMEOUT_S
    while pending and time.monotonic() < deadline:
        for where, expr in list(pending.items()):
            if prom_query(stack, expr):
                del pending[where]
        if pending:
            time.sleep(2.0)
    listing = "\n".join(f"  {w}: {e}" for w, e in sorted(pending.items()))
    assert not pending, f"no data after {DATA_TIMEOUT_S:.0f} s for:\n{listing}"
    # Fleet sums over both projectors are plausible: the demo plans 240 satellites.
    planned = prom_query(stack, "twin:satellites_planned:sum")
    assert float(planned[0]["value"][1]) == 240
    by_state = prom_query(stack, "sum(twin:satellites:sum)")
    assert float(by_state[0]["value"][1]) == 240
    up = prom_query(stack, 'up{job=~"twin-projector|twin-live"} == 1')
    assert len(up) == 3


def test_rules_load_and_dead_letter_alert_fires(stack: str) -> None:
    status, body = http_get(f"{stack}/api/v1/rules")
    assert status == 200
    groups = json.loads(body)["data"]["groups"]
    loaded = {r["name"]: r for g in groups for r in g["rules"]}
    defined = {
        rule.get("alert") or rule["record"]
        for path in RULE_FILES
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
    }
    assert set(loaded) == defined
    for name, rule in loaded.items():
        assert rule["health"] != "err", f"{name}: {rule.get('lastError')}"
    deadline = time.monotonic() + DATA_TIMEOUT_S
    firing: set[str] = set()
    while time.monotonic() < deadline:
        _, body = http_get(f"{stack}/api/v1/alerts")
        alerts = json.loads(body)["data"]["alerts"]
        firing = {a["labels"]["alertname"] for a in alerts if a["state"] == "firing"}
        if "DeadLettersAppearing" in firing:
            break
        time.sleep(2.0)
    assert "DeadLettersAppearing" in firing
    assert "ProjectorDown" not in firing
