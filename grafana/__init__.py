"""Grafana dashboards and provisioning; `python -m grafana.generate` writes the boards."""
