"""The projector against a real Kafka broker: state, metrics, restarts, groups, poison.

Each test starts projectors as subprocesses (``python -m services.projector``) on free ports
and drives them over HTTP, as an operator or Prometheus would. The events are the demo
scenario's first simulated day (about 9,000 events), published with the real Publisher.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families
from summaries import assert_same_summary

from services.kafka.broker import free_port
from services.kafka.publisher import Publisher, record_key
from services.kafka.settings import load_settings
from twin.events import EventBase, encode
from twin.projections import fold
from twin.sim.engine import config_from_scenario, simulate
from twin.sim.scenario import resolve_scenario
from twin.timeutil import parse_duration

pytestmark = pytest.mark.kafka

REPO = Path(__file__).resolve().parent.parent
WAIT_S = 60.0
Series = dict[tuple[str, tuple[tuple[str, str], ...]], float]


# ---------------------------------------------------------------------- helpers


class ProjectorProcess:
    """One ``python -m services.projector`` subprocess and its HTTP endpoints."""

    def __init__(self, bootstrap: str, topic: str, group: str, db: Path, *extra: str) -> None:
        self.port = free_port()
        self.log_path = db.with_name(f"{group}-{self.port}.log")
        args = [
            sys.executable,
            "-m",
            "services.projector",
            "--bootstrap-server",
            bootstrap,
            "--topic",
            topic,
        ]
        args += ["--group", group, "--state-db", str(db), "--port", str(self.port)]
        args += ["--host", "127.0.0.1", *extra]
        env = dict(os.environ, PYTHONPATH=str(REPO))
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                args, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT
            )

    def get(self, path: str) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def json(self, path: str) -> Any:
        status, body = self.get(path)
        assert status == 200, (path, status, body)
        return json.loads(body)

    def metrics(self) -> Series:
        return parse_metrics(self.get("/metrics")[1].decode())

    def wait_http(self) -> int:
        """Wait for the first HTTP answer; return the /readyz status seen first."""
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log_path.read_text()[-3000:]
            try:
                return self.get("/readyz")[0]
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"projector did not serve HTTP: {self.log_path.read_text()[-3000:]}")

    def wait_events(self, n: int) -> None:
        """Wait until ready and ``n`` events are folded (decode errors included)."""
        wait_for(lambda: self._handled() >= n and self.get("/readyz")[0] == 200, self.log_path)

    def _handled(self) -> float:
        m = self.metrics()
        return sum(v for (name, _), v in m.items() if name == "twin_events_consumed_total")

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


def poll_until(predicate: Callable[[], bool], timeout_s: float, interval_s: float = 0.1) -> bool:
    """True once ``predicate()`` is true (an OSError counts as not yet), False at the deadline."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if predicate():
                return True
        except OSError:
            pass
        time.sleep(interval_s)
    return False


def wait_for(predicate: Callable[[], bool], log: Path, timeout_s: float = WAIT_S) -> None:
    if not poll_until(predicate, timeout_s):
        raise AssertionError(f"timed out; projector log:\n{log.read_text()[-3000:]}")


def parse_metrics(text: str) -> Series:
    out: Series = {}
    for family in text_string_to_metric_families(text):
        if family.name.startswith(("process_", "python_")):
            continue  # the process and platform collectors: this process, not the fold
        for s in family.samples:
            if s.name.endswith("_created"):
                continue
            out[s.name, tuple(sorted(s.labels.items()))] = s.value
    return out


def value(m: Series, name: str, **labels: str) -> float:
    return m[name, tuple(sorted(labels.items()))]


def without_closed(summary: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in summary.items() if k != "integrals_closed"}


def assert_same_series(got: Series, want: Series) -> None:
    assert set(got) == set(want), set(got) ^ set(want)
    for key, v in want.items():
        assert got[key] == pytest.approx(v, rel=1e-9, abs=1e-9), key


