"""The simulator's own metrics (`twin run --metrics-port N`): emitted events, sim time, and
in live mode the lag behind the wall clock — what the "simulation drifting" alert watches."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from services.http_server import TimeoutHandler, listen
from services.metric_names import BY_NAME, standard_collectors

if TYPE_CHECKING:
    from twin.sim.engine import Engine


class LiveCollector:
    """Computes the LIVE metric families from the engine at scrape time."""

    def __init__(self, engine: Engine, speed: float | None) -> None:
        self.engine = engine
        self.speed = speed
        self.epoch_unix = engine.cfg.epoch.timestamp()

    def collect(self) -> Iterator[Metric]:
        def meta(name: str) -> tuple[str, str]:
            m = BY_NAME[name]
            return (m.name.removesuffix("_total") if m.kind == "counter" else m.name), m.help

        engine = self.engine
        name, doc = meta("twin_live_events_emitted_total")
        yield CounterMetricFamily(name, doc, value=engine.offset)
        name, doc = meta("twin_live_sim_time_timestamp_seconds")
        yield GaugeMetricFamily(name, doc, value=self.epoch_unix + engine.env.now)
        current = getattr(engine.env, "current_lag_s", None)
        lag = current() if current is not None else 0.0
        name, doc = meta("twin_live_lag_seconds")
        yield GaugeMetricFamily(name, doc, value=lag)
        name, doc = meta("twin_live_speed_ratio")
        yield GaugeMetricFamily(name, doc, value=self.speed or 0.0)


def serve_live_metrics(
    host: str, port: int, engine: Engine, speed: float | None
) -> CollectorRegistry:
    """Serve the live metrics on ``host:port`` in the background (bounded, with timeouts:
    :mod:`services.http_server`); returns the registry."""
    registry = CollectorRegistry()
    registry.register(LiveCollector(engine, speed))
    standard_collectors(registry)

    class Handler(TimeoutHandler):
        def do_GET(self) -> None:
            if self.path.split("?", 1)[0] != "/metrics":
                self.send_error(404)
                return
            body = generate_latest(registry)
            self.send_response(200)
            self.send_header("Content-Type", CONTENT_TYPE_LATEST)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    listen(host, port, Handler, name="live-metrics", option="--metrics-port")
    return registry
