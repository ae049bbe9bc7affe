"""Orbital Twin services: I/O around the pure `twin` core (CLI, event logs, Kafka, metrics, HTTP)."""
