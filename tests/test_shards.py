"""Sharded runs: one scenario as N engines that never talk (`twin run --shards N`,
`twin run --shard K/N`), folded to exactly what the unsharded run folds to."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
from pathlib import Path

import pytest
from procs import alive, children

from services.cli import main
from services.eventlog import SqliteEventLog
from services.shards import BackgroundFold
from twin import events as ev
from twin.errors import InfraError, InputError
from twin.projections import FleetState, fold
from twin.sim.engine import Engine, config_from_scenario, simulate
from twin.sim.scenario import parse_scenario
from twin.sim.shards import Shard, check_shardable, members, parse_shard

REPO = Path(__file__).resolve().parent.parent


def shardable_text() -> str:
    """The demo (two shells, 8 planes, a launch campaign whose flights span planes, faults,
    upsets, resupplies, end of life) without its workload and with no robots: nothing is
    shared between planes, so it can be sharded."""
    text = (REPO / "scenarios" / "demo.toml").read_text()
    text = text.split("\n[workload]")[0]
    assert "\nrobots = 1\n" in text
    return text.replace("\nrobots = 1\n", "\nrobots = 0\n").replace(
        'name = "demo"', 'name = "demo-shardable"'
    )


def pool_spares_text() -> str:
    """The demo without its workload, robots per plane with **stock per pool**: one spare
    per plane at the start and one more per plane every 2 days, against accelerator faults
    sped up 20× and fast robots, so most pools run out and repairs wait for a resupply."""
    text = (REPO / "scenarios" / "demo.toml").read_text().split("\n[workload]")[0]
    for old, new in (
        ('name = "demo"', 'name = "demo-pool-spares"'),
        ("weibull_scale_years = 1.0\n", "weibull_scale_years = 0.05\n"),
        ("altitude_offset_km = 20.0", "altitude_offset_km = 100.0"),
        ('duration = "6h"                     # assumption', 'duration = "2h"'),
        (
            'spares_initial = 20\nresupply_every = "5d"\nresupply_quantity = 10\n',
            'spares_per = "pool"\nspares_initial = 1\nresupply_every = "2d"\n'
            "resupply_quantity = 1\n",
        ),
    ):
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    assert '\nrobots_per = "plane"\nrobots = 1\n' in text
    return text


@pytest.fixture(scope="module")
def scenario_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("shards") / "shardable.toml"
    path.write_text(shardable_text())
    return path


def run_log(scenario: Path, log: Path, *extra: str) -> dict:
    code = main(["run", str(scenario), "--until", "3d", "--log", str(log), "--quiet", "--json",
                 *extra])  # fmt: skip
    assert code == 0
    return {}


def export_sha(log: Path) -> str:
    with SqliteEventLog(log) as events:
        return hashlib.sha256(b"\n".join(events.read_raw())).hexdigest()


def folded(log: Path) -> FleetState:
    """A fresh fold of every event of the log, each decoded (validated) from its bytes."""
    with SqliteEventLog(log) as events:
        return fold(events.read())


def summary(state: FleetState) -> dict:
    return json.loads(json.dumps(state.summary(), sort_keys=True))


@pytest.fixture(scope="module")
def logs(scenario_file: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("logs")
    paths = {
        "whole": out / "whole.twinlog",
        "two": out / "two.twinlog",
        "two_again": out / "two-again.twinlog",
        "three": out / "three.twinlog",
    }
    run_log(scenario_file, paths["whole"])
    run_log(scenario_file, paths["two"], "--shards", "2")
    run_log(scenario_file, paths["two_again"], "--shards", "2")
    run_log(scenario_file, paths["three"], "--shards", "3")
    return paths


def test_sharded_fold_equals_unsharded_fold(logs: dict[str, Path]) -> None:
    whole = summary(folded(logs["whole"]))
    assert whole["run"]["satellites_planned"] == whole["satellites"]["seen"] == 240  # noqa: PLR2004
    assert whole["run"]["finished"] and whole["counters"]  # a whole run, with events counted

    for name in ("two", "three"):
        assert summary(folded(logs[name])) == whole, name


def test_same_scenario_seed_and_n_give_the_same_bytes(logs: dict[str, Path]) -> None:
    assert export_sha(logs["two"]) == export_sha(logs["two_again"])
    # a different N interleaves equal-time events differently: other bytes, same fold
    assert export_sha(logs["two"]) != export_sha(logs["three"])


def test_merged_log_is_a_whole_run(logs: dict[str, Path]) -> None:
    with SqliteEventLog(logs["two"]) as log:
        events = list(log.read())  # decodes every record, checks offset == position
        whole_count = len(SqliteEventLog(logs["whole"]))
    assert len(events) == whole_count
    assert [e.offset for e in events] == list(range(len(events)))
    run_level = [e for e in events if ev.stream_key(e) == e.run_id]
    assert run_level[0] is events[0] and events[0].type == "scenario_started"
    assert run_level[-1] is events[-1] and events[-1].type == "scenario_finished"
    assert [e.seq for e in run_level] == list(range(1, len(run_level) + 1))
    finished = events[-1]
    assert finished.events == len(events)
    by_state = fold(events).summary()["satellites"]["by_state"]
    assert {k: v for k, v in finished.satellites_by_state.items()} == {
        k: v for k, v in by_state.items() if v
    }


def test_each_shard_alone_folds_to_its_part(scenario_file: Path, tmp_path: Path) -> None:
    """`--shard K/N` logs: each a valid log of its shard; their folds merge to the whole."""
    parts = []
    for k in range(2):
        log = tmp_path / f"shard{k}.twinlog"
        run_log(scenario_file, log, "--shard", f"{k}/2")
        parts.append(folded(log))
    whole = tmp_path / "whole.twinlog"
    run_log(scenario_file, whole)
    merged = summary(FleetState.merge(parts))
    expected = summary(folded(whole))
    # positions differ (each shard log counts its own offsets); everything else is exact
    merged.pop("position"), expected.pop("position")
    assert merged == expected
    assert parts[0].owns_run and not parts[1].owns_run


def test_shards_hold_whole_planes_dealt_round_robin(scenario_file: Path) -> None:
    config = config_from_scenario(parse_scenario(scenario_file.read_text(), str(scenario_file)))
    owners: dict[tuple[int, int], set[int]] = {}
    for k in range(3):
        for i, mine in enumerate(members(config, Shard(k, 3))):
            if mine:
                owners.setdefault((config.fleet.shell[i], config.fleet.plane[i]), set()).add(k)
    assert all(len(v) == 1 for v in owners.values())  # a plane is never split
    planes = set(zip(config.fleet.shell, config.fleet.plane, strict=True))
    assert sorted(owners) == sorted(planes)
    assert [next(iter(owners[u])) for u in sorted(owners)] == [i % 3 for i in range(8)]


def test_wire_offsets_are_unique_and_interleaved(scenario_file: Path) -> None:
    config = config_from_scenario(
        parse_scenario(scenario_file.read_text(), str(scenario_file)), until_s=6 * 3600.0
    )
    seen: list[int] = []
    for k in range(2):
        out: list[ev.EventBase] = []
        engine = Engine(config, 1, out.append, shard=Shard(k, 2))
        engine.start()
        engine.run()
        engine.finish()
        assert [e.offset for e in out] == [j * 2 + k for j in range(len(out))]
        assert all(e.event_id == f"{e.run_id}-{e.offset:010d}" for e in out)
        # only shard 0 writes the run's stream
        assert any(e.satellite is None for e in out) == (k == 0)
        seen += [e.offset for e in out]
    assert len(set(seen)) == len(seen)


def test_with_offset_rewrites_exactly_what_encode_would(scenario_file: Path) -> None:
    config = config_from_scenario(
        parse_scenario(scenario_file.read_text(), str(scenario_file)), until_s=3600.0
    )
    out: list[ev.EventBase] = []
    engine = Engine(config, 1, out.append)
    engine.start()
    engine.run()
    for event in out[:200]:
        for offset in (0, 7, 12_345_678_901):
            moved = event.model_copy(
                update={"offset": offset, "event_id": f"{event.run_id}-{offset:010d}"}
            )
            assert ev.with_offset(ev.encode(event), offset) == ev.encode(moved)


@pytest.fixture(scope="module")
def pool_logs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("pool-spares")
    scenario = out / "pool-spares.toml"
    scenario.write_text(pool_spares_text())
    paths = {name: out / f"{name}.twinlog" for name in ("whole", "two", "two_again", "three")}
    until = ("--until", "4d")  # a resupply is due at the horizon itself: every shard runs it
    run_log(scenario, paths["whole"], *until)
    run_log(scenario, paths["two"], "--shards", "2", *until)
    run_log(scenario, paths["two_again"], "--shards", "2", *until)
    run_log(scenario, paths["three"], "--shards", "3", *until)
    return paths


def test_robots_with_stock_per_pool_shard_to_the_unsharded_fold(
    pool_logs: dict[str, Path],
) -> None:
    whole = summary(folded(pool_logs["whole"]))
    repair = whole["repair"]
    assert whole["counters"]["repairs_completed"] >= 5  # noqa: PLR2004
    assert repair["spares_pools_empty"] >= 2 and repair["queue_length"]  # stock ran out  # noqa: PLR2004
    for name in ("two", "three"):
        assert summary(folded(pool_logs[name])) == whole, name
    assert export_sha(pool_logs["two"]) == export_sha(pool_logs["two_again"])


@pytest.mark.parametrize("name", ["whole", "two", "three"])
def test_each_pools_stock_chains_and_adds_up(pool_logs: dict[str, Path], name: str) -> None:
    """Per pool: its own gap-free stream, every report the previous stock plus its change,
    never below 0; a repair reports its pool's stock; the fleet's stock is the sum."""
    with SqliteEventLog(pool_logs[name]) as log:
        events = list(log.read())
    started = events[0]
    assert isinstance(started, ev.ScenarioStarted)
    pools = {f"R{s}-P{p:02d}" for s, p in {(e.shell, e.plane) for e in events if e.satellite}}
    assert started.spares_pools == len(pools) == 8  # noqa: PLR2004
    assert started.spares == 1 * len(pools) and started.robots == len(pools)
    stock = dict.fromkeys(pools, 1)
    seqs = dict.fromkeys(pools, 0)
    last: dict[str, ev.SparesChanged] = {}
    waited = 0
    for e in events:
        if isinstance(e, ev.SparesChanged):
            assert e.pool in pools  # no fleet-wide stock in this run
            assert ev.stream_key(e) == f"{e.run_id}/{e.pool}"
            assert e.seq == seqs[e.pool] + 1
            seqs[e.pool] = e.seq
            assert e.spares_left == stock[e.pool] + e.change >= 0
            assert e.change == (-1 if e.cause == "repair" else 1)
            before = last.get(e.pool)
            # a repair that waited for a part takes it the instant the resupply lands
            waited += (
                e.cause == "repair"
                and before is not None
                and (before.cause, before.sim_time) == ("resupply", e.sim_time)
            )
            stock[e.pool], last[e.pool] = e.spares_left, e
        elif isinstance(e, ev.RepairCompleted):
            assert e.pool == e.robot.rsplit("-", 1)[0]
            assert e.spares_left == stock[e.pool]
    assert waited  # some repair waited for a resupply and took its part at once
    assert min(stock.values()) == 0
    assert fold(events).summary()["repair"]["spares_left"] == sum(stock.values())


def test_pool_stocks_of_partitions_folded_apart_are_the_whole_logs(
    pool_logs: dict[str, Path],
) -> None:
    """Pool stocks sit in any partition: each fold exports its pools' net change (the run's
    holder adds the initial stock), so the sums over partitions and the merge are exact."""
    with SqliteEventLog(pool_logs["whole"]) as log:
        events = list(log.read())
    whole = fold(events)

    def spares(state: FleetState) -> float:
        return next(s.value for s in state.collect() if s.name == "twin_repair_spares")

    for n in (2, 3, 5):
        parts = [FleetState() for _ in range(n)]
        for e in events:
            parts[int(hashlib.sha256(ev.stream_key(e).encode()).hexdigest(), 16) % n].apply(e)
        assert (
            sum(spares(p) for p in parts)
            == spares(whole)
            == whole.summary()["repair"]["spares_left"]
        )
        merged = FleetState.merge(parts)
        assert merged.summary()["repair"] == whole.summary()["repair"]
        again = FleetState.merge([FleetState.from_snapshot(p.to_snapshot()) for p in parts])
        assert again.summary()["repair"] == whole.summary()["repair"]


def test_the_shardable_preset_shards_to_the_unsharded_fold(tmp_path: Path) -> None:
    """`twin run walker-scale --shards 2`, the preset made to be sharded (a robot and a stock
    of spares per plane, no workload), folds to exactly what its unsharded run folds to."""
    preset = Path("walker-scale")  # a preset name, not a file
    whole, two = tmp_path / "whole.twinlog", tmp_path / "two.twinlog"
    run_log(preset, whole, "--until", "6h")
    run_log(preset, two, "--until", "6h", "--shards", "2")
    expected = summary(folded(whole))
    assert expected["satellites"]["seen"] == 1584  # noqa: PLR2004
    assert expected["repair"]["robots_idle"] + len(expected["repair"]["robots_busy"]) == 72  # noqa: PLR2004
    assert expected["counters"]["faults_total"]  # something to repair within the 6 h
    assert summary(folded(two)) == expected


def test_a_shards_summary_says_which_shard_and_where_the_run_facts_are(
    scenario_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Shard K > 0 has no run-level events: its summary (`twin run --shard`, `twin state` on
    its log) says it is shard K of N and that the scenario, seed, spares and flights are in
    shard 0's log, instead of printing None and zeros as facts; --json says the same."""
    logs = {k: tmp_path / f"s{k}.twinlog" for k in (0, 1)}
    for k, log in logs.items():
        args = ["run", str(scenario_file), "--shard", f"{k}/2", "--until", "1d"]
        assert main([*args, "--log", str(log), "--quiet"]) == 0
        out = capsys.readouterr().out
        if k == 0:
            assert "scenario demo-shardable  seed 42  shard 0/2" in out
            assert "PFLOPS" in out and "spares left" in out and "flights " in out
            continue
        assert "shard 1/2: its own satellites only" in out
        assert "in shard 0's log" in out
        assert "None" not in out and "PFLOP" not in out and "spares left" not in out
        assert main(["state", str(log)]) == 0
        assert "a shard's log: its own satellites only" in capsys.readouterr().out
        assert main(["log", "info", str(log)]) == 0
        info = capsys.readouterr().out
        assert "None" not in info and "shard 0's, whose log has the scenario and seed" in info
        assert main([*args, "--log", str(log), "--quiet", "--force", "--json"]) == 0
        data = json.loads(capsys.readouterr().out)
        assert data["shard"] == {
            "shard": "1/2",
            "run_level_events": False,
            "run_level_facts_in": "shard 0's log",
        }


