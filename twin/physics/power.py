"""Electrical power and heat of one satellite: solar array, battery, radiator.

The engine treats power as piecewise constant between events (eclipse entry and exit,
load changes), so everything here is closed form: no time stepping, no tolerance.

Units: power in W, energy in Wh, time in s (1 Wh = 3600 W·s), temperature in K, area in
m², distance to the Sun in AU. State of charge (SOC) is the stored energy as a fraction
of capacity, 0..1.

Heat closes the loop: every watt the bus and its accelerators consume ends up as heat the
radiator must reject, so compute power is capped by the radiator as well as by the
array and battery (:func:`compute_power_cap_w`, :func:`power_budget`).

Array functions (``array_power_w``, ``radiator_rejection_w``, ``socs_after``,
``times_to_floor_s``, ...) broadcast over numpy arrays (satellites × times) and never raise:
values are validated once, where they enter, by the dataclass constructors
(:class:`Battery`, :class:`Bus`), which raise :class:`~twin.errors.InputError`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from twin.constants import SECONDS_PER_HOUR, SOLAR_CONSTANT_W_M2, STEFAN_BOLTZMANN_W_M2_K4
from twin.errors import InputError

FloatArray = npt.NDArray[np.float64]

EARTH_IR_W_M2 = 237.0
"""Earth's mean outgoing long-wave (infrared) flux at the top of the atmosphere, W/m²."""

EARTH_ALBEDO = 0.30
"""Fraction of sunlight Earth reflects (Bond albedo, global mean)."""

VERTICAL_PLATE_EARTH_VIEW_FACTOR = 0.25
"""View factor from one face of a flat plate whose plane contains the nadir direction to
the Earth, in LEO: F = (1/π)·(atan(1/√(H²−1)) − √(H²−1)/H²) with H = (R+h)/R gives
0.258 at 550 km and 0.241 at 650 km. A plate facing nadir would see 0.82 at 650 km."""


def _f64(x: npt.ArrayLike) -> FloatArray:
    return np.asarray(x, dtype=np.float64)


# --- Solar array -------------------------------------------------------------------------


def array_power_w(
    area_m2: npt.ArrayLike,
    efficiency: npt.ArrayLike,
    illumination: npt.ArrayLike,
    *,
    sun_distance_au: npt.ArrayLike = 1.0,
    pointing_factor: npt.ArrayLike = 1.0,
    degradation: npt.ArrayLike = 1.0,
    solar_constant_w_m2: float = SOLAR_CONSTANT_W_M2,
) -> FloatArray:
    """Electrical power of a solar array, W: ``S·(1 AU/r)²·A·η·illumination·pointing·degradation``.

    ``illumination`` is the unobstructed fraction of the solar disc (1 in sunlight, 0 in
    umbra, between in penumbra); ``pointing_factor`` the cosine of the angle between the
    array normal and the Sun (1 for a Sun-tracking array); ``degradation`` the remaining
    fraction of beginning-of-life output (see :func:`degradation_factor`). The flux
    falls with the square of the distance to the Sun: +3.4 % at perihelion (0.983 AU),
    −3.3 % at aphelion (1.017 AU). All arguments broadcast.
    """
    r = _f64(sun_distance_au)
    return _f64(
        solar_constant_w_m2
        / (r * r)
        * _f64(area_m2)
        * _f64(efficiency)
        * _f64(illumination)
        * _f64(pointing_factor)
        * _f64(degradation)
    )


def degradation_factor(age_years: npt.ArrayLike, rate_per_year: npt.ArrayLike) -> FloatArray:
    """Remaining fraction of beginning-of-life output after ``age_years``: ``(1 − rate)^age``.

    The loss compounds: each year removes ``rate_per_year`` of what was left (solar cells
    in LEO lose roughly 0.5–3 %/yr to radiation and UV). Broadcasts.
    """
    return _f64(np.power(1.0 - _f64(rate_per_year), _f64(age_years)))


# --- Battery -----------------------------------------------------------------------------


def _check(ok: bool, field: str, value: object, allowed: str) -> None:
    if not ok:
        raise InputError(f"{value!r} is out of range", field=field, allowed=allowed)


