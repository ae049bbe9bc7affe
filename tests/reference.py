"""Independent references the physics is tested against (test-only; needs the ``test`` extra).

* :func:`de421_sun_teme_km`: the apparent geocentric Sun from the JPL DE421 ephemeris (the
  ``de421`` package, read with ``jplephem``), light time, aberration and the IAU 2006/2000A
  precession-nutation applied by Skyfield, rotated into SGP4's TEME frame by Skyfield's
  ``TEME`` (AIAA 2006-6753 App. C). Nothing of ``twin.physics.sun`` is used.
* :func:`limb_shadow_distances`: penumbra and umbra distances to an Earth that may be an
  ellipsoid, computed from its exact limb as seen from the satellite (true angles, the real
  solar disc), not from the z-scaling that :mod:`twin.physics.shadow` uses.
* :func:`reference_passes`: shadow passes found by brute force (10 s grid, bisection to 1 ms)
  with those two, on SGP4 positions.

Missing packages are an error, not a skip: the accuracy claims rest on these references.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache

import de421
import numpy as np
from jplephem.ephem import Ephemeris
from sgp4.api import Satrec
from skyfield.api import load
from skyfield.sgp4lib import TEME
from skyfield.vectorlib import VectorFunction

from twin.physics.propagate import propagate
from twin.timeutil import julian_dates

AU_KM = 149_597_870.7
SUN_RADIUS_KM = 695_700.0  # IAU 2015 Resolution B3, nominal solar radius
WGS84_A_KM = 6378.137
WGS84_F = 1.0 / 298.257223563


@cache
def _ephemeris() -> Ephemeris:
    return Ephemeris(de421)


class _DE421Body(VectorFunction):
    """A body's barycentric position from the DE421 package, as a Skyfield vector."""

    center = 0

    def __init__(self, target: int) -> None:
        self.target = target

    def _at(self, t):  # type: ignore[no-untyped-def]
        eph = _ephemeris()
        if self.target == 10:
            p, v = eph.position_and_velocity("sun", t.whole, t.tdb_fraction)
        else:  # Earth = Earth–Moon barycentre − Moon (geocentric) × M_moon/(M_earth+M_moon)
            pb, vb = eph.position_and_velocity("earthmoon", t.whole, t.tdb_fraction)
            pm, vm = eph.position_and_velocity("moon", t.whole, t.tdb_fraction)
            p, v = pb - pm * eph.earth_share, vb - vm * eph.earth_share
        return p / AU_KM, v / AU_KM, None, None


@cache
def _timescale():  # type: ignore[no-untyped-def]
    return load.timescale(builtin=True)


def de421_sun_teme_km(when: list[datetime] | datetime) -> np.ndarray:
    """Apparent geocentric Sun in TEME, km, at UTC datetimes: shape (n, 3) (or (3,))."""
    ts = _timescale()
    t = ts.from_datetimes(when) if isinstance(when, list) else ts.from_datetime(when)
    apparent = _DE421Body(399).at(t).observe(_DE421Body(10)).apparent(deflectors=())
    xyz = np.asarray(apparent.frame_xyz(TEME).km)
    return xyz.T if xyz.ndim == 2 else xyz


def de421_sun_function(epoch: datetime, start_s: float, end_s: float, step_s: float = 60.0):
    """``seconds -> TEME km`` from a DE421 table every ``step_s`` with cubic interpolation
    (the Sun's path is smooth: the error at 60 s is far below 1e-9 rad)."""
    grid = np.arange(start_s - 2 * step_s, end_s + 3 * step_s, step_s)
    table = de421_sun_teme_km([epoch + timedelta(seconds=float(s)) for s in grid])

    def sun_at(seconds: np.ndarray) -> np.ndarray:
        s = np.asarray(seconds, dtype=np.float64)
        u = (s - grid[0]) / step_s
        k = np.clip(np.floor(u).astype(int), 1, grid.size - 3)
        x = (u - k)[..., None]
        p0, p1, p2, p3 = table[k - 1], table[k], table[k + 1], table[k + 2]
        # Catmull–Rom would be O(h²); use the Lagrange cubic through four nodes (O(h⁴))
        return (
            p0 * (-x * (x - 1) * (x - 2) / 6)
            + p1 * ((x + 1) * (x - 1) * (x - 2) / 2)
            + p2 * (-(x + 1) * x * (x - 2) / 2)
            + p3 * ((x + 1) * x * (x - 1) / 6)
        )

    return sun_at