@pytest.mark.parametrize(
    ("cut", "count", "needle"),
    [
        (None, 2, "[workload]"),  # the demo as shipped
        ("robots", 2, "[repair] robots"),
        ("ok", 9, "8 shard unit(s)"),
    ],
)
def test_scenarios_that_share_across_shards_are_refused(cut: str | None, count: int,
                                                        needle: str) -> None:  # fmt: skip
    text = (REPO / "scenarios" / "demo.toml").read_text()
    if cut == "robots":
        text = text.split("\n[workload]")[0]
    elif cut == "ok":
        text = shardable_text()
    config = config_from_scenario(parse_scenario(text, "demo.toml"))
    with pytest.raises(InputError) as err:
        check_shardable(config, count)
    assert needle in str(err.value)
    if cut == "robots":  # the error names the fix
        assert 'spares_per = "pool"' in str(err.value)
    check_shardable(config, 1)  # one shard is the unsharded run


def test_robots_with_stock_per_pool_are_sharded_by_pool() -> None:
    config = config_from_scenario(parse_scenario(pool_spares_text(), "pool.toml"))
    check_shardable(config, 8)
    with pytest.raises(InputError, match="8 shard unit"):
        check_shardable(config, 9)
    fleet_wide = pool_spares_text().replace('spares_per = "pool"\n', "")
    with pytest.raises(InputError, match="fleet-wide stock"):
        check_shardable(config_from_scenario(parse_scenario(fleet_wide, "fleet.toml")), 2)