def _storage_rate_w(
    net_power_w: FloatArray, charge_efficiency: FloatArray, discharge_efficiency: FloatArray
) -> FloatArray:
    """Rate of change of stored energy, W, for a net bus power (+ charge, − discharge)."""
    return np.where(
        net_power_w > 0.0,
        net_power_w * charge_efficiency,
        net_power_w / discharge_efficiency,
    )


def socs_after(
    soc: npt.ArrayLike,
    net_power_w: npt.ArrayLike,
    duration_s: npt.ArrayLike,
    capacity_wh: npt.ArrayLike,
    charge_efficiency: npt.ArrayLike = 1.0,
    discharge_efficiency: npt.ArrayLike = 1.0,
) -> FloatArray:
    """State of charge after holding ``net_power_w`` for ``duration_s``, for many batteries.

    Vectorized :meth:`Battery.soc_after`: the linear value
    ``soc + rate·duration_s / (capacity_wh·3600)``, clamped to [0, 1]. ``rate`` is
    ``net·η_charge`` when charging and ``net/η_discharge`` when discharging. Broadcasts.
    """
    rate_w = _storage_rate_w(_f64(net_power_w), _f64(charge_efficiency), _f64(discharge_efficiency))
    soc1 = _f64(soc) + rate_w * _f64(duration_s) / (_f64(capacity_wh) * SECONDS_PER_HOUR)
    return _f64(np.clip(soc1, 0.0, 1.0))


def times_to_floor_s(
    soc: npt.ArrayLike,
    net_power_w: npt.ArrayLike,
    capacity_wh: npt.ArrayLike,
    max_depth_of_discharge: npt.ArrayLike,
    discharge_efficiency: npt.ArrayLike = 1.0,
) -> FloatArray:
    """Seconds until the SOC floor ``1 − max_depth_of_discharge`` is reached, for many batteries.

    Vectorized :meth:`Battery.time_to_floor_s`:
    ``(soc − floor)·capacity_wh·3600·η_discharge / −net`` while discharging (``net < 0``),
    0 when already at or below the floor and discharging, ``inf`` when not discharging.
    Broadcasts.
    """
    s, p = _f64(soc), _f64(net_power_w)
    floor = 1.0 - _f64(max_depth_of_discharge)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        t = (s - floor) * _f64(capacity_wh) * SECONDS_PER_HOUR * _f64(discharge_efficiency) / -p
    return _f64(np.where(p < 0.0, np.maximum(t, 0.0), np.where(p >= 0.0, np.inf, np.nan)))


def times_to_full_s(
    soc: npt.ArrayLike,
    net_power_w: npt.ArrayLike,
    capacity_wh: npt.ArrayLike,
    charge_efficiency: npt.ArrayLike = 1.0,
) -> FloatArray:
    """Seconds until the battery is full (SOC 1), for many batteries.

    Vectorized :meth:`Battery.time_to_full_s`:
    ``(1 − soc)·capacity_wh·3600 / (net·η_charge)`` while charging (``net > 0``),
    0 when already full and charging, ``inf`` when not charging. Broadcasts.
    """
    s, p = _f64(soc), _f64(net_power_w)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        t = (1.0 - s) * _f64(capacity_wh) * SECONDS_PER_HOUR / (p * _f64(charge_efficiency))
    return _f64(np.where(p > 0.0, np.maximum(t, 0.0), np.where(p <= 0.0, np.inf, np.nan)))


