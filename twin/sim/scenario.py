"""Scenarios: one TOML file describes a constellation, its satellites and their lives.

A scenario says *what* to simulate: where the satellites fly (generated Walker-delta or
sun-synchronous shells, or a TLE/OMM file), what each satellite carries (the bus: arrays,
battery, accelerators, radiator), how they reach orbit (launch campaign), how they fail
(Weibull components, radiation upsets), who repairs them (servicing robots) and when they
retire. Every section is a frozen pydantic model that rejects unknown keys, so a typo is an
error rather than a silently ignored default.

Conventions
-----------
* Units are in the names: ``altitude_km``, ``battery_wh``, ``radiator_temperature_k``.
* Durations are written in TOML as strings with a unit: ``"90s"``, ``"90m"`` (minutes),
  ``"36h"``, ``"30d"``, ``"1w"``, ``"5y"`` (a year is 365.25 days) or combinations
  (``"1d12h"``). ``m`` is *minutes*; write months as days. A bare number is refused because
  it would not say its unit. The TOML key is the human name (``cadence = "6h"``) and the
  model exposes seconds in a field with ``_s`` appended (``launch.cadence_s == 21600.0``).
* Times are ISO-8601 UTC (``2026-11-23T00:00:00Z``) or TOML date-times.

Errors name the file, the line, the key path (``constellation.shells[1].altitude_km``) and
what is allowed (``160 <= altitude_km <= 40000``); all problems of a file are reported
together in one :class:`~twin.errors.InputError` (formatted by :mod:`twin.sim.toml_errors`).

File reading happens only in :func:`load_scenario`, :func:`list_presets` and
:func:`resolve_scenario`; :func:`build_fleet` reads a constellation file through
:func:`twin.physics.orbits.load_file`.
"""

from __future__ import annotations

import copy
import math
import re
import tomllib
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

import scenarios
from twin.constants import (
    EARTH_RADIUS_KM,
    MU_KM3_S2,
    SECONDS_PER_DAY,
    SECONDS_PER_HOUR,
    SECONDS_PER_YEAR,
)
from twin.errors import InputError
from twin.physics import orbits
from twin.sim.toml_errors import Allowed, TomlIndex, source_line, syntax_error, validation_error
from twin.timeutil import DURATION_ALLOWED, TIME_ALLOWED, parse_duration, parse_time

__all__ = [
    "MAX_SATELLITES",
    "MAX_SEED",
    "SECONDS_PER_YEAR",
    "Bus",
    "ComponentReliability",
    "Constellation",
    "EndOfLife",
    "GroundStation",
    "InferenceClass",
    "InferenceRegion",
    "Launch",
    "Reliability",
    "Repair",
    "Scenario",
    "ScenarioMeta",
    "TrainingClass",
    "SsoShell",
    "Upsets",
    "WalkerShell",
    "Workload",
    "apply_overrides",
    "build_fleet",
    "flight_capacity",
    "list_presets",
    "load_scenario",
    "override_value",
    "parse_scenario",
    "phasing_drift_deg_per_day",
    "plane_change_dv_m_s",
    "preset_path",
    "resolve_scenario",
    "sats_per_flight",
    "split_upset_rate",
]

PRESETS_DIR = Path(scenarios.__file__).resolve().parent
"""Where the presets live: the data-only ``scenarios`` package (a checkout or site-packages)."""


# --------------------------------------------------------------------------------------
# Value parsers used by the models
# --------------------------------------------------------------------------------------


class _SecondsAfterEpoch(float):
    """An offset already computed from an absolute time (see ``Scenario._times_to_offsets``)."""


def _error(problem: str, allowed: str) -> PydanticCustomError:
    # The message goes through the context so that braces in user text cannot break it.
    return PydanticCustomError(
        "scenario_value", "{problem}", {"problem": problem, "allowed": allowed}
    )


def _duration_s(value: Any) -> float:
    """Seconds from a duration string with its unit (:func:`twin.timeutil.parse_duration`)."""
    if isinstance(value, _SecondsAfterEpoch):
        return float(value)
    if not isinstance(value, str):
        raise _error(f"a duration needs a unit, got {value!r}", DURATION_ALLOWED)
    try:
        return parse_duration(value, unit_required=True)
    except InputError as exc:
        raise _error(exc.problem, exc.allowed or DURATION_ALLOWED) from None


def _time(value: Any) -> datetime:
    """A UTC time (:func:`twin.timeutil.parse_time`) from ISO-8601 text or a TOML date-time."""
    if not isinstance(value, str | datetime):
        raise _error(f"cannot read time {value!r}", TIME_ALLOWED)
    try:
        return parse_time(value)
    except InputError as exc:
        raise _error(exc.problem, exc.allowed or TIME_ALLOWED) from None


Duration = Annotated[float, BeforeValidator(_duration_s), Allowed(DURATION_ALLOWED)]
"""Seconds (float), written in TOML as a duration string such as ``"36h"``."""
UtcTime = Annotated[datetime, BeforeValidator(_time), Allowed(TIME_ALLOWED)]
"""An aware UTC datetime, written in TOML as ISO-8601 or a TOML date-time."""


