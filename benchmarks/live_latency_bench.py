"""Live latency: from an event's emission in a live run to its effect on a projector's /metrics.

``python -m benchmarks.live_latency_bench [--duration 60] [--bootstrap B] [--rate 1000]``
prints a JSON dict. Without a bootstrap it starts its own broker
(:class:`services.kafka.broker.KafkaBroker`) in a temporary directory.

What runs
---------
The ``demo`` scenario in live mode, in this process, through the code path of
``twin run demo --live --speed S --kafka B``: :class:`twin.sim.engine.Engine` paced by
:class:`services.live.LiveEnvironment`, the sink and flush of
:func:`services.cli.run.make_sink` (fold, embedded log, :class:`services.kafka.publisher.Publisher`)
and :func:`services.cli.run.simulate`. ``S`` is chosen so that the run emits about
``target_rate`` events per wall-clock second: a batch run first finds the simulated time ``t``
by which the scenario has emitted ``target_rate × duration_s`` events, and ``S = t /
duration_s``. A projector (``python -m services.projector``, default options) runs as a
separate process on a free port, alone in its consumer group, so it folds every partition.

What is measured
----------------
*Emission* is the wall-clock instant (``time.monotonic``, one clock for every process on the
host) at which the sink receives the event from the engine. From there the event waits in the
run's buffer until the next flush (live mode flushes whenever the simulation is about to sleep),
is appended to the embedded log, waits in the Kafka producer (``linger_ms``), is written and
acknowledged by the broker (``acks=all``), fetched by the projector's consumer, folded, and
finally shows on ``/metrics``. A poller process scrapes ``/metrics`` every ``scrape_every_s``
and records the instant each response has been read together with ``twin_last_offset`` per
partition.

*Latency* of an event = the first scrape whose ``twin_last_offset`` of the event's partition
reaches the event's offset within that partition, minus its emission. Partition and offset are
known without asking the broker: the publisher keys each event by satellite (or run) id, the
producer's default partitioner is ``murmur2(key) % partitions``, and in a fresh topic written by
one idempotent producer a partition's offsets are 0, 1, 2, ... in send order; the
benchmark checks the final ``twin_last_offset`` of every partition against this prediction.
So each latency is exact up to the scrape resolution (it includes up to one scrape period and
the scrape itself: an upper bound by at most ``scrape_period + scrape_duration``).
As a cross-check, ``cumulative_*`` uses the sum of ``twin_events_consumed_total`` instead
(first scrape whose count reaches offset + 1): partition-blind, so only approximately right.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
from kafka.partitioner.default import murmur2

from services.cli.run import make_sink, simulate
from services.eventlog import atomic_log
from services.kafka.publisher import Publisher, record_key
from services.live import LiveEnvironment
from services.processes import die_with_parent
from twin.events import EventBase
from twin.projections import FleetState
from twin.sim.engine import Engine, config_from_scenario
from twin.sim.scenario import resolve_scenario

REPO = Path(__file__).resolve().parent.parent
SCENARIO = "demo"
SEED = 42
DAY_S = 86_400.0
MAX_DAYS = 3650
SCRAPE_EVERY_S = 0.015
READY_TIMEOUT_S = 90.0
DRAIN_TIMEOUT_S = 60.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def calibrate_speed(
    duration_s: float, target_rate: float, scenario: str = SCENARIO, seed: int = SEED
) -> tuple[float, int]:
    """(speed, events): the live speed at which ``scenario`` emits ``target_rate`` events per
    wall second on average over ``duration_s``, from a batch run of the same scenario."""
    wanted = max(2, round(target_rate * duration_s))
    sim_s: list[float] = []
    config = config_from_scenario(resolve_scenario(scenario), until_s=MAX_DAYS * DAY_S)
    engine = Engine(config, seed, lambda _e: sim_s.append(engine.env.now))
    engine.start()
    day = 0
    while len(sim_s) < wanted and day < MAX_DAYS:
        day += 1
        engine.run(day * DAY_S)
    if len(sim_s) < wanted:
        raise RuntimeError(f"{scenario} emits fewer than {wanted} events in {MAX_DAYS} days")
    return sim_s[wanted - 1] / duration_s, wanted


class Scrapes:
    """What the poller saw: per scrape the request and response instants (monotonic s), the
    ``twin_last_offset`` of every partition, and the sum of ``twin_events_consumed_total``."""

    def __init__(self) -> None:
        self.t_start: list[float] = []
        self.t_end: list[float] = []
        self.last_offsets: list[dict[int, int]] = []
        self.consumed: list[int] = []
        self.errors = 0

    def latest(self) -> dict[int, int]:
        return self.last_offsets[-1] if self.last_offsets else {}


def scrape(port: int) -> tuple[dict[int, int], int]:
    """One GET /metrics: (last offset by partition, events consumed)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/metrics")
        body = conn.getresponse().read().decode()
    finally:
        conn.close()
    offsets: dict[int, int] = {}
    consumed = 0.0
    for line in body.splitlines():
        if line.startswith("twin_last_offset{"):
            labels, value = line.rsplit(" ", 1)
            offsets[int(labels.split('"')[1])] = int(float(value))
        elif line.startswith("twin_events_consumed_total{"):
            consumed += float(line.rsplit(" ", 1)[1])
    return offsets, int(consumed)