def test_cli_refuses_with_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code = main(["run", "demo", "--shards", "2", "--log", str(tmp_path / "x.twinlog")])
    assert code == 2  # noqa: PLR2004
    err = capsys.readouterr().err
    assert "--shards" in err and "[workload]" in err
    assert not (tmp_path / "x.twinlog").exists()
    for bad in ("2/2", "1", "a/b", "-1/3"):
        assert main(["run", "demo", "--shard", bad]) == 2  # noqa: PLR2004
        assert "--shard" in capsys.readouterr().err
    assert parse_shard("1/4") == Shard(1, 4)


def test_every_event_of_a_run_revalidates(scenario_file: Path) -> None:
    """The engine builds events without re-validation (its types are guaranteed): every
    one of them must still pass the models' validation and round-trip the codec."""
    config = config_from_scenario(
        parse_scenario(scenario_file.read_text(), str(scenario_file)), until_s=2 * 86400.0
    )
    out: list[ev.EventBase] = []
    engine = Engine(config, 3, out.append)
    engine.start()
    engine.run()
    engine.finish()
    assert len(out) > 1000  # noqa: PLR2004
    for event in out:
        again = type(event).model_validate(event.model_dump())
        assert again == event
        assert ev.decode(ev.encode(event)) == event


def _read_partitions(bootstrap: str, topic: str) -> dict[int, list[ev.EventBase]]:
    """Every record of the topic, decoded (validated), per partition in partition order."""
    import time

    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        ends = consumer.end_offsets(tps)
        got: dict[int, list[ev.EventBase]] = {tp.partition: [] for tp in tps}
        deadline = time.monotonic() + 300  # a hang, not a speed check
        while any(consumer.position(tp) < ends[tp] for tp in tps):
            assert time.monotonic() < deadline, "could not read the topic back"
            for tp, records in consumer.poll(timeout_ms=500).items():
                got[tp.partition] += [ev.decode(r.value) for r in records]
        return got
    finally:
        consumer.close()