class _Model(BaseModel):
    # strict: TOML values are typed, so "yes" is not a boolean and "6" is not a number.
    # TOML has inf and nan literals: no physical quantity of a scenario may be either.
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False)


MAX_SATELLITES = 1_000_000
"""The most satellites a scenario may fly. Each costs tens of kilobytes of records,
processes and timelines, so 10⁷ would not fit the memory of a workstation: refused up front."""
MAX_SEED = 2**63 - 1
"""Seeds are stored in the log as 64-bit integers (SQLite, TOML)."""
MIN_EPOCH_YEAR, MAX_EPOCH_YEAR = 1957, 2200
"""Epochs from Sputnik to 2200: SGP4 and the calendar arithmetic hold far beyond a run."""
EPOCH_ALLOWED = f"{TIME_ALLOWED}, in the years {MIN_EPOCH_YEAR} to {MAX_EPOCH_YEAR - 1}"


# --------------------------------------------------------------------------------------
# Sections
# --------------------------------------------------------------------------------------


class ScenarioMeta(_Model):
    """``[scenario]``: name, the epoch (t = 0 of the simulation), default run length, seed."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$")
    description: str = ""
    epoch: UtcTime = Field(json_schema_extra={"allowed": EPOCH_ALLOWED})
    duration_s: Duration = Field(default=30 * SECONDS_PER_DAY, alias="duration", gt=0)
    seed: int = Field(default=0, ge=0, le=MAX_SEED)
    shadow: Literal["oblate", "spherical"] = "oblate"
    """Earth's figure for the shadow: the WGS-84 ellipsoid (default: the real solid Earth,
    as in Orekit's eclipse detector) or a sphere of the equatorial radius (the textbook dual
    cone, e.g. Montenbruck & Gill; passes up to ~10 s longer at high latitudes)."""

    @field_validator("epoch")
    @classmethod
    def _epoch_in_range(cls, epoch: datetime) -> datetime:
        if not MIN_EPOCH_YEAR <= epoch.year < MAX_EPOCH_YEAR:
            raise _error(f"epoch year {epoch.year} is out of range", EPOCH_ALLOWED)
        return epoch


class _ShellBase(_Model):
    altitude_km: float = Field(ge=orbits.MIN_ALTITUDE_KM, le=orbits.MAX_ALTITUDE_KM)
    planes: int = Field(ge=1, le=MAX_SATELLITES)
    sats_per_plane: int = Field(ge=1, le=MAX_SATELLITES)
    phasing: int = Field(default=0, ge=0)
    along_track_spacing_km: float | None = Field(default=None, gt=0)
    """When set, a plane's satellites sit this far apart along-track (a cluster) instead
    of spread evenly around the orbit."""

    @field_validator("phasing")
    @classmethod
    def _phasing_below_planes(cls, phasing: int, info: ValidationInfo) -> int:
        planes = info.data.get("planes")
        if isinstance(planes, int) and phasing >= planes:
            raise _error(
                f"phasing {phasing} must be smaller than planes ({planes})",
                f"0 <= phasing <= {planes - 1} (Walker F parameter)",
            )
        return phasing

    @property
    def satellites(self) -> int:
        """Number of satellites the shell generates."""
        return self.planes * self.sats_per_plane


class WalkerShell(_ShellBase):
    """``kind = "walker"``: a Walker-delta shell i:t/p/f, planes spread over 360° of RAAN."""

    kind: Literal["walker"]
    inclination_deg: float = Field(ge=0, le=180)
    raan0_deg: float = Field(default=0.0, ge=0, lt=360)


class SsoShell(_ShellBase):
    """``kind = "sso"``: sun-synchronous shell; inclination follows from altitude (J2).

    ``ltan_hours`` is the local time of the ascending node: 6 or 18 is a dawn-dusk orbit.
    """

    kind: Literal["sso"]
    ltan_hours: float = Field(ge=0, lt=24)


Shell = Annotated[WalkerShell | SsoShell, Field(discriminator="kind")]


class Constellation(_Model):
    """``[constellation]``: generated ``[[constellation.shells]]`` and/or a TLE/OMM ``file``.

    ``file`` is resolved relative to the scenario file. Generated shells get shell indices
    0..n-1 in the order written; the file's satellites form the next shell index.
    """

    shells: tuple[Shell, ...] = Field(default=(), strict=False)  # TOML arrays are lists
    file: str | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _something_to_fly(self) -> Constellation:
        if not self.shells and self.file is None:
            raise _error(
                "the constellation is empty",
                "one or more [[constellation.shells]] tables and/or file = PATH",
            )
        return self

    @property
    def generated_satellites(self) -> int:
        """Satellites in the generated shells (a ``file`` adds more when loaded)."""
        return sum(s.satellites for s in self.shells)


class Bus(_Model):
    """``[bus]``: one satellite's power, compute and thermal hardware.

    Array power in full sun is ``1361 W/m² × array_area_m2 × array_efficiency``, derated by
    ``array_degradation_per_year`` (fraction lost per year). The battery may be discharged
    to ``max_depth_of_discharge`` of ``battery_wh``. ``radiator_area_m2`` is the panel
    area; both faces radiate at ``radiator_temperature_k`` with ``radiator_emissivity`` and
    absorb sunlight with ``radiator_absorptivity``.
    """

    array_area_m2: float = Field(gt=0, le=1e6)
    array_efficiency: float = Field(gt=0, le=1)
    array_degradation_per_year: float = Field(default=0.0, ge=0, lt=1)
    battery_wh: float = Field(gt=0, le=1e9)
    max_depth_of_discharge: float = Field(gt=0, le=1)
    bus_idle_w: float = Field(ge=0, le=1e9)
    accelerators: int = Field(ge=0, le=100_000)
    accelerator_w: float = Field(ge=0, le=1e6)
    accelerator_tflops: float = Field(ge=0, le=1e6)
    radiator_area_m2: float = Field(gt=0, le=1e6)
    radiator_emissivity: float = Field(gt=0, le=1)
    radiator_absorptivity: float = Field(ge=0, le=1)
    radiator_temperature_k: float = Field(gt=0, le=2000)
    mass_kg: float | None = Field(default=None, gt=0, le=1e6)
    """Mass of one satellite at launch, kg (optional): with ``launch.payload_t`` it limits
    how many satellites a flight carries, and the run reports tonnes to orbit."""

    @property
    def compute_w(self) -> float:
        """Power drawn by all accelerators at full load, W."""
        return self.accelerators * self.accelerator_w


class Launch(_Model):
    """``[launch]``: the launch campaign that brings satellites to orbit.

    The first ``in_orbit_at_epoch`` satellites (fleet order: shell 0 first) are already in
    service at the epoch; the rest fly ``sats_per_launch`` at a time every ``cadence``
    starting ``first_launch`` after the epoch (a duration, or an absolute time not before
    the epoch). A launch fails as a whole with ``failure_probability``. A satellite then
    spends ``deployment``, ``orbit_raising`` and ``commissioning`` before service.
    Without a ``[launch]`` table every satellite is in service at the epoch.

    ``payload_t`` is what the vehicle lifts per flight to the shell's insertion orbit, in
    tonnes. With ``bus.mass_kg`` it caps a flight at ``floor(payload_t × 1000 / mass_kg)``
    satellites; ``sats_per_launch`` may then be omitted (a full vehicle every flight) or set
    lower. Launch cadence and payload together bound the campaign's tonnes per year
    (:func:`twin.sim.campaign.launch_plan`).
    """

    vehicle: str = Field(min_length=1)
    sats_per_launch: int | None = Field(default=None, ge=1, le=MAX_SATELLITES)
    payload_t: float | None = Field(default=None, gt=0, le=10_000)
    cadence_s: Duration = Field(alias="cadence", gt=0)
    first_launch_s: Duration = Field(
        default=0.0,
        alias="first_launch",
        ge=0,
        json_schema_extra={
            "allowed": f"{DURATION_ALLOWED} after the epoch, or {TIME_ALLOWED} not before the epoch"
        },
    )
    failure_probability: float = Field(default=0.0, ge=0, le=1)
    deployment_s: Duration = Field(default=0.0, alias="deployment", ge=0)
    orbit_raising_s: Duration = Field(default=0.0, alias="orbit_raising", ge=0)
    commissioning_s: Duration = Field(default=0.0, alias="commissioning", ge=0)
    in_orbit_at_epoch: int = Field(default=0, ge=0, le=MAX_SATELLITES)


class ComponentReliability(_Model):
    """``[[reliability.components]]``: one failure mode with a Weibull time to failure.

    P(failed by age t) = 1 − exp(−(t/scale)^shape): shape < 1 is infant mortality, 1 a
    constant rate, > 1 wear-out. A repairable failure takes the satellite out of service
    until a robot repairs it; a non-repairable one ends the satellite's life.
    """

    name: str = Field(min_length=1)
    weibull_shape: float = Field(gt=0, le=100)
    weibull_scale_years: float = Field(gt=0, le=1e9)
    repairable: bool = False

    @property
    def weibull_scale_s(self) -> float:
        """Weibull scale in seconds."""
        return self.weibull_scale_years * SECONDS_PER_YEAR


class Upsets(_Model):
    """``[reliability.upsets]``: single-event upsets that crash a satellite's computer.

    ``rate_per_sat_day`` is the orbit-averaged rate. Inside the South Atlantic Anomaly the
    rate is ``saa_multiplier`` times the rate outside it, keeping that average: see
    :func:`split_upset_rate`. Each upset costs a ``reboot`` outage.
    """

    rate_per_sat_day: float = Field(default=0.0, ge=0, le=1000)
    saa_multiplier: float = Field(default=1.0, ge=1, le=10_000)
    reboot_s: Duration = Field(default=600.0, alias="reboot", ge=0)


class Reliability(_Model):
    """``[reliability]``: component failures and radiation upsets (both optional)."""

    components: tuple[ComponentReliability, ...] = Field(default=(), strict=False)
    upsets: Upsets = Upsets()

    @field_validator("components")
    @classmethod
    def _unique_names(
        cls, components: tuple[ComponentReliability, ...]
    ) -> tuple[ComponentReliability, ...]:
        names = [c.name for c in components]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise _error(f"component names repeat: {', '.join(dup)}", "unique names")
        return components


class Repair(_Model):
    """``[repair]``: in-orbit servicing robots.

    Robots never thrust to change orbital plane: turning a plane costs 2·v·sin(Δi/2), ≈131
    m/s per degree at 650 km (:func:`plane_change_dv_m_s`), a small robot's whole propellant
    budget. They fly ``altitude_offset_km`` above or below the shell and drift for free:
    along-track at :func:`phasing_drift_deg_per_day` (≈1.1°/day per km at 650 km), so reaching
    a satellite ``Δu`` degrees ahead or behind takes ``Δu / drift`` days, and, to another
    plane of the shell, by differential J2 nodal precession
    (:func:`twin.sim.engine.nodal_drift_deg_per_day`, a few tenths of a degree per day).

    ``robots_per = "plane"`` gives every plane ``robots`` robots, serving that plane.
    ``robots_per = "shell"`` gives the shell ``robots`` robots, spread evenly over its
    satellites at the start, serving every plane of the shell. ``dispatch`` picks the next job
    first-come-first-served (``"fifo"``) or by the shortest travel time (``"nearest"``).
    A repair takes ``duration`` and one spare; the stock starts at ``spares_initial`` and
    ``resupply_quantity`` spares arrive every ``resupply_every`` (omit it for none).

    ``spares_per`` says whose stock that is: ``"fleet"`` (the default) one stock that every
    robot takes from, ``"pool"`` one stock per robot pool (per shell, or per plane with
    ``robots_per = "plane"``): ``spares_initial`` and ``resupply_quantity`` are then **per
    pool**, and a robot takes parts only from its pool's stock. Stock per pool is what lets a
    run with robots be sharded (``twin run --shards N``): pools then share nothing. With
    ``robots = 0`` there are no pools, so no stock either (``scenario_started.spares`` is 0,
    where a fleet stock would report ``spares_initial``); nothing is repaired either way.
    """

    robots_per: Literal["shell", "plane"] = "shell"
    robots: int = Field(ge=0, le=100_000)
    """Robots per shell or plane; 0 means none (a repairable fault then ends the satellite's
    life, as without ``[repair]``), so a sweep can compare 0, 2 and 4."""
    dispatch: Literal["fifo", "nearest"] = "fifo"
    altitude_offset_km: float = Field(gt=0, le=100)
    duration_s: Duration = Field(alias="duration", gt=0)
    spares_per: Literal["fleet", "pool"] = "fleet"
    """One stock for the fleet, or one per robot pool (then the two counts below are per
    pool)."""
    spares_initial: int = Field(default=0, ge=0, le=1_000_000_000)
    """Spares at the start: the fleet's, or each pool's with ``spares_per = "pool"``."""
    resupply_every_s: Duration | None = Field(default=None, alias="resupply_every", gt=0)
    resupply_quantity: int = Field(default=0, ge=0, le=1_000_000_000)
    """Spares per resupply: to the fleet, or to each pool with ``spares_per = "pool"``."""


class GroundStation(_Model):
    """``[[ground_stations]]``: a geodetic site (WGS-84) and its minimum elevation mask."""

    name: str = Field(min_length=1)
    lat_deg: float = Field(ge=-90, le=90)
    lon_deg: float = Field(ge=-180, le=180)
    alt_m: float = Field(default=0.0, ge=-500, le=9000)
    min_elevation_deg: float = Field(default=10.0, ge=0, lt=90)


_NAME = r"^[A-Za-z0-9_.\-]+$"


class TrainingClass(_Model):
    """``[[workload.training]]``: a class of training jobs.

    A job needs ``satellites`` members (or enough members for ``accelerators``) computing in
    one ISL cluster, and ``work_accelerator_hours`` of work. It saves a checkpoint after every
    ``checkpoint_every`` of computing, which takes ``checkpoint_cost`` (no progress); when a
    member stops computing, the work since the last checkpoint is lost and the job queues
    again; a restart costs ``restart_cost`` before computing resumes. Jobs arrive at the
    times in ``submit_at`` (durations after the epoch) and/or as a Poisson process of
    ``arrivals_per_day``.
    """

    name: str = Field(min_length=1, pattern=_NAME)
    satellites: int | None = Field(default=None, ge=1, le=MAX_SATELLITES)
    accelerators: int | None = Field(default=None, ge=1, le=1_000_000_000)
    work_accelerator_hours: float = Field(gt=0, le=1e12)
    checkpoint_every_s: Duration = Field(alias="checkpoint_every", gt=0)
    checkpoint_cost_s: Duration = Field(default=0.0, alias="checkpoint_cost", ge=0)
    restart_cost_s: Duration = Field(default=0.0, alias="restart_cost", ge=0)
    arrivals_per_day: float = Field(default=0.0, ge=0, le=100_000)
    submit_at_s: tuple[Duration, ...] = Field(default=(), alias="submit_at", strict=False)

    @model_validator(mode="after")
    def _size_and_arrivals(self) -> TrainingClass:
        if (self.satellites is None) == (self.accelerators is None):
            raise _error(
                "a training class needs its size",
                "exactly one of satellites = N or accelerators = N",
            )
        if not self.submit_at_s and self.arrivals_per_day == 0:
            raise _error(
                "a training class without arrivals submits no job",
                "submit_at = [durations] and/or arrivals_per_day > 0",
            )
        return self


class InferenceRegion(_Model):
    """``[[workload.inference.regions]]``: demand entering through one ground station.

    The request rate follows the region's day: ``requests_per_s × (1 + diurnal_amplitude ×
    cos(2π (h − peak_local_hour) / 24))`` at local solar time ``h`` (from the station's
    longitude), so ``requests_per_s`` is the daily mean.
    """

    name: str = Field(min_length=1, pattern=_NAME)
    station: str = Field(min_length=1)
    requests_per_s: float = Field(ge=0, le=1e9)
    diurnal_amplitude: float = Field(default=0.0, ge=0, le=1)
    peak_local_hour: float = Field(default=20.0, ge=0, lt=24)


class InferenceClass(_Model):
    """``[[workload.inference]]``: requests served by satellites in contact with a region's
    station, directly or within ``isl_hops`` links of one; a request costs
    ``work_per_request_accelerator_s``; paths whose round-trip light time exceeds
    ``latency_budget_ms`` are not used. Demand nobody can serve is counted as unserved."""

    name: str = Field(min_length=1, pattern=_NAME)
    work_per_request_accelerator_s: float = Field(gt=0, le=1e6)
    latency_budget_ms: float = Field(gt=0, le=1e6)
    isl_hops: int = Field(default=0, ge=0, le=1000)
    regions: tuple[InferenceRegion, ...] = Field(min_length=1, strict=False)


class Workload(_Model):
    """``[workload]``: what the fleet computes (training jobs, inference) and how its
    satellites link: laser links reach ``isl_max_range_km`` within a plane
    (:mod:`twin.physics.links`); ground contacts carry ``downlink_gbps``. Inference is
    accounted every ``inference_step`` and reported per region every ``inference_interval``.
    """

    isl_max_range_km: float = Field(gt=0, le=100_000)
    downlink_gbps: float = Field(default=0.0, ge=0, le=1e6)
    inference_interval_s: Duration = Field(
        default=SECONDS_PER_HOUR, alias="inference_interval", gt=0
    )
    inference_step_s: Duration = Field(default=60.0, alias="inference_step", ge=1)
    training: tuple[TrainingClass, ...] = Field(default=(), strict=False)
    inference: tuple[InferenceClass, ...] = Field(default=(), strict=False)

    @model_validator(mode="after")
    def _unique_names(self) -> Workload:
        names = [c.name for c in self.training] + [c.name for c in self.inference]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise _error(f"workload class names repeat: {', '.join(dup)}", "unique names")
        return self


class EndOfLife(_Model):
    """``[end_of_life]``: service ends after ``design_life``; deorbiting takes ``deorbit``."""

    design_life_s: Duration = Field(alias="design_life", gt=0)
    deorbit_s: Duration = Field(alias="deorbit", ge=0)


class Scenario(_Model):
    """A whole scenario file. ``launch``, ``repair`` and ``end_of_life`` may be absent
    (``None``): then every satellite starts in service, nobody repairs, nothing retires."""

    scenario: ScenarioMeta
    constellation: Constellation
    bus: Bus
    launch: Launch | None = None
    reliability: Reliability = Reliability()
    repair: Repair | None = None
    ground_stations: tuple[GroundStation, ...] = Field(default=(), strict=False)
    end_of_life: EndOfLife | None = None
    workload: Workload | None = None

    @model_validator(mode="before")
    @classmethod
    def _times_to_offsets(cls, data: Any) -> Any:
        """Turn an absolute ``launch.first_launch`` time into seconds after the epoch."""
        try:
            launch = data["launch"]
            value = launch["first_launch"]
            epoch = parse_time(data["scenario"]["epoch"])
        except (KeyError, TypeError, InputError):
            return data
        if isinstance(value, str):
            try:
                _duration_s(value)
                return data  # a duration: leave it to the field
            except PydanticCustomError:
                pass
        try:
            when = parse_time(value)
        except InputError:
            return data
        offset = (when - epoch).total_seconds()
        return {**data, "launch": {**launch, "first_launch": _SecondsAfterEpoch(offset)}}


# --------------------------------------------------------------------------------------
# Orbital mechanics helpers used to explain and check scenario values
# --------------------------------------------------------------------------------------


def _mean_motion_rad_s(altitude_km: float) -> float:
    a_km = EARTH_RADIUS_KM + altitude_km
    return math.sqrt(MU_KM3_S2 / a_km**3)


def phasing_drift_deg_per_day(altitude_km: float, offset_km: float) -> float:
    """Along-track drift, °/day, of a body ``offset_km`` above a circular orbit at ``altitude_km``.

    Kepler: mean motion n = √(μ/a³), so a higher orbit is slower; the difference
    n(a) − n(a + Δa) ≈ 1.5·n·Δa/a is how fast the higher body falls behind (positive) —
    a body below (negative ``offset_km``) moves ahead. At 650 km, 1 km gives ≈1.13°/day.
    """
    dn = _mean_motion_rad_s(altitude_km) - _mean_motion_rad_s(altitude_km + offset_km)
    return math.degrees(dn) * SECONDS_PER_DAY


def plane_change_dv_m_s(altitude_km: float, delta_inclination_deg: float) -> float:
    """Δv, m/s, to turn a circular orbit's plane by ``delta_inclination_deg``: 2·v·sin(Δi/2)."""
    v_m_s = math.sqrt(MU_KM3_S2 / (EARTH_RADIUS_KM + altitude_km)) * 1000.0
    return 2.0 * v_m_s * math.sin(math.radians(delta_inclination_deg) / 2.0)


