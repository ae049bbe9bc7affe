"""Physical constants and units of time, each defined once, with its public source.

Every module in ``twin`` and ``services`` takes these from here instead of writing the
number again (a test greps for stray copies). Values are exactly those the project has
always used, so event logs do not change.
"""

from __future__ import annotations

# --- Time ---------------------------------------------------------------------------------
# SI second; the day is 86 400 SI seconds (UTC without leap seconds, as everywhere here).

SECONDS_PER_MINUTE = 60.0
SECONDS_PER_HOUR = 3600.0
SECONDS_PER_DAY = 86400.0
SECONDS_PER_WEEK = 7 * SECONDS_PER_DAY
DAYS_PER_YEAR = 365.25
"""The Julian year (IAU, e.g. IAU 1976 system of astronomical constants): 365.25 days. Every
"year" in a scenario or an option (``"5y"``, ``weibull_scale_years``, degradation per year)
is this one."""
SECONDS_PER_YEAR = DAYS_PER_YEAR * SECONDS_PER_DAY
"""Seconds in a Julian year, 31 557 600 s."""
MS_PER_DAY = 86_400_000
"""Milliseconds in a day, for the integer wire-time arithmetic."""
TROPICAL_YEAR_DAYS = 365.2422
"""Mean tropical year (equinox to equinox), days: the Sun's apparent motion around the equator
(Explanatory Supplement to the Astronomical Almanac, 3rd ed., 2013)."""

# --- Earth --------------------------------------------------------------------------------

EARTH_RADIUS_KM = 6378.137
"""Equatorial radius, km: the WGS-84 semi-major axis *a* (NGA.STND.0036, WGS-84, 2014)."""
WGS84_FLATTENING = 1.0 / 298.257223563
"""Flattening *f* of the WGS-84 ellipsoid (NGA.STND.0036)."""
MU_KM3_S2 = 398600.4418
"""Earth's gravitational parameter GM, km³/s² (WGS-84 / EGM96: 3.986004418e14 m³/s²)."""
J2 = 1.08262668e-3
"""Earth's second zonal harmonic (oblateness), dimensionless: EGM96, J2 = −√5·C̄20, as
tabulated in Vallado, *Fundamentals of Astrodynamics and Applications* (4th ed., 2013)."""

# --- Sun ----------------------------------------------------------------------------------

AU_KM = 149_597_870.7
"""Astronomical unit, km: exactly 149 597 870 700 m (IAU 2012 Resolution B2)."""
SOLAR_CONSTANT_W_M2 = 1361.0
"""Total solar irradiance at 1 AU, W/m²: the nominal value of IAU 2015 Resolution B3 (from
SORCE/TIM, Kopp & Lean 2011). It varies ±3.4 % over the year with the distance to the Sun."""
SUN_RADIUS_KM = 695_700.0
"""Solar radius, km: the nominal solar radius of IAU 2015 Resolution B3 (Prša et al.,
*Astron. J.* 152, 41, 2016)."""

# --- Heat ---------------------------------------------------------------------------------

STEFAN_BOLTZMANN_W_M2_K4 = 5.670374419e-8
"""σ, W/(m²·K⁴): exact since the 2019 SI redefinition (CODATA 2018)."""

__all__ = [
    "AU_KM",
    "DAYS_PER_YEAR",
    "EARTH_RADIUS_KM",
    "J2",
    "MS_PER_DAY",
    "MU_KM3_S2",
    "SECONDS_PER_DAY",
    "SECONDS_PER_HOUR",
    "SECONDS_PER_MINUTE",
    "SECONDS_PER_WEEK",
    "SECONDS_PER_YEAR",
    "SOLAR_CONSTANT_W_M2",
    "STEFAN_BOLTZMANN_W_M2_K4",
    "SUN_RADIUS_KM",
    "TROPICAL_YEAR_DAYS",
    "WGS84_FLATTENING",
]
