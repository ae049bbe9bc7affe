"""Earth's shadow: conical umbra and penumbra (dual cone) and the sunlit fraction.

Seen from the satellite, the Earth is a disc of apparent angular radius
``θE = asin(R_E/|r|)`` and the Sun a disc of radius ``θS = asin(R_S/|r_sun − r|)``; ``θ`` is
the angle between the two disc centres (directions to Earth's centre and to the Sun). Then

* penumbra (any part of the Sun hidden):  ``θ < θE + θS``
* umbra (Sun fully hidden):               ``θ < θE − θS``

which is exactly the dual-cone model with a spherical Earth. The signed functions
``θ − (θE ± θS)`` (radians, negative inside) are smooth across the boundaries and are what the
eclipse search root-finds. The sunlit fraction is the visible share of the solar disc's area
(circle-overlap formula, Montenbruck & Gill, *Satellite Orbits*, 2000, §3.4.2).

Earth's figure: ``flattening`` 0 is a sphere of the WGS-84 equatorial radius (the textbook
dual cone); :data:`twin.constants.WGS84_FLATTENING` makes it the WGS-84 ellipsoid. The
ellipsoid is handled by scaling every z coordinate (satellite, velocity, Sun) by ``1/(1 − f)``,
which turns it into the sphere of radius ``a``; straight lines and tangency survive an affine
map, so the shadow boundaries of a point Sun are exact, and the finite solar disc (flattened
by ``f`` in the scaled space) moves them by at most ``f`` of the penumbra's width (~0.03 s in
LEO; tested against the exact ellipsoid limb in ``tests/test_eclipse_reference.py``). The
oblate Earth shortens passes at high latitudes by up to ~10 s (its polar radius is 21 km
less). Sun radius 695,700 km (IAU 2015 Resolution B3). No atmosphere (refraction and
absorption widen the penumbra by a few seconds).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from twin.constants import EARTH_RADIUS_KM, SUN_RADIUS_KM

FloatArray = npt.NDArray[np.float64]


def _scaled(x: npt.ArrayLike, flattening: float) -> FloatArray:
    """``x`` (…, 3) with z stretched by ``1/(1 − f)``: the ellipsoid becomes a sphere."""
    a = np.asarray(x, dtype=np.float64)
    if flattening == 0.0:
        return a
    return np.asarray(a * np.array([1.0, 1.0, 1.0 / (1.0 - flattening)]), dtype=np.float64)


def shadow_angles(
    r_sat_km: npt.ArrayLike,
    r_sun_km: npt.ArrayLike,
    *,
    earth_radius_km: float = EARTH_RADIUS_KM,
    sun_radius_km: float = SUN_RADIUS_KM,
    flattening: float = 0.0,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """``(θ, θE, θS)`` in radians for geocentric satellite and Sun positions (…, 3), km.

    Shapes broadcast over the leading axes (e.g. satellites (n, m, 3) with Sun (m, 3)).
    With ``flattening`` > 0 the angles are those of the scaled space (see the module doc).
    """
    r = _scaled(r_sat_km, flattening)
    sun = _scaled(r_sun_km, flattening)
    rx, ry, rz = r[..., 0], r[..., 1], r[..., 2]
    dx, dy, dz = sun[..., 0] - rx, sun[..., 1] - ry, sun[..., 2] - rz
    r_norm = np.sqrt(rx * rx + ry * ry + rz * rz)
    d_norm = np.sqrt(dx * dx + dy * dy + dz * dz)
    # angle between -r (towards Earth's centre) and d (towards the Sun)
    cos_theta = -(rx * dx + ry * dy + rz * dz) / (r_norm * d_norm)
    theta = np.arccos(np.clip(cos_theta, -1.0, 1.0))
    theta_e = np.arcsin(np.clip(earth_radius_km / r_norm, -1.0, 1.0))
    theta_s = np.arcsin(sun_radius_km / d_norm)
    return theta, theta_e, theta_s


def shadow_distances(
    r_sat_km: npt.ArrayLike,
    r_sun_km: npt.ArrayLike,
    *,
    earth_radius_km: float = EARTH_RADIUS_KM,
    sun_radius_km: float = SUN_RADIUS_KM,
    flattening: float = 0.0,
) -> tuple[FloatArray, FloatArray]:
    """Signed angular distances (rad) to the penumbra and umbra boundaries.

    Returns ``(θ − (θE + θS), θ − (θE − θS))``: negative inside the penumbra resp. umbra,
    zero on the boundary. Suitable for root-finding.
    """
    theta, te, ts = shadow_angles(
        r_sat_km,
        r_sun_km,
        earth_radius_km=earth_radius_km,
        sun_radius_km=sun_radius_km,
        flattening=flattening,
    )
    return theta - (te + ts), theta - (te - ts)


def shadow_rates(
    r_sat_km: npt.ArrayLike,
    v_sat_km_s: npt.ArrayLike,
    r_sun_km: npt.ArrayLike,
    *,
    earth_radius_km: float = EARTH_RADIUS_KM,
    sun_radius_km: float = SUN_RADIUS_KM,
    flattening: float = 0.0,
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Penumbra and umbra distances (rad) and their time derivatives (rad/s).

    Returns ``(pen, umb, d pen/dt, d umb/dt)`` from positions (km) and velocities (km/s).
    The derivatives treat the Sun as fixed during the derivative (its apparent motion,
    ~2e-7 rad/s, is 1e-4 of a LEO satellite's ~1e-3 rad/s) and drop the parallax terms of
    order |r|/|r_sun| (~5e-5); they steer root-finding, the values themselves are exact.
    """
    r = _scaled(r_sat_km, flattening)
    v = _scaled(v_sat_km_s, flattening)
    sun = _scaled(r_sun_km, flattening)
    rx, ry, rz = r[..., 0], r[..., 1], r[..., 2]
    vx, vy, vz = v[..., 0], v[..., 1], v[..., 2]
    dx, dy, dz = sun[..., 0] - rx, sun[..., 1] - ry, sun[..., 2] - rz
    r_norm = np.sqrt(rx * rx + ry * ry + rz * rz)
    d_norm = np.sqrt(dx * dx + dy * dy + dz * dz)
    rd = rx * dx + ry * dy + rz * dz
    cos_theta = np.clip(-rd / (r_norm * d_norm), -1.0, 1.0)
    theta = np.arccos(cos_theta)
    ratio_e = np.minimum(earth_radius_km / r_norm, 1.0)
    theta_e = np.arcsin(ratio_e)
    theta_s = np.arcsin(sun_radius_km / d_norm)
    # d/dt cos θ = −(v·ŵ − (û·v)(û·ŵ)) / |r| with û = r/|r|, ŵ = d/|d| (Sun fixed, far)
    radial_speed = (rx * vx + ry * vy + rz * vz) / r_norm
    vw = (vx * dx + vy * dy + vz * dz) / d_norm
    uw = rd / (r_norm * d_norm)
    dcos = -(vw - radial_speed * uw) / r_norm
    sin_theta = np.sqrt(np.maximum(1.0 - cos_theta * cos_theta, 1e-30))
    dtheta = -dcos / sin_theta
    dtheta_e = -ratio_e * radial_speed / (r_norm * np.sqrt(np.maximum(1.0 - ratio_e**2, 1e-30)))
    pen = theta - (theta_e + theta_s)
    umb = theta - (theta_e - theta_s)
    rate = dtheta - dtheta_e
    return pen, umb, rate, rate


