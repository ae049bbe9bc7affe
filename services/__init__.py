"""Orbital Twin services: I/O around the pure `twin` core (CLI, event logs, Kafka, metrics, HTTP)."""

import twin  # noqa: F401  (first: it pins numpy's kernels before anything loads numpy)
