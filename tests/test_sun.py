"""The Sun (VSOP87D truncated + IAU 1980 nutation, in TEME) against Meeus and against DE421.

The DE421 reference (``reference.py``: the JPL ephemeris through Skyfield, IAU 2000A
nutation, Skyfield's TEME) is a test dependency: if it is missing these tests fail.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from reference import de421_sun_teme_km
from skyfield.api import load

from twin.physics.sun import (
    AU_KM,
    _teme_km_tt,
    sun_apparent,
    sun_distance_km,
    sun_position_teme_km,
    sun_ra_dec,
    tt_minus_utc_s,
)
from twin.timeutil import julian_date, julian_dates

ARCSEC = np.pi / 180 / 3600


def _angle_arcsec(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    cross = np.linalg.norm(np.cross(a, b), axis=-1)
    return np.arctan2(cross, np.sum(a * b, axis=-1)) / ARCSEC


def test_meeus_example_25b() -> None:
    # 1992 Oct 13.0 TD (Meeus example 25.b, the same truncated VSOP87 + FK5 + nutation +
    # aberration): α = 198.378178°, δ = −7.783871°, R = 0.99760775 AU
    jd = 2448908.5
    fr = -float(tt_minus_utc_s(jd)) / 86400.0
    ra, dec, r_au = sun_ra_dec(jd, fr)
    assert np.degrees(ra) == pytest.approx(198.378178, abs=2e-6)
    assert np.degrees(dec) == pytest.approx(-7.783871, abs=2e-6)
    assert r_au == pytest.approx(0.99760775, abs=2e-8)


@pytest.mark.parametrize(
    ("when", "longitude_deg"),
    [  # 2026 equinoxes and solstices (UTC, to the minute)
        ("2026-03-20T14:46:00", 0.0),
        ("2026-06-21T08:24:00", 90.0),
        ("2026-09-23T00:05:00", 180.0),
        ("2026-12-21T20:50:00", 270.0),
    ],
)
def test_equinoxes_and_solstices(when: str, longitude_deg: float) -> None:
    jd, fr = julian_date(datetime.fromisoformat(when).replace(tzinfo=UTC))
    sun = sun_apparent(jd, fr)
    diff = (np.degrees(sun.longitude_rad) - longitude_deg + 180) % 360 - 180
    assert abs(diff) < 0.001  # the Sun moves 0.0007° a minute
    assert np.degrees(sun.obliquity_rad) == pytest.approx(23.436, abs=0.003)  # true, 2026


def test_distance_perihelion_aphelion_and_vectorized() -> None:
    # 2026: perihelion Jan 3 (0.98331 AU), aphelion Jul 6 (1.01664 AU)
    jd = np.array([julian_date(datetime(2026, 1, 3, 17, tzinfo=UTC))[0],
                   julian_date(datetime(2026, 7, 6, 18, tzinfo=UTC))[0]])  # fmt: skip
    d = sun_distance_km(jd, np.array([17 / 24, 18 / 24]))
    assert d.shape == (2,)
    assert d / AU_KM == pytest.approx([0.98331, 1.01664], abs=2e-5)


def test_tt_minus_utc_matches_skyfield_leap_seconds() -> None:
    ts = load.timescale(builtin=True)
    for year in range(1950, 2101, 2):
        for month in (1, 7):
            when = datetime(year, month, 2, tzinfo=UTC)
            t = ts.from_datetime(when)
            jd, fr = julian_date(when)
            expected = (t.tt - (jd + fr)) * 86400.0
            assert float(tt_minus_utc_s(jd, fr)) == pytest.approx(expected, abs=1e-3), when


def _random_times(start: datetime, end: datetime, n: int, seed: int) -> list[datetime]:
    rng = np.random.default_rng(seed)
    span = (end - start).total_seconds()
    return [start + timedelta(seconds=round(float(s))) for s in np.sort(rng.uniform(0, span, n))]


@pytest.mark.parametrize(
    ("start", "end", "max_arcsec"),
    [
        (1950, 2000, 1.0),
        (2000, 2050, 1.0),
        (2020, 2030, 0.5),
    ],
)
def test_direction_within_an_arcsecond_of_de421(start: int, end: int, max_arcsec: float) -> None:
    when = _random_times(
        datetime(start, 1, 1, tzinfo=UTC), datetime(end, 1, 1, tzinfo=UTC), 600, start
    )
    ref = de421_sun_teme_km(when)
    epoch = when[0]
    jd, fr = julian_dates(epoch, [(w - epoch).total_seconds() for w in when])
    ours = sun_position_teme_km(jd, fr)
    err = _angle_arcsec(ours, ref)
    assert err.max() < max_arcsec, f"worst {err.max():.3f}″ at {when[int(np.argmax(err))]}"
    assert np.sqrt(np.mean(err**2)) < 0.3
    dist_err = np.abs(np.linalg.norm(ours, axis=1) - np.linalg.norm(ref, axis=1))
    assert dist_err.max() < 5e-6 * AU_KM  # the truncated R series: ~2e-6 AU


def test_interpolated_grid_matches_the_series() -> None:
    # the TEME position is interpolated between half-day nodes: compare with the series
    epoch = datetime(2026, 3, 20, tzinfo=UTC)
    seconds = np.arange(0.0, 3 * 86400.0, 517.0)
    jd, fr = julian_dates(epoch, seconds)
    fast = sun_position_teme_km(jd, fr)
    t = ((jd - 2451545.0) + fr + tt_minus_utc_s(jd, fr) / 86400.0) / 36525.0
    direct = _teme_km_tt(t)
    assert _angle_arcsec(fast, direct).max() < 1e-4
    # a time's value does not depend on the other times in the call
    one = sun_position_teme_km(jd[7:8], fr[7:8])
    assert np.array_equal(one[0], fast[7])
