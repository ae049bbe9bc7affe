"""The Sun's geocentric apparent position, in the frame SGP4 uses (TEME), to under 1″.

Method (J. Meeus, *Astronomical Algorithms*, 2nd ed., 1998, ch. 25 "higher accuracy", 22, 32):

1. **Earth's heliocentric position** from the planetary theory VSOP87D truncated as in Meeus'
   Appendix III (:mod:`twin.physics.sun_series`): longitude ``L``, latitude ``B`` (mean
   dynamical ecliptic and equinox of date) and radius ``R`` (AU). The Sun's geometric
   geocentric longitude and latitude are ``Θ = L + 180°``, ``β = −B``, converted to the FK5
   system (Meeus eq. 32.3: ``ΔΘ = −0.09033″``, ``Δβ = 0.03916″·(cos λ′ − sin λ′)``).
2. **Apparent place**: nutation in longitude ``Δψ`` (IAU 1980, 63 terms) and annual
   aberration ``−20.4898″/R`` (which includes the light time) give the apparent longitude
   ``λ``; the true obliquity is ``ε = ε₀ + Δε`` (IAU 1980 ``ε₀``, Meeus eq. 22.2).
3. **True equator and equinox of date** from ``(λ, β)`` rotated by ``ε``; then **TEME**
   (true equator, *mean* equinox: the x axis from which SGP4's GMST is counted) by a rotation
   about the pole by the equation of the equinoxes ``Δψ·cos ε`` (Vallado et al., "Revisiting
   Spacetrack Report #3", AIAA 2006-6753, App. C). The two differ by up to 1.2″ (0.3″ in 2026).

Accuracy against the JPL DE421 apparent Sun (Skyfield, IAU 2000A nutation, rotated to TEME),
1950–2050: at most 0.75″ in direction (rms 0.2″; 0.45″ in 2020–2050) and 2.5e-6 AU in
distance (``tests/test_sun.py``, ``docs/validation.md``); the truncation error grows slowly
with |T| and is expected to stay near 1″ to 2100 (DE421 ends in 2050). At a LEO shadow boundary 1″ is ~0.04 s of orbital motion; in GEO ~0.25 s.

Time: inputs are UTC split Julian dates (86 400 s days); the series runs on TT = UTC + 32.184 s
+ (TAI − UTC), with TAI − UTC from the leap-second table (IERS Bulletin C) for 1972 on, its
1972 value (10 s) before (UTC had no leap seconds before 1972; the real TT − UT1 was 29 s in
1950, so the Sun is then late by up to 13 s of its motion, 0.5″) and its last value (37 s)
after the last leap second. TDB − TT (≤ 1.7 ms) is ignored.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from twin.constants import AU_KM, SECONDS_PER_DAY, SECONDS_PER_HOUR
from twin.physics.sun_series import B_SERIES, L_SERIES, NUTATION_TERMS, R_SERIES

FloatArray = npt.NDArray[np.float64]

J2000_JD = 2451545.0
TT_MINUS_TAI_S = 32.184
"""TT − TAI, s (exact by definition)."""
TT_MINUS_UTC_S = 69.184
"""TT − UTC, s, since the leap second of 2017-01-01 (TAI − UTC = 37 s)."""

# (UTC Julian date at 0 h, TAI − UTC from then on, s): IERS Bulletin C, every leap second.
_LEAP_SECONDS = (
    (2441317.5, 10), (2441499.5, 11), (2441683.5, 12), (2442048.5, 13), (2442413.5, 14),
    (2442778.5, 15), (2443144.5, 16), (2443509.5, 17), (2443874.5, 18), (2444239.5, 19),
    (2444786.5, 20), (2445151.5, 21), (2445516.5, 22), (2446247.5, 23), (2447161.5, 24),
    (2447892.5, 25), (2448257.5, 26), (2448804.5, 27), (2449169.5, 28), (2449534.5, 29),
    (2450083.5, 30), (2450630.5, 31), (2451179.5, 32), (2453736.5, 33), (2454832.5, 34),
    (2456109.5, 35), (2457204.5, 36), (2457754.5, 37),
)  # fmt: skip
_LEAP_JD = np.array([jd for jd, _ in _LEAP_SECONDS])
_LEAP_TAI_UTC = np.array([float(s) for _, s in _LEAP_SECONDS])

FK5_DL = 0.09033
_ARCSEC = np.radians(1.0) / SECONDS_PER_HOUR  # one arc-second, rad (3600″ in a degree)
NODE_DAYS = 0.5
"""Spacing of the TT grid on which :func:`sun_position_teme_km` evaluates the series."""


_VSOP = tuple(
    tuple((np.array([t[0] * 1e-8 for t in part]), np.array([t[1] for t in part]),
           np.array([t[2] for t in part])) for part in series)
    for series in (L_SERIES, B_SERIES, R_SERIES)
)  # fmt: skip
"""Per quantity (L, B, R), per power of τ: amplitudes (rad or AU), phases, frequencies."""
_NUT = np.array(NUTATION_TERMS)
_NUT_MULT = _NUT[:, :5]
_NUT_COEF = _NUT[:, 5:] * 1e-4 * _ARCSEC  # a, b (Δψ), c, d (Δε) in rad
# Fundamental arguments D, M, M', F, Ω (Meeus eq. 22.1): degrees, polynomial in T.
_FUND = np.radians(
    np.array(
        [
            [297.85036, 445267.111480, -0.0019142, 1.0 / 189474.0],
            [357.52772, 35999.050340, -0.0001603, -1.0 / 300000.0],
            [134.96298, 477198.867398, 0.0086972, 1.0 / 56250.0],
            [93.27191, 483202.017538, -0.0036825, 1.0 / 327270.0],
            [125.04452, -1934.136261, 0.0020708, 1.0 / 450000.0],
        ]
    )
)


class ApparentSun(NamedTuple):
    """The Sun's apparent place of date (radians, AU); arrays of the inputs' shape."""

    longitude_rad: FloatArray
    """Apparent ecliptic longitude λ (0..2π), true equinox of date."""
    latitude_rad: FloatArray
    """Ecliptic latitude β (within ~1.2″ of 0)."""
    obliquity_rad: FloatArray
    """True obliquity of the ecliptic ε = ε₀ + Δε."""
    distance_au: FloatArray
    """Earth–Sun distance R."""
    nutation_longitude_rad: FloatArray
    """Nutation in longitude Δψ (the equation of the equinoxes is Δψ·cos ε)."""


def tt_minus_utc_s(jd: npt.ArrayLike, fr: npt.ArrayLike = 0.0) -> FloatArray:
    """TT − UTC in seconds at UTC split Julian dates (leap-second table; see the module doc)."""
    day = np.asarray(jd, dtype=np.float64) + np.asarray(fr, dtype=np.float64)
    k = np.searchsorted(_LEAP_JD, day, side="right") - 1
    tai_utc = _LEAP_TAI_UTC[np.clip(k, 0, _LEAP_JD.size - 1)]
    return np.asarray(TT_MINUS_TAI_S + tai_utc, dtype=np.float64)


def _centuries_tt(jd: npt.ArrayLike, fr: npt.ArrayLike) -> FloatArray:
    """Julian centuries of TT since J2000 from UTC split Julian dates."""
    j = np.asarray(jd, dtype=np.float64)
    f = np.asarray(fr, dtype=np.float64)
    days = (j - J2000_JD) + f + tt_minus_utc_s(j, f) / SECONDS_PER_DAY
    return np.asarray(days / 36525.0, dtype=np.float64)


def _vsop(tau: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Earth's heliocentric L, B (rad) and R (AU) at 1-D ``tau`` (Julian millennia of TT).

    Sums term by term with elementwise operations only (no BLAS, no pairwise reduction), so
    a time's value does not depend on how many other times are in the call: the memoised
    grid of :func:`sun_position_teme_km` then gives byte-identical runs whatever was asked
    before."""
    out = []
    for series in _VSOP:
        value = np.zeros_like(tau)
        for amp, phase, freq in reversed(series):  # Horner in τ over the powers
            part = np.zeros_like(tau)
            for k in range(amp.size):
                part += amp[k] * np.cos(phase[k] + freq[k] * tau)
            value = value * tau + part
        out.append(value)
    return out[0], out[1], out[2]