@pytest.mark.kafka
def test_shards_on_one_topic_fold_partition_exactly(
    kafka_bootstrap: str,
    scenario_file: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Two shards publish to one topic as two hosts would: offsets unique, every partition
    one shard's in sim-time order, and the partitions' folds merge to the unsharded fold."""
    import uuid

    from services.kafka.publisher import Publisher

    topic = f"shards-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("TWIN_KAFKA_PARTITIONS", "4")
    for k in (1, 0):  # any order: the shards never talk
        kafka = ["--bootstrap-server", kafka_bootstrap, "--topic", topic]
        run_log(scenario_file, tmp_path / f"shard{k}.twinlog", "--shard", f"{k}/2", *kafka)
    # a shard that already ran is refused before simulating
    code = main(["run", str(scenario_file), "--shard", "1/2", "--log", str(tmp_path / "x"),
                 "--bootstrap-server", kafka_bootstrap, "--topic", topic])  # fmt: skip
    assert code == 2 and "already holds" in capsys.readouterr().err  # noqa: PLR2004
    parts = _read_partitions(kafka_bootstrap, topic)
    offsets = [e.offset for events in parts.values() for e in events]
    assert len(offsets) == len(set(offsets))  # unique across shards
    for p, events in parts.items():
        assert events, p
        assert {e.offset % 2 for e in events} == {p % 2}  # one shard's partition
        assert [e.offset for e in events] == sorted(e.offset for e in events)
        assert [e.sim_time for e in events] == sorted(e.sim_time for e in events)
    merged = summary(FleetState.merge([fold(events) for events in parts.values()]))
    whole = tmp_path / "whole.twinlog"
    run_log(scenario_file, whole)
    expected = summary(folded(whole))
    assert len(offsets) == len(SqliteEventLog(whole))
    merged.pop("position"), expected.pop("position")
    assert merged == expected

    # read back as one log: `twin replay` folds it to the run's state; `twin log import`
    # writes the log `twin run --shards 2` writes, event for event (their one difference:
    # the topic's scenario_finished is shard 0's, counting its own events and satellites)
    capsys.readouterr()
    assert main(["replay", "--bootstrap-server", kafka_bootstrap, "--topic", topic,
                 "--json"]) == 0  # fmt: skip
    replayed = json.loads(capsys.readouterr().out)
    assert main(["state", str(whole), "--json"]) == 0
    plain = json.loads(capsys.readouterr().out)
    replayed.pop("position"), plain.pop("position")
    assert replayed == plain
    imported = tmp_path / "imported.twinlog"
    assert main(["log", "import", "--from-topic", topic, "--bootstrap-server", kafka_bootstrap,
                 "--log", str(imported)]) == 0  # fmt: skip
    local = tmp_path / "local.twinlog"
    run_log(scenario_file, local, "--shards", "2")
    got, want = list(SqliteEventLog(imported).read()), list(SqliteEventLog(local).read())
    assert [e.type for e in got[-1:]] == [e.type for e in want[-1:]] == ["scenario_finished"]
    assert [ev.encode(e) for e in got[:-1]] == [ev.encode(e) for e in want[:-1]]
    assert summary(folded(imported)) | {"position": None} == expected | {"position": None}
    capsys.readouterr()
    assert main(["log", "info", "--bootstrap-server", kafka_bootstrap, "--topic", topic,
                 "--json"]) == 0  # fmt: skip
    info = json.loads(capsys.readouterr().out)
    assert info["count"] == len(want) and info["scenario"] == "demo-shardable"
    assert (info["first_sim_time"], info["last_sim_time"]) == (want[0].sim_time, want[-1].sim_time)
    # a shard's host that has not published yet, or stopped part-way: the topic is not
    # read as the whole run
    half = f"{topic}-half"
    run_log(scenario_file, tmp_path / "half.twinlog", "--shard", "1/2",
            "--bootstrap-server", kafka_bootstrap, "--topic", half)  # fmt: skip
    capsys.readouterr()
    assert main(["replay", "--bootstrap-server", kafka_bootstrap, "--topic", half]) != 0
    assert "no events from shard(s) 0/2" in capsys.readouterr().err
    shard0 = [e for e in parts[0] + parts[2]]  # shard 0's events, as it published them
    publisher = Publisher.connect(kafka_bootstrap, topic=half)
    publisher.for_shard(Shard(0, 2))
    publisher.publish([e for e in shard0 if e.offset < shard0[len(shard0) // 2].offset])
    publisher.flush()
    publisher.abandon()  # the shard's process died here: no record is marked as its last
    capsys.readouterr()
    assert main(["replay", "--bootstrap-server", kafka_bootstrap, "--topic", half]) != 0
    err = capsys.readouterr().err
    assert "shard 0/2 has not finished publishing" in err, err
    # shards of two runs (another seed) on one topic: named as such
    mixed = f"{topic}-mixed"
    for k, seed in ((0, "3"), (1, "4")):
        run_log(scenario_file, tmp_path / f"mixed{k}.twinlog", "--shard", f"{k}/2", "--seed",
                seed, "--bootstrap-server", kafka_bootstrap, "--topic", mixed)  # fmt: skip
    capsys.readouterr()
    assert main(["replay", "--bootstrap-server", kafka_bootstrap, "--topic", mixed]) != 0
    err = capsys.readouterr().err
    assert "holds shards of different runs" in err and "0/2" in err and "1/2" in err, err


def test_partitions_not_a_multiple_of_the_shards_warn_but_work() -> None:
    from services.cli.run import uneven_partitions_warning

    assert uneven_partitions_warning("t", 12, Shard(1, 4)) is None
    warning = uneven_partitions_warning("t", 5, Shard(0, 2))
    assert warning is not None
    assert "5 partitions, not a multiple of the 2 shards" in warning
    assert "(this one 3)" in warning and "TWIN_KAFKA_PARTITIONS" in warning


@pytest.mark.kafka
def test_a_shard_on_a_topic_with_uneven_partitions_warns_and_publishes(
    kafka_bootstrap: str,
    scenario_file: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """3 partitions for 2 shards: shard 1 writes partition 1 only, shard 0 partitions 0 and 2;
    the run goes on with a warning naming TWIN_KAFKA_PARTITIONS."""
    import uuid

    topic = f"uneven-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("TWIN_KAFKA_PARTITIONS", "3")
    kafka = ["--bootstrap-server", kafka_bootstrap, "--topic", topic]
    log = tmp_path / "shard1.twinlog"
    run_log(scenario_file, log, "--shard", "1/2", "--until", "2h", *kafka)
    err = capsys.readouterr().err
    assert "3 partitions, not a multiple of the 2 shards" in err and "(this one 1)" in err
    parts = _read_partitions(kafka_bootstrap, topic)
    assert [p for p, events in parts.items() if events] == [1]
    assert sum(map(len, parts.values())) == len(SqliteEventLog(log))


def test_background_fold_folds_what_it_is_sent_and_reports_a_failure(
    scenario_file: Path,
) -> None:
    """`twin run`'s batch path: the fold process decodes and folds the batches it is sent
    into the summary of the whole run's fold, and a batch out of order fails the run with
    an error naming the gap (at the next send or at the summary)."""
    config = config_from_scenario(parse_scenario(scenario_file.read_text(), "s.toml"))
    events = simulate(config, 3)
    raws = [ev.encode(e) for e in events]
    background = BackgroundFold()
    for i in range(0, len(raws), 997):
        background.send(raws[i : i + 997])
    folded = background.summary()
    assert json.loads(json.dumps(folded, sort_keys=True)) == summary(fold(events))

    background = BackgroundFold()
    background.send(raws[:10])
    background.send(raws[20:30])  # a gap: the fold expects the next seq of each stream
    with pytest.raises(InfraError, match="fold failed.*gap"):
        background.send(raws[30:40])
        background.summary()

    # a fold process killed (the OOM killer) fails the run at the next send, as InfraError
    background = BackgroundFold()
    background.send(raws[:10])
    os.kill(background._proc.pid or 0, signal.SIGKILL)
    background._proc.join()
    with pytest.raises(InfraError, match="fold process stopped.*retrying may help"):
        for _ in range(100):  # the pipe holds a few batches before a send notices
            background.send(raws[10:2000])


def test_an_infra_error_in_a_sink_reaches_the_caller_intact(scenario_file: Path) -> None:
    """SimPy re-raises a process's exception rebuilt from its args: an InfraError (a full
    disk, a dead fold process) keeps its message, hint and ``retryable`` through it."""
    config = config_from_scenario(parse_scenario(scenario_file.read_text(), "s.toml"))
    seen: list[ev.EventBase] = []

    def sink(event: ev.EventBase) -> None:
        seen.append(event)
        if len(seen) == 50:
            raise InfraError("the disk is full", retryable=True)

    engine = Engine(config, 3, sink)
    engine.start()
    with pytest.raises(InfraError) as caught:
        engine.run()
    assert str(caught.value) == "the disk is full (retrying may help)"
    assert caught.value.retryable


def test_shards_end_with_their_merging_process(scenario_file: Path, tmp_path: Path) -> None:
    """kill -9 of `twin run --shards 2` (what the OOM killer does to a big run): its shard
    processes go too, at once, instead of simulating on and then waiting for ever on a pipe
    that nobody reads. The run is a year long, so shards left behind would still be
    running at the end of the wait (which only bounds a hang)."""
    import subprocess
    import sys
    import time

    log = tmp_path / "year.twinlog"
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "run", str(scenario_file), "--shards", "2",
         "--until", "365d", "--log", str(log), "--quiet"],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 600
        while len(shards := children(proc.pid)) < 2:  # noqa: PLR2004
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "the shards did not start"
            time.sleep(0.05)
        proc.kill()
        proc.wait()
        while [p for p in shards if alive(p)] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert [p for p in shards if alive(p)] == [], "shards outlived their parent"
    finally:
        if proc.poll() is None:
            proc.kill()
        for pid in children(proc.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
