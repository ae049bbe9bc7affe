"""Compare fleet summaries folded by different routes (partitions, restarts, processes)."""

from __future__ import annotations

from typing import Any

import pytest


def assert_same_summary(got: Any, want: Any, path: str = "") -> None:
    """Equal JSON values; floats within 1e-9 relative (partition sums add in another order)."""
    if isinstance(want, dict):
        assert isinstance(got, dict) and set(got) == set(want), (path, got, want)
        for k in want:
            assert_same_summary(got[k], want[k], f"{path}/{k}")
    elif isinstance(want, float) and not isinstance(got, bool):
        assert got == pytest.approx(want, rel=1e-9, abs=1e-9), path
    else:
        assert got == want, path