def limb_shadow_distances(
    r_km: np.ndarray,
    sun_km: np.ndarray,
    *,
    flattening: float,
    earth_radius_km: float = WGS84_A_KM,
    sun_radius_km: float = SUN_RADIUS_KM,
) -> tuple[np.ndarray, np.ndarray]:
    """Signed angular distances (rad) of the solar disc to the penumbra and umbra, (n,).

    The Earth's limb seen from each satellite is the image of a sphere's limb circle under
    the scaling z → (1 − f)·z (tangency is preserved by affine maps), so it is exact for the
    ellipsoid; the true angle from the Sun's centre to the limb is minimised over the limb's
    parameter by a pattern search from the sphere's answer (to ~1e-12 rad).
    Penumbra distance: ``d − θS`` with the Sun's centre outside the Earth's outline, ``−d − θS``
    inside; umbra ``±d + θS``.
    """
    r = np.atleast_2d(np.asarray(r_km, dtype=np.float64))
    sun = np.broadcast_to(np.asarray(sun_km, dtype=np.float64), r.shape)
    k = 1.0 - flattening
    stretch = np.array([1.0, 1.0, 1.0 / k])
    rs = r * stretch  # the ellipsoid as a sphere of radius a
    dist = np.linalg.norm(rs, axis=1)
    u = -rs / dist[:, None]  # towards the centre, scaled space
    # limb circle: centre P + u·(d − a²/d), radius a·sqrt(1 − a²/d²), normal u
    along = dist - earth_radius_km**2 / dist
    radius = earth_radius_km * np.sqrt(1.0 - (earth_radius_km / dist) ** 2)
    helper = np.where(np.abs(u[:, 2:3]) < 0.9, [[0.0, 0.0, 1.0]], [[1.0, 0.0, 0.0]])
    e1 = np.cross(u, helper)
    e1 /= np.linalg.norm(e1, axis=1, keepdims=True)
    e2 = np.cross(u, e1)
    centre = rs + u * along[:, None]
    to_sun = sun - r
    sun_dist = np.linalg.norm(to_sun, axis=1)
    s_hat = to_sun / sun_dist[:, None]

    def angle(phi: np.ndarray) -> np.ndarray:  # phi (n, m) -> true angle Sun centre–limb point
        pts = centre[:, None, :] + radius[:, None, None] * (
            np.cos(phi)[..., None] * e1[:, None, :] + np.sin(phi)[..., None] * e2[:, None, :]
        )
        d = pts / stretch - r[:, None, :]
        d /= np.linalg.norm(d, axis=2, keepdims=True)
        return np.arccos(np.clip(np.einsum("nmj,nj->nm", d, s_hat), -1.0, 1.0))

    # start where the sphere's answer is (the limb point in the plane of u and the Sun in the
    # scaled space), then a pattern search: best of three, step halved (V-shaped minima of a
    # Sun close to the limb defeat parabolic steps)
    s_s = s_hat * stretch
    s_s /= np.linalg.norm(s_s, axis=1, keepdims=True)
    best = np.arctan2(np.einsum("ij,ij->i", s_s, e2), np.einsum("ij,ij->i", s_s, e1))
    h = 0.25
    for _ in range(48):
        a = angle(best[:, None] + np.array([-h, 0.0, h])[None, :])
        best = best + (np.argmin(a, axis=1) - 1) * h
        h *= 0.5
    d_min = angle(best[:, None])[:, 0]
    # is the Sun's centre behind the Earth (inside its outline)? ray test in scaled space
    b = np.einsum("ij,ij->i", rs, s_s)
    c = dist**2 - earth_radius_km**2
    inside = (b < 0) & (b * b - c > 0)
    theta_s = np.arcsin(sun_radius_km / sun_dist)
    signed = np.where(inside, -d_min, d_min)
    return signed - theta_s, signed + theta_s