def _nutation(t: FloatArray) -> tuple[FloatArray, FloatArray]:
    """IAU 1980 nutation in longitude and obliquity (rad) at 1-D ``t`` (centuries of TT),
    term by term (see :func:`_vsop` on why)."""
    fund = [((c3 * t + c2) * t + c1) * t + c0 for c0, c1, c2, c3 in _FUND]
    dpsi = np.zeros_like(t)
    deps = np.zeros_like(t)
    for row, (a, b, c, d) in zip(_NUT_MULT.tolist(), _NUT_COEF.tolist(), strict=True):
        arg = np.zeros_like(t)
        for m, f in zip(row, fund, strict=True):
            if m:
                arg += m * f
        dpsi += (a + b * t) * np.sin(arg)
        deps += (c + d * t) * np.cos(arg)
    return dpsi, deps


def sun_apparent(jd: npt.ArrayLike, fr: npt.ArrayLike) -> ApparentSun:
    """The Sun's apparent ecliptic place of date at UTC split Julian dates ``jd + fr``.

    Any broadcastable shapes; see the module docstring for the method and its accuracy.
    """
    return _apparent_tt(_centuries_tt(jd, fr))


def _apparent_tt(t_any: FloatArray) -> ApparentSun:
    """:func:`sun_apparent` at Julian centuries of TT since J2000."""
    shape = t_any.shape
    t = t_any.ravel()
    big_l, big_b, r_au = _vsop(t / 10.0)
    theta = big_l + np.pi
    beta = -big_b
    # FK5 (Meeus eq. 32.3)
    lam_prime = theta - np.radians(1.397 * t + 0.00031 * t * t)
    theta = theta - FK5_DL * _ARCSEC
    beta = beta + 0.03916 * _ARCSEC * (np.cos(lam_prime) - np.sin(lam_prime))
    dpsi, deps = _nutation(t)
    lam = theta + dpsi - 20.4898 * _ARCSEC / r_au
    eps0 = (84381.448 - 46.8150 * t - 0.00059 * t * t + 0.001813 * t * t * t) * _ARCSEC
    return ApparentSun(
        np.mod(lam, 2 * np.pi).reshape(shape),
        beta.reshape(shape),
        (eps0 + deps).reshape(shape),
        r_au.reshape(shape),
        dpsi.reshape(shape),
    )


