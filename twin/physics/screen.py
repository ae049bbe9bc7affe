"""Beta-angle screen: satellites that provably cannot touch Earth's penumbra in a window.

The eclipse search (:mod:`twin.physics.eclipses`) propagates every satellite on a 300 s grid.
A dawn–dusk sun-synchronous orbit is out of its eclipse season most of the year: the Sun
stays far enough from its orbit plane that the Earth never hides any of it. This module
decides that from mean elements and the Sun alone, so the search can skip those satellites.
It is conservative: a satellite it clears has no shadow crossing and is not in shadow at
the window's start in the full search (``tests/test_screen.py``); anything it is unsure of
goes through the full search.

Derivation (units km and rad; ``R`` the Earth's equatorial radius, ``R_S`` the Sun's,
``D`` the Earth–Sun distance):

1. **The penumbra lies within ``ρ < R + r·(R + R_S)/D`` of the Earth–Sun axis**, for a point
   at distance ``r`` from the Earth's centre (more than 0.1 km above the sphere). A point is
   in the penumbra when the angle ``θ`` between the directions to the Earth's and the Sun's
   centres is below ``θE + θS`` (:mod:`twin.physics.shadow`). The line from the point to the
   Sun's centre then passes within ``r·sin θ < r·(sin θE + sin θS) ≤ R + r·R_S/D'`` of the
   Earth's centre (``D'`` the point–Sun distance), and by similar triangles the point's
   distance to the axis is that distance × ``D'/D ≤ (D + r)/D``. (``θ`` > 90° with
   ``θ < θE + θS`` needs ``θE`` > 90° − θS, i.e. a point within ``R(1/cos θS − 1)`` ≈ 0.07 km
   of the sphere.) The cone widening ``r·(R + R_S)/D`` is ~34 km at 7,000 km, ~200 km at GEO.
2. **A point in the orbit plane is at least ``r·|sin β|`` from the axis**, with
   ``β = asin(n̂·ŝ)`` the beta angle (``n̂`` the orbit normal, ``ŝ`` the Sun direction): the
   point's component along ``ŝ`` is at most ``r·cos β``. A point within ``η`` of the plane
   (in angle from the centre) is at least ``r·sin(|β| − η)`` from it.
3. Hence **no penumbra during the window** if, for its whole duration,
   ``r_min·sin(|β|_min − η) > R + r_max·(R + R_S)/D_min``.

The bounds, per satellite (vectorized, from the Satrec's mean elements):

* ``n̂(t)`` is SGP4's secular plane, inclination ``inclo``, node ``nodeo + nodedot·t`` (exact
  for SGP4's near-Earth theory without drag). ``β`` is evaluated with the twin's Sun
  (:func:`twin.physics.sun.sun_position_teme_km`, TEME like SGP4) every
  :data:`SAMPLE_S` over the window widened by one search step each side (Newton may place a
  root up to a step outside the window's grid); between samples ``|β|`` changes at most by
  ``(|nodedot|·sin i + ω_sun)·SAMPLE_S/2`` (``ω_sun`` < 1.2°/day bounds the Sun's motion).
* ``η`` = :data:`PLANE_MARGIN_RAD` (SGP4's short-periodic J2 terms tilt the osculating plane
  by ≲ 0.75·J2·(R/p)² ≈ 5e-4 rad in LEO; the margin is 0.1°) + the oblate Earth's
  ``ε = f/(1 − f)``: the shadow functions stretch z by ``1 + ε`` (turning the ellipsoid into
  the sphere of radius ``R``), which turns directions by at most ``ε/2`` each (satellite and
  Sun) and lengthens radii by at most ``1 + ε``.
* ``r_min = a(1 − e)·(1 − 0.5 %)``, ``r_max = a(1 + e)·(1 + 0.5 %)·(1 + ε)`` (``a`` SGP4's
  mean semi-major axis): SGP4's short-periodic (J2) and long-periodic (J3) radius terms are
  ≲ 15 km in LEO (measured within 0.16 %, and 0.02° off the plane, ``tests/test_screen.py``).
* ``D_min`` = 0.98 AU (perihelion is 0.9833 AU; figures and sources in ``docs/sources.md``).

Together these cost ~1.5° of β: a LEO satellite is cleared once its β stays ~1.5° beyond
where the penumbra actually ends (the test's closest cleared satellite passed 1.6° from it).
It costs ~3–4 ms per 1,000 satellites and window, against ~250 ms to search them for a day.

Only near-Earth SGP4 (``method == "n"``, period < 225 min), without drag (``bstar == 0``:
the secular node and radius above are then exact; with drag SGP4 adds a node term and a
decay the Satrec does not expose), eccentricity ≤ :data:`MAX_ECCENTRICITY`, no SGP4 error
and a perigee above the sphere are screened; every other satellite is searched in full.
The engine's generated shells (:mod:`twin.physics.orbits`) qualify.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from operator import attrgetter

import numpy as np
import numpy.typing as npt
from sgp4.api import Satrec

from twin.constants import (
    AU_KM,
    EARTH_RADIUS_KM,
    SECONDS_PER_DAY,
    SECONDS_PER_HOUR,
    SUN_RADIUS_KM,
)
from twin.physics.sun import sun_position_teme_km
from twin.timeutil import julian_dates

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

SAMPLE_S = SECONDS_PER_HOUR
"""Spacing of the β samples over the window, s."""
PLANE_MARGIN_RAD = float(np.radians(0.1))
"""Bound on the angle between an SGP4 position and its secular orbit plane, rad."""
RADIUS_MARGIN = 0.005
"""Relative bound on SGP4's periodic radius terms around ``a(1 ± e)``."""
MAX_ECCENTRICITY = 0.1
SUN_RATE_RAD_S = float(np.radians(1.2)) / SECONDS_PER_DAY
"""Upper bound on the angular speed of the Sun direction (1.02°/day at perihelion)."""
MIN_SUN_DISTANCE_KM = 0.98 * AU_KM
SURFACE_MARGIN_KM = 1.0

