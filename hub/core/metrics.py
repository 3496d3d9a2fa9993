"""Prometheus metrics, in a registry the runtime owns (no global state at import)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram


class HubMetrics:
    """The hub's counters; ``registry`` is what GET /metrics renders."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.messages_created = Counter(
            "hub_messages_created",
            "Messages committed to the outbox",
            ["kind", "channel"],
            registry=registry,
        )
        self.send_outcomes = Counter(
            "hub_send_outcomes",
            "Provider send attempts by outcome",
            ["channel", "outcome"],
            registry=registry,
        )
        self.resent_while_unknown = Counter(
            "hub_resent_while_unknown",
            "Messages sent again while it was unknown whether the provider took them",
            ["channel"],
            registry=registry,
        )
        self.send_batch_seconds = Histogram(
            "hub_send_batch_seconds",
            "Time to send one batch through a channel",
            ["channel"],
            registry=registry,
        )
