"""The twin engine: one SimPy process per satellite, emitting typed events.

Decide, emit, apply: processes *decide* what happens (a launch, an eclipse, a fault), *emit*
a frozen event, and the engine *applies* it to the satellite's working record through the
same state machine the fold uses (:mod:`twin.lifecycle`). Nothing here writes files, reads a
wall clock or touches global random state: events go to a ``sink`` callable, randomness comes
from per-satellite ``numpy`` generators seeded from ``(seed, satellite index, stream)``, so the
same scenario and seed give the same events in the same order whatever else runs.

Per satellite, two processes:

* the **lifecycle** process: launch → deployed → raising → commissioning → operational, then a
  loop waiting for the next permanent failure (Weibull per component), transient upset
  (Poisson, thinned by the South Atlantic Anomaly) or end of life, with reboots, repair-robot
  visits and deorbit;
* the **shadow** process: walks the satellite's eclipse passes (computed for the whole fleet
  per window by :func:`twin.physics.eclipses.eclipse_table`), integrates the battery exactly between
  events (piecewise-constant power) and sheds compute at the instant the depth-of-discharge
  floor is reached (closed form, :meth:`twin.physics.power.Battery.time_to_floor_s`); compute comes
  back at shadow exit. A change of load (fault, reboot, repair) in shadow interrupts it so the
  floor time is recomputed.

Shadow here is penumbra entry to penumbra exit. The array's output over a pass is constant at
the pass's mean visible share of the solar disc (:func:`twin.physics.eclipses.mean_illumination`):
the pass's array energy is exact, its timing inside the pass is not resolved (in LEO the
penumbra phases are ~9 s of a ~35 min pass). The Earth is the WGS-84 ellipsoid unless the
scenario asks for the spherical dual cone (``[scenario] shadow``). Energy is accounted from
deployment for every satellite (``deployed`` carries telemetry). Eclipses use each
satellite's operational orbit from deployment on (orbit raising below it is not propagated
separately).
"""

from __future__ import annotations

import abc
import hashlib
import math
from array import array
from collections import deque
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import simpy

from twin import events as ev
from twin.constants import (
    AU_KM,
    EARTH_RADIUS_KM,
    J2,
    MU_KM3_S2,
    SECONDS_PER_DAY,
    SECONDS_PER_HOUR,
    SECONDS_PER_YEAR,
    WGS84_FLATTENING,
)
from twin.errors import IllegalTransition
from twin.lifecycle import COMPUTING, TERMINAL, TRANSITIONS, State, check, target
from twin.physics.geometry import gmst_rad, teme_to_ecef
from twin.physics.orbits import Fleet, sso_inclination_deg
from twin.physics.power import Battery, Bus, power_budget
from twin.physics.sun import sun_distance_km
from twin.sim.campaign import LaunchPlan, launch_plan
from twin.sim.passes import PassesFunction, PassWindow, window_passes
from twin.sim.scenario import (
    ComponentReliability,
    Repair,
    Scenario,
    WalkerShell,
    build_fleet,
    phasing_drift_deg_per_day,
    split_upset_rate,
)
from twin.sim.shards import Shard, check_shardable, members, unit_keys
from twin.sim.workload import WorkloadService
from twin.timeutil import SimClock, format_sim, format_time, julian_dates

#: Rough South Atlantic Anomaly box at LEO altitudes (geodetic), used to thin upsets.
SAA_LAT_DEG = (-50.0, 0.0)
SAA_LON_DEG = (-90.0, 40.0)

_NO_LAUNCH_VEHICLE = "launcher"
"""The vehicle named in ``launched`` events when a scenario has no ``[launch]`` section."""

Sink = Callable[[ev.EventBase], None]


class WireSink(abc.ABC):
    """A sink that keeps only the codec's bytes. An engine given one (a subclass: the
    choice is explicit, made when the engine is built) never builds the event: it hands
    the sink ``wire(raw, etype, fields)``, the bytes encoded from the event's values
    (:func:`twin.events.encode_fields`), its type and those values, envelope included
    (``offset``, ``sim_time``, ``run_id``; ``satellite`` for a satellite's event), so a
    log row needs no decoding; ``fields`` is the sink's to read, not to keep or change.
    ``__call__`` takes an event for code that has one."""

    @abc.abstractmethod
    def __call__(self, event: ev.EventBase) -> None: ...

    @abc.abstractmethod
    def wire(self, raw: bytes, etype: str, fields: Mapping[str, Any]) -> None: ...


ProcessGen = Generator[simpy.Event, Any, None]


# ------------------------------------------------------------------------ configuration


@dataclass(frozen=True)
class RobotTravel:
    """How fast a repair robot drifts to a satellite (derived once from ``[repair]``).

    In-plane phasing from its altitude offset (:func:`twin.sim.scenario.phasing_drift_deg_per_day`)
    and, between planes, differential J2 nodal precession (:func:`nodal_drift_deg_per_day`),
    both at the first shell's altitude and inclination.
    """

    phasing_drift_deg_per_day: float
    nodal_drift_deg_per_day: float


@dataclass(frozen=True)
class EngineConfig:
    """What the engine runs: the validated scenario itself, plus what is derived from it
    once (the fleet, the shells' summary for ``scenario_started``, the bus's power model and
    the robots' travel rates). Built by :func:`config_from_scenario`, the one mapping from a
    scenario to the engine; the engine reads every other setting from ``scenario``'s own
    sections (``launch``, ``reliability``, ``repair``, ``end_of_life``, ``bus``)."""

    scenario: Scenario
    until_s: float
    fleet: Fleet
    shells: tuple[ev.ShellInfo, ...]
    bus: Bus
    """:attr:`Scenario.bus` as the power model (:class:`twin.physics.power.Bus`)."""
    travel: RobotTravel | None
    """``None`` when the scenario has no ``[repair]`` section."""
    launch_plan: LaunchPlan | None = None
    """The launch campaign (:func:`twin.sim.campaign.launch_plan`); ``None`` without
    ``[launch]``."""
    eclipse_window_s: float = SECONDS_PER_DAY
    fingerprint: str = ""
    """Content hash of the scenario; part of the run id."""

    @property
    def name(self) -> str:
        return self.scenario.scenario.name

    @property
    def epoch(self) -> datetime:
        return self.scenario.scenario.epoch


