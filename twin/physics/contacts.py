"""Ground contacts for a whole fleet: when is each satellite above each station's mask?

A contact is the span a satellite stays above a station's minimum elevation (acquisition
of signal, AOS, to loss of signal, LOS). The search is the eclipse search's
(:func:`twin.physics.eclipses.find_crossings`: coarse SGP4 grid, Hermite bracketing, Newton
on real SGP4 states), on ``sin(elevation) − sin(mask)`` with one mask per station
(:func:`twin.physics.geometry.elevation_event_function` gives the elevation and its rate);
vectorized over satellites × stations × times, no per-satellite loop.

Accuracy: crossing times within 1 s of the model's (tested: a station under a circular
equatorial orbit sees the analytic pass length). Passes shorter than about half the grid
step (60 s at the default 120 s) may be missed; a LEO pass above 10° lasts minutes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt
from sgp4.api import Satrec

from twin.constants import EARTH_RADIUS_KM
from twin.physics.eclipses import EventFunction, find_crossings, intervals_from_crossings
from twin.physics.geometry import Station, elevation_event_function

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class ContactTable:
    """Columnar contacts, one row per pass of a satellite over a station, sorted by AOS
    (then satellite, station). Times in seconds since the epoch; NaN where the span cut
    the pass (in contact at the start, or still at the end)."""

    sat: IntArray
    station: IntArray
    aos_s: FloatArray
    los_s: FloatArray

    def __len__(self) -> int:
        return int(self.sat.size)


def masked_elevation_function(
    epoch: datetime, stations: Sequence[Station], min_elevation_deg: Sequence[float]
) -> EventFunction:
    """``sin(elevation) − sin(mask_k)`` per station ``k`` (k, …), with its time derivative."""
    base = elevation_event_function(epoch, stations, 0.0)
    offsets = np.sin(np.radians(np.asarray(min_elevation_deg, np.float64)))

    def g(r: FloatArray, v: FloatArray, seconds: FloatArray) -> tuple[FloatArray, FloatArray]:
        values, rates = base(r, v, seconds)
        shift = offsets.reshape((-1,) + (1,) * (values.ndim - 1))
        return values - shift, rates

    return g


def contact_table(
    satrecs: Sequence[Satrec],
    epoch: datetime,
    start_s: float,
    end_s: float,
    stations: Sequence[Station],
    min_elevation_deg: Sequence[float],
    *,
    step_s: float = 120.0,
) -> ContactTable:
    """Every contact of every satellite with every station in ``[start_s, end_s]``."""
    if len(min_elevation_deg) != len(stations):
        raise ValueError("one minimum elevation per station")
    if not satrecs or not stations:
        e = np.zeros(0)
        return ContactTable(np.zeros(0, np.int64), np.zeros(0, np.int64), e, e)
    func = masked_elevation_function(epoch, stations, min_elevation_deg)
    cr = find_crossings(list(satrecs), epoch, start_s, end_s, func, step_s=step_s)
    sats, stns, aos, los = [], [], [], []
    for k in range(len(stations)):
        sel = cr.func == k
        # the visible spans are where g > 0: the "negative" intervals of −g
        s, a, b = intervals_from_crossings(
            cr.sat[sel], cr.t_s[sel], ~cr.rising[sel], ~cr.negative_at_start[k]
        )
        sats.append(s)
        stns.append(np.full(s.size, k, np.int64))
        aos.append(a)
        los.append(b)
    sat = np.concatenate(sats)
    station = np.concatenate(stns)
    a_s = np.concatenate(aos)
    b_s = np.concatenate(los)
    order = np.lexsort((station, sat, np.where(np.isnan(a_s), -np.inf, a_s)))
    return ContactTable(sat[order], station[order], a_s[order], b_s[order])


def max_slant_range_km(altitude_km: float, min_elevation_deg: float) -> float:
    """Slant range (km) to a satellite at ``altitude_km`` seen at the mask elevation: the
    longest ground link of a contact (spherical Earth)."""
    r = EARTH_RADIUS_KM
    s = r * math.sin(math.radians(min_elevation_deg))
    return -s + math.sqrt(s * s + altitude_km * altitude_km + 2.0 * r * altitude_km)


def overhead_pass_duration_s(
    radius_km: float, angular_rate_rad_s: float, min_elevation_deg: float
) -> float:
    """Analytic length of a pass straight over a station on a spherical Earth, for a circular
    orbit of ``radius_km`` whose ground track moves at ``angular_rate_rad_s`` (inertial rate
    minus Earth's rotation for a prograde equatorial orbit): 2λ / rate with the Earth central
    angle λ = acos(R cos ε / r) − ε at the mask ε."""
    eps = math.radians(min_elevation_deg)
    lam = math.acos(EARTH_RADIUS_KM * math.cos(eps) / radius_km) - eps
    return 2.0 * lam / angular_rate_rad_s
