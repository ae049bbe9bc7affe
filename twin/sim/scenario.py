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

import math
import tomllib
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
from twin.constants import EARTH_RADIUS_KM, MU_KM3_S2, SECONDS_PER_DAY, SECONDS_PER_YEAR
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
    "Launch",
    "Reliability",
    "Repair",
    "Scenario",
    "ScenarioMeta",
    "SsoShell",
    "Upsets",
    "WalkerShell",
    "build_fleet",
    "list_presets",
    "load_scenario",
    "parse_scenario",
    "phasing_drift_deg_per_day",
    "plane_change_dv_m_s",
    "preset_path",
    "resolve_scenario",
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
    """

    vehicle: str = Field(min_length=1)
    sats_per_launch: int = Field(ge=1, le=MAX_SATELLITES)
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
    """

    robots_per: Literal["shell", "plane"] = "shell"
    robots: int = Field(ge=1, le=100_000)
    dispatch: Literal["fifo", "nearest"] = "fifo"
    altitude_offset_km: float = Field(gt=0, le=100)
    duration_s: Duration = Field(alias="duration", gt=0)
    spares_initial: int = Field(default=0, ge=0, le=1_000_000_000)
    resupply_every_s: Duration | None = Field(default=None, alias="resupply_every", gt=0)
    resupply_quantity: int = Field(default=0, ge=0, le=1_000_000_000)


class GroundStation(_Model):
    """``[[ground_stations]]``: a geodetic site (WGS-84) and its minimum elevation mask."""

    name: str = Field(min_length=1)
    lat_deg: float = Field(ge=-90, le=90)
    lon_deg: float = Field(ge=-180, le=180)
    alt_m: float = Field(default=0.0, ge=-500, le=9000)
    min_elevation_deg: float = Field(default=10.0, ge=0, lt=90)


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


def load_scenario(path: str) -> Scenario:
    """Read and validate the scenario file at ``path`` (the one place a scenario is read)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError("scenario file not found", file=path) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read scenario file: {exc}", file=path) from None
    scenario = parse_scenario(text, path)
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


def parse_scenario(text: str, source: str) -> Scenario:
    """Validate TOML ``text``; ``source`` names the file in errors and anchors relative paths.

    Raises :class:`InputError` listing every problem: the first in its fields, all of them
    (with lines) in the message.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise syntax_error(exc, text, source) from None
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
    return scenario


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


def resolve_scenario(name_or_path: str) -> Scenario:
    """Load a preset by name (``"demo"``) or a scenario file by path."""
    path = Path(name_or_path)
    if path.suffix or len(path.parts) > 1:  # "demo" is a preset, "x/demo" or "demo.toml" a file
        return load_scenario(name_or_path)
    return load_scenario(preset_path(name_or_path))


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