@pytest.fixture(scope="module")
def events() -> list[EventBase]:
    scenario = resolve_scenario("demo")
    config = config_from_scenario(scenario, until_s=parse_duration("1d"))
    return simulate(config, scenario.scenario.seed)


@pytest.fixture(scope="module")
def expected(events: list[EventBase]) -> dict[str, Any]:
    state = fold(events)
    summary = state.summary()
    # the metrics' counters account each satellite up to its own latest event (additive
    # across projectors); /state closes the open intervals at the last event
    summary["integrals_closed"] = state.integrals_closed()
    return summary


def new_topic() -> str:
    return f"test-projector-{uuid.uuid4().hex[:10]}"


def publish(bootstrap: str, topic: str, events: list[EventBase]) -> None:
    with Publisher.connect(bootstrap, topic=topic) as publisher:
        publisher.publish(events)


#: ``start(topic, group, db, *extra)``: a projector on the test broker, answering HTTP.
StartProjector = Callable[..., ProjectorProcess]


@pytest.fixture
def start(kafka_bootstrap: str) -> Iterator[StartProjector]:
    """Starts projectors on the test broker once they answer HTTP; stops them at teardown."""
    started: list[ProjectorProcess] = []

    def launch(topic: str, group: str, db: Path, *extra: str) -> ProjectorProcess:
        proc = ProjectorProcess(kafka_bootstrap, topic, group, db, *extra)
        started.append(proc)
        proc.wait_http()
        return proc

    yield launch
    for p in started:
        p.stop()


