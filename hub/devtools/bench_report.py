"""What ``hub bench`` keeps of a campaign while it runs, and the figures it reports of it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from hub.devtools.bench_measure import percentile
from hub.devtools.demo_data import REGIONS
from hub.outbound.outbox import ProgressHook


class BenchProgress(Protocol):
    """Where the throughput campaign's progress goes (``hub.cli.progress.SendProgress``)."""

    def planned(self, done: int, total: int | None) -> None: ...

    def sent(self, done: int, total: int | None) -> None: ...


@dataclass(slots=True)
class BenchRun:
    """One campaign: when its chunks committed, and what the database says afterwards."""

    started: float = 0.0
    submitted: float = 0.0
    first_enqueued: float | None = None
    committed: dict[int, float] = field(default_factory=dict)
    outcome: Any = None
    counts: dict[str, int] = field(default_factory=dict)
    last_sent: float = 0.0
    audience: str = "all"
    total: int | None = None  # the plan's size, once the outbox has counted it
    metrics_rates: list[float] = field(default_factory=list)  # /metrics' sent per second

    def planned(self, progress: BenchProgress | None) -> ProgressHook | None:
        """The outbox's progress hook: note the plan's size, and pass it on to ``progress``."""
        if progress is None:
            return None

        def hook(done: int, total: int | None) -> None:
            self.total = total
            progress.planned(done, total)

        return hook


def throughput_report(
    run: BenchRun, rss: dict[str, Any], *, n: int, workers: int, setup_s: float, database: str,
    redis: str,
) -> dict[str, Any]:  # fmt: skip
    """The throughput campaign's figures (``hub bench --json``'s document)."""
    outcome = run.outcome
    sent = run.counts.get("sent", 0)
    elapsed = max(run.last_sent - run.started, 1e-9)
    total_rss = rss["producer"] + sum(rss["workers"]) + (rss["redis"] or 0.0)
    return {
        "n": n,
        "messages": outcome.created,
        "sent": sent,
        "not_sent": {k: v for k, v in run.counts.items() if k != "sent"},
        "msgs_per_s": round(sent / elapsed, 1),
        # The peak of /metrics' hub_messages_sent_per_second while it ran (None: too short).
        "metrics_peak_per_s": round(max(run.metrics_rates), 1) if run.metrics_rates else None,
        "p99_ms": None,
        "peak_rss_mb": round(total_rss, 1),
        "workers": workers,
        "breakdown": {
            "plan_s": round(outcome.seconds["plan"], 2),
            "insert_s": round(outcome.seconds["store"], 2),
            "enqueue_s": round(outcome.seconds["enqueue"], 2),
            "submit_s": round(run.submitted - run.started, 2),
            "dispatch_s": round(run.last_sent - (run.first_enqueued or run.started), 2),
            "total_s": round(elapsed, 2),
        },
        "rss_mb": rss,
        "setup_s": round(setup_s, 1),
        "database": database,
        "redis": redis,
    }


def latency_figures(
    run: BenchRun, rate: float, received: Sequence[Mapping[str, Any]], ids: Mapping[str, int]
) -> dict[str, Any]:
    """Commit → fake receipt of each message of the paced campaign: ``received`` are the
    fake's recorded requests, ``ids`` the campaign's message id by number."""
    delays = sorted(
        (request["at"] - run.committed[ids[number]]) * 1000
        for request in received
        for number in request["phone_numbers"]
        if number in ids and ids[number] in run.committed
    )
    sent = run.counts.get("sent", 0)
    return {
        "rate_per_s": round(rate, 1),
        "audience": run.audience,
        "messages": len(delays),
        "msgs_per_s": round(sent / max(run.last_sent - run.started, 1e-9), 1),
        "p50_ms": round(percentile(delays, 0.50), 1),
        "p99_ms": round(percentile(delays, 0.99), 1),
        "max_ms": round(delays[-1], 1) if delays else 0.0,
    }


def districts_for(n: int, wanted: float) -> tuple[str, float]:
    """The largest districts holding about ``wanted`` of ``n`` rows (audience, share)."""
    if wanted >= n:
        return "all", 1.0
    total = sum(weight for _code, weight in REGIONS.values())
    chosen: list[str] = []
    share = 0.0
    for name, (_code, weight) in sorted(REGIONS.items(), key=lambda item: -item[1][1]):
        chosen.append(name)
        share += weight / total
        if share * n >= wanted:
            break
    return "region=" + "|".join(chosen), share
