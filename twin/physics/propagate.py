"""Fleet propagation with SGP4: satellites × times → TEME positions and velocities.

SGP4 works in TEME (True Equator, Mean Equinox of date); every array here says so in its
name (``r_teme_km``, ``v_teme_km_s``). Like python-sgp4's array API, nothing here raises in
the hot path: a satellite that fails at a time (decayed, eccentricity out of range, ...) gets
a non-zero error code (see ``sgp4.api.SGP4_ERRORS``) and NaN position/velocity rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt
from sgp4.api import Satrec, SatrecArray

from twin.physics.orbits import Fleet
from twin.timeutil import julian_dates

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class FleetStates:
    """SGP4 states of ``n`` satellites at ``m`` times.

    ``seconds`` (m,) since the epoch; ``r_teme_km`` and ``v_teme_km_s`` (n, m, 3);
    ``error`` (n, m) SGP4 error codes, 0 = ok (rows with errors are NaN).
    """

    seconds: FloatArray
    r_teme_km: FloatArray
    v_teme_km_s: FloatArray
    error: npt.NDArray[np.uint8]


def _satrecs(fleet: Fleet | Sequence[Satrec]) -> list[Satrec]:
    return list(fleet.satrecs) if isinstance(fleet, Fleet) else list(fleet)


def propagate(
    fleet: Fleet | Sequence[Satrec], epoch: datetime, seconds: npt.ArrayLike
) -> FleetStates:
    """Propagate every satellite to every time (``seconds`` since the UTC ``epoch``)."""
    s = np.atleast_1d(np.asarray(seconds, dtype=np.float64))
    sats = _satrecs(fleet)
    if not sats:
        empty = np.zeros((0, s.size, 3))
        return FleetStates(s, empty, empty.copy(), np.zeros((0, s.size), np.uint8))
    jd, fr = julian_dates(epoch, s)
    err, r, v = SatrecArray(sats).sgp4(jd, fr)
    bad = err != 0
    r[bad] = np.nan
    v[bad] = np.nan
    return FleetStates(s, r, v, err.astype(np.uint8))


def propagate_points(
    satrecs: Sequence[Satrec],
    sat_index: npt.ArrayLike,
    epoch: datetime,
    seconds: npt.ArrayLike,
) -> tuple[FloatArray, FloatArray, npt.NDArray[np.uint8]]:
    """Propagate point by point: satellite ``satrecs[sat_index[k]]`` at ``seconds[k]``.

    For refinement, where each satellite needs its own times. Points are grouped per
    satellite so each satellite costs one ``Satrec.sgp4_array`` call (~10 µs overhead).
    Returns ``(r_teme_km (k, 3), v_teme_km_s (k, 3), error (k,))``.
    """
    idx = np.asarray(sat_index, dtype=np.int64).ravel()
    s = np.asarray(seconds, dtype=np.float64).ravel()
    r = np.full((idx.size, 3), np.nan)
    v = np.full((idx.size, 3), np.nan)
    err = np.zeros(idx.size, np.uint8)
    if idx.size == 0:
        return r, v, err
    jd, fr = julian_dates(epoch, s)
    order = np.argsort(idx, kind="stable")
    sorted_idx = idx[order]
    cuts = np.flatnonzero(np.diff(sorted_idx)) + 1
    starts = np.concatenate([[0], cuts])
    ends = np.concatenate([cuts, [idx.size]])
    for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
        sel = order[a:b]
        e, rr, vv = satrecs[int(sorted_idx[a])].sgp4_array(jd[sel], fr[sel])
        r[sel] = rr
        v[sel] = vv
        err[sel] = e
    bad = err != 0
    r[bad] = np.nan
    v[bad] = np.nan
    return r, v, err