@dataclass(frozen=True)
class RefPass:
    shadow_start: float
    umbra_start: float | None
    umbra_end: float | None
    shadow_end: float
    min_penumbra_km: float
    """Deepest point of the pass: the penumbra distance × the satellite's distance to the
    Earth's limb, km (negative inside)."""


def _bisect(f: Callable[[np.ndarray], np.ndarray], a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Roots of ``f`` bracketed by [a, b] (arrays), to 1e-4 s."""
    fa = f(a) < 0
    for _ in range(60):
        m = 0.5 * (a + b)
        same = (f(m) < 0) == fa
        a = np.where(same, m, a)
        b = np.where(same, b, m)
        if np.max(b - a, initial=0.0) < 1e-4:
            break
    return 0.5 * (a + b)


def _crossings(
    f: Callable[[np.ndarray], np.ndarray], grid: np.ndarray, values: np.ndarray
) -> list[tuple[float, bool]]:
    """Sign changes of ``f`` on ``grid`` and inside dips between nodes: ``(time, entering)``.

    Local minima of the grid values below +2e-3 rad are resampled every 0.05 s over the two
    neighbouring intervals, so grazes shorter than the grid step are found too."""
    times = [grid]
    near = np.flatnonzero(
        (values[1:-1] <= values[:-2]) & (values[1:-1] <= values[2:]) & (values[1:-1] < 2e-3)
    )
    for i in near + 1:
        times.append(np.arange(grid[i - 1], grid[i + 1], 0.05))
    t = np.unique(np.concatenate(times))
    v = f(t)
    neg = v < 0
    k = np.flatnonzero(neg[1:] != neg[:-1])
    if k.size == 0:
        return []
    roots = _bisect(f, t[k], t[k + 1])
    return [(float(x), bool(neg[j + 1])) for x, j in zip(roots, k, strict=True)]


def reference_passes(
    sat: Satrec,
    epoch: datetime,
    start_s: float,
    end_s: float,
    *,
    flattening: float = 0.0,
    step_s: float = 10.0,
) -> tuple[list[RefPass], Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]]:
    """Shadow passes of one satellite by brute force against the DE421 Sun.

    Returns the passes wholly inside the span and the distance function ``seconds ->
    (penumbra, umbra)`` (radians) for further checks.
    """
    sun_at = de421_sun_function(epoch, start_s, end_s)

    def g(seconds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        s = np.atleast_1d(np.asarray(seconds, dtype=np.float64))
        st = propagate([sat], epoch, s)
        return limb_shadow_distances(st.r_teme_km[0], sun_at(s), flattening=flattening)

    grid = np.arange(start_s, end_s + step_s / 2, step_s)
    pen, umb = g(grid)
    pen_x = _crossings(lambda s: g(s)[0], grid, pen)
    umb_x = _crossings(lambda s: g(s)[1], grid, umb)
    passes: list[RefPass] = []
    for i, (a, entering) in enumerate(pen_x):
        if not entering or i + 1 >= len(pen_x):
            continue
        b = pen_x[i + 1][0]
        ua = [t for t, e in umb_x if a < t < b and e]
        ub = [t for t, e in umb_x if a < t < b and not e]
        passes.append(
            RefPass(
                a, ua[0] if ua else None, ub[-1] if ub else None, b, depth_km(g, sat, epoch, a, b)
            )
        )
    return passes, g


def depth_km(
    g: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
    sat: Satrec,
    epoch: datetime,
    a: float,
    b: float,
) -> float:
    """Deepest penumbra distance over [a, b] as a length: angle × distance to the limb, km
    (negative inside the penumbra)."""
    t = np.linspace(a, b, 401)
    pen = g(t)[0]
    r = np.linalg.norm(propagate([sat], epoch, t).r_teme_km[0], axis=1)
    km = pen * np.sqrt(np.maximum(r**2 - WGS84_A_KM**2, 0.0))
    return float(np.min(km))


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


__all__ = [
    "de421_sun_function",
    "de421_sun_teme_km",
    "julian_dates",
    "limb_shadow_distances",
    "reference_passes",
    "utc",
]