def _unit_vectors(sun: ApparentSun, *, teme: bool) -> FloatArray:
    lam, beta, eps = sun.longitude_rad, sun.latitude_rad, sun.obliquity_rad
    cb = np.cos(beta)
    ex, ey, ez = cb * np.cos(lam), cb * np.sin(lam), np.sin(beta)
    ce, se = np.cos(eps), np.sin(eps)
    x, y, z = ex, ey * ce - ez * se, ey * se + ez * ce  # true equator and equinox of date
    if teme:  # right ascension counted from the mean equinox: α_TEME = α − Δψ·cos ε
        eqeq = sun.nutation_longitude_rad * ce
        c, s = np.cos(eqeq), np.sin(eqeq)
        x, y = x * c + y * s, y * c - x * s
    return np.asarray(np.stack([x, y, z], axis=-1), dtype=np.float64)


def sun_ra_dec(jd: npt.ArrayLike, fr: npt.ArrayLike) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Apparent right ascension (rad, 0..2π) and declination (rad), true equator and
    equinox of date, and distance (AU) of the Sun."""
    sun = sun_apparent(jd, fr)
    u = _unit_vectors(sun, teme=False)
    ra = np.mod(np.arctan2(u[..., 1], u[..., 0]), 2 * np.pi)
    dec = np.arcsin(np.clip(u[..., 2], -1.0, 1.0))
    return np.asarray(ra, dtype=np.float64), np.asarray(dec, dtype=np.float64), sun.distance_au


def sun_distance_km(jd: npt.ArrayLike, fr: npt.ArrayLike) -> FloatArray:
    """Earth–Sun distance in km."""
    return np.asarray(sun_apparent(jd, fr).distance_au * AU_KM, dtype=np.float64)


def _teme_km_tt(t_centuries: FloatArray) -> FloatArray:
    sun = _apparent_tt(t_centuries)
    u = _unit_vectors(sun, teme=True)
    return np.asarray(u * (sun.distance_au * AU_KM)[..., None], dtype=np.float64)


def _node_table(need: npt.NDArray[np.int64]) -> FloatArray:
    """TEME positions (km) at grid nodes ``need`` (sorted, unique), from a bounded memo.

    The series at a node never changes, so it is kept: the engine asks for the same few
    days again and again (one window after another), and then pays a dictionary lookup."""
    keys = need.tolist()
    missing = [k for k in keys if k not in _NODE_MEMO]
    if missing:
        if len(_NODE_MEMO) + len(missing) > _NODE_MEMO_MAX:
            _NODE_MEMO.clear()
        values = _teme_km_tt(np.asarray(missing, dtype=np.float64) * (NODE_DAYS / 36525.0))
        _NODE_MEMO.update(zip(missing, values.tolist(), strict=True))
    return np.asarray([_NODE_MEMO[k] for k in keys], dtype=np.float64)


_NODE_MEMO: dict[int, list[float]] = {}
_NODE_MEMO_MAX = 100_000  # ~140 years of nodes


def sun_position_teme_km(jd: npt.ArrayLike, fr: npt.ArrayLike) -> FloatArray:
    """Geocentric apparent Sun position in TEME (true equator, mean equinox of date), km.

    Returns shape ``broadcast(jd, fr).shape + (3,)``. The series is evaluated on a fixed grid
    of TT every :data:`NODE_DAYS` (and remembered) and interpolated by the cubic through the
    four nearest nodes: the fastest significant term (nutation, 13.7 d, 0.2″) leaves an error
    below 1e-5″, and a time's value does not depend on the other times in the call. So a
    window of the eclipse search costs a few dictionary lookups and dense arrays a few
    multiply-adds per time, as cheap as the old low-accuracy series.
    """
    j, f = np.broadcast_arrays(np.asarray(jd, dtype=np.float64), np.asarray(fr, dtype=np.float64))
    shape = j.shape
    j, f = j.ravel(), f.ravel()
    tt_days = (j - J2000_JD) + f + tt_minus_utc_s(j, f) / SECONDS_PER_DAY
    u = tt_days / NODE_DAYS
    k = np.floor(u)
    x = (u - k)[:, None]
    k_int = k.astype(np.int64)
    lo = int(k_int.min()) - 1 if k_int.size else 0
    span = int(k_int.max()) + 3 - lo if k_int.size else 0
    if span <= 4 * k_int.size + 64:  # dense: every node of the span
        need = np.arange(lo, lo + span, dtype=np.int64)
        base = k_int - 1 - lo
    else:  # sparse: only the nodes next to a time
        nodes, where = np.unique(k_int, return_inverse=True)
        need = np.unique((nodes[:, None] + np.arange(-1, 3)[None, :]).ravel())
        base = np.searchsorted(need, nodes - 1)[where]
    table = _node_table(need)
    p0, p1, p2, p3 = table[base], table[base + 1], table[base + 2], table[base + 3]
    xm1, xm2, xp1 = x - 1.0, x - 2.0, x + 1.0
    out = (
        p0 * (-x * xm1 * xm2 / 6.0)
        + p1 * (xp1 * xm1 * xm2 / 2.0)
        - p2 * (xp1 * x * xm2 / 2.0)
        + p3 * (xp1 * x * xm1 / 6.0)
    )
    return np.asarray(out.reshape(shape + (3,)), dtype=np.float64)