def split_upset_rate(
    rate: float, saa_multiplier: float, saa_time_fraction: float
) -> tuple[float, float]:
    """Upset rates (outside, inside) the South Atlantic Anomaly, in the unit of ``rate``.

    With a fraction ``f`` of the time inside the SAA and inside = ``m`` × outside, the
    orbit average ``r`` is kept: outside = r / (1 − f + f·m), inside = m·r / (1 − f + f·m).
    The SAA's share of upsets is then f·m / (1 − f + f·m) (80–97 % is reported in LEO).
    The engine draws upsets at the inside rate and thins them outside the SAA.
    """
    f = min(max(saa_time_fraction, 0.0), 1.0)
    denominator = 1.0 - f + f * saa_multiplier
    return rate / denominator, saa_multiplier * rate / denominator


# --------------------------------------------------------------------------------------
# Loading: TOML text -> Scenario, with errors that say file, line, key path and what fits
# --------------------------------------------------------------------------------------


def load_scenario(path: str, overrides: Mapping[str, Any] | None = None) -> Scenario:
    """Read and validate the scenario file at ``path`` (the one place a scenario is read),
    with ``overrides`` (:func:`apply_overrides`) set before validation."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError("scenario file not found", file=path) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read scenario file: {exc}", file=path) from None
    scenario = parse_scenario(text, path, overrides)
    file = scenario.constellation.file
    if file is not None and not Path(file).is_file():
        raise InputError(
            f"constellation file not found: {file}",
            file=path,
            line=TomlIndex(text).line(("constellation", "file")),
            field="constellation.file",
            allowed="a TLE/3LE or OMM file, relative to the scenario file",
        )
    return scenario


def parse_scenario(text: str, source: str, overrides: Mapping[str, Any] | None = None) -> Scenario:
    """Validate TOML ``text``; ``source`` names the file in errors and anchors relative paths.
    ``overrides`` (key path → value, :func:`apply_overrides`) replace values of the file
    before validation, so they meet the same checks; an error in one names ``--set KEY``.

    Raises :class:`InputError` listing every problem: the first in its fields, all of them
    (with lines) in the message.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise syntax_error(exc, text, source) from None
    if not overrides:
        return _validate(data, text, source)
    data = apply_overrides(data, overrides)
    try:
        return _validate(data, text, source)
    except InputError as exc:
        raise _blame_overrides(exc, overrides) from None


