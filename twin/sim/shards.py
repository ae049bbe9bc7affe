"""Sharded runs: one scenario simulated as N independent engines that never talk.

A **shard** is a set of repair domains. Satellites interact only through what they share:
a robot pool (a shell, or a plane with ``repair.robots_per = "plane"``: the engine's
``_pool_key``), the stock of spares (the fleet's, or each pool's own with
``repair.spares_per = "pool"``) and the compute service's job queue and regions. So a
scenario can be sharded when nothing is shared across its domains:

* a **unit** is a robot pool when the scenario has robots, else a plane ``(shell, plane)``
  (without robots every satellite is independent; planes keep units few and even);
* units, sorted, go to shards round-robin (unit ``i`` to shard ``i mod N``), so shards of a
  Walker constellation get equal shares of planes;
* refused (:class:`twin.errors.InputError`, exit 2): a ``[workload]`` (jobs are placed on
  any free cluster of the fleet, inference by any satellite near a region), ``[repair]``
  robots with the fleet-wide stock of spares (``spares_per = "fleet"``, the default: every
  repair takes a part from one run-level stock, so who gets the last spare depends on every
  shard; ``spares_per = "pool"`` is the fix), and more shards than units.

**Spares per pool.** With ``spares_per = "pool"`` each pool's stock is its own stream:
``spares_changed`` with ``pool`` set, keyed ``{run_id}/{pool}``
(:func:`twin.events.stream_key`), ``seq`` counted by the pool's stock (``twin.sim.engine.SpareStock``). The
pool is one unit, so exactly one shard simulates it and emits its whole stream: gap-free,
and the same events with the same ``seq`` as the unsharded run's. The initial stock of the
whole fleet (``scenario_started.spares`` = ``spares_initial`` × pools, with
``spares_pools``) and its robots are counted by shard 0 over every pool; each shard runs
the resupplies of its own pools. In a topic fed by several hosts a pool's stream goes to
its shard's partitions like a satellite's.

What every shard does the same: the launch campaign (flights, their success draw and which
satellite leads a flight are decided over the whole fleet, so a flight split between shards
is still counted once, by its lead), random streams (seeded by ``(seed, satellite index)``),
the run id and the Sun. Only shard 0 emits run-level events (``scenario_started`` with the
whole fleet, resupplies, ``scenario_finished``): the run stream stays gap-free.

**Offsets.** Shard ``K`` of ``N`` numbers its ``j``-th event ``j·N + K`` (:meth:`Shard.offset`):
unique across shards without coordination, increasing within a shard. A topic fed by shards
on several hosts keeps these offsets (each shard writes only its own partitions, see
``services.kafka.publisher.shard_partitions``); a single log (``twin run --shards N``, or one
shard's own log) is renumbered from 0 in merge order (:func:`merge_key`: sim time, then the
wire offset), which is deterministic, so the same scenario, seed and N give the same bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from twin.errors import InputError
from twin.physics.orbits import Fleet
from twin.sim.scenario import Scenario


class EngineConfig(Protocol):
    """What sharding reads of :class:`twin.sim.engine.EngineConfig` (which imports this
    module): the scenario, the fleet and the run's name."""

    @property
    def scenario(self) -> Scenario: ...
    @property
    def fleet(self) -> Fleet: ...
    @property
    def name(self) -> str: ...


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count`` (0-based): which satellites an engine simulates and how
    it numbers its events."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if not (self.count >= 1 and 0 <= self.index < self.count):
            raise ValueError(f"shard {self.index}/{self.count}: need 0 <= K < N, N >= 1")

    def offset(self, local: int) -> int:
        """The wire offset of this shard's ``local``-th event (from 0)."""
        return local * self.count + self.index

    @property
    def owns_run(self) -> bool:
        """Shard 0 emits the run-level events."""
        return self.index == 0

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(text: str, field: str = "--shard") -> Shard:
    """``"K/N"`` → :class:`Shard`; an :class:`InputError` naming ``field`` otherwise."""
    allowed = "K/N with whole numbers 0 <= K < N, e.g. 0/4 for the first of four shards"
    try:
        k_text, n_text = text.split("/")
        k, n = int(k_text), int(n_text)
    except ValueError:
        raise InputError(f"{text!r} is not K/N", field=field, allowed=allowed) from None
    if not (n >= 1 and 0 <= k < n):
        raise InputError(f"{text!r} is out of range", field=field, allowed=allowed)
    return Shard(k, n)


def unit_keys(config: EngineConfig) -> list[tuple[int, int]]:
    """Each satellite's unit, by fleet index: its robot pool when the scenario has robots
    (``(shell, -1)`` per shell or ``(shell, plane)``), else its plane."""
    fleet = config.fleet
    repair = config.scenario.repair
    per_shell = repair is not None and repair.robots > 0 and repair.robots_per == "shell"
    return [(s, -1 if per_shell else p) for s, p in zip(fleet.shell, fleet.plane, strict=True)]


def shard_of_units(units: Sequence[tuple[int, int]], count: int) -> dict[tuple[int, int], int]:
    """Units sorted, dealt to ``count`` shards round-robin."""
    return {unit: i % count for i, unit in enumerate(sorted(set(units)))}


def members(config: EngineConfig, shard: Shard) -> list[bool]:
    """Per fleet index: does ``shard`` simulate this satellite?"""
    units = unit_keys(config)
    owner = shard_of_units(units, shard.count)
    return [owner[u] == shard.index for u in units]


def check_shardable(config: EngineConfig, count: int, field: str = "--shards") -> None:
    """Refuse (:class:`InputError`) to split a scenario whose satellites share something
    across units into ``count`` shards; one shard is always fine."""
    if count <= 1:
        return
    name = config.name
    if config.scenario.workload is not None:
        raise InputError(
            f"scenario {name!r} has a [workload]: jobs go to any free ISL cluster of the fleet "
            "and inference to any satellite near a region, so its satellites are not "
            f"independent and cannot be split into {count} shards",
            field=field,
            allowed="1 (no sharding), or a scenario without [workload]",
        )
    repair = config.scenario.repair
    if repair is not None and repair.robots > 0 and repair.spares_per != "pool":
        raise InputError(
            f"scenario {name!r} has [repair] robots with one fleet-wide stock of spares: "
            "every repair takes a spare from it (spares_changed), so who gets the last spare "
            f"depends on the whole fleet and the run cannot be split into {count} shards",
            field=field,
            allowed='1 (no sharding), or a stock per robot pool: [repair] spares_per = "pool" '
            "(spares_initial and resupply_quantity are then per pool), or no repair robots "
            "(repair.robots = 0)",
        )
    units = len(set(unit_keys(config)))
    if count > units:
        raise InputError(
            f"scenario {name!r} has {units} shard unit(s) (planes, or robot pools), fewer than "
            f"{count} shards",
            field=field,
            allowed=f"1 to {units} shards",
        )


def merge_key(sim_time: str, wire_offset: int) -> tuple[str, int]:
    """The order of a sharded run's single log: sim time (wire form, fixed width, so text
    order is time order), then the wire offset (shard-local order, then shard)."""
    return (sim_time, wire_offset)


__all__ = ["Shard", "check_shardable", "members", "merge_key", "parse_shard", "unit_keys"]
