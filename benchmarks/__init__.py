"""Benchmarks: the twin against the raw limits of the parts underneath (`python -m benchmarks`)."""

import twin  # noqa: F401  (first: it pins numpy's kernels before anything loads numpy)