def _validate(data: dict[str, Any], text: str, source: str) -> Scenario:
    constellation = data.get("constellation")
    if isinstance(constellation, dict) and isinstance(constellation.get("file"), str):
        file = Path(constellation["file"])
        if not file.is_absolute():
            file = Path(source).parent / file
        data["constellation"] = {**constellation, "file": str(file)}
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc, data, text, source, Scenario) from None
    launch, con = scenario.launch, scenario.constellation
    total = con.generated_satellites
    if total > MAX_SATELLITES:
        index = TomlIndex(text)
        big = max(range(len(con.shells)), key=lambda i: con.shells[i].satellites)
        line = index.line(("constellation", "shells", big, "sats_per_plane"))
        shells = " + ".join(f"{s.planes:,} × {s.sats_per_plane:,}" for s in con.shells)
        raise InputError(
            f"the constellation has {total:,} satellites ({shells}), too many to simulate "
            "in memory",
            file=source,
            line=line,
            field=f"constellation.shells[{big}].sats_per_plane",
            allowed=f"at most {MAX_SATELLITES:,} satellites in all (planes × sats_per_plane)",
            context=source_line(text, line),
        )
    _check_regions(scenario, text, source)
    if launch is not None and con.file is None and launch.in_orbit_at_epoch > total:
        line = TomlIndex(text).line(("launch", "in_orbit_at_epoch"))
        raise InputError(
            f"in_orbit_at_epoch {launch.in_orbit_at_epoch} exceeds the {total} satellites "
            "of the constellation",
            file=source,
            line=line,
            field="launch.in_orbit_at_epoch",
            allowed=f"0 <= in_orbit_at_epoch <= {total}",
            context=source_line(text, line),
        )
    if launch is not None:
        _check_payload(scenario, launch, text, source)
    return scenario