@dataclass(frozen=True)
class Battery:
    """A battery integrated exactly between events, with constant net power in between.

    ``capacity_wh``: usable-when-full energy, Wh (> 0).
    ``max_depth_of_discharge``: fraction of capacity the operator allows to be drawn,
    (0, 1]; the SOC *floor* is ``1 − max_depth_of_discharge``. LEO batteries cycle
    5,000–6,000 times a year and are typically run at 30–40 % depth to last.
    ``charge_efficiency``: fraction of the power sent into the battery that is stored,
    (0, 1]; ``discharge_efficiency``: stored energy that reaches the bus, (0, 1]. Li-ion
    round trip is ~0.9–0.95; both default to 1.0 (ideal) so the closed forms read plainly.

    SOC is physical: methods return the exact linear value clamped to [0, 1] and never
    stop at the floor. Stopping there is the engine's decision (:mod:`twin.sim.engine`): in
    shadow it sheds the compute load when :meth:`time_to_floor_s` elapses, keeps the bus's
    idle draw on, and restores the load at shadow exit.
    """

    capacity_wh: float
    max_depth_of_discharge: float
    charge_efficiency: float = 1.0
    discharge_efficiency: float = 1.0

    def __post_init__(self) -> None:
        _check(
            0.0 < self.capacity_wh < math.inf,
            "capacity_wh",
            self.capacity_wh,
            "a finite energy > 0 Wh",
        )
        for name in ("max_depth_of_discharge", "charge_efficiency", "discharge_efficiency"):
            value = getattr(self, name)
            _check(0.0 < value <= 1.0, name, value, "a fraction in (0, 1]")

    @property
    def floor_soc(self) -> float:
        """Lowest SOC the operator allows: ``1 − max_depth_of_discharge``."""
        return 1.0 - self.max_depth_of_discharge

    def soc_after(self, soc: float, net_power_w: float, duration_s: float) -> float:
        """SOC after ``duration_s`` at constant ``net_power_w`` (generated − consumed, W).

        Exact for piecewise-constant loads: linear in time, clamped to [0, 1] (surplus
        above full is shunted away; the battery cannot give below empty).
        """
        _check_state(soc, net_power_w)
        _check(0.0 <= duration_s < math.inf, "duration_s", duration_s, "a finite time >= 0 s")
        return self.soc_after_unchecked(soc, net_power_w, duration_s)

    def soc_after_unchecked(self, soc: float, net_power_w: float, duration_s: float) -> float:
        """:meth:`soc_after` without argument checks, for the engine's hot path (it only
        passes values it produced). Scalar twin of :func:`socs_after`: the same float
        operations, so bit-identical; pure Python because numpy scalars are ~20x slower."""
        if net_power_w > 0.0:
            rate_w = net_power_w * self.charge_efficiency
        else:
            rate_w = net_power_w / self.discharge_efficiency
        soc1 = soc + rate_w * duration_s / (self.capacity_wh * SECONDS_PER_HOUR)
        return min(max(soc1, 0.0), 1.0)

    def time_to_floor_s(self, soc: float, net_power_w: float) -> float:
        """Seconds until SOC falls to :attr:`floor_soc` at constant ``net_power_w``.

        ``inf`` if not discharging (``net_power_w >= 0``); 0 if discharging and already at
        or below the floor; otherwise ``(soc − floor)·capacity_wh·3600·η_discharge / −net``.
        """
        _check_state(soc, net_power_w)
        return self.time_to_floor_unchecked_s(soc, net_power_w)

    def time_to_floor_unchecked_s(self, soc: float, net_power_w: float) -> float:
        """:meth:`time_to_floor_s` without argument checks, for the engine's hot path (it
        only passes values it produced)."""
        if net_power_w >= 0.0:
            return math.inf
        floor = 1.0 - self.max_depth_of_discharge
        t = (
            (soc - floor)
            * self.capacity_wh
            * SECONDS_PER_HOUR
            * self.discharge_efficiency
            / -net_power_w
        )
        return max(t, 0.0)

    def time_to_full_s(self, soc: float, net_power_w: float) -> float:
        """Seconds until SOC reaches 1 at constant ``net_power_w``.

        ``inf`` if not charging (``net_power_w <= 0``); 0 if charging and already full;
        otherwise ``(1 − soc)·capacity_wh·3600 / (net·η_charge)``.
        """
        _check_state(soc, net_power_w)
        return float(times_to_full_s(soc, net_power_w, self.capacity_wh, self.charge_efficiency))


def _check_state(soc: float, net_power_w: float) -> None:
    _check(0.0 <= soc <= 1.0, "soc", soc, "a state of charge in [0, 1]")
    _check(math.isfinite(net_power_w), "net_power_w", net_power_w, "a finite power in W")


# --- Radiator ----------------------------------------------------------------------------


