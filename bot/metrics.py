"""Prometheus metrics (prometheus_client), every series labelled with the replica that made it.

Services observe what they time or count through the module-level ``METRICS`` (cheap: a dict
lookup and an add). The app names the replica at start-up (``METRICS.replica = …``) and, at
each scrape of ``/metrics``, adds point-in-time values it reads itself (outbox depth and age,
the quote breaker, replicas alive, the services' own counters) through ``exposition()``.

Series (all prefixed ``marketbot_``, all with a ``replica`` label):

==================================  =========  ==========================================
feed_fetch_seconds                  histogram  one feed request, by ``result`` (200, 304, error …)
poll_lag_seconds                    histogram  how late a feed was polled after it was due
story_to_post_seconds               histogram  story first seen → message posted, by ``platform``
deliveries_total                    counter    send attempts by ``platform`` and ``result``
delivery_retries_total              counter    retried sends by ``platform``
quote_seconds                       histogram  quote requests by ``result``
command_ack_seconds                 histogram  slash command received → acknowledged, by ``platform``
outbox_depth / outbox_oldest_age…   gauge      read from the database at scrape time
==================================  =========  ==========================================
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable, Mapping

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_LATENCY = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_LAG = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0)
_POST = (1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 900.0, 3600.0)


def default_replica_id() -> str:
    """``host-pid``: unique among live processes, readable in dashboards and logs."""
    return f"{socket.gethostname()}-{os.getpid()}"


class _Snapshot(Collector):
    """The values the app reads at scrape time, as gauges and counters with the replica label."""

    def __init__(self, owner: Metrics) -> None:
        self._owner = owner

    def collect(self) -> Iterable[Metric]:
        families: dict[str, GaugeMetricFamily | CounterMetricFamily] = {}
        replica = self._owner.replica
        for key, value in sorted(self._owner.snapshot.items()):
            name, labels = _split(key if key.startswith("marketbot_") else f"marketbot_{key}")
            counter = name.endswith("_total")
            base = name.removesuffix("_total") if counter else name
            family = families.get(base)
            if family is None:
                names = ["replica", *labels]
                family = (
                    CounterMetricFamily(base, "marketbot counter", labels=names)
                    if counter
                    else GaugeMetricFamily(base, "marketbot gauge", labels=names)
                )
                families[base] = family
            if len(family._labelnames) != len(labels) + 1:  # same name, other labels: skip, don't crash
                continue
            family.add_metric([replica, *labels.values()], value)
        yield from families.values()


def _split(key: str) -> tuple[str, dict[str, str]]:
    """``name{a="x",b="y"}`` → (name, {a: x, b: y})."""
    if "{" not in key:
        return key, {}
    name, rest = key.split("{", 1)
    labels: dict[str, str] = {}
    for part in rest.rstrip("}").split(","):
        if "=" in part:
            k, v = part.split("=", 1)
            labels[k.strip()] = v.strip().strip('"')
    return name, labels


class Metrics:
    """The process's registry and series; see the module docstring."""

    def __init__(self, replica: str | None = None) -> None:
        self.replica = replica or default_replica_id()
        self.snapshot: dict[str, float] = {}
        self.registry = CollectorRegistry(auto_describe=False)
        r = self.registry
        self.feed_fetch = Histogram(
            "marketbot_feed_fetch_seconds",
            "Feed requests by result",
            ["replica", "result"],
            buckets=_LATENCY,
            registry=r,
        )
        self.poll_lag = Histogram(
            "marketbot_poll_lag_seconds",
            "Seconds a feed was polled after it was due",
            ["replica"],
            buckets=_LAG,
            registry=r,
        )
        self.story_to_post = Histogram(
            "marketbot_story_to_post_seconds",
            "Story first seen to message posted",
            ["replica", "platform"],
            buckets=_POST,
            registry=r,
        )
        self.deliveries = Counter(
            "marketbot_deliveries",
            "Send attempts by platform and result",
            ["replica", "platform", "result"],
            registry=r,
        )
        self.retries = Counter(
            "marketbot_delivery_retries", "Retried sends", ["replica", "platform"], registry=r
        )
        self.quote = Histogram(
            "marketbot_quote_seconds",
            "Quote requests by result",
            ["replica", "result"],
            buckets=_LATENCY,
            registry=r,
        )
        self.command_ack = Histogram(
            "marketbot_command_ack_seconds",
            "Slash command received to acknowledged",
            ["replica", "platform"],
            buckets=_LATENCY,
            registry=r,
        )
        r.register(_Snapshot(self))

    # ------------------------------------------------------------ observing (services call these)

    def fetched(self, seconds: float, result: str, *, lag: float | None = None) -> None:
        self.feed_fetch.labels(self.replica, result).observe(seconds)
        if lag is not None:
            self.poll_lag.labels(self.replica).observe(max(lag, 0.0))

    def delivered(self, platform: str, result: str, *, story_age: float | None = None) -> None:
        self.deliveries.labels(self.replica, platform, result).inc()
        if story_age is not None and result == "sent":
            self.story_to_post.labels(self.replica, platform).observe(max(story_age, 0.0))

    def retried(self, platform: str) -> None:
        self.retries.labels(self.replica, platform).inc()

    def quoted(self, seconds: float, result: str) -> None:
        self.quote.labels(self.replica, result).observe(seconds)

    def acknowledged(self, platform: str, seconds: float) -> None:
        self.command_ack.labels(self.replica, platform).observe(seconds)

    # ------------------------------------------------------------ exposition

    def exposition(self, snapshot: Mapping[str, float] | None = None) -> bytes:
        """The text format for ``/metrics``; ``snapshot`` replaces the scrape-time values."""
        if snapshot is not None:
            self.snapshot = dict(snapshot)
        return generate_latest(self.registry)


METRICS = Metrics()