def _check_regions(scenario: Scenario, text: str, source: str) -> None:
    """Every inference region names a ground station of the scenario."""
    if scenario.workload is None:
        return
    stations = [g.name for g in scenario.ground_stations]
    for i, cls in enumerate(scenario.workload.inference):
        for j, region in enumerate(cls.regions):
            if region.station not in stations:
                line = TomlIndex(text).line(("workload", "inference", i, "regions", j, "station"))
                raise InputError(
                    f"unknown ground station {region.station!r}",
                    file=source,
                    line=line,
                    field=f"workload.inference[{i}].regions[{j}].station",
                    allowed="the name of a [[ground_stations]] table: "
                    + (", ".join(stations) or "none defined"),
                    context=source_line(text, line),
                )


# --------------------------------------------------------------------------------------
# Overrides: ``--set repair.robots=2`` (sweeps, runs) through the file's own validation
# --------------------------------------------------------------------------------------

OVERRIDE_ALLOWED = (
    "KEY=VALUE with KEY a scenario key path as written in TOML (repair.robots, "
    "launch.cadence, constellation.shells[0].altitude_km) and VALUE a number, true/false "
    "or a duration such as 6h"
)
_PART = re.compile(r"([A-Za-z0-9_\-]+)(?:\[(\d+)\])?$")