def poll_metrics(port: int, every_s: float, stop: Any, conn: Any) -> None:
    """The poller process: scrape every ``every_s`` until ``stop`` is set, then send the
    :class:`Scrapes` through ``conn`` (and ``"ready"`` after the first scrape). A process of
    its own, so that neither the simulation nor the producer's threads (which share the run's
    GIL) delay its clock readings."""
    seen = Scrapes()
    next_at = time.monotonic()
    while not stop.is_set():
        t0 = time.monotonic()
        try:
            offsets, consumed = scrape(port)
        except OSError:
            seen.errors += 1
        else:
            seen.t_start.append(t0)
            seen.t_end.append(time.monotonic())
            seen.last_offsets.append(offsets)
            seen.consumed.append(consumed)
            if len(seen.t_end) == 1:
                conn.send("ready")
        next_at = max(next_at + every_s, time.monotonic())
        stop.wait(max(0.0, next_at - time.monotonic()))
    conn.send(seen)
    conn.close()


def _wait_ready(port: int, partitions: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    """Until the projector holds every partition and reports ready."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"projector exited {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/metrics")
            body = conn.getresponse().read().decode()
            conn.close()
        except OSError:
            time.sleep(0.2)
            continue
        if (
            f"twin_projector_partitions {partitions:.1f}" in body
            and "twin_projector_ready 1.0" in body
        ):
            return
        time.sleep(0.2)
    raise RuntimeError(f"projector not ready in {READY_TIMEOUT_S} s:\n{log.read_text()[-3000:]}")


def _quantiles(xs: np.ndarray) -> dict[str, float]:
    return {
        "p50": float(np.quantile(xs, 0.5)),
        "p90": float(np.quantile(xs, 0.9)),
        "p99": float(np.quantile(xs, 0.99)),
        "max": float(xs.max()),
        "mean": float(xs.mean()),
    }


def latencies(
    emitted_s: np.ndarray,
    partition: np.ndarray,
    partition_offset: np.ndarray,
    poller: Scrapes,
    partitions: int,
) -> np.ndarray:
    """Per event: first scrape (end instant) whose last offset of its partition covers it,
    minus its emission instant; NaN if no scrape saw it."""
    t_end = np.asarray(poller.t_end)
    out = np.full(len(emitted_s), np.nan)
    for p in range(partitions):
        seen = np.array([o.get(p, -1) for o in poller.last_offsets], dtype=np.int64)
        seen = np.maximum.accumulate(seen)  # a partition's last offset never moves back
        mine = np.flatnonzero(partition == p)
        idx = np.searchsorted(seen, partition_offset[mine], side="left")
        ok = idx < len(seen)
        out[mine[ok]] = t_end[idx[ok]] - emitted_s[mine[ok]]
    return out


def cumulative_latencies(emitted_s: np.ndarray, poller: Scrapes) -> np.ndarray:
    """Partition-blind cross-check: first scrape whose consumed count reaches offset + 1."""
    t_end = np.asarray(poller.t_end)
    counts = np.maximum.accumulate(np.asarray(poller.consumed, dtype=np.int64))
    idx = np.searchsorted(counts, np.arange(1, len(emitted_s) + 1), side="left")
    out = np.full(len(emitted_s), np.nan)
    ok = idx < len(counts)
    out[ok] = t_end[idx[ok]] - emitted_s[ok]
    return out


def handoff_delays(emitted_s: np.ndarray, flushes: list[tuple[float, int]]) -> np.ndarray:
    """Per event: from emission to the end of the flush that handed it to the producer.

    ``flushes`` holds (instant the flush returned, events emitted by then); a flush empties the
    whole buffer, so event k left with the first flush that returned with more than k events.
    """
    done_s = np.array([t for t, _n in flushes])
    counts = np.maximum.accumulate(np.array([n for _t, n in flushes], dtype=np.int64))
    idx = np.searchsorted(counts, np.arange(1, len(emitted_s) + 1), side="left")
    out = np.full(len(emitted_s), np.nan)
    ok = idx < len(counts)
    out[ok] = done_s[idx[ok]] - emitted_s[ok]
    return out


def _start_projector(bootstrap: str, topic: str, group: str, port: int, tmp: Path) -> Any:
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    with open(tmp / "projector.log", "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "services.projector", "--bootstrap-server", bootstrap, "--topic", topic,
             "--group", group, "--port", str(port), "--host", "127.0.0.1",
             "--state-db", str(tmp / "projector.db")],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, preexec_fn=die_with_parent,
        )  # fmt: skip


def _stop(proc: Any) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def run(
    bootstrap: str | None = None,
    duration_s: float = 60.0,
    target_rate: float = 1000.0,
    *,
    scrape_every_s: float = SCRAPE_EVERY_S,
) -> dict[str, Any]:
    """Run the live pipeline for about ``duration_s`` wall seconds at about ``target_rate``
    events/s against ``bootstrap`` (a temporary local broker if ``None``); see the module
    docstring for what the latencies include."""
    if bootstrap is None:
        from services.kafka.broker import KafkaBroker

        with tempfile.TemporaryDirectory(prefix="kafka-live-") as tmp, KafkaBroker(tmp) as broker:
            return run(broker.bootstrap, duration_s, target_rate, scrape_every_s=scrape_every_s)

    speed, planned_events = calibrate_speed(duration_s, target_rate)
    until_s = speed * duration_s
    tag = uuid.uuid4().hex[:8]
    topic = f"live-bench-{tag}"
    emitted: list[float] = []
    keys: list[bytes] = []
    flushes: list[tuple[float, int]] = []
    clock = time.monotonic
    with tempfile.TemporaryDirectory(prefix="live-bench-") as tmp_name:
        tmp = Path(tmp_name)
        publisher = Publisher.connect(bootstrap, topic=topic)  # creates the topic
        partitions = publisher.settings.partitions
        port = free_port()
        proc = _start_projector(bootstrap, topic, f"live-bench-{tag}", port, tmp)
        ctx = multiprocessing.get_context("spawn")  # no fork of a process running Kafka threads
        stop = ctx.Event()
        receive, send = ctx.Pipe(duplex=False)
        poller = ctx.Process(target=poll_metrics, args=(port, scrape_every_s, stop, send))
        try:
            _wait_ready(port, partitions, proc, tmp / "projector.log")
            poller.start()
            if not receive.poll(READY_TIMEOUT_S) or receive.recv() != "ready":
                raise RuntimeError("the metrics poller did not start scraping")
            with atomic_log(tmp / "live.twinlog") as log:
                sink, flush = make_sink(FleetState(), log, publisher)

                def timed_sink(event: EventBase) -> None:
                    if event.offset != len(emitted):  # the latencies index events by offset
                        raise AssertionError(f"offset {event.offset} after {len(emitted)}")
                    emitted.append(clock())
                    keys.append(record_key(event))
                    sink(event)

                def timed_flush() -> None:
                    flush()
                    flushes.append((clock(), len(emitted)))

                config = config_from_scenario(resolve_scenario(SCENARIO), until_s=until_s)
                live = LiveEnvironment(speed, on_idle=timed_flush)
                engine = Engine(config, SEED, timed_sink, env=live)
                simulate(engine, config.until_s, timed_flush, live=True)
                publisher.close()

            # where each event lands: the producer's default partitioner, offsets in send order
            by_key = {k: (murmur2(k) & 0x7FFFFFFF) % partitions for k in set(keys)}
            partition = np.array([by_key[k] for k in keys], dtype=np.int64)
            partition_offset = np.zeros(len(keys), dtype=np.int64)
            expected_last: dict[int, int] = {}
            for p in range(partitions):
                mine = np.flatnonzero(partition == p)
                partition_offset[mine] = np.arange(len(mine))
                if len(mine):
                    expected_last[p] = len(mine) - 1
            deadline = time.monotonic() + DRAIN_TIMEOUT_S
            last: dict[int, int] = {}
            while time.monotonic() < deadline:
                last = scrape(port)[0]
                if last == expected_last:
                    break
                time.sleep(0.05)
            time.sleep(5 * scrape_every_s + 0.1)  # the poller's own scrapes see the end too
        finally:
            stop.set()
            seen: Scrapes | None = None
            if poller.pid is not None:
                if receive.poll(30):
                    seen = receive.recv()
                poller.join(timeout=10)
                if poller.is_alive():
                    poller.kill()
            _stop(proc)
        if last != expected_last:
            raise RuntimeError(
                f"projector's last offsets {last} never reached the predicted {expected_last}:\n"
                + (tmp / "projector.log").read_text()[-3000:]
            )
    if seen is None:
        raise RuntimeError(f"the metrics poller process failed (exit code {poller.exitcode})")

    emitted_s = np.asarray(emitted)
    lat = latencies(emitted_s, partition, partition_offset, seen, partitions)
    if np.isnan(lat).any():
        raise RuntimeError(f"{int(np.isnan(lat).sum())} events never seen by the poller")
    cum = cumulative_latencies(emitted_s, seen)
    hand = handoff_delays(emitted_s, flushes)
    q, cq, hq = _quantiles(lat), _quantiles(cum[~np.isnan(cum)]), _quantiles(hand)
    dq = _quantiles(lat - hand)
    t_end = np.asarray(seen.t_end)
    period = np.diff(t_end)
    scrape_s = t_end - np.asarray(seen.t_start)
    lag = live.lag_report()
    n = len(emitted)
    wall_s = emitted[-1] - emitted[0]
    return {
        "live_p50_s": round(q["p50"], 4),
        "live_p99_s": round(q["p99"], 4),
        "live_p90_s": round(q["p90"], 4),
        "live_max_s": round(q["max"], 4),
        "live_mean_s": round(q["mean"], 4),
        "events": n,
        "samples": len(lat),
        "rate_events_per_s": round(n / wall_s, 1) if wall_s > 0 else None,
        "target_rate_events_per_s": target_rate,
        "duration_s": round(wall_s, 2),
        "scenario": SCENARIO,
        "speed": round(speed, 1),
        "sim_until_s": round(until_s, 1),
        "planned_events": planned_events,
        "partitions": partitions,
        "handoff_p50_s": round(hq["p50"], 4),
        "handoff_p99_s": round(hq["p99"], 4),
        "handoff_max_s": round(hq["max"], 4),
        "downstream_p50_s": round(dq["p50"], 4),
        "downstream_p99_s": round(dq["p99"], 4),
        "flushes": len(flushes),
        "scrapes": len(t_end),
        "scrape_errors": seen.errors,
        "scrape_period_ms_p50": round(float(np.median(period)) * 1000, 2),
        "scrape_period_ms_max": round(float(period.max()) * 1000, 2),
        "scrape_duration_ms_p50": round(float(np.median(scrape_s)) * 1000, 2),
        "scrape_duration_ms_p99": round(float(np.quantile(scrape_s, 0.99)) * 1000, 2),
        "cumulative_p50_s": round(cq["p50"], 4),
        "cumulative_p99_s": round(cq["p99"], 4),
        "sim_lag_behind_wall_p99_s": round(lag["p99_s"], 4),
        "sim_lag_behind_wall_max_s": round(lag["max_s"], 4),
        "loadavg_1m_after": round(os.getloadavg()[0], 2),
        "method": (
            "wall time from the sink receiving each event (live demo run through twin run's "
            "sink/flush/publisher path) to the end of the first /metrics scrape of one "
            "projector whose twin_last_offset of the event's partition covers it; includes the "
            "wait for the next flush and the embedded-log append (handoff_*), then producer "
            "linger, broker acks=all, consumer fetch, fold (downstream_*), and up to one scrape "
            "period "
            f"(~{scrape_every_s * 1000:.0f} ms) plus the scrape itself"
        ),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.live_latency_bench")
    p.add_argument("--duration", type=float, default=60.0, help="wall seconds of live run")
    p.add_argument("--bootstrap", default=None, help="Kafka bootstrap (default: own broker)")
    p.add_argument("--rate", type=float, default=1000.0, help="target events per wall second")
    args = p.parse_args(argv)
    print(json.dumps(run(args.bootstrap, args.duration, args.rate), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
