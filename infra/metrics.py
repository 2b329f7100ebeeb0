"""Prometheus metrics. Operation names come from clients, so their label set is capped."""

from __future__ import annotations

import re
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

REGISTRY = CollectorRegistry(auto_describe=True)

GRAPHQL_REQUESTS = Counter(
    "forexcrm_graphql_requests_total", "GraphQL operations by name and outcome",
    ["operation", "outcome"], registry=REGISTRY,
)
GRAPHQL_LATENCY = Histogram(
    "forexcrm_graphql_request_seconds", "GraphQL operation latency", ["operation"], registry=REGISTRY,
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
HTTP_ERRORS = Counter("forexcrm_http_errors_total", "Rejected HTTP requests", ["code"], registry=REGISTRY)
JOBS = Counter("forexcrm_jobs_total", "Background jobs by name and outcome", ["job", "outcome"], registry=REGISTRY)
OUTBOX_LAG = Gauge(
    "forexcrm_outbox_lag_seconds", "Age of the oldest unpublished outbox event", registry=REGISTRY
)
OUTBOX_RELAYED = Counter("forexcrm_outbox_relayed_total", "Outbox events relayed", registry=REGISTRY)
SUBSCRIBERS = Gauge("forexcrm_subscribers", "Active subscriptions in this process", registry=REGISTRY)

_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_MAX_NAMES = 200
_seen: set[str] = set()


def operation_label(name: str | None) -> str:
    if not name:
        return "anonymous"
    if not _NAME_RE.match(name):
        return "invalid"
    if name not in _seen:
        if len(_seen) >= _MAX_NAMES:
            return "other"
        _seen.add(name)
    return name


class JobQueueCollector:
    """The worker queue's counts (every worker's, read from Redis by /metrics just before a scrape):
    jobs queued, deferred and running now, and completed, failed and retried so far."""

    def __init__(self) -> None:
        self.snapshot: dict[str, int] | None = None

    def describe(self) -> list[Metric]:
        return []  # values exist only after the first read; nothing to check against at registration

    def collect(self) -> Iterator[Metric]:
        snap = self.snapshot
        if snap is None:
            return
        yield GaugeMetricFamily("forexcrm_jobs_queued", "Jobs due and waiting for a worker (the backlog)",
                                value=snap["queued"])
        yield GaugeMetricFamily("forexcrm_jobs_deferred", "Jobs scheduled to run later (delayed retries, deferred)",
                                value=snap["deferred"])
        yield GaugeMetricFamily("forexcrm_jobs_running", "Jobs running now (all live workers)", value=snap["running"])
        finished = CounterMetricFamily("forexcrm_jobs_finished", "Jobs finished by the workers, by outcome "
                                       "(failed: gave up; retried: will run again)", labels=["outcome"])
        for outcome in ("complete", "failed", "retried"):
            finished.add_metric([outcome], snap[outcome])
        yield finished


JOB_QUEUE = JobQueueCollector()
REGISTRY.register(JOB_QUEUE)  # type: ignore[arg-type]
