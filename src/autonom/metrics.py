"""Prometheus metrics of one server instance (its own registry: no module-level state)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300)
_TTFT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30)


class Metrics:
    def __init__(self, loaded_models: Callable[[], int] = lambda: 0,
                 engine: tuple[str, str] | None = None) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("autonom_requests", "HTTP requests by route and status",
                                ["route", "status"], registry=r)
        self.latency = Histogram("autonom_request_duration_seconds", "Request duration",
                                 ["route"], buckets=_LATENCY_BUCKETS, registry=r)
        self.ttft = Histogram("autonom_time_to_first_token_seconds", "Time to first token",
                              ["model"], buckets=_TTFT_BUCKETS, registry=r)
        self.tokens = Counter("autonom_tokens", "Tokens processed", ["model", "kind"],
                              registry=r)
        self.queue_depth = Gauge("autonom_queue_depth", "Requests waiting for the engine",
                                 registry=r)
        self.in_flight = Gauge("autonom_requests_in_flight", "Requests the engine works on",
                               registry=r)
        loaded = Gauge("autonom_loaded_models", "Models loaded in memory", registry=r)
        loaded.set_function(loaded_models)
        if engine is not None:
            Gauge("autonom_engine_build_info", "The llama.cpp build of the embedded engine",
                  ["build", "version"], registry=r).labels(*engine).set(1)

    def render(self) -> bytes:
        return generate_latest(self.registry)
