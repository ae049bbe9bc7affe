"""What every figure of the project shares: lifecycle colours by meaning, a UTC date axis,
legends beside the data, a sources caption and saving at print resolution.

The colours are the one definition the plots (``twin plot``, the sweep plot) and the Grafana
boards (``grafana/generate.py``) read, as hex so both understand them: computing states
green, shadow blue, trouble orange to red, the way in purple, the way out grey.

matplotlib is imported only inside the functions that draw, so the board generator can import
the colours without it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from twin.errors import InputError
from twin.lifecycle import State

STATE_COLOURS: dict[State, str] = {
    State.PLANNED: "#b4b4b4",
    State.LAUNCHED: "#d6a8ef",
    State.DEPLOYED: "#b877d9",
    State.RAISING: "#8f3bb8",
    State.COMMISSIONING: "#8ab8ff",
    State.OPERATIONAL: "#37872d",
    State.IN_ECLIPSE: "#1f60c4",
    State.LOAD_SHED: "#ff9830",
    State.FAULTED: "#f2495c",
    State.AWAITING_REPAIR: "#c4162a",
    State.UNDER_REPAIR: "#fade2a",
    State.DEORBITING: "#6e6e6e",
    State.DEORBITED: "#3b3b3b",
    State.LOST: "#8a5a44",
}
"""Series colour of each lifecycle state, fixed by meaning (faulted red, in eclipse blue)."""

PRINT_DPI = 200
"""Raster figures are saved at print resolution; ``.pdf`` and ``.svg`` are vector."""
FORMATS = ("png", "pdf", "svg")

SIM_SOURCES = (
    "Orbits: SGP4 (Vallado et al. 2006, AIAA 2006-6753; python-sgp4). "
    "Sun: Meeus, Astronomical Algorithms (1998) ch. 25. "
    "Solar constant 1361 W/m² (Kopp & Lean 2011)."
)
"""The physics every figure of a simulated run rests on (each listed in docs/sources.md)."""


def check_out(path: str | Path, field: str = "--out") -> Path:
    """``path`` if its extension is a format we save (PNG, PDF, SVG), else InputError."""
    p = Path(path)
    if p.suffix.lower().lstrip(".") not in FORMATS:
        raise InputError(
            f"cannot tell the figure format from {p.name!r}",
            field=field,
            allowed="a file ending in " + ", ".join(f".{f}" for f in FORMATS),
        )
    return p


def pyplot(field: str) -> Any:
    """``matplotlib.pyplot`` on the Agg backend; InputError naming ``field`` if missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise InputError(
            "plotting needs matplotlib", field=field, allowed="pip install -e '.[plots]'"
        ) from None
    return plt


def dates(epoch: datetime, seconds: Any) -> list[datetime]:
    """Sim seconds since ``epoch`` as UTC datetimes, for a date axis."""
    return [epoch + timedelta(seconds=float(s)) for s in seconds]


def date_axis(ax: Any) -> None:
    """Dates on ``ax``'s x-axis, concise (the year once, then months or days), labelled UTC."""
    import matplotlib.dates as mdates

    locator = mdates.AutoDateLocator(minticks=4, maxticks=10)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.set_xlabel("date (UTC)")


def from_zero(*axes: Any) -> None:
    """Amounts start at zero: a y-axis that starts elsewhere exaggerates changes."""
    for ax in axes:
        ax.set_ylim(bottom=0)


def legend_outside(ax: Any, **kw: Any) -> Any:
    """The legend to the right of ``ax``, never over its data (``constrained_layout`` makes
    room for it)."""
    kw.setdefault("fontsize", 8)
    return ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, **kw)


def caption(fig: Any, text: str) -> None:
    """A caption under the figure (sources, what was simulated), wrapped to its width."""
    fig.supxlabel(text, fontsize=7, ha="center", wrap=True)


def save(fig: Any, path: str | Path) -> Path:
    """Write ``fig`` to ``path``: PNG at :data:`PRINT_DPI`, PDF and SVG as vectors (the
    extension decides); the figure is closed afterwards."""
    import matplotlib.pyplot as plt

    p = check_out(path)
    fig.savefig(p, dpi=PRINT_DPI, format=p.suffix.lower().lstrip("."))
    plt.close(fig)
    return p
