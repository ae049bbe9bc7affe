"""The orbital environment, vectorized over satellites × times: SGP4 fleets from TLE/OMM or
generated shells (:mod:`.orbits`, :mod:`.propagate`), the Sun in the frame of date
(:mod:`.sun`), conical Earth shadows and the eclipse search (:mod:`.shadow`,
:mod:`.screen`, :mod:`.eclipses`), beta angles and ground-station geometry (:mod:`.geometry`), and the power
chain of a satellite: arrays, battery, radiators (:mod:`.power`). Pure functions of time and
orbit; no events, no I/O."""
