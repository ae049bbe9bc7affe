"""Sun position (Meeus ch. 25) against published values, in the equator/equinox of date."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from twin.physics.sun import AU_KM, TT_MINUS_UTC_S, sun_apparent, sun_distance_km, sun_ra_dec
from twin.timeutil import julian_date


def test_meeus_example_25a() -> None:
    # 1992 Oct 13.0 TD: apparent RA 13h13m31.4s, Dec -7°47'06", R = 0.99766 AU
    ra, dec, r_au = sun_ra_dec(2448908.5, -TT_MINUS_UTC_S / 86400.0)
    assert np.degrees(ra) == pytest.approx((13 + 13 / 60 + 31.4 / 3600) * 15, abs=0.01)
    assert np.degrees(dec) == pytest.approx(-(7 + 47 / 60 + 6 / 3600), abs=0.01)
    assert r_au == pytest.approx(0.99766, abs=1e-5)


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
    lam, eps, _ = sun_apparent(jd, fr)
    diff = (np.degrees(lam) - longitude_deg + 180) % 360 - 180
    assert abs(diff) < 0.01
    _, dec, _ = sun_ra_dec(jd, fr)
    expected_dec = np.degrees(np.arcsin(np.sin(eps) * np.sin(np.radians(longitude_deg))))
    assert np.degrees(dec) == pytest.approx(expected_dec, abs=0.01)
    assert np.degrees(eps) == pytest.approx(23.436, abs=0.003)  # true obliquity, 2026


def test_distance_perihelion_aphelion_and_vectorized() -> None:
    # 2026: perihelion Jan 3 (0.98331 AU), aphelion Jul 6 (1.01664 AU)
    jd = np.array([julian_date(datetime(2026, 1, 3, 17, tzinfo=UTC))[0],
                   julian_date(datetime(2026, 7, 6, 18, tzinfo=UTC))[0]])  # fmt: skip
    d = sun_distance_km(jd, np.array([17 / 24, 18 / 24]))
    assert d.shape == (2,)
    assert d / AU_KM == pytest.approx([0.98331, 1.01664], abs=1e-4)  # series omits the Moon