def radiator_rejection_w(
    area_m2: npt.ArrayLike,
    emissivity: npt.ArrayLike,
    temperature_k: npt.ArrayLike,
    *,
    illumination: npt.ArrayLike = 1.0,
    sun_distance_au: npt.ArrayLike = 1.0,
    absorptivity: npt.ArrayLike = 0.09,
    solar_view_factor: npt.ArrayLike = 0.0,
    earth_view_factor: npt.ArrayLike = VERTICAL_PLATE_EARTH_VIEW_FACTOR,
    earth_ir_w_m2: float = EARTH_IR_W_M2,
    albedo: float = EARTH_ALBEDO,
    sink_temperature_k: float = 3.0,
    sides: int = 2,
    solar_constant_w_m2: float = SOLAR_CONSTANT_W_M2,
) -> FloatArray:
    """Net heat a flat radiator plate rejects, W: emitted to space minus absorbed input.

    The plate has ``area_m2`` per face and emits from ``sides`` faces (2 for a free-standing
    panel, 1 when the back is insulated)::

        emitted  = sides · ε · σ · A · (T⁴ − T_sink⁴)
        solar    = α · S·(1 AU/r)² · illumination · F_sun · A
        earth    = sides · F_earth · A · (ε · E_IR + α · albedo · S·(1 AU/r)² · illumination)
        net      = emitted − solar − earth

    ``F_sun`` (``solar_view_factor``) is the cosine of the Sun's incidence on the sunward
    face: 0 for a radiator held edge-on to the Sun (the usual design, and the default),
    1 for one facing it. ``F_earth`` (``earth_view_factor``) is the view factor from one
    emitting face to the Earth: default 0.25, a plate whose plane contains nadir in LEO
    (:data:`VERTICAL_PLATE_EARTH_VIEW_FACTOR`). Earth's infrared (``E_IR`` = 237 W/m²) is
    absorbed at the infrared absorptivity, which equals ε (Kirchhoff); sunlight, direct or
    reflected by Earth, at the solar absorptivity α (Z-93 white paint: 0.15 new, 0.36 at
    end of life; Starcloud assumes 0.09). ``illumination`` (1 in sunlight, 0 in eclipse)
    switches off direct sunlight and, as an approximation, the albedo (the ground below a
    shadowed satellite is mostly night), so a radiator rejects more in eclipse.

    Defaults reproduce Starcloud's figures at 20 °C (293.15 K), ε 0.92: 771 W/m² emitted
    from two faces, 643 W/m² net in sunlight (Starcloud: ~633) and 662 W/m² in eclipse.
    The result is negative when the input exceeds the emission (a radiator too cold for
    its environment). Broadcasts.
    """
    area = _f64(area_m2)
    eps = _f64(emissivity)
    alpha = _f64(absorptivity)
    t = _f64(temperature_k)
    r = _f64(sun_distance_au)
    sun_w_m2 = solar_constant_w_m2 / (r * r) * _f64(illumination)
    emitted = sides * eps * STEFAN_BOLTZMANN_W_M2_K4 * (t**4 - sink_temperature_k**4)
    solar = alpha * sun_w_m2 * _f64(solar_view_factor)
    earth = sides * _f64(earth_view_factor) * (eps * earth_ir_w_m2 + alpha * albedo * sun_w_m2)
    return _f64(area * (emitted - solar - earth))


def compute_power_cap_w(rejection_w: npt.ArrayLike, bus_idle_w: npt.ArrayLike) -> FloatArray:
    """Most compute power, W, the radiator allows: ``max(rejection − idle, 0)``.

    Every watt of electrical power consumed ends as heat, and the bus's own idle
    dissipation is rejected by the same radiator, so it comes off the top. (Battery
    losses are small and ignored; the arrays shed their own waste heat.) Broadcasts.
    """
    return _f64(np.maximum(_f64(rejection_w) - _f64(bus_idle_w), 0.0))


# --- Per-satellite budget ----------------------------------------------------------------


