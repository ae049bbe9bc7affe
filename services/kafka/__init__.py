"""Apache Kafka as the shared event log: connection settings (:mod:`.settings`, SASL/TLS from
the environment or a TOML file), the log adapter behind the event-log port (:mod:`.log`), the
run publisher (:mod:`.publisher`), the projector's fetch process (:mod:`.fetcher`) and a local
single-node KRaft broker from Maven Central jars for tests and development (:mod:`.broker`).
"""
