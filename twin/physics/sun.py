"""The Sun's geocentric position from an analytic series, in the frame SGP4 uses.

Source: J. Meeus, *Astronomical Algorithms* (2nd ed., 1998), chapter 25, "low accuracy"
method (accuracy ~0.01°): geometric mean longitude ``L0``, mean anomaly ``M``, equation of
centre ``C``, radius vector ``R``, then the *apparent* longitude ``λ`` (corrected for
nutation in longitude and aberration) and the *true* obliquity ``ε`` of date.

Frame: SGP4 returns TEME (true equator, mean equinox of date). Rotating ``λ`` by the true
obliquity gives the Sun in the true equator and true equinox of date; TEME differs from that
only by the equation of the equinoxes (≤ 1.2 arcsec, 0.0003°), far below the series'
0.01°, so it is neglected. Using J2000 coordinates instead would be wrong by the precession
since 2000 (~0.36° in 2026, about 5 s of LEO orbital motion at a shadow boundary).

Time: inputs are UTC split Julian dates; the series needs TT, taken as
UTC + 69.184 s (TAI−UTC = 37 s since 2017, TT−TAI = 32.184 s). The Sun moves 0.04°/h, so
an error of a second in this offset is ~1e-5°.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from twin.constants import AU_KM, SECONDS_PER_DAY

TT_MINUS_UTC_S = 69.184
"""TT − UTC in seconds, valid from 2017-01-01 until the next leap second."""
J2000_JD = 2451545.0

FloatArray = npt.NDArray[np.float64]


def _centuries_tt(jd: npt.ArrayLike, fr: npt.ArrayLike) -> FloatArray:
    """Julian centuries of TT since J2000 from UTC split Julian dates."""
    days = (np.asarray(jd, dtype=np.float64) - J2000_JD) + np.asarray(fr, dtype=np.float64)
    return np.asarray((days + TT_MINUS_UTC_S / SECONDS_PER_DAY) / 36525.0, dtype=np.float64)


def sun_apparent(jd: npt.ArrayLike, fr: npt.ArrayLike) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Apparent ecliptic longitude ``λ`` (rad), true obliquity ``ε`` (rad), distance (AU).

    ``jd + fr`` is the UTC Julian date (split for precision), any broadcastable shapes.
    """
    t = _centuries_tt(jd, fr)
    l0 = 280.46646 + 36000.76983 * t + 0.0003032 * t**2
    m = np.radians(357.52911 + 35999.05029 * t - 0.0001537 * t**2)
    e = 0.016708634 - 0.000042037 * t - 0.0000001267 * t**2
    c = (
        (1.914602 - 0.004817 * t - 0.000014 * t**2) * np.sin(m)
        + (0.019993 - 0.000101 * t) * np.sin(2 * m)
        + 0.000289 * np.sin(3 * m)
    )
    true_long = l0 + c
    nu = m + np.radians(c)
    r_au = 1.000001018 * (1 - e**2) / (1 + e * np.cos(nu))
    omega = np.radians(125.04 - 1934.136 * t)
    lam = np.radians(true_long - 0.00569 - 0.00478 * np.sin(omega))
    eps0 = 23.0 + 26.0 / 60 + (21.448 - 46.8150 * t - 0.00059 * t**2 + 0.001813 * t**3) / 3600
    eps = np.radians(eps0 + 0.00256 * np.cos(omega))
    return (
        np.asarray(np.mod(lam, 2 * np.pi), dtype=np.float64),
        np.asarray(eps, dtype=np.float64),
        np.asarray(r_au, dtype=np.float64),
    )


def sun_ra_dec(jd: npt.ArrayLike, fr: npt.ArrayLike) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Apparent right ascension (rad, 0..2π), declination (rad) and distance (AU) of the Sun."""
    lam, eps, r_au = sun_apparent(jd, fr)
    ra = np.mod(np.arctan2(np.cos(eps) * np.sin(lam), np.cos(lam)), 2 * np.pi)
    dec = np.arcsin(np.sin(eps) * np.sin(lam))
    return np.asarray(ra, dtype=np.float64), np.asarray(dec, dtype=np.float64), r_au


def sun_distance_km(jd: npt.ArrayLike, fr: npt.ArrayLike) -> FloatArray:
    """Earth–Sun distance in km."""
    return np.asarray(sun_apparent(jd, fr)[2] * AU_KM, dtype=np.float64)


def sun_position_teme_km(jd: npt.ArrayLike, fr: npt.ArrayLike) -> FloatArray:
    """Geocentric Sun position in TEME (true equator, ~mean equinox of date), km.

    Returns shape ``broadcast(jd, fr).shape + (3,)``.
    """
    lam, eps, r_au = sun_apparent(jd, fr)
    r_km = r_au * AU_KM
    x = r_km * np.cos(lam)
    y = r_km * np.cos(eps) * np.sin(lam)
    z = r_km * np.sin(eps) * np.sin(lam)
    return np.asarray(np.stack([x, y, z], axis=-1), dtype=np.float64)