_ELEMENTS = attrgetter("a", "ecco", "inclo", "nodeo", "nodedot", "jdsatepoch", "jdsatepochF")
_FLAGS = attrgetter("method", "bstar", "error", "radiusearthkm")


def shadow_free(
    satrecs: Sequence[Satrec],
    epoch: datetime,
    start_s: float,
    end_s: float,
    *,
    pad_s: float = 0.0,
    earth_radius_km: float = EARTH_RADIUS_KM,
    flattening: float = 0.0,
) -> BoolArray:
    """True for each satellite that cannot be in the penumbra in ``[start_s − pad_s,
    end_s + pad_s]`` (seconds since the UTC ``epoch``); see the module docstring.

    ``earth_radius_km`` and ``flattening`` are the shadow model's (equatorial radius; 0 for
    a sphere). False means "not proven", never "in shadow".
    """
    n = len(satrecs)
    if n == 0:
        return np.zeros(0, bool)
    el = np.array([_ELEMENTS(s) for s in satrecs], dtype=np.float64)
    flags = [_FLAGS(s) for s in satrecs]
    a_er, ecc, inc, node0, nodedot, jd_sat, fr_sat = el.T
    eligible = np.array([f[0] == "n" and f[1] == 0.0 and f[2] == 0 for f in flags], bool)
    a_km = a_er * np.array([f[3] for f in flags], dtype=np.float64)

    eps = flattening / (1.0 - flattening)
    lo_s, hi_s = start_s - pad_s, end_s + pad_s
    samples = max(int(np.ceil((hi_s - lo_s) / SAMPLE_S)), 1)
    t_s = np.linspace(lo_s, hi_s, samples + 1)
    spacing_s = (hi_s - lo_s) / samples
    jd, fr = julian_dates(epoch, t_s)
    sun = sun_position_teme_km(jd, fr)
    s_hat = sun / np.linalg.norm(sun, axis=-1, keepdims=True)  # (m, 3)

    # minutes since each satellite's epoch at each sample: (n, m)
    t_min = ((jd[None, :] - jd_sat[:, None]) + (fr[None, :] - fr_sat[:, None])) * 1440.0
    node = node0[:, None] + nodedot[:, None] * t_min
    si, ci = np.sin(inc)[:, None], np.cos(inc)[:, None]
    dot = si * np.sin(node) * s_hat[:, 0] - si * np.cos(node) * s_hat[:, 1] + ci * s_hat[:, 2]
    beta_min = np.arcsin(np.clip(np.abs(dot).min(axis=1), 0.0, 1.0))

    drift = (np.abs(nodedot) / 60.0 * np.abs(si[:, 0]) + SUN_RATE_RAD_S) * spacing_s / 2.0
    margin = PLANE_MARGIN_RAD + eps + drift
    r_min = a_km * (1.0 - ecc) * (1.0 - RADIUS_MARGIN)
    r_max = a_km * (1.0 + ecc) * (1.0 + RADIUS_MARGIN) * (1.0 + eps)
    reach = (
        earth_radius_km
        + r_max * (earth_radius_km + SUN_RADIUS_KM) / MIN_SUN_DISTANCE_KM
        + SURFACE_MARGIN_KM
    )
    clear_angle = np.maximum(beta_min - margin, 0.0)
    return np.asarray(
        eligible
        & (ecc <= MAX_ECCENTRICITY)
        & (r_min > earth_radius_km + SURFACE_MARGIN_KM)
        & (r_min * np.sin(clear_angle) > reach),
        dtype=bool,
    )