# ------------------------------------------------------------------------ working records


@dataclass(frozen=True, slots=True)
class PassBlock:
    """One window's shadow passes for the whole fleet, as columns (``array`` of C doubles and
    bytes: 25 bytes a pass, where a tuple of Python floats took ~170), rows grouped by
    satellite in time order. Each satellite holds its row range; the block is freed when
    every satellite has walked past it."""

    enter: array[float]
    leave: array[float]
    umbra: array[int]
    illumination: array[float]


@dataclass(slots=True)
class Sat:
    """The engine's working record of one satellite (not shared outside the engine)."""

    index: int
    id: str
    shell: int
    plane: int
    raan_deg: float
    phase_deg: float
    seed: int
    launch_s: float
    launch_id: int
    launch_ok: bool
    preflown: bool = False
    flight_lead: bool = False
    """In service at the epoch: its launch events are all emitted at t = 0."""
    state: State = State.PLANNED
    seq: int = 0
    in_shadow: bool = False
    soc: float = 1.0
    t_soc: float = 0.0
    generated_w: float = 0.0
    consumed_w: float = 0.0
    compute_online: int = 0
    deployed_s: float = math.inf
    fail_at_s: dict[str, float] = field(default_factory=dict)
    passes: list[tuple[PassBlock, int, int]] = field(default_factory=list)
    """The satellite's shadow passes not yet walked: ``(block, first row, end row)`` per
    window, rows of the window's :class:`PassBlock` (a few bytes per satellite, however many
    passes it has)."""
    illumination: float = 1.0
    """Mean share of the solar disc visible during the current shadow pass (1 in sunlight)."""
    shadow_proc: simpy.Process | None = None
    shadow_waiting: bool = False
    _rng: np.random.Generator | None = None

    @property
    def rng(self) -> np.random.Generator:
        """The satellite's own stream, seeded by ``(seed, 1, index)``; made on first use
        (seeding costs ~30 µs, and a satellite launched after the horizon never draws)."""
        rng = self._rng
        if rng is None:
            rng = self._rng = np.random.default_rng([self.seed, 1, self.index])
        return rng


@dataclass
class Robot:
    name: str
    raan_deg: float
    phase_deg: float


class SpareStock:
    """A stock of spare parts: the fleet's (``repair.spares_per = "fleet"``, ``name`` None)
    or one robot pool's (``"pool"``, ``name`` the pool's).

    A repair takes one part (:meth:`take`, an event that succeeds when it has it), first come
    first served, waiting while the stock is out; a resupply (:meth:`add`) serves the waiting
    repairs at once. Each change is reported (``report(stock, change, cause)``) at the
    instant it is decided, with :attr:`level` already changed, so a stock's reports chain
    exactly: every ``spares_left`` is the previous one plus its ``change``. ``seq`` is the
    last sequence number of a pool's stream (the fleet's stock counts in the run's).
    """

    def __init__(
        self,
        env: simpy.Environment,
        name: str | None,
        level: int,
        report: Callable[[SpareStock, int, str], None],
    ) -> None:
        self.env = env
        self.name = name
        self.level = level
        self.seq = 0
        self._report = report
        self._waiting: deque[simpy.Event] = deque()

    def take(self) -> simpy.Event:
        event = self.env.event()
        if self.level > 0 and not self._waiting:
            self._give(event)
        else:
            self._waiting.append(event)
        return event

    def add(self, quantity: int) -> None:
        self.level += quantity
        self._report(self, quantity, "resupply")
        while self._waiting and self.level > 0:
            self._give(self._waiting.popleft())

    def _give(self, event: simpy.Event) -> None:
        self.level -= 1
        self._report(self, -1, "repair")
        event.succeed()


class RobotPool:
    """Repair robots serving one shell or plane: a SimPy resource with a dispatch policy.

    A request is a SimPy event that succeeds with ``(robot, waited_s)`` when a robot is
    assigned. ``fifo`` serves the longest-waiting satellite; ``nearest`` the waiting
    satellite the freed robot reaches soonest. Travel follows the phasing model: in-plane
    drift at ``phasing_drift_deg_per_day`` (from a small altitude offset) plus, between
    planes, differential nodal precession at ``nodal_drift_deg_per_day`` (plane changes by
    thrust cost ~131 m/s per degree and are not used).
    """

    def __init__(
        self,
        env: simpy.Environment,
        name: str,
        robots: list[Robot],
        repair: Repair,
        travel: RobotTravel,
        stock: SpareStock,
    ):
        self.env = env
        self.name = name
        self.stock = stock
        """Where its robots take spares: the fleet's stock, or the pool's own."""
        self.idle: list[Robot] = robots
        self.repair = repair
        self.rates = travel
        self.waiting: list[tuple[Sat, simpy.Event, float]] = []

    def travel(self, robot: Robot, sat: Sat) -> tuple[float, float]:
        """Travel time (s) and in-plane phase gap (deg) from ``robot`` to ``sat``."""
        gap = abs(sat.phase_deg - robot.phase_deg) % 360.0
        gap = min(gap, 360.0 - gap)
        dnode = abs(sat.raan_deg - robot.raan_deg) % 360.0
        dnode = min(dnode, 360.0 - dnode)
        days = gap / self.rates.phasing_drift_deg_per_day
        if dnode > 1e-6:
            days += dnode / self.rates.nodal_drift_deg_per_day
        return days * SECONDS_PER_DAY, gap

    def request(self, sat: Sat) -> simpy.Event:
        event = self.env.event()
        if self.idle:
            robot = min(self.idle, key=lambda r: (self.travel(r, sat)[0], r.name))
            self.idle.remove(robot)
            event.succeed((robot, 0.0))
        else:
            self.waiting.append((sat, event, self.env.now))
        return event

    def release(self, robot: Robot) -> None:
        if not self.waiting:
            self.idle.append(robot)
            return
        if self.repair.dispatch == "nearest":
            i = min(
                range(len(self.waiting)),
                key=lambda k: (self.travel(robot, self.waiting[k][0])[0], k),
            )
        else:
            i = 0
        sat, event, since = self.waiting.pop(i)
        event.succeed((robot, self.env.now - since))


