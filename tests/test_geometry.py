"""Beta angle, eclipse fraction and ground-station passes (against brute force)."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import pytest
from test_eclipses import EPOCH, satellite

from twin.physics.eclipses import eclipse_table
from twin.physics.geometry import (
    Station,
    critical_beta_rad,
    eclipse_fraction_cylindrical,
    elevation_rad,
    fleet_beta_angles_rad,
    geodetic_to_ecef,
    gmst_rad,
    shadow_fraction,
    station_passes,
    teme_to_ecef,
)
from twin.physics.orbits import Fleet
from twin.physics.sun import sun_position_teme_km
from twin.timeutil import julian_dates


def test_gmst_vallado_example() -> None:
    # Vallado, Fundamentals of Astrodynamics, ex. 3-5: 1992-08-20 12:14 UT1 -> 152.578788°
    assert math.degrees(gmst_rad(2448854.5, (12 * 60 + 14) / 1440)) == pytest.approx(
        152.578787886, abs=1e-6
    )


def test_geodetic_and_frames() -> None:
    assert geodetic_to_ecef(0, 0, 0) == pytest.approx([6378.137, 0, 0])
    assert geodetic_to_ecef(90, 0, 0) == pytest.approx([0, 0, 6356.7523142], abs=1e-6)
    assert geodetic_to_ecef(0, 90, 1.0) == pytest.approx([0, 6379.137, 0], abs=1e-9)
    # rotating by GMST keeps length and z
    r = np.array([[7000.0, 100.0, 300.0]])
    e = teme_to_ecef(r, 1.0)
    assert np.linalg.norm(e) == pytest.approx(np.linalg.norm(r))
    assert e[0, 2] == 300.0


def test_reference_numbers_for_cylindrical_fraction() -> None:
    assert math.degrees(critical_beta_rad(550)) == pytest.approx(67.0, abs=0.1)
    assert math.degrees(critical_beta_rad(650)) == pytest.approx(65.2, abs=0.1)
    period_min = 2 * math.pi * math.sqrt((6378.137 + 550) ** 3 / 398600.4418) / 60
    assert period_min == pytest.approx(95.6, abs=0.1)
    assert eclipse_fraction_cylindrical(0.0, 550) * period_min == pytest.approx(35.6, abs=0.1)
    assert eclipse_fraction_cylindrical(math.radians(68), 550) == 0.0


@pytest.mark.parametrize("beta_target_deg", [0.0, 30.0, 55.0])
def test_measured_fraction_matches_cylindrical_within_a_minute(beta_target_deg: float) -> None:
    # polar orbit, node turned from the Sun by β: the Sun sits β off the plane
    jd, fr = julian_dates(EPOCH, [0.0])
    sun = sun_position_teme_km(jd, fr)[0]
    ra = math.degrees(math.atan2(sun[1], sun[0]))
    dec = math.degrees(math.asin(sun[2] / np.linalg.norm(sun)))
    assert abs(dec) < 25
    fleet = Fleet(["P"], [satellite(1, 90.0, 550, ra + beta_target_deg, 0)])
    beta = fleet_beta_angles_rad(fleet, EPOCH, np.arange(0, 6000, 600.0))
    assert beta.shape == (1, 10)
    # |β| = asin(cos δ · sin Δ): check it is where we put it
    expected = math.degrees(
        math.asin(math.cos(math.radians(dec)) * math.sin(math.radians(beta_target_deg)))
    )
    assert abs(math.degrees(beta[0, 0])) == pytest.approx(abs(expected), abs=0.5)
    period_s = 2 * math.pi / fleet.satrecs[0].no_kozai * 60
    span = 3 * period_s
    table = eclipse_table(fleet, EPOCH, 0.0, span)
    measured = shadow_fraction(table, 1, 0.0, span)[0] * period_s / 60
    analytic = float(eclipse_fraction_cylindrical(np.mean(beta), 550)) * period_s / 60
    assert measured == pytest.approx(analytic, abs=1.0)


# ---------------------------------------------------------------- ground stations

STATIONS = [
    Station("Svalbard", 78.23, 15.39, 0.5),
    Station("Wallops", 37.94, -75.46, 0.0),
    Station("Equator", 0.0, 100.0, 0.0),
]


def _brute_passes(sat, k: int, span_s: float, min_el_deg: float) -> list[tuple[float, float]]:
    t = np.arange(0.0, span_s + 0.5, 1.0)

    def el(ts: np.ndarray) -> np.ndarray:
        jd, fr = julian_dates(EPOCH, ts)
        _, r, _ = sat.sgp4_array(jd, fr)
        return np.degrees(elevation_rad(r, jd, fr, [STATIONS[k]])[0]) - min_el_deg

    g = el(t)
    above = g > 0
    i = np.flatnonzero(above[1:] != above[:-1])
    a, b = t[i].copy(), t[i + 1].copy()
    rising = ~above[i]
    for _ in range(20):
        mid = 0.5 * (a + b)
        left = (el(mid) > 0) == rising
        b = np.where(left, mid, b)
        a = np.where(left, a, mid)
    roots = 0.5 * (a + b)
    out, aos = [], (math.nan if above[0] else None)
    for tr, up in zip(roots, rising, strict=True):
        if up:
            aos = tr
        else:
            out.append((aos if aos is not None else math.nan, tr))
            aos = None
    if aos is not None:
        out.append((aos, math.nan))
    return out


def test_station_passes_match_brute_force() -> None:
    fleet = Fleet(
        ["ISS-LIKE", "SSO"],
        [satellite(1, 51.6, 420, 30, 0), satellite(2, 97.8, 600, 300, 90)],
    )
    span = 12 * 3600.0
    passes = station_passes(fleet, EPOCH, 0.0, span, STATIONS, min_elevation_deg=10.0)
    assert passes == sorted(
        passes, key=lambda p: (p.sat_index, p.station_index, -1 if p.aos is None else p.aos)
    )
    worst, count = 0.0, 0
    for i, sat in enumerate(fleet.satrecs):
        for k in range(len(STATIONS)):
            ref = _brute_passes(sat, k, span, 10.0)
            ours = [
                (math.nan if p.aos is None else p.aos, math.nan if p.los is None else p.los)
                for p in passes
                if p.sat_index == i and p.station_index == k
            ]
            long_ref = [p for p in ref if np.nan_to_num(p[1], nan=span) - np.nan_to_num(p[0]) > 60]
            for rp in long_ref:
                match = [o for o in ours if abs(np.nan_to_num(o[0]) - np.nan_to_num(rp[0])) < 5]
                assert len(match) == 1, (fleet.names[i], STATIONS[k].name, rp, ours)
                for x, y in zip(rp, match[0], strict=True):
                    assert math.isnan(x) == math.isnan(y)
                    if not math.isnan(x):
                        worst = max(worst, abs(x - y))
                count += 1
            assert len(ours) <= len(ref)
    assert count >= 8
    assert worst < 1.0


def test_station_order_does_not_change_passes() -> None:
    t = datetime(2026, 11, 23, 6, tzinfo=UTC)
    fleet = Fleet(["A"], [satellite(1, 51.6, 420, 30, 0)])
    one = station_passes(fleet, t, 0.0, 6 * 3600.0, STATIONS[1:2])
    both = station_passes(fleet, t, 0.0, 6 * 3600.0, STATIONS[::-1])
    assert [(p.aos, p.los) for p in one] == [(p.aos, p.los) for p in both if p.station == "Wallops"]
