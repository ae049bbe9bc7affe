"""Chaos against a real broker: while a live run publishes and the CPU is oversubscribed,
kill -9 projectors, their fetch processes and the broker at seeded-random moments; then the
topic must equal the run's embedded log (no gap, no duplicate) and the projectors' state must
equal the fold of that log.

The moments come from ``random.Random(seed)``; the seed is printed (``-s`` or a failure's
captured output shows it) and ``TWIN_CHAOS_SEED=<seed>`` replays the same schedule.
Every wait is on a condition with a generous deadline; every process started here is killed
in ``finally`` and the test checks that none is left behind.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, TopicPartition
from summaries import assert_same_summary
from test_projector import ProjectorProcess, Series, parse_metrics, poll_until

from services.eventlog import SqliteEventLog
from services.kafka.broker import KafkaBroker
from services.kafka.log import KafkaEventLog
from twin.events import decode
from twin.projections import fold

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

REPO = Path(__file__).resolve().parent.parent
DEADLINE_S = 300.0  # conditions, not speed: generous for a busy 2-core CI machine
UNTIL = "3d"  # ~25,000 events
SPEED = 9000.0  # 3 sim days in ~29 s of wall clock
CHAOS_WINDOW_S = (1.0, 24.0)  # when the faults strike, in wall seconds after the run starts
HOGS = 3
ORPHAN_GRACE_S = 30.0  # for a killed process to finish exiting, not for it to be killed
MAX_RESTARTS = 30  # per projector slot: more means a crash loop
GROUP = "chaos"
MARK_ENV = "TWIN_CHAOS_MARK"  # every process this test starts inherits it
#: not sums across a group's members by design (see services.projector.http)
NOT_SUMS = {
    "twin_mean_time_to_repair_seconds",
    "twin_sim_time_timestamp_seconds",
    "twin_consumer_lag_sim_seconds",
    "twin_projector_ready",
    "twin_build_info",  # one per process
}


def _env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(REPO))


def _stat(pid: int) -> tuple[str, str] | None:
    """(state, start time) of a process, or None if there is none by that pid."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields[0], fields[19]


def _started_at(pid: int) -> str:
    stat = _stat(pid)
    return stat[1] if stat else ""


def _alive(pid: int, started_at: str) -> bool:
    """The very process (same start time: pids are reused) runs and is not a zombie."""
    stat = _stat(pid)
    return stat is not None and stat[0] != "Z" and stat[1] == started_at


def _marked(mark: str) -> list[int]:
    """Live processes whose environment carries ``mark`` (all started here inherit it)."""
    needle = f"{MARK_ENV}={mark}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                stat = _stat(int(entry.name))
                if stat is not None and stat[0] != "Z":
                    found.append(int(entry.name))
        except OSError:
            continue
    return found


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _fetch_pids(parent: int) -> list[int]:
    found = subprocess.run(
        ["pgrep", "-P", str(parent), "-f", "services.kafka.fetcher"],
        capture_output=True,
        text=True,
    ).stdout.split()
    return [int(p) for p in found]


def _total(m: Series, name: str) -> float:
    return sum(v for (n, _), v in m.items() if n == name)


@dataclass
class Slot:
    """One supervised projector: restarted whenever it exits, as a supervisor would."""

    name: str
    bootstrap: str
    topic: str
    db: Path
    proc: ProjectorProcess | None = None
    exits: list[tuple[int, Path]] = field(default_factory=list)
    pids: dict[int, str] = field(default_factory=dict)  # projectors: pid -> start time
    fetch_pids: dict[int, str] = field(default_factory=dict)

    def start(self) -> None:
        self.proc = ProjectorProcess(self.bootstrap, self.topic, GROUP, self.db)
        self.pids[self.proc.proc.pid] = _started_at(self.proc.proc.pid)

    def note_fetch(self, pids: list[int]) -> None:
        for pid in pids:
            self.fetch_pids.setdefault(pid, _started_at(pid))

    def supervise(self) -> None:
        """Restart the projector if it has exited; note its fetch process for the cleanup."""
        assert self.proc is not None
        code = self.proc.proc.poll()
        if code is None:
            self.note_fetch(_fetch_pids(self.proc.proc.pid))
            return
        self.exits.append((code, self.proc.log_path))
        print(f"  {self.name}: projector exited {code}; restarting", flush=True)
        assert len(self.exits) <= MAX_RESTARTS, f"{self.name} is in a crash loop: {self.report()}"
        self.start()

    def kill(self) -> None:
        assert self.proc is not None
        if self.proc.proc.poll() is None:
            self.proc.kill()
        self.exits.append((self.proc.proc.returncode, self.proc.log_path))
        self.start()

    def kill_fetch(self, tick: Callable[[], None]) -> bool:
        """kill -9 the fetch process; the projector must exit (code 1) and is restarted.
        False if there was no fetch process to kill (the projector was starting)."""
        assert self.proc is not None
        deadline = time.monotonic() + 20
        while not (pids := _fetch_pids(self.proc.proc.pid)):
            if self.proc.proc.poll() is not None or time.monotonic() > deadline:
                return False
            tick()
            time.sleep(0.1)
        self.note_fetch(pids)
        os.kill(pids[0], signal.SIGKILL)
        try:
            code = self.proc.proc.wait(60)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"{self.name}: the projector did not exit after its fetch process died:\n"
                f"{self.proc.log_path.read_text()[-3000:]}"
            ) from None
        log = self.proc.log_path.read_text()
        assert code == 1, f"{self.name}: exit {code} after losing its fetch process:\n{log[-3000:]}"
        self.exits.append((code, self.proc.log_path))
        self.start()
        return True

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()

    def kill_all(self) -> None:
        if self.proc is not None and self.proc.proc.poll() is None:
            self.proc.proc.kill()
            self.proc.proc.wait(10)
        for pid, started_at in self.fetch_pids.items():
            if _alive(pid, started_at):
                os.kill(pid, signal.SIGKILL)

    def report(self) -> str:
        lines = [f"{self.name}: {len(self.exits)} exits"]
        for code, log in self.exits[-3:]:
            lines.append(f"--- exit {code}, {log}:\n{log.read_text()[-1500:]}")
        return "\n".join(lines)


