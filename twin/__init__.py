"""Orbital Twin: an event-sourced digital twin of orbital compute constellations.

`twin/` is the pure core: orbital environment, scenarios, events, the fold and the
SimPy engine. It performs no I/O, reads no wall clock and uses no global random
state. Everything that touches files, Kafka, HTTP or Prometheus lives in `services/`.

Importing it first pins numpy's SIMD kernels (:data:`NUMPY_KERNELS_OFF`), so that a scenario
and seed give the same event log on every x86-64 machine, not only on the same one.
"""

import os as _os
import sys as _sys

__version__ = "0.1.0"

NUMPY_KERNELS_OFF = (
    "X86_V4 AVX512_ICL AVX512_SPR "  # numpy >= 2.4's dispatch groups
    "AVX512F AVX512CD AVX512_KNL AVX512_KNM AVX512_SKX AVX512_CLX AVX512_CNL"  # earlier names
)
"""numpy's AVX-512 kernels, turned off (``NPY_DISABLE_CPU_FEATURES``) before numpy loads.
Their sin, cos, exp, arccos... differ from the other kernels in the last bit, and a last-bit
difference can flip a figure rounded into an event (the demo's 7-day log had one in 110,839
events: a ``power_generated_w`` of 107.6 W on one CPU, 107.7 W on another). Without them
every x86-64 CPU since 2013 runs the same kernels: the same numbers to the bit. Names a
numpy does not know are ignored; a value the user set is kept."""

if "numpy" not in _sys.modules:
    _os.environ.setdefault("NPY_DISABLE_CPU_FEATURES", NUMPY_KERNELS_OFF)


def numpy_kernels_pinned() -> bool:
    """Whether numpy runs without its AVX-512 kernels (false if numpy was imported before
    `twin` on a CPU that has them: results may then differ from other machines' in the last
    bit)."""
    import importlib

    try:
        umath = importlib.import_module("numpy._core._multiarray_umath")
    except ImportError:  # numpy < 2
        umath = importlib.import_module("numpy.core._multiarray_umath")
    features: dict[str, bool] = umath.__cpu_features__
    return not (features.get("X86_V4") or features.get("AVX512_SKX"))
