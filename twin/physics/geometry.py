"""Orbit geometry against the Sun and the ground: beta angle, eclipse fraction, station passes.

* **Beta angle** β: angle between the Sun direction and the orbit plane,
  ``β = asin(ĥ · ŝ)`` with ``ĥ = r × v / |r × v|`` the orbit normal. β drives eclipses: a
  circular orbit is shadowed each revolution only while ``|β| < β* = asin(R/(R+h))``.
* **Eclipse fraction** of a circular orbit in a cylindrical shadow
  ``f = acos(√(h² + 2Rh) / ((R+h) cos β)) / π`` (docs/sources.md), and the fraction actually
  measured from the conical-shadow passes of :mod:`twin.physics.eclipses`.
* **Ground-station passes**: acquisition (AOS) and loss (LOS) of signal above a minimum
  elevation. TEME is rotated to Earth-fixed (pseudo-Earth-fixed, no polar motion) by the
  Greenwich mean sidereal time of IAU 1982 (UT1 ≈ UTC, < 0.9 s); stations are WGS84 geodetic.
  The search is the same coarse-grid + Hermite + Newton method as for eclipses, on
  ``sin(elevation) − sin(min elevation)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt
from sgp4.api import Satrec

from twin.constants import EARTH_RADIUS_KM, SECONDS_PER_DAY, WGS84_FLATTENING
from twin.physics.eclipses import (
    EclipseTable,
    EventFunction,
    find_crossings,
    intervals_from_crossings,
)
from twin.physics.orbits import Fleet
from twin.physics.propagate import propagate
from twin.physics.sun import sun_position_teme_km
from twin.timeutil import julian_dates

FloatArray = npt.NDArray[np.float64]

EARTH_ROTATION_RAD_S = 7.292115146706979e-5


def orbit_normal(r_teme_km: npt.ArrayLike, v_teme_km_s: npt.ArrayLike) -> FloatArray:
    """Unit orbit normal ``r × v / |r × v|`` (…, 3), same frame as the inputs."""
    h = np.cross(np.asarray(r_teme_km, np.float64), np.asarray(v_teme_km_s, np.float64))
    return np.asarray(h / np.linalg.norm(h, axis=-1, keepdims=True), dtype=np.float64)


def beta_angle_rad(
    r_teme_km: npt.ArrayLike, v_teme_km_s: npt.ArrayLike, r_sun_teme_km: npt.ArrayLike
) -> FloatArray:
    """Beta angle (rad, −π/2..π/2): Sun elevation above the orbit plane, positive on the
    side of the orbit normal. Shapes broadcast over leading axes."""
    sun = np.asarray(r_sun_teme_km, np.float64)
    s_hat = sun / np.linalg.norm(sun, axis=-1, keepdims=True)
    dot = np.sum(orbit_normal(r_teme_km, v_teme_km_s) * s_hat, axis=-1)
    return np.asarray(np.arcsin(np.clip(dot, -1.0, 1.0)), dtype=np.float64)


def fleet_beta_angles_rad(
    fleet: Fleet | Sequence[Satrec], epoch: datetime, seconds: npt.ArrayLike
) -> FloatArray:
    """Beta angles (n satellites, m times) in radians at ``seconds`` since ``epoch``."""
    states = propagate(fleet, epoch, seconds)
    sun = sun_position_teme_km(*julian_dates(epoch, states.seconds))
    return beta_angle_rad(states.r_teme_km, states.v_teme_km_s, sun)


def critical_beta_rad(
    altitude_km: npt.ArrayLike, *, earth_radius_km: float = EARTH_RADIUS_KM
) -> FloatArray:
    """β* = asin(R/(R+h)): above it a circular orbit sees no (cylindrical) eclipse."""
    h = np.asarray(altitude_km, np.float64)
    return np.asarray(np.arcsin(earth_radius_km / (earth_radius_km + h)), dtype=np.float64)


def eclipse_fraction_cylindrical(
    beta_rad: npt.ArrayLike,
    altitude_km: npt.ArrayLike,
    *,
    earth_radius_km: float = EARTH_RADIUS_KM,
) -> FloatArray:
    """Share of a circular orbit spent in a cylindrical shadow (0..0.5), docs/sources.md:
    ``f = acos(√(h² + 2Rh) / ((R+h)·cos β)) / π``, 0 when ``|β| ≥ β*``."""
    b = np.asarray(beta_rad, np.float64)
    h = np.asarray(altitude_km, np.float64)
    r = earth_radius_km
    with np.errstate(divide="ignore", invalid="ignore"):
        x = np.sqrt(h * h + 2 * r * h) / ((r + h) * np.cos(b))
        f = np.where(x < 1.0, np.arccos(np.minimum(x, 1.0)) / np.pi, 0.0)
    return np.asarray(f, dtype=np.float64)


def shadow_fraction(table: EclipseTable, n_sats: int, start_s: float, end_s: float) -> FloatArray:
    """Measured share of ``[start_s, end_s]`` each satellite spends in shadow (penumbra
    included), from an :class:`EclipseTable` of that span; shape (n_sats,)."""
    a = np.where(np.isnan(table.shadow_start_s), start_s, table.shadow_start_s)
    b = np.where(np.isnan(table.shadow_end_s), end_s, table.shadow_end_s)
    total = np.zeros(n_sats)
    np.add.at(total, table.sat, b - a)
    span = end_s - start_s
    return np.asarray(total / span if span > 0 else total, dtype=np.float64)


# --------------------------------------------------------------------------- ground


def gmst_rad(jd: npt.ArrayLike, fr: npt.ArrayLike) -> FloatArray:
    """Greenwich mean sidereal time (rad, 0..2π), IAU 1982 (Vallado eq. 3-47), UT1 ≈ UTC."""
    jd_a = np.asarray(jd, np.float64)
    fr_a = np.asarray(fr, np.float64)
    days = (jd_a - 2451545.0) + fr_a
    t = days / 36525.0
    # the (876600 h)·T term is exactly 86400 s per day, i.e. whole turns plus the day
    # fraction; take the fraction from the split date to keep precision
    day_frac = np.mod((jd_a - 2451545.0) + fr_a, 1.0)
    sec = (
        67310.54841
        + day_frac * SECONDS_PER_DAY
        + 8640184.812866 * t
        + 0.093104 * t**2
        - 6.2e-6 * t**3
    )
    return np.asarray(np.mod(sec / 240.0 * np.pi / 180.0, 2 * np.pi), dtype=np.float64)


def teme_to_ecef(r_teme_km: npt.ArrayLike, gmst: npt.ArrayLike) -> FloatArray:
    """Rotate TEME positions (…, 3) into the Earth-fixed frame (no polar motion)."""
    r = np.asarray(r_teme_km, np.float64)
    c, s = np.cos(gmst), np.sin(gmst)
    x, y = r[..., 0], r[..., 1]
    return np.asarray(np.stack([c * x + s * y, -s * x + c * y, r[..., 2]], axis=-1), np.float64)


@dataclass(frozen=True)
class Station:
    """A ground station: WGS84 geodetic latitude/longitude (degrees, east positive), altitude
    above the ellipsoid (km)."""

    name: str
    lat_deg: float
    lon_deg: float
    alt_km: float = 0.0


def geodetic_to_ecef(
    lat_deg: npt.ArrayLike, lon_deg: npt.ArrayLike, alt_km: npt.ArrayLike
) -> FloatArray:
    """WGS84 geodetic → Earth-fixed Cartesian (…, 3), km."""
    lat = np.radians(np.asarray(lat_deg, np.float64))
    lon = np.radians(np.asarray(lon_deg, np.float64))
    h = np.asarray(alt_km, np.float64)
    e2 = WGS84_FLATTENING * (2 - WGS84_FLATTENING)
    n = EARTH_RADIUS_KM / np.sqrt(1 - e2 * np.sin(lat) ** 2)
    return np.asarray(
        np.stack(
            [
                (n + h) * np.cos(lat) * np.cos(lon),
                (n + h) * np.cos(lat) * np.sin(lon),
                (n * (1 - e2) + h) * np.sin(lat),
            ],
            axis=-1,
        ),
        dtype=np.float64,
    )


def _station_frames(stations: Sequence[Station]) -> tuple[FloatArray, FloatArray]:
    lat = np.radians([s.lat_deg for s in stations])
    lon = np.radians([s.lon_deg for s in stations])
    pos = geodetic_to_ecef(
        [s.lat_deg for s in stations], [s.lon_deg for s in stations], [s.alt_km for s in stations]
    )
    up = np.stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)], axis=-1)
    return pos, np.asarray(up, np.float64)


def elevation_rad(
    r_teme_km: npt.ArrayLike, jd: npt.ArrayLike, fr: npt.ArrayLike, stations: Sequence[Station]
) -> FloatArray:
    """Elevation (rad) of each satellite position from each station: (k stations, …)."""
    pos, up = _station_frames(stations)
    ecef = teme_to_ecef(r_teme_km, gmst_rad(jd, fr))
    out = []
    for k in range(len(stations)):
        rho = ecef - pos[k]
        sin_el = np.sum(rho * up[k], axis=-1) / np.linalg.norm(rho, axis=-1)
        out.append(np.arcsin(np.clip(sin_el, -1, 1)))
    return np.asarray(np.stack(out), dtype=np.float64)


def elevation_event_function(
    epoch: datetime, stations: Sequence[Station], min_elevation_deg: float
) -> EventFunction:
    """Event function ``sin(elevation) − sin(min elevation)`` per station, (k, …), with its
    time derivative (Earth-fixed velocity ``v_ecef = R·v_teme − ω × r_ecef``)."""
    pos, up = _station_frames(stations)
    sin_min = np.sin(np.radians(min_elevation_deg))

    def g(r: FloatArray, v: FloatArray, seconds: FloatArray) -> tuple[FloatArray, FloatArray]:
        theta = gmst_rad(*julian_dates(epoch, seconds))
        ecef = teme_to_ecef(r, theta)
        vel = teme_to_ecef(v, theta)
        vx = vel[..., 0] + EARTH_ROTATION_RAD_S * ecef[..., 1]
        vy = vel[..., 1] - EARTH_ROTATION_RAD_S * ecef[..., 0]
        vz = vel[..., 2]
        values, rates = [], []
        for k in range(len(stations)):
            dx = ecef[..., 0] - pos[k, 0]
            dy = ecef[..., 1] - pos[k, 1]
            dz = ecef[..., 2] - pos[k, 2]
            dist = np.sqrt(dx * dx + dy * dy + dz * dz)
            sin_el = (dx * up[k, 0] + dy * up[k, 1] + dz * up[k, 2]) / dist
            range_rate = (dx * vx + dy * vy + dz * vz) / dist
            up_rate = vx * up[k, 0] + vy * up[k, 1] + vz * up[k, 2]
            values.append(sin_el - sin_min)
            rates.append(up_rate / dist - sin_el * range_rate / dist)
        return np.asarray(np.stack(values), np.float64), np.asarray(np.stack(rates), np.float64)

    return g


@dataclass(frozen=True)
class StationPass:
    """A pass of a satellite over a station, seconds since the epoch; ``None`` where the
    span cut the pass."""

    satellite: str
    sat_index: int
    station: str
    station_index: int
    aos: float | None
    los: float | None


def station_passes(
    fleet: Fleet,
    epoch: datetime,
    start_s: float,
    end_s: float,
    stations: Sequence[Station],
    *,
    min_elevation_deg: float = 10.0,
    step_s: float = 120.0,
) -> list[StationPass]:
    """AOS/LOS of every satellite over every station in ``[start_s, end_s]``.

    Sorted by satellite, station, then time. ``step_s`` is the coarse grid (120 s: a LEO
    pass above 10° lasts several minutes; passes shorter than ~60 s may be missed).
    """
    if not fleet.satrecs or not stations:
        return []
    func = elevation_event_function(epoch, stations, min_elevation_deg)
    cr = find_crossings(fleet.satrecs, epoch, start_s, end_s, func, step_s=step_s)
    out: list[StationPass] = []
    for k, st in enumerate(stations):
        sel = cr.func == k
        # "negative" intervals of −g are the visible ones: flip the direction
        s, a, b = intervals_from_crossings(
            cr.sat[sel], cr.t_s[sel], ~cr.rising[sel], ~cr.negative_at_start[k]
        )
        for si, aa, bb in zip(s.tolist(), a.tolist(), b.tolist(), strict=True):
            out.append(
                StationPass(
                    satellite=fleet.names[si],
                    sat_index=si,
                    station=st.name,
                    station_index=k,
                    aos=None if np.isnan(aa) else aa,
                    los=None if np.isnan(bb) else bb,
                )
            )
    out.sort(key=lambda p: (p.sat_index, p.station_index, -np.inf if p.aos is None else p.aos))
    return out