def penumbra_distance(
    r_sat_km: npt.ArrayLike, r_sun_km: npt.ArrayLike, *, earth_radius_km: float = EARTH_RADIUS_KM
) -> FloatArray:
    """Signed angular distance (rad) to the penumbra boundary; negative inside the shadow."""
    return shadow_distances(r_sat_km, r_sun_km, earth_radius_km=earth_radius_km)[0]


def umbra_distance(
    r_sat_km: npt.ArrayLike, r_sun_km: npt.ArrayLike, *, earth_radius_km: float = EARTH_RADIUS_KM
) -> FloatArray:
    """Signed angular distance (rad) to the umbra boundary; negative inside the umbra."""
    return shadow_distances(r_sat_km, r_sun_km, earth_radius_km=earth_radius_km)[1]


def illumination_fraction(
    r_sat_km: npt.ArrayLike,
    r_sun_km: npt.ArrayLike,
    *,
    earth_radius_km: float = EARTH_RADIUS_KM,
    sun_radius_km: float = SUN_RADIUS_KM,
    flattening: float = 0.0,
) -> FloatArray:
    """Share of the solar disc's area visible from the satellite: 1 sunlit, 0 umbra.

    Uses the area of overlap of two discs of angular radii ``θS`` (Sun) and ``θE`` (Earth)
    whose centres are ``θ`` apart (small-angle, flat-disc approximation).
    """
    theta, te, ts = shadow_angles(
        r_sat_km,
        r_sun_km,
        earth_radius_km=earth_radius_km,
        sun_radius_km=sun_radius_km,
        flattening=flattening,
    )
    a, b, c = np.broadcast_arrays(ts, te, theta)
    frac = np.ones(a.shape)
    umbra = c <= b - a
    annular = c <= a - b  # antumbra: Earth wholly inside the solar disc
    partial = ~(umbra | annular) & (c < a + b)
    frac[umbra] = 0.0
    frac[annular] = 1.0 - (b[annular] / a[annular]) ** 2
    ap, bp, cp = a[partial], b[partial], c[partial]
    x = (cp * cp + ap * ap - bp * bp) / (2 * cp)
    y = np.sqrt(np.maximum(ap * ap - x * x, 0.0))
    overlap = (
        ap * ap * np.arccos(np.clip(x / ap, -1, 1))
        + bp * bp * np.arccos(np.clip((cp - x) / bp, -1, 1))
        - cp * y
    )
    frac[partial] = 1.0 - overlap / (np.pi * ap * ap)
    return np.asarray(np.clip(frac, 0.0, 1.0), dtype=np.float64)