def override_value(text: str) -> Any:
    """A ``--set`` value as TOML would type it: an integer, a float, a boolean, else text
    (durations and names): ``"2"`` → 2, ``"0.5"`` → 0.5, ``"6h"`` → ``"6h"``."""
    text = text.strip()
    for convert in (int, float):
        try:
            value = convert(text)
        except ValueError:
            continue
        return value
    if text in ("true", "false"):
        return text == "true"
    return text


def apply_overrides(data: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of TOML ``data`` with each key path of ``overrides`` set to its value.

    A path is dotted TOML keys with ``[i]`` for an element of an array of tables
    (``constellation.shells[1].altitude_km``); missing tables are created (validation then
    says what else they need). Raises :class:`InputError` naming ``--set KEY`` for a path
    that cannot exist (an index past the end, a key inside a value).
    """
    out = copy.deepcopy(data)
    for key, value in overrides.items():
        parts = [_PART.match(p) for p in key.split(".")]
        if not key or any(m is None for m in parts):
            raise InputError(
                f"cannot read key path {key!r}", field="--set", allowed=OVERRIDE_ALLOWED
            )
        node: Any = out
        steps = [(m.group(1), m.group(2)) for m in parts if m is not None]
        for i, (name, index) in enumerate(steps):
            last = i == len(steps) - 1
            if not isinstance(node, dict):
                raise InputError(
                    f"{'.'.join(k for k, _ in steps[:i])} is a value, not a table",
                    field=f"--set {key}",
                    allowed=OVERRIDE_ALLOWED,
                )
            if index is None:
                if last:
                    node[name] = value
                else:
                    node = node.setdefault(name, {})
                continue
            items = node.get(name)
            k = int(index)
            if not isinstance(items, list) or k >= len(items):
                have = len(items) if isinstance(items, list) else 0
                raise InputError(
                    f"the scenario has {have} {name}, so {name}[{k}] does not exist",
                    field=f"--set {key}",
                    allowed=f"{name}[0] to {name}[{have - 1}]" if have else OVERRIDE_ALLOWED,
                )
            if last:
                items[k] = value
            else:
                node = items[k]
    return out


def _blame_overrides(exc: InputError, overrides: Mapping[str, Any]) -> InputError:
    """An error about an overridden key names ``--set KEY=VALUE`` instead of the file; any
    other error says which overrides were in force."""
    field = exc.location.field or ""
    if field in overrides:
        return InputError(
            exc.problem, field=f"--set {field}={overrides[field]}", allowed=exc.allowed
        )
    given = ", ".join(f"{k}={v}" for k, v in overrides.items())
    return InputError(
        f"{exc.problem} (with --set {given})",
        file=exc.location.file,
        line=exc.location.line,
        field=exc.location.field,
        allowed=exc.allowed,
        context=exc.context,
    )


def flight_capacity(payload_t: float, mass_kg: float) -> int:
    """Satellites of ``mass_kg`` one flight lifts with ``payload_t`` tonnes of payload."""
    return math.floor(payload_t * 1000.0 / mass_kg + 1e-9)  # 200 t / 1,000 kg is 200, not 199


def _check_payload(scenario: Scenario, launch: Launch, text: str, source: str) -> None:
    """``sats_per_launch`` given or derivable, and within the vehicle's payload."""
    mass_kg = scenario.bus.mass_kg
    index = TomlIndex(text)
    if launch.payload_t is None or mass_kg is None:
        if launch.sats_per_launch is not None:
            return
        line = index.line(("launch",))
        raise InputError(
            "the launch campaign does not say how many satellites a flight carries",
            file=source,
            line=line,
            field="launch.sats_per_launch",
            allowed="sats_per_launch = N, or launch.payload_t with bus.mass_kg (a full "
            "vehicle every flight)",
            context=source_line(text, line),
        )
    capacity = flight_capacity(launch.payload_t, mass_kg)
    if capacity < 1:
        line = index.line(("bus", "mass_kg"))
        raise InputError(
            f"a satellite of {mass_kg:,g} kg does not fit the vehicle's payload of "
            f"{launch.payload_t:,g} t",
            file=source,
            line=line,
            field="bus.mass_kg",
            allowed=f"mass_kg <= {launch.payload_t * 1000:,g} (launch.payload_t × 1000)",
            context=source_line(text, line),
        )
    n = launch.sats_per_launch
    if n is not None and n > capacity:
        line = index.line(("launch", "sats_per_launch"))
        raise InputError(
            f"{n:,} satellites × {mass_kg:,g} kg = {n * mass_kg / 1000:,.2f} t exceed the "
            f"vehicle's payload of {launch.payload_t:,g} t",
            file=source,
            line=line,
            field="launch.sats_per_launch",
            allowed=f"1 <= sats_per_launch <= {capacity:,} (payload_t × 1000 / bus.mass_kg)",
            context=source_line(text, line),
        )


def sats_per_flight(scenario: Scenario) -> int:
    """Satellites per flight: ``launch.sats_per_launch``, else a full vehicle (payload ÷
    mass). 1 without a ``[launch]`` table (every satellite is then in orbit at the epoch)."""
    launch = scenario.launch
    if launch is None:
        return 1
    if launch.sats_per_launch is not None:
        return launch.sats_per_launch
    assert launch.payload_t is not None and scenario.bus.mass_kg is not None  # parse checked
    return flight_capacity(launch.payload_t, scenario.bus.mass_kg)


# --------------------------------------------------------------------------------------
# Presets and fleets
# --------------------------------------------------------------------------------------


def preset_path(name: str) -> str:
    """Path of the preset ``name`` (a file ``scenarios/<name>.toml`` in the repository)."""
    path = PRESETS_DIR / f"{name}.toml"
    if not path.is_file():
        names = ", ".join(n for n, _ in list_presets()) or "none installed"
        raise InputError(f"unknown scenario preset {name!r}", field="scenario", allowed=names)
    return str(path)


def list_presets() -> list[tuple[str, str]]:
    """``(name, description)`` of every preset, sorted by name."""
    out: list[tuple[str, str]] = []
    for path in sorted(PRESETS_DIR.glob("*.toml")):
        try:
            meta = tomllib.loads(path.read_text(encoding="utf-8")).get("scenario", {})
        except (OSError, tomllib.TOMLDecodeError):
            meta = {}
        description = meta.get("description", "") if isinstance(meta, dict) else ""
        out.append((path.stem, str(description)))
    return out


def resolve_scenario(name_or_path: str, overrides: Mapping[str, Any] | None = None) -> Scenario:
    """Load a preset by name (``"demo"``) or a scenario file by path, with ``overrides``."""
    path = Path(name_or_path)
    if path.suffix or len(path.parts) > 1:  # "demo" is a preset, "x/demo" or "demo.toml" a file
        return load_scenario(name_or_path, overrides)
    return load_scenario(preset_path(name_or_path), overrides)


def build_fleet(scenario: Scenario) -> orbits.Fleet:
    """Generate (or load) every satellite of ``scenario``; shell indices follow the file.

    Generated satellites are named ``S<shell>-P<plane>-<index>`` (see
    :func:`twin.physics.orbits.walker_delta`), so names stay unique across shells.
    """
    con = scenario.constellation
    epoch = scenario.scenario.epoch
    fleets: list[orbits.Fleet] = []
    for i, shell in enumerate(con.shells):
        common: dict[str, Any] = {
            "altitude_km": shell.altitude_km,
            "planes": shell.planes,
            "sats_per_plane": shell.sats_per_plane,
            "phasing": shell.phasing,
            "epoch": epoch,
            "shell": i,
            "along_track_spacing_km": shell.along_track_spacing_km,
        }
        if isinstance(shell, WalkerShell):
            fleet = orbits.walker_delta(
                inclination_deg=shell.inclination_deg, raan0_deg=shell.raan0_deg, **common
            )
        else:
            fleet = orbits.sun_synchronous(ltan_hours=shell.ltan_hours, **common)
        fleets.append(fleet)
    if con.file is not None:
        loaded = orbits.load_file(con.file)
        n = len(loaded)
        taken = {name for fleet in fleets for name in fleet.names}
        for name in loaded.names:
            if name in taken:
                raise InputError(
                    f"satellite name {name!r} is used twice",
                    file=con.file,
                    field="constellation.file",
                    allowed="a unique name for every satellite of the scenario",
                )
            taken.add(name)
        fleets.append(
            orbits.Fleet(loaded.names, loaded.satrecs, [len(con.shells)] * n, loaded.plane)
        )
    return fleets[0] if len(fleets) == 1 else orbits.Fleet.concat(fleets)