def _tracebacks_through_our_code(text: str) -> list[str]:
    """Tracebacks with a frame outside the Kafka client library: an error of ours. (kafka-python
    logs a lost connection with the traceback of its own socket read; that one is expected.)"""
    found = []
    for block in text.split("Traceback (most recent call last):")[1:]:
        frames = [line for line in block.splitlines() if line.startswith('  File "')]
        if any("/site-packages/kafka/" not in frame for frame in frames):
            found.append("Traceback (most recent call last):" + block[:3000])
    return found


def _records_on(bootstrap: str, topic: str) -> int:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        return sum(consumer.end_offsets(tps).values()) if tps else 0
    finally:
        consumer.close()


def _partition_counts(bootstrap: str, topic: str) -> dict[int, list[int]]:
    """Each partition's records as their event offsets, in partition order."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        ends = consumer.end_offsets(tps)
        got: dict[int, list[int]] = {tp.partition: [] for tp in tps}
        deadline = time.monotonic() + DEADLINE_S
        while any(consumer.position(tp) < ends[tp] for tp in tps):
            assert time.monotonic() < deadline, "could not read the topic back"
            for tp, records in consumer.poll(timeout_ms=500).items():
                got[tp.partition] += [decode(r.value).offset for r in records]
        return got
    finally:
        consumer.close()


def test_chaos_kills_lose_nothing_and_the_state_equals_the_fold(
    kafka_broker: KafkaBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed = int(os.environ.get("TWIN_CHAOS_SEED") or random.SystemRandom().randrange(2**32))
    print(f"\nchaos seed {seed} (replay: TWIN_CHAOS_SEED={seed})", flush=True)
    rng = random.Random(seed)
    mark = uuid.uuid4().hex
    monkeypatch.setenv(MARK_ENV, mark)
    bootstrap = kafka_broker.bootstrap
    topic = f"chaos-{uuid.uuid4().hex[:10]}"
    log_path, db = tmp_path / "run.twinlog", tmp_path / "projector.db"

    # the faults: kill -9 a projector (twice), its fetch process (twice), the broker (once)
    faults = ["projector", "projector", "fetch", "fetch", "broker"]
    moments = sorted(rng.uniform(*CHAOS_WINDOW_S) for _ in faults)
    rng.shuffle(faults)
    schedule = [(t, kind, rng.randrange(2)) for t, kind in zip(moments, faults, strict=True)]
    broker_down_s = rng.uniform(0.5, 5.0)
    # a patient run (default Kafka timeouts) rides out the broker's restart; an impatient one
    # gives up publishing, keeps its log and asks for the resume command
    patient = rng.random() < 0.5
    print("schedule: " + ", ".join(f"{t:.1f}s {k}[{i}]" for t, k, i in schedule), flush=True)
    print(f"broker down {broker_down_s:.1f}s; run {'patient' if patient else 'impatient'}")
    impatient = {
        "TWIN_KAFKA_REQUEST_TIMEOUT_MS": "2000",
        "TWIN_KAFKA_MAX_BLOCK_MS": "2000",
        "TWIN_KAFKA_DELIVERY_TIMEOUT_MS": "5000",
    }

    hogs: list[subprocess.Popen[bytes]] = []
    run: subprocess.Popen[str] | None = None
    resume: subprocess.Popen[str] | None = None
    slots = [Slot(name, bootstrap, topic, db) for name in ("a", "b")]
    started_pids: dict[int, str] = {}
    started = time.monotonic()
    try:
        for _ in range(HOGS):
            hogs.append(subprocess.Popen([sys.executable, "-c", "while True: pass"]))
            started_pids[hogs[-1].pid] = _started_at(hogs[-1].pid)
        # the run first: it refuses a topic that already holds events, and creates it
        run = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "run", "demo", "--until", UNTIL, "--live",
             "--speed", str(SPEED), "--bootstrap-server", bootstrap, "--topic", topic,
             "--log", str(log_path), "--quiet"],
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=_env() if patient else dict(_env(), **impatient),
        )  # fmt: skip
        started_pids[run.pid] = _started_at(run.pid)
        for slot in slots:
            slot.start()

        def tick() -> None:
            for slot in slots:
                slot.supervise()

        # the clock of the faults starts once the run publishes (a broker lost before that
        # is a startup failure, exit 1 with nothing simulated: not this test's subject)
        deadline = time.monotonic() + DEADLINE_S
        while _records_on(bootstrap, topic) < 100:
            assert run.poll() is None, f"the run ended early: {run.communicate()[1]}"
            assert time.monotonic() < deadline, "no records reached the topic"
            tick()
            time.sleep(0.2)
        run_started = time.monotonic()
        print(f"  publishing after {run_started - started:.1f}s", flush=True)

        for at, kind, which in schedule:
            while time.monotonic() - run_started < at:
                tick()
                time.sleep(0.05)
            slot = slots[which]
            now = time.monotonic() - run_started
            print(f"  {now:5.1f}s kill -9 {kind}" + ("" if kind == "broker" else f" [{slot.name}]"))
            if kind == "projector":
                slot.kill()
            elif kind == "fetch":
                if not slot.kill_fetch(tick):
                    print("    (no fetch process yet: the projector was starting)")
            else:
                kafka_broker.kill()
                pause = time.monotonic() + broker_down_s
                while time.monotonic() < pause:
                    tick()
                    time.sleep(0.05)
                kafka_broker.start(DEADLINE_S)
                print(f"  {time.monotonic() - run_started:5.1f}s broker back", flush=True)

        # the run ends by itself; a run that lost its broker says how to finish the publish
        deadline = time.monotonic() + DEADLINE_S
        while run.poll() is None:
            assert time.monotonic() < deadline, "the run did not end"
            tick()
            time.sleep(0.1)
        _, run_err = run.communicate()
        print(f"  run ended with {run.returncode} after {time.monotonic() - run_started:.1f}s")
        if run.returncode == 1 and "--resume" in run_err:
            resume = subprocess.Popen(
                [sys.executable, "-m", "services.cli", "log", "import", str(log_path),
                 "--bootstrap-server", bootstrap, "--topic", topic, "--resume"],
                cwd=REPO, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            )  # fmt: skip
            started_pids[resume.pid] = _started_at(resume.pid)
            while resume.poll() is None:
                assert time.monotonic() < deadline, "the resume did not end"
                tick()
                time.sleep(0.1)
            _, resume_err = resume.communicate()
            assert resume.returncode == 0, resume_err
            print("  resumed: " + resume_err.strip().splitlines()[-1])
        else:
            assert run.returncode == 0, run_err

        # the topic equals the embedded log: merged by event offset, and per partition
        with SqliteEventLog(log_path) as local:
            raws = list(local.read_raw())
            events = list(local.read())
        with KafkaEventLog(bootstrap, topic=topic, create=False) as on_kafka:
            assert list(on_kafka.read_raw()) == raws, "the topic differs from the log"
        per_partition = _partition_counts(bootstrap, topic)
        for partition, offsets in per_partition.items():
            dups = len(offsets) - len(set(offsets))
            assert dups == 0, f"partition {partition}: {dups} duplicates"
            assert offsets == sorted(offsets), f"partition {partition}: out of order"
        on_topic = sorted(o for offsets in per_partition.values() for o in offsets)
        assert on_topic == list(range(len(raws))), "gaps or duplicates across partitions"

        # both projectors ready, together folding every event once
        expected = fold(events).summary()
        want_flops = expected["fleet"]["compute_online_tflops"] * 1e12  # base unit
        seen: dict[str, Any] = {}

        def settled() -> bool:
            tick()
            ms = [parse_metrics(s.proc.get("/metrics")[1].decode()) for s in slots]  # type: ignore[union-attr]
            seen["metrics"] = ms
            ready = [s.proc.get("/readyz")[0] for s in slots]  # type: ignore[union-attr]
            seen["ready"] = ready
            return (
                ready == [200, 200]
                and [_total(m, "twin_projector_partitions") for m in ms] == [3, 3]
                and sum(_total(m, "twin_events_consumed_total") for m in ms) == len(events)
                and sum(_total(m, "twin_compute_online_flops") for m in ms)
                == pytest.approx(want_flops, rel=1e-9)
            )

        _wait(settled, slots, seen)
        summed: Series = {}
        for m in seen["metrics"]:
            for key, v in m.items():
                if key[0] not in NOT_SUMS:
                    summed[key] = summed.get(key, 0.0) + v
        assert _total(summed, "twin_dead_letters_total") == 0

        # one member leaves the group; the other then owns every partition: its /state is the
        # fold of the log, and its metrics are the sum of the two members' metrics
        survivor, leaver = slots
        leaver.stop()
        leaver.exits.append((leaver.proc.proc.returncode, leaver.proc.log_path))  # type: ignore[union-attr]
        leaver.proc = None

        def alone() -> bool:
            survivor.supervise()
            m = survivor.proc.metrics()  # type: ignore[union-attr]
            seen["metrics"], seen["ready"] = [m], [survivor.proc.get("/readyz")[0]]  # type: ignore[union-attr]
            return (
                seen["ready"] == [200]
                and _total(m, "twin_projector_partitions") == 6
                and _total(m, "twin_events_consumed_total") == len(events)
            )

        _wait(alone, [survivor], seen)
        assert_same_summary(survivor.proc.json("/state"), expected)  # type: ignore[union-attr]
        m = {k: v for k, v in survivor.proc.metrics().items() if k[0] not in NOT_SUMS}  # type: ignore[union-attr]
        assert set(m) == set(summed), set(m) ^ set(summed)
        for key, v in summed.items():
            assert m[key] == pytest.approx(v, rel=1e-9, abs=1e-9), key

        stops: dict[str, int] = {}
        for log in sorted(tmp_path.glob(f"{GROUP}-*.log")):
            text = log.read_text()
            ours = _tracebacks_through_our_code(text)
            assert not ours, f"{log}:\n{ours[0]}"
            for line in text.splitlines():
                for what in ("stopping:", "Kafka unreachable", "cannot reach Kafka"):
                    if what in line:
                        reason = line.split(what, 1)[1].split("(", 1)[0].strip()[:60]
                        stops[f"{what} {reason}"] = stops.get(f"{what} {reason}", 0) + 1
        print("  projector log: " + json.dumps(stops, indent=1), flush=True)
        restarts = {s.name: [code for code, _ in s.exits] for s in slots}
        print(f"  exits by slot: {restarts}; {time.monotonic() - started:.1f}s in all", flush=True)
    finally:
        for slot in slots:
            slot.kill_all()
        for proc in [*hogs, run, resume]:
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(10)

    # nothing left behind: not one of the pids started here (the same processes: pids are
    # reused), no child of theirs, and no process at all that inherited this test's mark
    # (but the broker, which the fixture owns and a restart here marked)
    mine = {p: t for s in slots for p, t in [*s.pids.items(), *s.fetch_pids.items()]}
    for proc in [*hogs, run, resume]:
        if proc is not None:
            mine[proc.pid] = started_pids[proc.pid]

    def left_behind() -> set[int]:
        left = {p for p, t in mine.items() if _alive(p, t)}
        for parent in [p for s in slots for p in s.pids]:
            children = subprocess.run(["pgrep", "-P", str(parent)], capture_output=True, text=True)
            left |= {c for c in map(int, children.stdout.split()) if parent in left}
        return left | (set(_marked(mark)) - {os.getpid(), kafka_broker.pid})

    # a child killed with its parent (PR_SET_PDEATHSIG) may still be exiting: a short grace
    deadline = time.monotonic() + ORPHAN_GRACE_S
    while (left := left_behind()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not left, f"processes left behind: {[(p, _cmdline(p)) for p in sorted(left)]}"


def _wait(predicate: Callable[[], bool], slots: list[Slot], seen: dict[str, Any]) -> None:
    if poll_until(predicate, DEADLINE_S, 0.2):
        return
    metrics = [
        {k: v for k, v in m.items() if k[0].startswith("twin_projector") or "consumed" in k[0]}
        for m in seen.get("metrics", [])
    ]
    logs = "\n".join(
        f"--- {s.name} ({s.proc.log_path}):\n{s.proc.log_path.read_text()[-3000:]}"
        for s in slots
        if s.proc is not None
    )
    raise AssertionError(
        f"projectors did not settle: ready {seen.get('ready')}, "
        f"metrics {json.dumps([{str(k): v for k, v in m.items()} for m in metrics])}\n{logs}"
    )
