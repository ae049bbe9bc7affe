"""Means with 95 % confidence intervals from a handful of seeds (Student's t).

With n independent runs of one grid point, mean x̄ and sample standard deviation s, the 95 %
interval of the mean is x̄ ± t₀.₉₇₅(n − 1) · s / √n. The quantile comes from a table for
n − 1 ≤ 30 (the usual printed values) and from the Cornish–Fisher expansion beyond
(error < 1e-4 for 30 < ν), so no SciPy is needed; :func:`t_quantile_975` is tested against
the table's neighbours.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Interval", "mean_interval", "t_quantile_975"]

_T975 = (
    12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281,
    2.2010, 2.1788, 2.1604, 2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860,
    2.0796, 2.0739, 2.0687, 2.0639, 2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423,
)  # fmt: skip
"""t₀.₉₇₅(ν) for ν = 1 … 30 (e.g. Abramowitz & Stegun, table 26.10)."""
_Z975 = 1.959963984540054


def t_quantile_975(dof: int) -> float:
    """The 0.975 quantile of Student's t with ``dof`` degrees of freedom (two-sided 95 %)."""
    if dof < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {dof}")
    if dof <= len(_T975):
        return _T975[dof - 1]
    z, v = _Z975, float(dof)
    return (
        z
        + (z**3 + z) / (4 * v)
        + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * v**2)
        + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * v**3)
    )


@dataclass(frozen=True)
class Interval:
    """Mean of ``n`` values with its 95 % interval ``[low, high]`` (None for n < 2)."""

    n: int
    mean: float
    sd: float | None
    half_width: float | None

    @property
    def low(self) -> float | None:
        return None if self.half_width is None else self.mean - self.half_width

    @property
    def high(self) -> float | None:
        return None if self.half_width is None else self.mean + self.half_width


def mean_interval(values: Sequence[float]) -> Interval:
    """Mean and 95 % Student-t interval of ``values`` (finite numbers, at least one)."""
    n = len(values)
    if n == 0:
        raise ValueError("no values")
    mean = math.fsum(values) / n
    if n < 2:
        return Interval(n, mean, None, None)
    sd = math.sqrt(math.fsum((x - mean) ** 2 for x in values) / (n - 1))
    return Interval(n, mean, sd, t_quantile_975(n - 1) * sd / math.sqrt(n))