def nodal_drift_deg_per_day(altitude_km: float, inclination_deg: float, offset_km: float) -> float:
    """Differential J2 nodal precession, °/day, between circular orbits ``offset_km`` apart.

    Ω̇ = −1.5·n·J2·(R/a)²·cos i; a robot parked ``offset_km`` above or below a shell drifts
    in RAAN relative to it for free (530 vs 550 km at 53°: ~0.4°/day, ~40° in 3 months).
    """

    def rate(a_km: float) -> float:
        n = math.sqrt(MU_KM3_S2 / a_km**3)
        return (
            -1.5 * n * J2 * (EARTH_RADIUS_KM / a_km) ** 2 * math.cos(math.radians(inclination_deg))
        )

    a = EARTH_RADIUS_KM + altitude_km
    return abs(math.degrees(rate(a) - rate(a + offset_km))) * SECONDS_PER_DAY


def _mean_altitude_km(satrec: Any) -> float:
    n_rad_s = satrec.no_kozai / 60.0
    return float((MU_KM3_S2 / n_rad_s**2) ** (1.0 / 3.0) - EARTH_RADIUS_KM)


def config_from_scenario(
    scenario: Scenario, *, until_s: float | None = None, fleet: Fleet | None = None
) -> EngineConfig:
    """Map a validated scenario to the engine's configuration (the one place this happens).

    ``until_s`` defaults to the scenario's ``duration``; ``fleet`` to
    :func:`twin.sim.scenario.build_fleet` (pass it when already built).
    """
    fleet = fleet if fleet is not None else build_fleet(scenario)
    shells = _shell_infos(scenario, fleet)
    b = scenario.bus
    bus = Bus(
        array_area_m2=b.array_area_m2,
        array_efficiency=b.array_efficiency,
        battery=Battery(b.battery_wh, b.max_depth_of_discharge),
        bus_idle_w=b.bus_idle_w,
        accelerators=b.accelerators,
        accelerator_w=b.accelerator_w,
        radiator_area_m2=b.radiator_area_m2,
        radiator_emissivity=b.radiator_emissivity,
        radiator_temperature_k=b.radiator_temperature_k,
        radiator_absorptivity=b.radiator_absorptivity,
    )
    travel = None
    if scenario.repair is not None:
        altitude_km = shells[0].altitude_km if shells else 550.0
        inclination_deg = shells[0].inclination_deg if shells else 53.0
        offset_km = scenario.repair.altitude_offset_km
        travel = RobotTravel(
            phasing_drift_deg_per_day=phasing_drift_deg_per_day(altitude_km, offset_km),
            nodal_drift_deg_per_day=nodal_drift_deg_per_day(
                altitude_km, inclination_deg, offset_km
            ),
        )
    return EngineConfig(
        scenario=scenario,
        until_s=scenario.scenario.duration_s if until_s is None else until_s,
        fleet=fleet,
        shells=shells,
        bus=bus,
        travel=travel,
        launch_plan=launch_plan(scenario, len(fleet)),
        fingerprint=hashlib.sha256(scenario.model_dump_json().encode()).hexdigest(),
    )


def _shell_infos(scenario: Scenario, fleet: Fleet) -> tuple[ev.ShellInfo, ...]:
    """The shells as ``scenario_started`` reports them; a constellation file's satellites
    form the last shell, described by their median altitude and inclination."""
    shells = []
    for i, shell in enumerate(scenario.constellation.shells):
        incl = (
            shell.inclination_deg
            if isinstance(shell, WalkerShell)
            else sso_inclination_deg(shell.altitude_km)
        )
        shells.append(
            ev.ShellInfo(
                shell=i,
                kind=shell.kind,
                altitude_km=shell.altitude_km,
                inclination_deg=round(incl, 4),
                planes=shell.planes,
                sats_per_plane=shell.sats_per_plane,
            )
        )
    if scenario.constellation.file is not None:
        members = [k for k, s in enumerate(fleet.shell) if s == len(shells)]
        alt = [_mean_altitude_km(fleet.satrecs[k]) for k in members]
        incls = [math.degrees(fleet.satrecs[k].inclo) for k in members]
        shells.append(
            ev.ShellInfo(
                shell=len(shells),
                kind="file",
                altitude_km=round(float(np.median(alt)), 1) if alt else 0.0,
                inclination_deg=round(float(np.median(incls)), 4) if incls else 0.0,
                planes=0,
                sats_per_plane=0,
            )
        )
    return tuple(shells)


_construct = ev.construct
_encode_fields = ev.encode_fields


def _telemetry(values: dict[str, Any]) -> ev.Telemetry:
    """A :class:`twin.events.Telemetry` from all five of its values, in schema order (the
    engine's hot path: :func:`twin.events.construct` without the defaults to fill)."""
    obj = _new_model(ev.Telemetry)
    _set_attr(obj, "__dict__", values)
    _set_attr(obj, "__pydantic_fields_set__", set(_TELEMETRY_FIELDS))
    _set_attr(obj, "__pydantic_extra__", None)
    _set_attr(obj, "__pydantic_private__", None)
    return obj


_new_model = object.__new__
_set_attr = object.__setattr__
_TELEMETRY_FIELDS = frozenset(ev.Telemetry.model_fields)
_TYPE_OF: dict[type[ev.EventBase], str] = {cls: name for name, cls in ev.EVENT_TYPES.items()}
#: Event classes that carry a telemetry snapshot (a set lookup: issubclass on pydantic models
#: goes through ABCMeta).
_WITH_TELEMETRY = frozenset(
    c for c in ev.EVENT_TYPES.values() if issubclass(c, ev._WithTelemetry) or c is ev.Deployed
)


def _legal_targets() -> dict[tuple[str, State, bool], State]:
    """Every legal (event type, state, in shadow after) -> new state, from the state machine:
    the engine decides every event's transition with one dict lookup instead of a call into
    :func:`twin.lifecycle.check` (which it still calls to name an illegal transition)."""
    return {
        (etype, state, shadow): target(etype, state, shadow)
        for etype, (sources, _) in TRANSITIONS.items()
        for state in sources
        for shadow in (False, True)
    }


