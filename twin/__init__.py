"""Orbital Twin: an event-sourced digital twin of orbital compute constellations.

`twin/` is the pure core: orbital environment, scenarios, events, the fold and the
SimPy engine. It performs no I/O, reads no wall clock and uses no global random
state. Everything that touches files, Kafka, HTTP or Prometheus lives in `services/`.
"""

__version__ = "0.1.0"
