"""The simulation: scenarios read and checked (:mod:`.scenario`, errors with file, line and key
from :mod:`.toml_errors`) and the SimPy engine (:mod:`.engine`) that turns a scenario and a
seed into a deterministic stream of events, deciding with the physics of :mod:`twin.physics`
and the state machine of :mod:`twin.lifecycle`."""
