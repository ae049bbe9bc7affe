"""Inter-satellite links (ISL) within an orbital plane: which satellites form a cluster.

Satellites of one plane at one altitude keep their phase differences (same period), so the
straight-line distance between two of them is the chord ``2a·sin(Δu/2)`` of their phase gap
``Δu``: constant over time. A laser link reaches up to ``max_range_km``, i.e. a phase gap of
:func:`max_link_angle_deg`. A **cluster** is a connected chain of satellites in service, each
within link range of the next (:func:`ring_clusters`); a member leaving service can split a
chain. A formation flown within a kilometre (Google's Suncatcher) is one cluster whenever
the range covers its spacing; a Walker plane is a ring cluster when its spacing is in range.
Links between planes are not modelled (their range changes along the orbit).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from twin.constants import EARTH_RADIUS_KM

IntArray = npt.NDArray[np.int64]


def max_link_angle_deg(altitude_km: float, max_range_km: float) -> float:
    """Largest phase gap (deg) two satellites of a circular orbit at ``altitude_km`` may have
    and still be within ``max_range_km``: ``2·asin(range / 2a)`` (180° if the range spans the
    orbit's diameter)."""
    a = EARTH_RADIUS_KM + altitude_km
    x = max_range_km / (2.0 * a)
    return 180.0 if x >= 1.0 else math.degrees(2.0 * math.asin(x))


def ring_clusters(phase_deg: npt.ArrayLike, max_angle_deg: float) -> IntArray:
    """Cluster labels (0..k-1, in order of the first member by phase) of satellites on one
    orbit at phases ``phase_deg``: neighbours by phase closer than ``max_angle_deg`` are
    linked, and the chain wraps around the orbit when the last gap is in range too."""
    phase = np.mod(np.asarray(phase_deg, np.float64), 360.0)
    n = phase.size
    labels = np.zeros(n, np.int64)
    if n <= 1:
        return labels
    order = np.argsort(phase, kind="stable")
    sorted_phase = phase[order]
    gaps = np.diff(sorted_phase)
    breaks = gaps > max_angle_deg + 1e-9
    chain = np.concatenate([[0], np.cumsum(breaks)])
    wrap_gap = 360.0 - (sorted_phase[-1] - sorted_phase[0])
    if wrap_gap <= max_angle_deg + 1e-9 and chain[-1] > 0:
        chain[chain == chain[-1]] = 0  # the last chain joins the first around the orbit
    # chains are numbered in phase order (cumsum), and folding the last into the first leaves
    # 0..k-1: the labels are already numbered by first appearance
    labels[order] = chain
    return labels


def hops_between(phase_a_deg: float, phase_b_deg: float, max_angle_deg: float) -> int:
    """Fewest links between two satellites of a connected chain (each hop spans at most
    ``max_angle_deg`` of phase)."""
    gap = abs(phase_a_deg - phase_b_deg) % 360.0
    gap = min(gap, 360.0 - gap)
    if gap <= 1e-12:
        return 0
    return max(1, math.ceil(gap / max_angle_deg - 1e-9))
