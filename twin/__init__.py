"""Orbital Twin: an event-sourced digital twin of orbital compute constellations.

`twin/` is the pure core: orbital environment, scenarios, events, the fold and the
SimPy engine. It performs no I/O, reads no wall clock and uses no global random
state. Everything that touches files, Kafka, HTTP or Prometheus lives in `services/`.

Importing it first pins numpy's SIMD kernels (:data:`NUMPY_KERNELS_OFF`), so that a scenario
and seed give the same event log on every x86-64 machine (same numpy build and versions), not
only on the same one.
"""

import os as _os
import sys as _sys
import warnings as _warnings

__version__ = "0.1.0"

NUMPY_KERNELS_OFF = "X86_V4 AVX512_ICL AVX512_SPR"
"""numpy's AVX-512 kernels (numpy >= 2.4's names; :func:`_kernels_off` has the earlier ones),
turned off (``NPY_DISABLE_CPU_FEATURES``) before numpy loads, on x86-64 only. Their sin, cos,
exp, arccos... differ from the other kernels in the last bit, and a last-bit difference can
flip a figure rounded into an event (the demo's 7-day log had one in 110,839 events: a
``power_generated_w`` of 107.6 W on one CPU, 107.7 W on another). Without them every
x86-64 CPU runs the same kernels, so with the same numpy build and versions a scenario and
seed give the same log on any such machine. A value the user set is kept; the variable is
in the environment, so child processes inherit it. (A numpy built with AVX-512 as its
baseline, e.g. ``-march=native``, refuses it: set ``NPY_DISABLE_CPU_FEATURES=""`` there.)"""


def _kernels_off() -> str | None:
    """The names for this machine's numpy, or ``None`` off x86-64 (read without importing
    numpy, which would be too late)."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    if platform.machine().lower() not in ("x86_64", "amd64"):
        return None
    try:
        major, minor = (int(p) for p in version("numpy").split(".")[:2])
    except (PackageNotFoundError, ValueError):
        return None
    if (major, minor) >= (2, 4):
        return NUMPY_KERNELS_OFF
    return "AVX512F AVX512CD AVX512_KNL AVX512_KNM AVX512_SKX AVX512_CLX AVX512_CNL AVX512_ICL"


if "numpy" not in _sys.modules and "NPY_DISABLE_CPU_FEATURES" not in _os.environ:
    _off = _kernels_off()
    if _off:
        _os.environ["NPY_DISABLE_CPU_FEATURES"] = _off


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


NUMPY_IMPORTED_FIRST = (
    "numpy was imported before twin and runs its AVX-512 kernels, so figures in this process's "
    "event logs may differ in the last rounded digit from other machines' (and from `twin run` "
    "here): import twin before numpy, or start the process with NPY_DISABLE_CPU_FEATURES="
)
"""The start of the warning given when `twin` comes too late to pin numpy's kernels (the
value to set follows it)."""

if "numpy" in _sys.modules and "NPY_DISABLE_CPU_FEATURES" not in _os.environ:
    _off = _kernels_off()
    if _off and not numpy_kernels_pinned():
        _warnings.warn(f"{NUMPY_IMPORTED_FIRST}'{_off}'", RuntimeWarning, stacklevel=2)
