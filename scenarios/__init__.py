"""Scenario presets shipped with Orbital Twin (TOML files beside this module).

A data-only package so the presets install with the project (`pip install .`) and are found
the same way from a checkout and from site-packages: see `twin.sim.scenario.PRESETS_DIR`.
"""