@pytest.fixture(scope="module")
def single(
    kafka_bootstrap: str, events: list[EventBase], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """One projector over the whole demo topic: its first /readyz, then /state and /metrics."""
    topic = new_topic()
    publish(kafka_bootstrap, topic, events)
    db = tmp_path_factory.mktemp("single") / "projector.db"
    proc = ProjectorProcess(kafka_bootstrap, topic, "single", db, "--per-satellite-metrics", "5")
    try:
        first_ready = proc.wait_http()
        proc.wait_events(len(events))
        yield {
            "proc": proc,
            "topic": topic,
            "first_ready": first_ready,
            "state": proc.json("/state"),
            "metrics": proc.metrics(),
        }
    finally:
        proc.stop()


def fleet_series(m: Series) -> Series:
    """Series to compare between runs (the opt-in per-satellite ones excluded)."""
    return {k: v for k, v in m.items() if not k[0].startswith("twin_satellite_")}


# ---------------------------------------------------------------------- one projector


def test_readyz_is_503_until_caught_up_then_200(single: dict[str, Any]) -> None:
    assert single["first_ready"] == 503
    assert single["proc"].get("/readyz")[0] == 200
    assert single["proc"].get("/healthz")[0] == 200
    assert value(single["metrics"], "twin_projector_ready") == 1.0


def test_state_equals_the_fold_of_the_log(single: dict[str, Any], expected: dict[str, Any]) -> None:
    assert_same_summary(single["state"], without_closed(expected))


def test_metrics_equal_the_fold(single: dict[str, Any], expected: dict[str, Any]) -> None:
    m = single["metrics"]
    sats, fleet, counters = expected["satellites"], expected["fleet"], expected["counters"]
    for state, n in sats["by_state"].items():
        assert value(m, "twin_satellites", state=state) == n
    for shell, by in sats["by_shell_state"].items():
        for state, n in by.items():
            assert value(m, "twin_shell_satellites", shell=shell, state=state) == n
    figures = {
        "twin_satellites_planned": expected["run"]["satellites_planned"],
        "twin_compute_online_accelerators": fleet["compute_online_accelerators"],
        "twin_compute_online_flops": fleet["compute_online_tflops"] * 1e12,  # base unit
        "twin_power_generated_watts": fleet["power_generated_w"],
        "twin_power_consumed_watts": fleet["power_consumed_w"],
        "twin_satellites_in_shadow": fleet["in_shadow"],
        "twin_satellites_load_shed": fleet["load_shed"],
        "twin_repair_queue_length": expected["repair"]["queue_length"],
        "twin_repair_robots_busy": len(expected["repair"]["robots_busy"]),
        "twin_repair_robots": expected["run"]["robots"],
        "twin_repair_spares": expected["repair"]["spares_left"],
        "twin_launches_total": counters["launches"],
        "twin_deployments_total": counters["deployments"],
        "twin_reboots_total": counters["reboots"],
        "twin_repairs_completed_total": counters["repairs_completed"],
        # base units: the summary's accelerator-hours, PFLOP-days and kWh converted
        "twin_compute_delivered_accelerator_seconds_total": expected["integrals_closed"][
            "compute_accelerator_hours"
        ]
        * 3600,
        "twin_compute_delivered_flop_total": expected["integrals_closed"]["compute_pflop_days"]
        * 1e15
        * 86400,
        "twin_energy_generated_joules_total": expected["integrals_closed"]["energy_generated_kwh"]
        * 3.6e6,
        "twin_energy_consumed_joules_total": expected["integrals_closed"]["energy_consumed_kwh"]
        * 3.6e6,
        "twin_eclipse_satellite_seconds_total": expected["integrals_closed"]["eclipse_satellite_s"],
        "twin_load_shed_satellite_seconds_total": expected["integrals_closed"][
            "load_shed_satellite_s"
        ],
        "twin_projector_partitions": 6,
        "twin_consumer_lag_sim_seconds": 0,
    }
    for name, want in figures.items():
        assert value(m, name) == pytest.approx(want, rel=1e-9), name
    for component, kinds in counters["faults"].items():
        for kind, n in kinds.items():
            assert value(m, "twin_faults_total", component=component, kind=kind) == n
    for etype, n in counters["events_by_type"].items():
        assert value(m, "twin_events_consumed_total", type=etype) == n
    cumulative = 0
    for k, n in enumerate(fleet["soc_histogram"], start=1):
        cumulative += n
        assert value(m, "twin_battery_soc_ratio_bucket", le=f"{k / 10:.1f}") == cumulative
    assert value(m, "twin_battery_soc_ratio_gcount") == cumulative
    lags = [v for (name, _), v in m.items() if name == "twin_consumer_lag_events"]
    assert lags == [0] * 6
    assert sum(1 for (name, _) in m if name == "twin_satellite_soc_ratio") <= 5


def test_satellite_endpoint(single: dict[str, Any], events: list[EventBase]) -> None:
    state = fold(events)
    sat_id = next(e.satellite for e in reversed(events) if e.satellite is not None)
    assert single["proc"].json(f"/satellites/{sat_id}") == state.satellite(sat_id)
    assert single["proc"].get("/satellites/NO-SUCH-SAT")[0] == 404


# ---------------------------------------------------------------------- restarts and groups


def test_kill_9_mid_stream_then_restart_neither_loses_nor_repeats(
    kafka_bootstrap: str,
    events: list[EventBase],
    single: dict[str, Any],
    tmp_path: Path,
    start: StartProjector,
) -> None:
    topic, db = new_topic(), tmp_path / "restart.db"
    first, second = len(events) * 4 // 10, len(events) * 7 // 10
    args = ("--snapshot-every-s", "3600", "--snapshot-every-events", "250")
    with Publisher.connect(kafka_bootstrap, topic=topic) as publisher:
        publisher.publish(events[:first])
        publisher.flush()
        proc = start(topic, "restart", db, *args)
        proc.wait_events(first)
        publisher.publish(events[first:second])
        publisher.flush()
        wait_for(lambda: proc.json("/state")["position"]["events_applied"] > first, proc.log_path)
        proc.kill()  # mid-stream: events folded since the last snapshot are lost with it
        with sqlite3.connect(db) as conn:
            (snapshotted,) = conn.execute(
                "SELECT SUM(next_offset) FROM partition_snapshots"
            ).fetchone()
        assert 0 < snapshotted <= second
        publisher.publish(events[second:])
    again = start(topic, "restart", db, *args)
    again.wait_events(len(events))
    assert_same_summary(again.json("/state"), single["state"])
    assert_same_series(fleet_series(again.metrics()), fleet_series(single["metrics"]))


def test_two_projectors_in_one_group_sum_to_one(
    events: list[EventBase], single: dict[str, Any], tmp_path: Path, start: StartProjector
) -> None:
    db = tmp_path / "group.db"  # members of a group share the snapshot database
    a = start(single["topic"], "pair", db)
    b = start(single["topic"], "pair", db)

    def summed() -> Series:
        total: Series = {}
        for p in (a, b):
            for key, v in p.metrics().items():
                total[key] = total.get(key, 0.0) + v
        return total

    def settled() -> bool:
        ma, mb = a.metrics(), b.metrics()
        parts = [value(m, "twin_projector_partitions") for m in (ma, mb)]
        ready = [value(m, "twin_projector_ready") for m in (ma, mb)]
        total = sum(
            v for m in (ma, mb) for (n, _), v in m.items() if n == "twin_events_consumed_total"
        )
        # the projector without the run partition learns TFLOPS per accelerator by a probe
        tflops = sum(value(m, "twin_compute_online_flops") for m in (ma, mb))
        return parts == [3, 3] and ready == [1, 1] and total == len(events) and tflops == want_tf

    want = fleet_series(single["metrics"])
    want_tf = value(want, "twin_compute_online_flops")
    wait_for(settled, a.log_path)
    # not sums by design (see services.projector.http): max, min or a ratio of two counters
    not_sums = {
        "twin_mean_time_to_repair_seconds",
        "twin_sim_time_timestamp_seconds",
        "twin_consumer_lag_sim_seconds",
        "twin_projector_ready",
        "twin_build_info",  # one per process
    }
    got = {k: v for k, v in summed().items() if k[0] not in not_sums}
    assert_same_series(got, {k: v for k, v in want.items() if k[0] not in not_sums})
    sim_times = [value(p.metrics(), "twin_sim_time_timestamp_seconds") for p in (a, b)]
    assert max(sim_times) == value(want, "twin_sim_time_timestamp_seconds")


# ---------------------------------------------------------------------- poison messages


def test_poison_messages_go_to_the_dead_letter_topic(
    kafka_bootstrap: str,
    events: list[EventBase],
    expected: dict[str, Any],
    tmp_path: Path,
    start: StartProjector,
) -> None:
    topic = new_topic()
    half = len(events) // 2
    publish(kafka_bootstrap, topic, events[:half])
    good = json.loads(encode(events[half]))
    poison = [
        (b"S0-P00-000", b"{not json", "invalid_json"),
        (b"S0-P00-001", json.dumps(dict(good, type="warp_drive_engaged")).encode(), "unknown_type"),
        (b"S0-P00-002", json.dumps(dict(good, schema_version=99)).encode(), "newer_schema_version"),
        # a replayed event: decodes, but the fold refuses its seq (duplicate)
        (record_key(events[half - 1]), encode(events[half - 1]), "event_order"),
    ]
    settings = load_settings(bootstrap=kafka_bootstrap, topic=topic)
    producer = KafkaProducer(**settings.common())
    for key, raw, _ in poison:
        producer.send(topic, key=key, value=raw)
    producer.flush()
    producer.close()
    publish(kafka_bootstrap, topic, events[half:])

    proc = start(topic, "poison", tmp_path / "poison.db")
    proc.wait_events(len(events))
    wait_for(
        lambda: (
            sum(v for (n, _), v in proc.metrics().items() if n == "twin_dead_letters_total")
            == len(poison)
        ),
        proc.log_path,
    )
    assert_same_summary(proc.json("/state"), without_closed(expected))
    m = proc.metrics()
    for _, _, reason in poison:
        assert value(m, "twin_dead_letters_total", reason=reason) == 1
    assert sum(v for (n, _), v in m.items() if n == "twin_decode_errors_total") == 3

    consumer = KafkaConsumer(**settings.common(), enable_auto_commit=False)
    dlq = TopicPartition(settings.dlq_topic, 0)
    consumer.assign([dlq])
    consumer.seek_to_beginning(dlq)
    records: list[Any] = []
    deadline = time.monotonic() + 20
    while len(records) < len(poison) and time.monotonic() < deadline:
        for batch in consumer.poll(timeout_ms=500).values():
            records += batch
    consumer.close()
    got = {(r.key, r.value): {k: v.decode() for k, v in r.headers} for r in records}
    assert len(records) == len(poison)
    for key, raw, reason in poison:
        headers = got[key, raw]
        assert headers["reason"] == reason
        assert headers["source_topic"] == topic
        assert int(headers["source_partition"]) in range(6)
        assert int(headers["source_offset"]) >= 0
        assert headers["detail"]


# ---------------------------------------------------------------------- the fetch process


def _fetch_pid(proc: ProjectorProcess) -> int:
    """The pid of the projector's fetch process (``python -m services.kafka.fetcher``)."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        found = subprocess.run(
            ["pgrep", "-P", str(proc.proc.pid), "-f", "services.kafka.fetcher"],
            capture_output=True,
            text=True,
        ).stdout.split()
        if found:
            return int(found[0])
        time.sleep(0.05)
    raise AssertionError(f"no fetch process under {proc.proc.pid}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/stat").read_text().split()[2]
    return status != "Z"  # a zombie has exited


def test_the_fetch_process_leaves_with_its_projector(
    single: dict[str, Any], tmp_path: Path, start: StartProjector
) -> None:
    """kill -9 of a projector takes its fetch process with it (no orphan holding partitions),
    and a successor in the same group gets every partition and the same state."""
    db = tmp_path / "orphan.db"
    proc = start(single["topic"], "orphan", db)
    fetch = _fetch_pid(proc)
    proc.kill()
    wait_for(lambda: not _alive(fetch), proc.log_path, timeout_s=10)
    again = start(single["topic"], "orphan", db)
    again.wait_events(single["state"]["position"]["events_applied"])
    assert_same_summary(again.json("/state"), single["state"])


def test_a_projector_whose_fetch_process_dies_exits_for_a_restart(
    single: dict[str, Any], tmp_path: Path, start: StartProjector
) -> None:
    proc = start(single["topic"], "lost-fetch", tmp_path / "l.db")
    os.kill(_fetch_pid(proc), signal.SIGKILL)
    code = proc.proc.wait(20)
    log = proc.log_path.read_text()
    assert code == 1, log[-3000:]
    assert "fetch process ended" in log, log[-3000:]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_to_the_whole_process_group_stops_the_projector_cleanly(
    single: dict[str, Any], tmp_path: Path, start: StartProjector, signum: int
) -> None:
    """SIGTERM or Ctrl-C to the projector's process group (systemd, `timeout`, a terminal)
    reaches its fetch process too, here first: the projector still stops cleanly (exit 0, no
    traceback), its fetch process ended by the projector, not by the signal."""
    proc = start(single["topic"], f"group-signal-{signum}", tmp_path / "g.db")
    proc.wait_events(single["state"]["position"]["events_applied"])
    fetch = _fetch_pid(proc)
    os.kill(fetch, signum)
    os.kill(proc.proc.pid, signum)
    code = proc.proc.wait(60)
    log = proc.log_path.read_text()
    assert code == 0, log[-3000:]
    assert "Traceback" not in log and "fetch process ended" not in log, log[-3000:]
    wait_for(lambda: not _alive(fetch), proc.log_path, timeout_s=60)
