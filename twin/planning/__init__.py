"""Planners' tools, pure: a run's outcomes as one flat row (:mod:`twin.planning.outcomes`),
means with Student-t intervals over seeds (:mod:`twin.planning.stats`) and the cost of a
delivered and of a useful (goodput) accelerator-hour (:mod:`twin.planning.cost`). Running sweeps in processes and writing
tables, plots and reports is ``services.sweep`` and ``services.report``."""