_TARGETS = _legal_targets()


def _stopped(sat: Sat) -> bool:
    """Deorbiting or gone: no more eclipses are tracked for it."""
    return sat.state in _STOPPED


_STOPPED = TERMINAL | {State.DEORBITING}


def run_id_for(config: EngineConfig, seed: int) -> str:
    """Deterministic run id: a hash of the scenario content, seed and horizon."""
    h = hashlib.sha256(f"{config.fingerprint}|{config.name}|{seed}|{config.until_s}".encode())
    return "run-" + h.hexdigest()[:12]


# ------------------------------------------------------------------------ the engine


class Engine:
    """Simulates a scenario and sends every event to ``sink`` in log order.

    ``env`` defaults to a plain (as-fast-as-possible) :class:`simpy.Environment`; the live
    mode passes a wall-clock-paced subclass from ``services``. ``shard`` simulates only that
    shard's satellites (:mod:`twin.sim.shards`): its events are numbered with the shard's
    wire offsets, and only shard 0 emits run-level events. ``passes`` computes each eclipse
    window's shadow passes (:func:`twin.sim.passes.window_passes` in this process by default;
    the services layer may inject one that splits the window over processes: the result
    must be the same, bit for bit).
    """

    def __init__(
        self,
        config: EngineConfig,
        seed: int,
        sink: Sink,
        env: simpy.Environment | None = None,
        shard: Shard | None = None,
        passes: PassesFunction = window_passes,
    ) -> None:
        if shard is not None:
            check_shardable(config, shard.count)
        self.cfg = config
        self.shard = shard
        self._stride, self._first = (shard.count, shard.index) if shard else (1, 0)
        self._owns_run = shard is None or shard.owns_run
        self.seed = seed
        self.sink = sink
        self._wire = sink.wire if isinstance(sink, WireSink) else None
        self.passes = passes
        self.env = env if env is not None else simpy.Environment()
        self.run_id = run_id_for(config, seed)
        self.clock = SimClock(config.epoch)
        self._time_s = math.nan  # the sim time _time_text was formatted for
        self._time_text = ""
        self.offset = 0
        self.run_seq = 0
        self.counts: dict[State, int] = {s: 0 for s in State}
        self.window_ready = self.env.event()
        self.sun_au = 1.0
        self._gen_sun_w = 0.0
        self._capacity_wh = config.bus.battery.capacity_wh
        self._battery = config.bus.battery
        self._degradation_rate = config.scenario.bus.array_degradation_per_year
        self._compute_sun = 0
        self.sats = self._make_sats()
        self.counts[State.PLANNED] = len(self.sats)
        repair = config.scenario.repair
        self.spares_per_pool = repair is not None and repair.spares_per == "pool"
        # pools over the whole fleet (a shard simulates some of them); robots and a pool's
        # stock exist only when there are robots
        with_robots = repair is not None and repair.robots > 0
        self.pools_whole_fleet = len(set(unit_keys(config))) if with_robots else 0
        fleet_spares = repair.spares_initial if repair is not None else 0
        self.spares = SpareStock(
            self.env, None, 0 if self.spares_per_pool else fleet_spares, self._spares_changed
        )
        self.pools = self._make_pools()
        self._finished = False
        workload = config.scenario.workload
        self.workload = WorkloadService(self, workload) if workload is not None else None
        self.saa_time_fraction = 0.0
        self._upset_rate_in_saa_per_s = 0.0
        upsets = config.scenario.reliability.upsets
        if upsets.rate_per_sat_day > 0:
            self.saa_time_fraction = self._saa_fraction()
            _, self._upset_rate_in_saa_per_s = split_upset_rate(
                upsets.rate_per_sat_day / SECONDS_PER_DAY,
                upsets.saa_multiplier,
                self.saa_time_fraction,
            )

    # -- set-up ---------------------------------------------------------------------------

    def _rng(self, *key: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, *key])

    def _make_sats(self) -> list[Sat]:
        fleet, plan = self.cfg.fleet, self.cfg.launch_plan
        launch_rng = self._rng(0xA11CE)
        if plan is None:  # no launch campaign: every satellite is in service at the epoch
            preflown, per_launch, first_s, cadence_s, p_fail = len(fleet), 1, 0.0, 0.0, 0.0
            n_launches = 0
        else:
            preflown, per_launch = plan.in_orbit_at_epoch, plan.sats_per_flight
            first_s, cadence_s = plan.first_launch_s, plan.cadence_s
            p_fail = self.cfg.scenario.launch.failure_probability  # type: ignore[union-attr]
            n_launches = plan.flights
        ok = launch_rng.random(n_launches) >= p_fail
        mine = members(self.cfg, self.shard) if self.shard is not None else None
        sats = []
        for i, satrec in enumerate(fleet.satrecs):
            if mine is not None and not mine[i]:
                continue  # another shard's: the campaign is still laid out over the fleet
            k = (i - preflown) // per_launch
            sats.append(
                Sat(
                    index=i,
                    id=fleet.names[i],
                    shell=fleet.shell[i],
                    plane=fleet.plane[i],
                    raan_deg=math.degrees(satrec.nodeo) % 360.0,
                    phase_deg=math.degrees(satrec.argpo + satrec.mo) % 360.0,
                    seed=self.seed,
                    launch_s=first_s + k * cadence_s if i >= preflown else 0.0,
                    launch_id=k + 1 if i >= preflown else 0,
                    launch_ok=bool(ok[k]) if i >= preflown else True,
                    preflown=i < preflown,
                    flight_lead=i >= preflown and (i - preflown) % per_launch == 0,
                )
            )
        return sats

    def _pool_key(self, sat: Sat) -> tuple[int, int]:
        repair = self.cfg.scenario.repair
        per_plane = repair is not None and repair.robots_per == "plane"
        return (sat.shell, sat.plane if per_plane else -1)

    def _make_pools(self) -> dict[tuple[int, int], RobotPool]:
        repair, travel = self.cfg.scenario.repair, self.cfg.travel
        if repair is None or travel is None:
            return {}
        members: dict[tuple[int, int], list[Sat]] = {}
        for sat in self.sats:
            members.setdefault(self._pool_key(sat), []).append(sat)
        pools = {}
        for key, sats in sorted(members.items()):
            n = repair.robots
            name = f"R{key[0]}" + (f"-P{key[1]:02d}" if key[1] >= 0 else "")
            # spread the robots evenly over the pool's satellite slots
            robots = [
                Robot(
                    name=f"{name}-{j}",
                    raan_deg=sats[(j * len(sats)) // n].raan_deg,
                    phase_deg=sats[(j * len(sats)) // n].phase_deg,
                )
                for j in range(n)
            ]
            stock = self.spares
            if self.spares_per_pool and n > 0:
                stock = SpareStock(self.env, name, repair.spares_initial, self._spares_changed)
            pools[key] = RobotPool(self.env, name, robots, repair, travel, stock)
        return pools

    @property
    def robots_total(self) -> int:
        """Robots of the whole fleet (a shard simulates only its pools' robots)."""
        repair = self.cfg.scenario.repair
        return repair.robots * self.pools_whole_fleet if repair is not None else 0

    @property
    def spares_initial_total(self) -> int:
        """Spares at the start: the fleet's stock, or the sum over every pool's."""
        repair = self.cfg.scenario.repair
        if repair is None:
            return 0
        pools = self.pools_whole_fleet if self.spares_per_pool else 1
        return repair.spares_initial * pools

    # -- emission -------------------------------------------------------------------------

    def _time(self) -> str:
        """The wire time of ``env.now``, formatted once per distinct simulation time (events
        often share one: an eclipse exit and the load restore it triggers, the fleet at t=0)."""
        now = self.env.now
        if now != self._time_s:
            self._time_s = now
            self._time_text = self.clock.format(now)
        return self._time_text

    def _transition(self, sat: Sat, cls: type[ev.SatelliteEvent], **fields: Any) -> None:
        """Decide-emit-apply in one place: check the transition against the state machine,
        switch the satellite's state, set its power for the new state (so the telemetry
        shows the new load) and send the event."""
        etype = _TYPE_OF[cls]
        new = _TARGETS.get((etype, sat.state, sat.in_shadow))
        if new is None:  # illegal: let the state machine name it
            check(sat.id, etype, sat.state, sat.in_shadow, self._time())
            raise AssertionError("unreachable: _TARGETS disagrees with lifecycle.check")
        self._advance(sat)
        if new is not sat.state:
            counts = self.counts
            counts[sat.state] -= 1
            counts[new] += 1
            sat.state = new
        self._set_power(sat)
        if cls in _WITH_TELEMETRY:
            soc = sat.soc
            # round(x * 10**n) / 10**n, not round(x, n): a quarter of the cost (round with
            # digits goes through decimal strings) and the same value except within an ulp
            # of a tie; the run stays deterministic
            telemetry = {
                "soc": round(soc * 1e6) / 1e6,
                "power_generated_w": round(sat.generated_w * 10.0) / 10.0,
                "power_consumed_w": round(sat.consumed_w * 10.0) / 10.0,
                "compute_online": sat.compute_online,
                "stored_wh": round(soc * self._capacity_wh * 1e3) / 1e3,
            }  # schema order: the wire path writes the dict as it is
            fields["telemetry"] = telemetry if self._wire is not None else _telemetry(telemetry)
        sat.seq += 1
        fields["satellite"] = sat.id
        fields["shell"] = sat.shell
        fields["plane"] = sat.plane
        self._send_fields(cls, sat.seq, fields)
        if self.workload is not None:
            self.workload.satellite_changed(sat, etype)

    def _note(self, sat: Sat, cls: type[ev.SatelliteEvent], **fields: Any) -> None:
        """Emit a satellite event that changes neither its state nor its power (a ground
        contact), checked against the state machine like every transition."""
        etype = _TYPE_OF[cls]
        if (etype, sat.state, sat.in_shadow) not in _TARGETS:
            check(sat.id, etype, sat.state, sat.in_shadow, self._time())
        sat.seq += 1
        self._send(cls, sat.seq, satellite=sat.id, shell=sat.shell, plane=sat.plane, **fields)

    def _emit_run(self, event_cls: type[ev.EventBase], **fields: Any) -> None:
        self.run_seq += 1
        self._send(event_cls, self.run_seq, **fields)

    def _spares_changed(self, stock: SpareStock, change: int, cause: str) -> None:
        """A stock's change: the fleet's on the run's stream, a pool's on its own."""
        if stock.name is None:
            self._emit_run(ev.SparesChanged, change=change, spares_left=stock.level, cause=cause)
            return
        stock.seq += 1
        self._send(
            ev.SparesChanged,
            stock.seq,
            change=change,
            spares_left=stock.level,
            cause=cause,
            pool=stock.name,
        )

    def _send(self, cls: type[ev.EventBase], seq: int, **fields: Any) -> None:
        """Hand the sink the event with its envelope at the next log offset (built, or for a
        :class:`WireSink` only its bytes)."""
        self._send_fields(cls, seq, fields)

    def _send_fields(self, cls: type[ev.EventBase], seq: int, fields: dict[str, Any]) -> None:
        """:meth:`_send` with the event's own fields as a dict the event may take over."""
        local = self.offset
        self.offset = local + 1
        offset = local * self._stride + self._first
        run_id = self.run_id
        fields["event_id"] = run_id + "-" + str(offset).zfill(10)  # f"{offset:010d}", faster
        fields["run_id"] = run_id
        fields["seq"] = seq
        fields["offset"] = offset
        fields["sim_time"] = self._time()
        # no re-validation: the engine's values have the models' types (every event of a
        # run is re-validated in tests/test_shards.py; readers of bytes validate)
        if self._wire is not None:
            self._wire(_encode_fields(cls, fields), _TYPE_OF[cls], fields)
        else:
            self.sink(_construct(cls, fields))

    # -- power ----------------------------------------------------------------------------

    def _advance(self, sat: Sat) -> None:
        """Integrate the battery exactly from its last update to now (constant power)."""
        now = self.env.now
        dt = now - sat.t_soc
        if dt > 0.0:
            sat.soc = self._battery.soc_after_unchecked(
                sat.soc, sat.generated_w - sat.consumed_w, dt
            )
        sat.t_soc = now

    def _degradation(self, sat: Sat) -> float:
        rate = self._degradation_rate
        if rate <= 0.0:
            return 1.0
        age_years = max(self.env.now - sat.deployed_s, 0.0) / SECONDS_PER_YEAR
        return float((1.0 - rate) ** age_years)  # = power.degradation_factor, scalar

    def _set_power(self, sat: Sat) -> None:
        """Set generation and load for the satellite's current state and shadow (after
        :meth:`_advance`). In sunlight compute is capped by array output and radiators, so
        the battery never drains in the Sun; in shadow it runs on the battery."""
        bus = self.cfg.bus
        sun_w = self._gen_sun_w
        if self._degradation_rate > 0.0:
            sun_w *= self._degradation(sat)
        sat.generated_w = sun_w * sat.illumination if sat.in_shadow else sun_w
        if sat.state in COMPUTING:
            # what the (degraded) array carries in sunlight, also run on battery in shadow
            sat.compute_online = self._compute_sun
            if bus.accelerator_w > 0:
                fit = int((sun_w - bus.bus_idle_w) // bus.accelerator_w)
                sat.compute_online = max(min(sat.compute_online, fit), 0)
        else:
            sat.compute_online = 0
        sat.consumed_w = bus.bus_idle_w + sat.compute_online * bus.accelerator_w
        if sat.in_shadow and sat.shadow_waiting and sat.shadow_proc is not None:
            proc = sat.shadow_proc
            if proc.is_alive and proc is not self.env.active_process:
                proc.interrupt("load changed")

    def _update_sun(self, t_s: float) -> None:
        jd, fr = julian_dates(self.cfg.epoch, [t_s])
        self.sun_au = float(sun_distance_km(jd, fr)[0]) / AU_KM

        budget = power_budget(self.cfg.bus, 1.0, self.sun_au)
        self._gen_sun_w = budget.generated_w
        acc_w = self.cfg.bus.accelerator_w
        self._compute_sun = (
            min(self.cfg.bus.accelerators, int(budget.compute_w // acc_w))
            if acc_w > 0
            else self.cfg.bus.accelerators
        )

    # -- processes ------------------------------------------------------------------------

    def _environment(self) -> ProcessGen:
        """Per window: eclipse passes for every satellite in orbit by the window's end."""
        cfg = self.cfg
        margin = 3 * SECONDS_PER_HOUR
        deploy_s = cfg.scenario.launch.deployment_s if cfg.scenario.launch is not None else 0.0
        flattening = WGS84_FLATTENING if cfg.scenario.scenario.shadow == "oblate" else 0.0
        t = 0.0
        while t < cfg.until_s:
            t1 = min(t + cfg.eclipse_window_s, cfg.until_s)
            self._update_sun((t + t1) / 2)
            live = [
                s
                for s in self.sats
                if s.launch_ok and s.launch_s + deploy_s < t1 and not _stopped(s)
            ]
            if live:
                window = PassWindow(cfg.epoch, t, t1, margin, flattening)
                indices = np.fromiter((s.index for s in live), np.int64, len(live))
                found = self.passes(cfg.fleet.satrecs, indices, window)
                block = PassBlock(
                    array("d", found.enter.tobytes()),
                    array("d", found.leave.tobytes()),
                    array("B", found.umbra.astype(np.uint8).tobytes()),
                    array("d", found.illumination.tobytes()),
                )
                # rows are sorted by satellite, then time: one range per satellite
                owner = found.owner
                n = owner.size
                firsts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]]) if n else owner
                ends = np.r_[firsts[1:], n] if n else owner
                for k, lo, hi in zip(
                    owner[firsts].tolist(), firsts.tolist(), ends.tolist(), strict=True
                ):
                    live[k].passes.append((block, lo, hi))
            ready, self.window_ready = self.window_ready, self.env.event()
            ready.succeed()
            yield self.env.timeout(t1 - t)
            t = t1

    def _shadow(self, sat: Sat) -> ProcessGen:
        env, battery = self.env, self.cfg.bus.battery
        pos = end = 0
        block: PassBlock | None = None
        try:
            while not _stopped(sat):
                if pos >= end:
                    if not sat.passes:
                        yield self.window_ready
                        continue
                    block, pos, end = sat.passes.pop(0)
                    continue
                assert block is not None
                enter, leave = block.enter[pos], block.leave[pos]
                umbra, illumination = block.umbra[pos] == 1, block.illumination[pos]
                pos += 1
                if leave <= env.now:
                    continue
                if enter > env.now:
                    yield env.timeout(enter - env.now)
                if _stopped(sat):
                    return
                # the flag only changes the power set from now on; _transition first integrates
                # the battery up to now with the power before it
                sat.in_shadow = True
                sat.illumination = illumination
                self._transition(sat, ev.EclipseEntered, umbra=umbra)
                entered = env.now
                shed_at: float | None = None
                while env.now < leave:
                    net = sat.generated_w - sat.consumed_w
                    wait = leave - env.now
                    floor_in = math.inf
                    if sat.state is State.IN_ECLIPSE and sat.compute_online > 0:
                        floor_in = battery.time_to_floor_unchecked_s(sat.soc, net)
                    sat.shadow_waiting = True
                    try:
                        yield env.timeout(min(wait, floor_in))
                    except simpy.Interrupt:
                        if _stopped(sat):
                            return
                        continue
                    finally:
                        sat.shadow_waiting = False
                    self._advance(sat)
                    if floor_in <= wait and sat.state is State.IN_ECLIPSE:
                        self._transition(sat, ev.LoadShed, reason="battery_floor")
                        shed_at = env.now
                if _stopped(sat):
                    return
                sat.in_shadow = False
                duration_s = round((env.now - entered) * 1e3) / 1e3
                self._transition(sat, ev.EclipseExited, duration_s=duration_s)
                if sat.state is State.LOAD_SHED:
                    self._transition(
                        sat,
                        ev.LoadRestored,
                        shed_s=round((env.now - (shed_at or entered)) * 1e3) / 1e3,
                    )
        finally:
            # a stopped satellite lets go of its blocks (they hold the whole fleet's passes)
            sat.passes.clear()

    def _sample_failures(self, sat: Sat, names: Sequence[str] | None = None) -> None:
        for comp in self.cfg.scenario.reliability.components:
            if names is None or comp.name in names:
                life = comp.weibull_scale_s * sat.rng.weibull(comp.weibull_shape)
                sat.fail_at_s[comp.name] = self.env.now + float(life)

    def _saa_fraction(self, samples: int = 64) -> float:
        """Share of time the fleet spends over the SAA box (sampled satellites, one day)."""
        from twin.physics.propagate import propagate

        n = len(self.cfg.fleet)  # the whole fleet's, so every shard draws the same rate
        if n == 0:
            return 0.0
        pick = sorted({(k * n) // min(n, samples) for k in range(min(n, samples))})
        seconds = np.arange(0.0, SECONDS_PER_DAY, 120.0)
        states = propagate([self.cfg.fleet.satrecs[i] for i in pick], self.cfg.epoch, seconds)
        jd, fr = julian_dates(self.cfg.epoch, seconds)
        r = teme_to_ecef(states.r_teme_km, gmst_rad(jd, fr)[None, :])
        lat = np.degrees(np.arctan2(r[..., 2], np.hypot(r[..., 0], r[..., 1])))
        lon = np.degrees(np.arctan2(r[..., 1], r[..., 0]))
        inside = (
            (lat >= SAA_LAT_DEG[0])
            & (lat <= SAA_LAT_DEG[1])
            & (lon >= SAA_LON_DEG[0])
            & (lon <= SAA_LON_DEG[1])
        )
        ok = np.isfinite(lat)
        return float(inside[ok].mean()) if ok.any() else 0.0

    def _in_saa(self, sat: Sat) -> bool:
        """Is the satellite over the South Atlantic Anomaly now (geocentric lat/lon box)?"""
        jd, fr = julian_dates(self.cfg.epoch, [self.env.now])
        err, r, _ = self.cfg.fleet.satrecs[sat.index].sgp4(float(jd[0]), float(fr[0]))
        if err:
            return False
        x, y, z = teme_to_ecef(np.asarray(r), float(gmst_rad(jd, fr)[0]))
        lat = math.degrees(math.atan2(z, math.hypot(x, y)))
        lon = math.degrees(math.atan2(y, x))
        return SAA_LAT_DEG[0] <= lat <= SAA_LAT_DEG[1] and SAA_LON_DEG[0] <= lon <= SAA_LON_DEG[1]

    def _lifecycle(self, sat: Sat) -> ProcessGen:
        env, cfg, plan = self.env, self.cfg, self.cfg.scenario.launch
        vehicle = plan.vehicle if plan is not None else _NO_LAUNCH_VEHICLE
        mass_kg = cfg.scenario.bus.mass_kg
        if sat.launch_s > cfg.until_s:
            return
        flight = dict(
            launch_id=sat.launch_id,
            vehicle=vehicle,
            mass_kg=mass_kg,
            flight_lead=sat.flight_lead,
        )
        yield env.timeout(sat.launch_s)
        if not sat.launch_ok:
            self._transition(sat, ev.LaunchFailed, **flight)
            return
        self._transition(sat, ev.Launched, **flight)
        if not sat.preflown and plan is not None:
            yield env.timeout(plan.deployment_s)
        sat.deployed_s = env.now
        sat.t_soc = env.now
        sat.soc = 1.0
        self._transition(sat, ev.Deployed)
        sat.shadow_proc = env.process(self._shadow(sat))
        altitude = cfg.shells[sat.shell].altitude_km if sat.shell < len(cfg.shells) else 0.0
        self._transition(sat, ev.OrbitRaisingStarted, target_altitude_km=altitude)
        if not sat.preflown and plan is not None:
            yield env.timeout(plan.orbit_raising_s)
        self._transition(sat, ev.OrbitRaised, altitude_km=altitude)
        if not sat.preflown and plan is not None:
            yield env.timeout(plan.commissioning_s)
        self._transition(sat, ev.PoweredUp)
        end_of_life = cfg.scenario.end_of_life
        life_s = end_of_life.design_life_s if end_of_life is not None else math.inf
        if sat.preflown and math.isfinite(life_s):
            life_s *= float(sat.rng.random())  # already flown a uniform share of its life
        eol = env.now + life_s
        self._sample_failures(sat)
        max_rate = self._upset_rate_in_saa_per_s
        upsets, components = cfg.scenario.reliability.upsets, cfg.scenario.reliability.components
        while True:
            perm_name, perm_at = min(
                sat.fail_at_s.items(), key=lambda kv: (kv[1], kv[0]), default=("", math.inf)
            )
            upset_at = (
                env.now + float(sat.rng.exponential(1.0 / max_rate)) if max_rate > 0 else math.inf
            )
            # a deadline that passed during a repair (end of life, another component's
            # failure) is handled now
            t_next = max(min(perm_at, upset_at, eol), env.now)
            if t_next >= cfg.until_s + 1.0:
                return
            yield env.timeout(t_next - env.now)
            if eol <= env.now:
                yield from self._deorbit(sat, "end_of_life")
                return
            if upset_at <= env.now and upset_at < perm_at:
                in_saa = self._in_saa(sat)
                # thinning: candidates at the SAA rate; outside the SAA keep 1/multiplier
                if not in_saa and sat.rng.random() * upsets.saa_multiplier >= 1.0:
                    continue
                yield from self._transient(sat, in_saa)
                continue
            comp = next(c for c in components if c.name == perm_name)
            yield from self._permanent(sat, comp, eol)
            if _stopped(sat):
                return

    def _transient(self, sat: Sat, in_saa: bool) -> ProcessGen:
        self._transition(
            sat, ev.FaultDetected, component="avionics", kind="transient", in_saa=in_saa
        )
        start = self.env.now
        yield self.env.timeout(self.cfg.scenario.reliability.upsets.reboot_s)
        self._transition(sat, ev.Rebooted, downtime_s=round(self.env.now - start, 3))

    def _permanent(self, sat: Sat, comp: ComponentReliability, eol: float) -> ProcessGen:
        env, repair = self.env, self.cfg.scenario.repair
        fault_t = env.now
        self._transition(sat, ev.FaultDetected, component=comp.name, kind="permanent")
        if not comp.repairable or repair is None or repair.robots <= 0:
            yield from self._deorbit(sat, "unrepairable")
            return
        pool = self.pools[self._pool_key(sat)]
        self._transition(
            sat, ev.RepairRequested, component=comp.name, queue_length=len(pool.waiting) + 1
        )
        robot, waited = yield pool.request(sat)
        travel_s, gap = pool.travel(robot, sat)
        self._transition(
            sat,
            ev.RepairRobotDispatched,
            robot=robot.name,
            travel_s=round(travel_s, 3),
            phase_gap_deg=round(gap, 4),
            waited_s=round(waited, 3),
        )
        yield env.timeout(travel_s)
        robot.raan_deg, robot.phase_deg = sat.raan_deg, sat.phase_deg
        self._transition(sat, ev.RepairRobotArrived, robot=robot.name)
        yield pool.stock.take()
        yield env.timeout(repair.duration_s)
        pool.release(robot)
        self._sample_failures(sat, [comp.name])
        self._transition(
            sat,
            ev.RepairCompleted,
            robot=robot.name,
            component=comp.name,
            spares_left=pool.stock.level,
            time_to_repair_s=round(env.now - fault_t, 3),
            pool=pool.stock.name,
        )

    def _deorbit(self, sat: Sat, reason: str) -> ProcessGen:
        self._transition(sat, ev.DeorbitStarted, reason=reason)
        if sat.shadow_proc is not None and sat.shadow_proc.is_alive and sat.shadow_waiting:
            sat.shadow_proc.interrupt("deorbiting")
        end_of_life = self.cfg.scenario.end_of_life
        yield self.env.timeout(end_of_life.deorbit_s if end_of_life is not None else 0.0)
        self._transition(sat, ev.Deorbited)

    def _resupply(self, every_s: float, quantity: int, stocks: list[SpareStock]) -> ProcessGen:
        """Every ``every_s``, ``quantity`` spares to each stock (in pool order)."""
        while True:
            yield self.env.timeout(every_s)
            yield self.env.timeout(0)  # lands after what is already due at that instant
            for stock in stocks:
                stock.add(quantity)

    # -- running --------------------------------------------------------------------------

    def start(self) -> None:
        """Emit ``scenario_started`` and start every process (call once, before running)."""
        cfg = self.cfg
        repair = cfg.scenario.repair
        if self._owns_run:
            self._started(repair)
        self.env.process(self._environment())
        resupply = repair is not None and repair.resupply_every_s and repair.resupply_quantity > 0
        if resupply:
            # the fleet's stock is the run's (shard 0); a shard's pools are its own
            if self.spares_per_pool:
                stocks = [p.stock for _, p in sorted(self.pools.items()) if p.stock.name]
            else:
                stocks = [self.spares] if self._owns_run else []
            if stocks:
                every_s, quantity = repair.resupply_every_s, repair.resupply_quantity  # type: ignore[union-attr]
                self.env.process(self._resupply(every_s, quantity, stocks))  # type: ignore[arg-type]
        for sat in self.sats:
            if sat.launch_s <= cfg.until_s:  # one launched after the horizon has no events
                self.env.process(self._lifecycle(sat))
        if self.workload is not None:
            self.workload.start()

    def _started(self, repair: Repair | None) -> None:
        cfg = self.cfg
        self._emit_run(
            ev.ScenarioStarted,
            scenario=cfg.name,
            seed=self.seed,
            epoch=format_time(cfg.epoch),
            until=format_sim(cfg.epoch, cfg.until_s),
            satellites_planned=len(cfg.fleet),
            shells=cfg.shells,
            accelerators_per_satellite=cfg.bus.accelerators,
            tflops_per_accelerator=cfg.scenario.bus.accelerator_tflops,
            accelerator_w=cfg.bus.accelerator_w,
            robots=self.robots_total,
            spares=self.spares_initial_total,
            launch=cfg.launch_plan.event() if cfg.launch_plan is not None else None,
            spares_pools=self.pools_whole_fleet if self.spares_per_pool else None,
        )

    def run(self, until_s: float | None = None) -> None:
        """Advance the simulation to ``until_s`` (default: the scenario's horizon)."""
        limit = self.cfg.until_s if until_s is None else min(until_s, self.cfg.until_s)
        if limit > self.env.now:
            self.env.run(until=limit)

    def run_horizon(self) -> None:
        """Run what is due at the horizon itself (after :meth:`run` reached it): SimPy's
        ``run(until=T)`` stops before the events due at T, so that what ends at the horizon
        (the last inference interval, a checkpoint or a resupply due then) is logged. A
        shard of a sharded run calls this and leaves ``scenario_finished`` to its merger."""
        horizon = self.cfg.until_s
        while self.env.now >= horizon - 1e-9 and self.env.peek() <= horizon:
            self.env.step()

    def finish(self) -> None:
        """Emit ``scenario_finished`` at the horizon (after :meth:`run` reached it)."""
        if self._finished:
            return
        self._finished = True
        self.run_horizon()
        if not self._owns_run:
            return
        self._emit_run(
            ev.ScenarioFinished,
            events=self.offset + 1,
            satellites_by_state={s.value: n for s, n in self.counts.items() if n},
        )


def simulate(config: EngineConfig, seed: int) -> list[ev.EventBase]:
    """Run a whole scenario in batch mode and return its events (convenient for tests)."""
    out: list[ev.EventBase] = []
    engine = Engine(config, seed, out.append)
    engine.start()
    engine.run()
    engine.finish()
    return out


__all__ = [
    "Engine",
    "EngineConfig",
    "IllegalTransition",
    "RobotTravel",
    "config_from_scenario",
    "simulate",
]
