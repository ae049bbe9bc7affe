"""One eclipse window's shadow passes for a set of satellites, as the engine walks them.

The engine's per-window physics (:func:`twin.physics.eclipses.eclipse_table`, the window rule
"a pass belongs to the window its shadow entry falls in", then
:func:`twin.physics.eclipses.mean_illumination`) as functions of any subset of the fleet, so a
window can be computed in parts (in other processes: :mod:`services.parallel_passes`) whose
concatenation in satellite order is the whole, bit for bit:

1. :func:`window_rows`: each satellite's passes depend only on that satellite and the window
   (the eclipse search treats satellites independently; its chunks only bound memory).
2. :func:`window_illumination`: each pass's mean illumination, the Sun tabulated over the
   window's own span (:func:`window_span`: its start to the end of its search), never over
   the span of the passes at hand: so a pass's value depends only on its satellite and its
   window, not on the other satellites computed with it (a part of the window in another
   process, a shard of the fleet).

:func:`window_passes` chains the two: the engine's default.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from sgp4.api import Satrec

from twin.physics.eclipses import eclipse_table, mean_illumination

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class PassWindow:
    """One eclipse window: passes entered in ``[start_s, end_s)`` (seconds since ``epoch``)
    are the window's; the search runs ``margin_s`` past its end so those passes are whole.
    ``flattening``: the Earth's figure for the shadow (0 for the spherical dual cone)."""

    epoch: datetime
    start_s: float
    end_s: float
    margin_s: float
    flattening: float


@dataclass(frozen=True)
class WindowRows:
    """A window's passes before illumination, as columns, rows grouped by satellite in
    time order. ``owner``: position of the row's satellite in the call's satellite list;
    ``enter``/``leave`` seconds since the epoch (a pass under way at the run's start is
    entered at 0, one still under way at the search's end leaves there); umbra bounds NaN
    where the pass began or ends in the umbra; ``umbra`` whether it reaches the umbra."""

    owner: IntArray
    enter: FloatArray
    umbra_start: FloatArray
    umbra_end: FloatArray
    leave: FloatArray
    umbra: BoolArray

    def __len__(self) -> int:
        return int(self.owner.size)


@dataclass(frozen=True)
class WindowPasses:
    """A window's passes as the engine stores them (columns of :class:`WindowRows`, plus
    ``illumination``: each pass's mean visible share of the solar disc)."""

    owner: IntArray
    enter: FloatArray
    leave: FloatArray
    umbra: BoolArray
    illumination: FloatArray

    def __len__(self) -> int:
        return int(self.owner.size)

    @staticmethod
    def concatenate(parts: Sequence[tuple[WindowPasses, int]]) -> WindowPasses:
        """The passes of consecutive satellite lists as one: ``(passes, satellites in that
        list)`` in order; each part's owners are shifted by the satellites before it."""
        shifts = np.cumsum([0] + [n for _, n in parts[:-1]]).tolist()
        return WindowPasses(
            owner=np.concatenate(
                [p.owner + s for (p, _), s in zip(parts, shifts, strict=True)]
            ).astype(np.int64),
            enter=np.concatenate([p.enter for p, _ in parts]).astype(np.float64),
            leave=np.concatenate([p.leave for p, _ in parts]).astype(np.float64),
            umbra=np.concatenate([p.umbra for p, _ in parts]).astype(bool),
            illumination=np.concatenate([p.illumination for p, _ in parts]).astype(np.float64),
        )

    @staticmethod
    def interleave(parts: Sequence[WindowPasses]) -> WindowPasses:
        """The passes of ``len(parts)`` satellite lists dealt round robin as one: part ``k``
        holds satellites ``k, k + P, k + 2P, …`` of the whole list (P parts). Rows are
        put back in satellite order; a satellite's rows, all from one part, keep their
        order. Dealing, unlike cutting, balances the parts: neighbouring satellites (one
        plane, one season) share the work."""
        count = len(parts)
        owner = np.concatenate(
            [p.owner * count + k for k, p in enumerate(parts)] or [np.zeros(0, np.int64)]
        ).astype(np.int64)
        order = np.argsort(owner, kind="stable")

        def column(name: str, dtype: type) -> npt.NDArray[Any]:
            return np.concatenate([getattr(p, name) for p in parts]).astype(dtype)[order]

        return WindowPasses(
            owner=owner[order],
            enter=column("enter", np.float64),
            leave=column("leave", np.float64),
            umbra=column("umbra", bool),
            illumination=column("illumination", np.float64),
        )


PassesFunction = Callable[[Sequence[Satrec], IntArray, PassWindow], WindowPasses]
"""``(fleet satrecs, fleet indices of the satellites, window) -> their passes`` (owners are
positions in the indices). The engine's default is :func:`window_passes`; the services layer
may inject one that computes parts of the window elsewhere, with the same result."""


def _chosen(satrecs: Sequence[Satrec], indices: IntArray) -> list[Satrec]:
    return [satrecs[i] for i in np.asarray(indices, np.int64).tolist()]


def window_rows(satrecs: Sequence[Satrec], indices: IntArray, window: PassWindow) -> WindowRows:
    """The shadow passes of satellites ``satrecs[indices]`` that belong to ``window``."""
    t, t1 = window.start_s, window.end_s
    search_end = t1 + window.margin_s
    table = eclipse_table(
        _chosen(satrecs, indices), window.epoch, t, search_end, flattening=window.flattening
    )
    start = table.shadow_start_s
    # a pass belongs to the window its shadow entry falls in; one under way at the window's
    # start was taken by the previous window (or is entered now)
    take = (np.isnan(start) & (t == 0.0)) | ((start >= t) & (start < t1))
    rows = np.flatnonzero(take)
    end = table.shadow_end_s[rows]
    return WindowRows(
        owner=np.asarray(table.sat[rows], np.int64),
        enter=np.asarray(np.where(np.isnan(start[rows]), t, start[rows]), np.float64),
        umbra_start=np.asarray(table.umbra_start_s[rows], np.float64),
        umbra_end=np.asarray(table.umbra_end_s[rows], np.float64),
        leave=np.asarray(np.where(np.isnan(end), search_end, end), np.float64),
        umbra=np.asarray(table.has_umbra[rows], bool),
    )


def window_span(window: PassWindow) -> tuple[float, float]:
    """The span over which a window's Sun is tabulated: the window's start to the end of its
    search, which holds every pass of the window, whichever satellites are computed."""
    return window.start_s, window.end_s + window.margin_s


def window_illumination(
    satrecs: Sequence[Satrec], indices: IntArray, rows: WindowRows, window: PassWindow
) -> WindowPasses:
    """The passes with their mean illumination, the Sun tabulated over :func:`window_span`
    (so a pass's value does not depend on the satellites computed with it)."""
    illumination = mean_illumination(
        _chosen(satrecs, indices),
        window.epoch,
        rows.owner,
        rows.enter,
        rows.umbra_start,
        rows.umbra_end,
        rows.leave,
        rows.umbra,
        flattening=window.flattening,
        sun_span_s=window_span(window),
    )
    return WindowPasses(
        owner=rows.owner,
        enter=rows.enter,
        leave=rows.leave,
        umbra=rows.umbra,
        illumination=np.asarray(illumination, np.float64),
    )


def window_passes(satrecs: Sequence[Satrec], indices: IntArray, window: PassWindow) -> WindowPasses:
    """The shadow passes of satellites ``satrecs[indices]`` in ``window``, in this process."""
    return window_illumination(satrecs, indices, window_rows(satrecs, indices, window), window)
