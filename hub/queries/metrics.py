"""Gauges read from the database: ``/metrics`` shows the hub's state, whichever process worked.

The counters in :mod:`hub.core.metrics` count what *this* process did: a message created by
``hub send`` in a shell, or sent by a worker process, never shows in the API process's counters.
These gauges are counted in SQL at scrape time instead:

- ``hub_messages{status,channel}``: the outbox by status (queued, held, sent, dead, ...);
- ``hub_tickets_open{department}``, ``hub_tickets_overdue{department}``: open tickets, and those
  past their deadline, by department code (``none``: not routed yet, 待分派);
- ``hub_ratings{score,malicious}``; ``hub_ratings_good_ratio``: 好评率 over every counted
  rating (≥3 ÷ all, malicious ones left out, as in the monthly report);
- ``hub_messages_sent_total{channel}``: messages the provider took (``sent`` + ``delivered``),
  for Prometheus's ``rate()`` whichever worker processes, on whichever machines, sent them;
  ``hub_messages_sent_per_second{channel}``: that count's rise between the last two reads, per
  second (a rate to read without Prometheus: ``hub bench`` shows it). Both come from the count
  by status the gauge above already reads (an index-only scan), so they cost no query;
- ``hub_database_metrics_up``: 0 when the last read failed (the previous values are kept).

prometheus_client's ``collect()`` is synchronous and the database is async, so the ``/metrics``
route awaits :meth:`DatabaseGauges.refresh` first; a snapshot younger than ``max_age`` seconds
is reused, so frequent or concurrent scrapes cost one set of queries.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

import sqlalchemy as sa
import structlog
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from hub.core.clock import Clock
from hub.core.vocab import MessageStatus
from hub.store.db import Database
from hub.store.models import Department, Message, Rating, Ticket
from hub.tickets.lifecycle import OPEN_STATES

log = structlog.get_logger(__name__)

#: A message the provider took stays counted as it moves on (a receipt: sent -> delivered).
SENT_STATUSES = (MessageStatus.SENT.value, MessageStatus.DELIVERED.value)

UNROUTED = "none"  # the department label of tickets no department has yet (待分派)
GOOD_SCORE = 3  # 基本满意 and above count as good (hub.reports.monthly)


@dataclass(frozen=True, slots=True)
class DatabaseSnapshot:
    """Counts read in one pass; keys are label values."""

    messages: Mapping[tuple[str, str], int] = field(default_factory=dict)  # (status, channel)
    tickets_open: Mapping[str, int] = field(default_factory=dict)  # department code
    tickets_overdue: Mapping[str, int] = field(default_factory=dict)
    ratings: Mapping[tuple[int, bool], int] = field(default_factory=dict)  # (score, malicious)

    def sent_by_channel(self) -> dict[str, int]:
        """Messages the provider took, by channel."""
        sent: dict[str, int] = {}
        for (status, channel), n in self.messages.items():
            if status in SENT_STATUSES:
                sent[channel] = sent.get(channel, 0) + n
        return sent

    @property
    def good_ratio(self) -> float | None:
        """好评率 of the counted (not malicious) ratings; None without any."""
        counted = {score: n for (score, malicious), n in self.ratings.items() if not malicious}
        total = sum(counted.values())
        good = sum(n for score, n in counted.items() if score >= GOOD_SCORE)
        return good / total if total else None


async def read_snapshot(db: Database, clock: Clock) -> DatabaseSnapshot:
    """Count messages, open and overdue tickets and ratings (three grouped queries)."""
    now = clock.now()
    department = sa.func.coalesce(Department.code, UNROUTED)
    overdue = sa.func.sum(sa.case((Ticket.deadline_at <= now, 1), else_=0))
    async with db.read() as session:
        message_rows = (
            await session.execute(
                sa.select(Message.status, Message.channel, sa.func.count()).group_by(
                    Message.status, Message.channel
                )
            )
        ).all()
        ticket_rows = (
            await session.execute(
                sa.select(department, sa.func.count(), overdue)
                .select_from(Ticket)
                .outerjoin(Department, Ticket.department_id == Department.id)
                .where(Ticket.state.in_(OPEN_STATES))
                .group_by(department)
            )
        ).all()
        rating_rows = (
            await session.execute(
                sa.select(Rating.score, Rating.malicious, sa.func.count()).group_by(
                    Rating.score, Rating.malicious
                )
            )
        ).all()
    return DatabaseSnapshot(
        messages={(status.value, channel.value): n for status, channel, n in message_rows},
        tickets_open={code: n for code, n, _ in ticket_rows},
        tickets_overdue={code: int(late or 0) for code, _, late in ticket_rows},
        ratings={(score, bool(malicious)): n for score, malicious, n in rating_rows},
    )


class DatabaseGauges(Collector):
    """A collector serving the last :class:`DatabaseSnapshot`; ``refresh()`` before rendering."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        *,
        max_age: float = 5.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.db, self.clock, self.max_age, self.monotonic = db, clock, max_age, monotonic
        self.snapshot = DatabaseSnapshot()
        self.up = False
        #: Messages sent per second by channel, between the last two successful reads.
        self.sent_per_second: dict[str, float] = {}
        self._sent_at: tuple[float, dict[str, int]] | None = None
        self._read_at: float | None = None
        self._lock: asyncio.Lock | None = None

    async def refresh(self) -> None:
        """Read a new snapshot unless the last one is younger than ``max_age``.

        A failed read is logged and leaves the previous values, with ``up`` 0: the process's
        own metrics are still served when the database is down.
        """
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:  # concurrent scrapes wait for one read instead of each doing it
            if self._read_at is not None and self.monotonic() - self._read_at < self.max_age:
                return
            try:
                self.snapshot = await read_snapshot(self.db, self.clock)
                self.up = True
                self._note_sent(self.monotonic(), self.snapshot.sent_by_channel())
            except Exception as exc:  # a scrape must not fail with the database
                log.warning("database metrics unavailable", error=str(exc))
                self.up = False
            self._read_at = self.monotonic()

    def _note_sent(self, at: float, sent: dict[str, int]) -> None:
        if self._sent_at is not None and at > self._sent_at[0]:
            before, seconds = self._sent_at[1], at - self._sent_at[0]
            self.sent_per_second = {
                channel: max(0.0, (n - before.get(channel, 0)) / seconds)
                for channel, n in sent.items()
            }
        self._sent_at = (at, sent)

    def describe(self) -> list[GaugeMetricFamily]:
        # Nothing at registration: collect() must not run (and read a stale snapshot) then.
        return []

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        snapshot = self.snapshot
        messages = GaugeMetricFamily(
            "hub_messages", "Outbox messages by status and channel", labels=["status", "channel"]
        )
        channels = sorted({channel for _, channel in snapshot.messages})
        for channel in channels:  # every status of a channel in use, so absent means zero
            for status in MessageStatus:
                count = snapshot.messages.get((status.value, channel), 0)
                messages.add_metric([status.value, channel], count)
        yield messages
        sent = CounterMetricFamily(
            "hub_messages_sent", "Messages the provider took (sent or delivered), by channel",
            labels=["channel"],
        )  # fmt: skip
        for channel, count in sorted(snapshot.sent_by_channel().items()):
            sent.add_metric([channel], count)
        yield sent
        rate = GaugeMetricFamily(
            "hub_messages_sent_per_second", "Messages sent per second between the last two reads",
            labels=["channel"],
        )  # fmt: skip
        for channel, per_second in sorted(self.sent_per_second.items()):
            rate.add_metric([channel], per_second)
        yield rate
        for name, help_text, counts in (
            ("hub_tickets_open", "Open tickets by department", snapshot.tickets_open),
            ("hub_tickets_overdue", "Open tickets past their deadline", snapshot.tickets_overdue),
        ):
            family = GaugeMetricFamily(name, help_text, labels=["department"])
            for code, count in sorted(counts.items()):
                family.add_metric([code], count)
            yield family
        ratings = GaugeMetricFamily(
            "hub_ratings", "Ratings by score (1-5)", labels=["score", "malicious"]
        )
        for (score, malicious), count in sorted(snapshot.ratings.items()):
            ratings.add_metric([str(score), str(malicious).lower()], count)
        yield ratings
        ratio = snapshot.good_ratio
        if ratio is not None:
            yield GaugeMetricFamily(
                "hub_ratings_good_ratio", "好评率: counted ratings >= 3 / counted ratings",
                value=ratio,
            )  # fmt: skip
        yield GaugeMetricFamily(
            "hub_database_metrics_up", "1 when the last database read for these gauges worked",
            value=1 if self.up else 0,
        )  # fmt: skip
