"""The projector service: the event log folded into fleet state, served as metrics and JSON.

:mod:`.runner` is the generic projection runner (per-partition folds, a tracking store with
snapshot and next offset in one transaction, dead letters) over two ports, a partitioned source
and a dead-letter sink; :mod:`.kafka` adapts it to a Kafka consumer group (the fetch process of
:mod:`services.kafka.fetcher`, rebalances, the ``.dlq`` topic) and :mod:`.sqlite_source` to the
embedded log; :mod:`.http` merges the partitions (:meth:`twin.projections.FleetState.merge`)
and serves ``/metrics``, ``/state``, ``/satellites/{id}``, ``/healthz`` and ``/readyz``;
:mod:`.main` is the ``twin-projector`` command.
"""