@dataclass(frozen=True)
class Bus:
    """The power-relevant design of one satellite bus.

    ``array_area_m2`` and ``array_efficiency`` (cells ~0.22–0.30) size the solar array;
    ``battery`` stores energy for eclipses; ``bus_idle_w`` is the bus's own draw
    (avionics, links, heaters), always on; ``accelerators`` × ``accelerator_w`` is
    the compute load at full demand; the radiator is a plate of ``radiator_area_m2`` per
    face at ``radiator_temperature_k`` (default 293.15 K = 20 °C) with emissivity and
    solar absorptivity as in :func:`radiator_rejection_w`.
    """

    array_area_m2: float
    array_efficiency: float
    battery: Battery
    bus_idle_w: float
    accelerators: int
    accelerator_w: float
    radiator_area_m2: float
    radiator_emissivity: float = 0.92
    radiator_temperature_k: float = 293.15
    radiator_absorptivity: float = 0.09

    def __post_init__(self) -> None:
        for name in ("array_area_m2", "bus_idle_w", "accelerator_w", "radiator_area_m2"):
            value = getattr(self, name)
            _check(0.0 <= value < math.inf, name, value, "a finite value >= 0")
        for name in ("array_efficiency", "radiator_emissivity"):
            value = getattr(self, name)
            _check(0.0 < value <= 1.0, name, value, "a fraction in (0, 1]")
        _check(
            0.0 <= self.radiator_absorptivity <= 1.0,
            "radiator_absorptivity",
            self.radiator_absorptivity,
            "a fraction in [0, 1]",
        )
        _check(
            0.0 < self.radiator_temperature_k < math.inf,
            "radiator_temperature_k",
            self.radiator_temperature_k,
            "a finite temperature > 0 K",
        )
        _check(
            isinstance(self.accelerators, int)
            and not isinstance(self.accelerators, bool)
            and self.accelerators >= 0,
            "accelerators",
            self.accelerators,
            "a whole number >= 0",
        )

    @property
    def compute_demand_w(self) -> float:
        """Compute power at full demand: ``accelerators × accelerator_w``, W."""
        return self.accelerators * self.accelerator_w


@dataclass(frozen=True)
class PowerBudget:
    """Power flows of one satellite during one phase of constant conditions, W.

    ``generated_w`` by the array; ``compute_w`` allowed (the demand, capped by the
    radiator); ``consumed_w = idle + compute_w``; ``radiator_cap_w`` the most compute the
    radiator allows; ``net_battery_w = generated − consumed`` (+ charges, − discharges),
    the value to pass to :class:`Battery` methods.
    """

    generated_w: float
    consumed_w: float
    compute_w: float
    radiator_cap_w: float
    net_battery_w: float


def power_budget(
    bus: Bus,
    illumination: float,
    sun_distance_au: float = 1.0,
    *,
    compute_demand_w: float | None = None,
    degradation: float = 1.0,
) -> PowerBudget:
    """Power budget of ``bus`` under ``illumination`` (0 eclipse .. 1 sunlight).

    ``compute_demand_w`` defaults to the bus's full demand; pass less (or 0 when shed).
    ``degradation`` scales the array output (:func:`degradation_factor`). The array is
    assumed Sun-tracking; the radiator uses :func:`radiator_rejection_w` defaults for its
    geometry. Compute allowed = ``min(demand, radiator cap)``: the battery then covers any
    shortfall of the array, and the engine sheds load at the battery floor.
    """
    demand_w = bus.compute_demand_w if compute_demand_w is None else compute_demand_w
    generated_w = float(
        array_power_w(
            bus.array_area_m2,
            bus.array_efficiency,
            illumination,
            sun_distance_au=sun_distance_au,
            degradation=degradation,
        )
    )
    rejection_w = radiator_rejection_w(
        bus.radiator_area_m2,
        bus.radiator_emissivity,
        bus.radiator_temperature_k,
        illumination=illumination,
        sun_distance_au=sun_distance_au,
        absorptivity=bus.radiator_absorptivity,
    )
    cap_w = float(compute_power_cap_w(rejection_w, bus.bus_idle_w))
    compute_w = min(demand_w, cap_w)
    consumed_w = bus.bus_idle_w + compute_w
    return PowerBudget(generated_w, consumed_w, compute_w, cap_w, generated_w - consumed_w)
