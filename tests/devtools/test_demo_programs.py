"""The demo data through the real programs: every program's message, on every channel its
template has, names its item and leaves nothing unrendered; `hub templates check` passes.

`hub demo`'s data is loaded (the same import path, dated from a fixed clock) into a real SQLite
database, then each program runs as a schedule's fire runs it, on a real Redis and an outbox
whose chains try WeChat, SMS and the sandbox (default.j2) in turn, so that every message stores
a body for each channel it could go by (its fallbacks). A repair imported after the warnings
brings the closing notice.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from redis.asyncio import Redis

from hub.cli import main
from hub.core.clock import FixedClock
from hub.core.credit import CreditEventStatus, CreditEventType
from hub.core.keys import RedisKeys
from hub.core.vocab import ChannelName, MessageKind
from hub.devtools.demo_data import write_csv
from hub.devtools.demo_load import load_demo_into
from hub.importing.service import import_file
from hub.infra.queue import Queue
from hub.outbound.audience import parse_audience
from hub.outbound.outbox import Outbox
from hub.outbound.planning import PlanningPolicy
from hub.outbound.settings import QuietHours, RoutingSettings
from hub.rendering.render import TemplateRenderer
from hub.scheduling.programs import credit_report, credit_warning, policy_match, procedure_reminders
from hub.scheduling.programs.base import ProgramContext, ProgramFire, ProgramSettings
from hub.scheduling.programs.credit_report import HalfYear
from hub.scheduling.programs.report_links import SECRET_ENV
from hub.store.db import Database
from hub.store.enterprise_data import CreditEvent, Licence, Policy
from hub.store.models import Enterprise, Message
from tests.pipeline import TEMPLATES

SHANGHAI = ZoneInfo("Asia/Shanghai")
# A Monday in the annual-report season's last month: every program has something to send.
NOW = datetime(2027, 6, 7, 10, 0, tzinfo=SHANGHAI)
TODAY = NOW.date()
ENTERPRISES = 300  # what `make run` loads
PROGRAM_KINDS = (
    MessageKind.CREDIT_WARNING, MessageKind.CREDIT_REPORT, MessageKind.CREDIT_REPORT_DIGEST,
    MessageKind.POLICY_PUSH, MessageKind.PROCEDURE_REMINDER,
)  # fmt: skip
# What a variable left empty or a placeholder left unfilled leaves in a text.
UNRENDERED = re.compile(r"\$\{|\{\{|\}\}|\{%|%\}|None|undefined|（）|“”|：。|，。|，，|。。|：，")


def cn(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


@pytest.fixture
async def demo_db(db: Database, tmp_path: Path) -> Database:
    clock = FixedClock(NOW)
    await load_demo_into(db, tmp_path / "demo", clock, enterprises=ENTERPRISES)
    return db


def context(db: Database, redis: Redis, keys: RedisKeys, clock: FixedClock) -> ProgramContext:
    """Programs over an outbox whose chains give each message a body for every channel."""
    routing = RoutingSettings(
        chains={"default": ("wechat", "sms", "sandbox"),
                "credit_report_digest": ("wecom", "sms", "sandbox")},
        max_per_contact_per_day=None, max_per_contact_per_week=None,
    )  # fmt: skip
    policy = PlanningPolicy(
        default_channel=ChannelName.SANDBOX,
        enabled_channels=frozenset({"sandbox", "sms", "wechat", "wecom"}),
        routing=routing,
        quiet_hours=QuietHours(),
    )
    queue = Queue(redis, keys, clock=clock)
    outbox = Outbox(db, queue, TemplateRenderer(TEMPLATES), clock, policy)
    return ProgramContext(
        db, outbox, clock, ProgramSettings(public_base_url="https://hub.example.cn")
    )


def fire(name: str, audience: str = "all") -> ProgramFire:
    return ProgramFire(schedule=name, fire_time=NOW, audience=parse_audience(audience))


async def repair_one_warned_event(ctx: ProgramContext, folder: Path) -> str:
    """Import (a clerk's file, the import path) the repair of the first active demo event."""
    async with ctx.db.read() as session:
        event, uscc = (
            await session.execute(
                sa.select(CreditEvent, Enterprise.uscc)
                .join(Enterprise, Enterprise.id == CreditEvent.enterprise_id)
                .where(CreditEvent.status == CreditEventStatus.ACTIVE)
                .order_by(CreditEvent.event_id)
                .limit(1)
            )
        ).one()
    row = {
        "event_id": event.event_id, "uscc": uscc, "type": event.type.value,
        "authority": event.authority, "decided_on": event.decided_on.isoformat(),
        "summary": event.summary, "status": "repaired", "repaired_on": TODAY.isoformat(),
    }  # fmt: skip
    path = folder / "repair.csv"
    write_csv(path, [row])
    report = await import_file(ctx.db, "credit", path, ctx.clock)
    assert report.changes is not None
    assert report.updated == 1
    outcome = await credit_warning.run_on_changes(ctx, report.changes)
    assert outcome.created >= 1
    return event.event_id


def texts(message: Message) -> Iterator[tuple[str, str]]:
    """(channel, text) for the primary body and each fallback's, and each WeChat field."""
    yield message.channel.value, message.body
    for name, value in (message.params.get("fields") or {}).items():
        yield f"{message.channel.value}:{name}", value
    for fallback in message.params.get("fallbacks") or []:
        yield fallback["channel"], fallback["body"]
        for name, value in (fallback["params"].get("fields") or {}).items():
            yield f"{fallback['channel']}:{name}", value


async def test_every_programs_message_on_every_channel_names_its_item(
    demo_db: Database, redis_client: Redis, redis_keys: RedisKeys, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv(SECRET_ENV, "demo-test-link-secret-0123456789abcdef")
    clock = FixedClock(NOW)
    ctx = context(demo_db, redis_client, redis_keys, clock)
    outcomes = {
        "credit_warning": await credit_warning.run(ctx, fire("credit_warning")),
        "credit_report": await credit_report.run(ctx, fire("credit_report", "tier=key")),
        "procedure_reminders": await procedure_reminders.run(ctx, fire("procedure_reminder")),
        "policy_match": await policy_match.run(ctx, fire("policy_push")),
    }
    assert all(outcome.created > 0 for outcome in outcomes.values()), outcomes
    repaired = await repair_one_warned_event(ctx, tmp_path)

    async with demo_db.read() as session:
        messages = list(await session.scalars(sa.select(Message).order_by(Message.id)))
        events = list(await session.scalars(sa.select(CreditEvent)))
        policies = list(await session.scalars(sa.select(Policy)))
        licences = list(await session.scalars(sa.select(Licence)))
    assert {m.kind for m in messages} == set(PROGRAM_KINDS)
    period = HalfYear.reported_on(TODAY).label
    licence_items = {(lic.kind, lic.number, cn(lic.expires_on)) for lic in licences}
    event_items = {(e.type.label, cn(e.decided_on)): e.event_id for e in events}
    named_events: set[str] = set()
    named_policies: set[str] = set()
    shapes: set[str] = set()
    files: dict[MessageKind, set[str]] = defaultdict(set)
    renderer = ctx.outbox.planner.renderer
    for message in messages:
        assert message.body, (message.kind, message.status, message.status_reason)
        for channel, text in texts(message):
            where = f"{message.kind.value} #{message.id} on {channel}: {text}"
            assert text.strip(), where
            assert UNRENDERED.search(text) is None, where
            if ":" in channel:  # a WeChat template-message field: checked above
                continue
            files[message.kind].add(renderer.template_name(message.kind.value, channel))
            if message.kind is MessageKind.CREDIT_WARNING:
                found = [
                    i for (label, day), i in event_items.items() if label in text and day in text
                ]
                assert found, where
                named_events.update(found)
                shapes.add("officer" if message.contact_id is None else
                           "closing" if "解除" in text else "warning")  # fmt: skip
            elif message.kind in (MessageKind.CREDIT_REPORT, MessageKind.CREDIT_REPORT_DIGEST):
                assert period in text, where
            elif message.kind is MessageKind.POLICY_PUSH:
                found = [p.policy_id for p in policies if p.title in text]
                assert found, where
                named_policies.update(found)
            elif f"{TODAY.year - 1}年度报告" in text:
                shapes.add("annual")
                assert cn(date(TODAY.year, 6, 30)) in text, where
            else:
                assert any(k in text and n in text and d in text for k, n, d in licence_items), (
                    where
                )
                shapes.add("licence")
    assert shapes == {"warning", "officer", "closing", "annual", "licence"}
    active = {e.event_id for e in events if e.status.value == "active"}
    assert active | {repaired} <= named_events
    assert named_policies == {p.policy_id for p in policies}  # each demo policy reached someone
    for kind in PROGRAM_KINDS:
        shipped = {f"{kind.value}/{f.name}" for f in (TEMPLATES / kind.value).glob("*.j2")}
        assert files[kind] == shipped, kind


async def test_demo_data_has_each_case_the_programs_tell_apart(demo_db: Database) -> None:
    async with demo_db.read() as session:
        events = list(await session.scalars(sa.select(CreditEvent)))
        policies = list(await session.scalars(sa.select(Policy)))
        licences = list(await session.scalars(sa.select(Licence)))
    by_type = {(e.type, e.status.value) for e in events}
    for kind in CreditEventType:
        assert (kind, "active") in by_type, kind
        assert {(kind, "repaired"), (kind, "removed")} & by_type, kind
    assert len(policies) == 20
    assert sum(p.free_apply for p in policies) >= 3
    assert all(p.apply_by is None or p.apply_by > TODAY for p in policies)
    assert all(p.industries or p.tiers or p.regions or p.stages or p.tags for p in policies)
    left = sorted((lic.expires_on - TODAY).days for lic in licences if lic.renewed_on is None)
    for low, high in ((1, 7), (8, 30), (31, 60), (61, 365)):
        assert any(low <= days <= high for days in left), (low, high, left)
    assert any(lic.renewed_on is not None for lic in licences)


async def test_demo_twice_on_one_day_changes_nothing(demo_db: Database, tmp_path: Path) -> None:
    again = await load_demo_into(
        demo_db, tmp_path / "demo", FixedClock(NOW), enterprises=ENTERPRISES
    )
    for name, report in again.imports.items():
        assert (report.created, report.updated, report.rejected) == (0, 0, 0), name
    assert again.staff_created == []


async def test_the_demo_is_dated_from_the_clock(db: Database, tmp_path: Path) -> None:
    later = FixedClock(NOW + timedelta(days=200))
    await load_demo_into(db, tmp_path / "demo", later, enterprises=40)
    day = later.now().astimezone(SHANGHAI).date()
    async with db.read() as session:
        deadlines = list(await session.scalars(sa.select(Policy.apply_by)))
        expiries = list(await session.scalars(sa.select(Licence.expires_on)))
    assert all(d is None or d > day for d in deadlines)
    assert all(e > day for e in expiries)


def test_hub_templates_check_passes_on_the_shipped_templates(
    write_config: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["--config", str(write_config()), "templates", "check"])
    assert code == 0, capsys.readouterr().out
