"""The floor of the outbound path's CPU per message: each piece the rules require, alone.

    .venv/bin/python benchmarks/outbound_floor.py                       # N = 20,000
    .venv/bin/python benchmarks/outbound_floor.py --celery-chunked 1677 # 5x line of a figure
    .venv/bin/python benchmarks/outbound_floor.py --run-celery --json   # Celery chunked, same run

Issue 17 asks for a campaign ≥ 5× the chunked Celery peer on the same two cores, with every
message on record (outbox row, attempt, status), personalised parameters and the fake's
signature check on. Both sides saturate the cores, so 5× means at most ``2 cores ÷ (5 ×
Celery's msg/s)`` of CPU per message summed over every process. This measures, with process
CPU time (user + system, every thread), what each required piece costs on its own:

- ``render``: the campaign's personalised SMS (``policy_push``, each enterprise's own name),
  :meth:`TemplateRenderer.render_message` alone; ``plan`` is the hub's whole planning
  (:class:`~hub.outbound.planning.Planner`: reads, routing, render, caps, idempotency key);
- ``sql_hub``: the hub's own statements on SQLite, batched as it batches them — the outbox
  insert (1,000 rows a transaction, :func:`~hub.store.dialect.insert_ignore` … RETURNING), the
  claim ``queued → sending`` and the record of the answers (sent rows, attempt rows, campaign
  done check: :func:`~hub.outbound.send_records.claim_rows` and
  :class:`~hub.outbound.send_records.SendRecorder`, 64 a group), through SQLAlchemy and
  aiosqlite as the hub runs them; ``sql_raw``: the same statements and transactions through
  the ``sqlite3`` driver, the floor of keeping every message on record in SQLite;
- ``stream``: the outbox's enqueue (1,000 ids a call), the dispatcher's read (200) and ack
  (64) on an embedded Redis: this process's CPU and the Redis server's;
- ``client``: the lean HTTP client's CPU per signed ``SendSms`` (plan, TC3 signature, JSON,
  HTTP/1.1, parse), two lanes of 64 in flight as a worker sends; ``sign`` is the signature
  and body alone (part of ``client``);
- ``fake``: the Tencent fake's process CPU per verified ``SendSms`` while the client sends
  (the signature recomputed, the body validated, the answer written); ``verify`` is the TC3
  check alone, in this process (part of ``fake``).

The floor is ``render + sql_raw + stream + client + fake``: what no arrangement of processes
avoids while each message is rendered, on record, queued, signed, sent and verified. ``as
built`` sums the hub's own pieces (``plan``, ``sql_hub``) instead. Neither counts what joins
the pieces in the real pipeline (the event loop's hand-offs, tasks, metrics, the worker's
claim loop), nor start-up; ``hub bench --no-latency --json`` gives the whole (``cpu_s`` per
process). Run on a quiet machine and give the load average: CPU per call grows when the two
cores are shared.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import sqlalchemy as sa
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from channels.base import ChannelRegistry, OutboundMessage, SendResult
from channels.sms.http_client import HttpClient
from channels.sms.settings import TencentSmsSettings
from channels.sms.tencent import TencentSmsChannel, plan_requests
from channels.sms.tencent_tc3 import verify
from hub.core.clock import SystemClock
from hub.core.keys import RedisKeys
from hub.core.metrics import HubMetrics
from hub.core.vocab import ChannelName, MessageKind, MessageStatus
from hub.devtools.bench_config import SDK_APP_ID, SIGN_NAME
from hub.devtools.bench_measure import cpu_seconds
from hub.devtools.processes import start_fake, stop_all
from hub.infra.queue import Queue
from hub.infra.redis_server import start_embedded
from hub.outbound.audience import parse_audience
from hub.outbound.dispatch import SEND_GROUP, Dispatcher
from hub.outbound.planning import PLAN_CHUNK, Planner, PlanningPolicy, SendRequest
from hub.outbound.send_failures import SendFailures
from hub.outbound.send_records import SendRecorder, claim_rows
from hub.outbound.settings import DispatchSettings
from hub.rendering.render import TemplateRenderer
from hub.rendering.templates import load_folder
from hub.store.db import Database
from hub.store.dialect import insert_ignore
from hub.store.migrate import upgrade_sync
from hub.store.models import Message

ROOT = Path(__file__).resolve().parent.parent
SECRET_ID, SECRET_KEY = "AKIDfloor", "floor-secret"
TEMPLATE_ID = "1000113"  # policy_push's Tencent template
READ_BATCH = DispatchSettings().batch_size  # entries a dispatcher reads at once
LANES = 2  # batches in flight per channel in a worker (hub.outbound.dispatch)
VARIABLES = {"policy_title": "2026年度专精特新中小企业奖补（floor）", "deadline": "2026年12月15日"}
_MESSAGE = cast(sa.Table, Message.__table__)


def _cpu() -> float:
    """This process's CPU seconds, every thread (aiosqlite runs SQLite on its own)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@contextmanager
def _measured(into: dict[str, float], name: str, n: int, pid: int | None = None) -> Iterator[None]:
    """CPU µs per message of the block: this process's, or process ``pid``'s."""
    began = cpu_seconds(pid) if pid is not None else _cpu()
    yield
    spent = (cpu_seconds(pid) if pid is not None else _cpu()) - began
    into[name] = round(spent / n * 1e6, 1)


# --- the registry: N enterprises with one contact each, as hub bench imports -----------------


def _seed(path: Path, n: int) -> None:
    """N enterprises with one mobile contact each (set-up, not measured)."""
    upgrade_sync(f"sqlite+aiosqlite:///{path}")
    now = datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ")
    with sqlite3.connect(path) as db:
        db.executemany(
            "INSERT INTO enterprise (id, uscc, name, tier, industry, region, stage,"
            " credit_status, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
            ((i, f"91370100{i:010d}", f"济南市第{i}号科技有限公司", "general", "软件", "历下区",
              "operating", "good", now, now) for i in range(1, n + 1)),
        )  # fmt: skip
        db.executemany(
            "INSERT INTO contact (id, enterprise_id, natural_key, name, mobile, created_at,"
            " updated_at) VALUES (?,?,?,?,?,?,?)",
            ((i, i, f"m{i}", f"联系人{i}", f"+86138{i:08d}", now, now) for i in range(1, n + 1)),
        )  # fmt: skip


def _renderer() -> TemplateRenderer:
    return TemplateRenderer(load_folder(ROOT / "templates").catalog)


def _policy() -> PlanningPolicy:
    # policy_push bypasses quiet hours in hub bench; here there is no hold either way (the
    # planner's cost is the same for a held row).
    return PlanningPolicy(default_channel=ChannelName.SMS, enabled_channels=frozenset({"sms"}))


# --- render and plan ---------------------------------------------------------------------------


def measure_render(n: int, into: dict[str, float]) -> None:
    renderer = _renderer()
    contexts = [
        {**VARIABLES, "hub_name": "主动服务", "contact": {"name": f"联系人{i}"},
         "enterprise": {"name": f"济南市第{i}号科技有限公司", "uscc": f"91370100{i:010d}",
                        "tier": "一般企业", "industry": "软件", "region": "历下区", "tags": ()},
         "officer_name": "王专员", "officer_mobile": "+8613900000001"}
        for i in range(n)
    ]  # fmt: skip
    renderer.render_message("policy_push", "sms", contexts[0])  # compile outside the clock
    with _measured(into, "render", n):
        for context in contexts:
            renderer.render_message("policy_push", "sms", context)


async def measure_plan(db: Database, n: int, into: dict[str, float]) -> None:
    planner = Planner(db, _renderer(), _policy())
    request = SendRequest(kind=MessageKind.POLICY_PUSH, audience=parse_audience("all"),
                          trigger="floor", trigger_key="plan", variables=VARIABLES)  # fmt: skip
    planned = 0
    with _measured(into, "plan", n):
        async for chunk in planner.plan_chunks(request, datetime.now(UTC)):
            planned += len(chunk)
    assert planned == n, planned


# --- SQL: the outbox rows, the claim, the record -----------------------------------------------


def _rows(n: int, campaign_id: int, now: datetime) -> list[dict[str, Any]]:
    """Message rows as the outbox stores them (hub.outbound.outbox._row)."""
    return [
        {"idempotency_key": f"{i:064x}", "campaign_id": campaign_id,
         "kind": MessageKind.POLICY_PUSH, "enterprise_id": i, "contact_id": i,
         "channel": ChannelName.SMS, "address": f"+86138{i:08d}", "status": MessageStatus.QUEUED,
         "status_reason": None, "body": f"济南市第{i}号科技有限公司：为您匹配到惠企政策……",
         "params": {"values": [f"济南市第{i}号科技有限公司", "政策", "申报截止", "链接", "王专员",
                               "13900000001"], "template_ids": {"tencent": TEMPLATE_ID}},
         "template_version_id": None, "attempts": 0, "next_attempt_at": None,
         "created_at": now, "updated_at": now}
        for i in range(1, n + 1)
    ]  # fmt: skip


async def _campaign(db: Database, key: str, now: datetime) -> int:
    async with db.write() as session:
        result = await session.execute(
            sa.text(
                'INSERT INTO campaign (kind, "trigger", trigger_key, audience, status,'
                " created_by, created_at, updated_at) VALUES ('policy_push', 'floor', :key,"
                " 'all', 'active', 'floor', :now, :now) RETURNING id"
            ),
            {"key": key, "now": now},
        )
        return int(result.scalar_one())


class _NoRedis(Queue):
    """The recorder's follow-ups of an all-sent group touch no Redis; anything else fails."""

    def __init__(self) -> None:
        super().__init__(Redis(), RedisKeys("floor"))


async def measure_sql_hub(db: Database, n: int, into: dict[str, float]) -> None:
    """The hub's statements: outbox insert, claim, record (all sent), batched as it does."""
    now = datetime.now(UTC)
    campaign_id = await _campaign(db, "sql-hub", now)
    rows = _rows(n, campaign_id, now)
    settings = DispatchSettings()
    metrics = HubMetrics(CollectorRegistry())
    recorder = SendRecorder(db, _NoRedis(), SystemClock(), metrics,
                            SendFailures(settings, random.Random(0), None))  # fmt: skip
    channel = TencentSmsChannel(_settings("http://127.0.0.1:9"), HttpClient(), SystemClock())
    ids: list[int] = []
    insert = insert_ignore(db, _MESSAGE).returning(_MESSAGE.c.id, _MESSAGE.c.status,
                                                   _MESSAGE.c.channel)  # fmt: skip
    with _measured(into, "sql_insert", n):
        for start in range(0, n, PLAN_CHUNK):
            async with db.write() as session:
                await session.execute(sa.text("SELECT status FROM campaign WHERE id = :id"),
                                      {"id": campaign_id})  # fmt: skip
                found = await session.execute(insert, rows[start : start + PLAN_CHUNK])
                ids.extend(r[0] for r in found.all())
    assert len(ids) == n
    with _measured(into, "sql_claim_record", n):
        for start in range(0, n, SEND_GROUP):
            claimed = await claim_rows(db, set(ids[start : start + SEND_GROUP]), "floor-1",
                                       datetime.now(UTC))  # fmt: skip
            results = [SendResult(c.message.message_id, f"2028:{c.message.message_id:019d}")
                       for c in claimed]  # fmt: skip
            await recorder.record(channel, claimed, list(results), datetime.now(UTC))
    into["sql_hub"] = round(into["sql_insert"] + into["sql_claim_record"], 1)
    await _check_on_record(db, campaign_id, n)


async def _check_on_record(db: Database, campaign_id: int, n: int) -> None:
    async with db.read() as session:
        sent, attempts = (
            await session.execute(
                sa.text(
                    "SELECT (SELECT count(*) FROM message WHERE campaign_id = :c AND status ="
                    " 'sent'), (SELECT count(*) FROM delivery_attempt a JOIN message m ON"
                    " m.id = a.message_id WHERE m.campaign_id = :c)"
                ),
                {"c": campaign_id},
            )
        ).one()
    assert (sent, attempts) == (n, n), (sent, attempts)


def measure_sql_raw(path: Path, n: int, into: dict[str, float]) -> None:
    """The same statements and transactions through the sqlite3 driver: no ORM, no Core, no
    event loop; SQLite's own cost of keeping every message on record."""
    db = sqlite3.connect(path, isolation_level=None)
    for pragma in ("journal_mode=WAL", "foreign_keys=ON", "synchronous=NORMAL"):
        db.execute(f"PRAGMA {pragma}")
    now = datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ")
    db.execute("INSERT INTO campaign (kind, \"trigger\", trigger_key, audience, status, created_by,"
               " created_at, updated_at) VALUES ('policy_push', 'floor', 'sql-raw', 'all',"
               " 'active', 'floor', ?, ?)", (now, now))  # fmt: skip
    campaign_id = db.execute("SELECT max(id) FROM campaign").fetchone()[0]
    rows = [
        (f"r{i:063x}", campaign_id, "policy_push", i, i, "sms", f"+86138{i:08d}", "queued",
         f"济南市第{i}号科技有限公司：为您匹配到惠企政策……",
         json.dumps({"values": [f"济南市第{i}号科技有限公司", "政策", "申报截止", "链接",
                                "王专员", "13900000001"],
                     "template_ids": {"tencent": TEMPLATE_ID}}, ensure_ascii=False),
         0, now, now)
        for i in range(1, n + 1)
    ]  # fmt: skip
    columns = ("idempotency_key, campaign_id, kind, enterprise_id, contact_id, channel, address,"
               " status, body, params, attempts, created_at, updated_at")  # fmt: skip
    ids: list[int] = []
    with _measured(into, "sql_raw_insert", n):
        for start in range(0, n, PLAN_CHUNK):
            chunk = rows[start : start + PLAN_CHUNK]
            db.execute("BEGIN IMMEDIATE")
            db.execute("SELECT status FROM campaign WHERE id = ?", (campaign_id,))
            values = ",".join(["(?,?,?,?,?,?,?,?,?,?,?,?,?)"] * len(chunk))
            found = db.execute(
                f"INSERT INTO message ({columns}) VALUES {values} ON CONFLICT DO NOTHING"
                " RETURNING id, status, channel",
                [v for row in chunk for v in row],
            ).fetchall()
            db.execute("COMMIT")
            ids.extend(r[0] for r in found)
    with _measured(into, "sql_raw_claim_record", n):
        for start in range(0, n, SEND_GROUP):
            group = ids[start : start + SEND_GROUP]
            marks = ",".join("?" * len(group))
            stamp = datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ")
            db.execute("BEGIN IMMEDIATE")
            claimed = db.execute(
                "UPDATE message SET status = 'sending', attempts = attempts + 1, updated_at = ?,"
                f" status_reason = 'floor' WHERE id IN ({marks}) AND CAST(status AS VARCHAR) ="
                " 'queued' RETURNING id, address, body, kind, params, contact_id, attempts",
                [stamp, *group],
            ).fetchall()
            db.execute("COMMIT")
            params = [json.loads(r[4]) for r in claimed]  # the worker reads them to sign
            assert len(params) == len(group)
            db.execute("BEGIN IMMEDIATE")
            db.executemany(
                "UPDATE message SET status = 'sent', sent_at = ?, updated_at = ?,"
                " provider_message_id = ?, next_attempt_at = NULL, status_reason = NULL"
                " WHERE id = ?",
                [(stamp, stamp, f"2028:{r[0]:019d}", r[0]) for r in claimed],
            )
            db.execute(
                "INSERT INTO delivery_attempt (message_id, attempt_no, channel, provider,"
                " started_at, finished_at, outcome, provider_message_id) SELECT id, attempts,"
                f" channel, 'tencent', ?, ?, 'sent', provider_message_id FROM message WHERE id"
                f" IN ({marks}) ORDER BY id",
                [stamp, stamp, *group],
            )
            db.execute(
                "UPDATE campaign SET status = 'done', updated_at = ? WHERE status = 'active'"
                " AND NOT EXISTS (SELECT 1 FROM message WHERE message.campaign_id = campaign.id"
                " AND message.status IN ('queued', 'held', 'sending')) AND campaign.id IN"
                f" (SELECT campaign_id FROM message WHERE id IN ({marks}))",
                [stamp, *group],
            )
            db.execute("COMMIT")
    into["sql_raw"] = round(into["sql_raw_insert"] + into["sql_raw_claim_record"], 1)
    sent = db.execute("SELECT count(*) FROM message WHERE campaign_id = ? AND status = 'sent'",
                      (campaign_id,)).fetchone()[0]  # fmt: skip
    assert sent == n, sent
    db.close()


# --- the stream --------------------------------------------------------------------------------


async def measure_stream(scratch: Path, n: int, into: dict[str, float]) -> None:
    server = await asyncio.to_thread(start_embedded, scratch / "redis")
    try:
        redis: Redis = Redis.from_url(server.url, decode_responses=True)
        queue = Queue(redis, RedisKeys("floor"))
        await queue.ensure_groups(["sms"])
        pid = server.pid()
        assert pid is not None
        redis_before, own_before = cpu_seconds(pid), _cpu()
        for start in range(0, n, PLAN_CHUNK):
            await queue.enqueue("sms", list(range(start + 1, min(start + PLAN_CHUNK, n) + 1)))
        taken = 0
        while taken < n:
            entries = await queue.claim("sms", "floor-1", READ_BATCH)
            for start in range(0, len(entries), SEND_GROUP):
                await queue.ack("sms", [e.entry_id for e in entries[start : start + SEND_GROUP]])
            taken += len(entries)
        into["stream_client"] = round((_cpu() - own_before) / n * 1e6, 1)
        into["stream_redis"] = round((cpu_seconds(pid) - redis_before) / n * 1e6, 1)
        into["stream"] = round(into["stream_client"] + into["stream_redis"], 1)
        await redis.aclose()
    finally:
        await asyncio.to_thread(server.stop)


# --- the provider call: the client and the fake ------------------------------------------------


def _settings(endpoint: str) -> TencentSmsSettings:
    return TencentSmsSettings(secret_id=SECRET_ID, secret_key=SECRET_KEY, sdk_app_id=SDK_APP_ID,
                              sign_name=SIGN_NAME, endpoint=endpoint)  # fmt: skip


def _messages(n: int) -> list[OutboundMessage]:
    """Personalised: every message its own parameters, so one request per message."""
    return [
        OutboundMessage(i, f"+86138{i:08d}", "", "policy_push",
                        {"values": [f"济南市第{i}号科技有限公司", "2026年度专精特新中小企业奖补",
                                    "申报截止2026年12月15日，请按时申报", "当地政务服务网",
                                    "王专员", "13900000001"],
                         "template_ids": {"tencent": TEMPLATE_ID}}, i)
        for i in range(1, n + 1)
    ]  # fmt: skip


async def measure_provider(fake_pid: int, url: str, n: int, into: dict[str, float]) -> None:
    async with HttpClient() as http:
        channel = TencentSmsChannel(_settings(url), http, SystemClock(), qps=1e6)
        warm = await channel.send_batch(_messages(SEND_GROUP))
        assert all(isinstance(r, SendResult) for r in warm), warm[:1]
        messages = _messages(n)
        groups = [messages[s : s + SEND_GROUP] for s in range(0, n, SEND_GROUP)]
        sent = 0

        async def lane(mine: Sequence[list[OutboundMessage]]) -> None:
            nonlocal sent
            for group in mine:
                results = await channel.send_batch(group)
                sent += sum(isinstance(r, SendResult) for r in results)

        fake_before, own_before = cpu_seconds(fake_pid), _cpu()
        await asyncio.gather(*(lane(groups[i::LANES]) for i in range(LANES)))
        into["client"] = round((_cpu() - own_before) / n * 1e6, 1)
        into["fake"] = round((cpu_seconds(fake_pid) - fake_before) / n * 1e6, 1)
        assert sent == n, f"{sent} of {n} accepted"
        # The signature and body alone (part of the client's figure).
        requests, _ = plan_requests(messages, {})
        with _measured(into, "sign", n):
            signed = [channel.sign(r) for r in requests]
        # The TC3 check alone, as the fake runs it (part of the fake's figure).
        now = time.time()
        with _measured(into, "verify", n):
            for headers, body in signed:
                assert verify(headers, body, secret_id=SECRET_ID, secret_key=SECRET_KEY,
                              service="sms", now=now) is None  # fmt: skip


# --- the worker as built: the production dispatcher, in this process -------------------------


async def measure_dispatch(
    db: Database, scratch: Path, fake_pid: int, url: str, n: int, into: dict[str, float]
) -> None:
    """N queued rows on the stream, sent by :class:`~hub.outbound.dispatch.Dispatcher` (two
    lanes, as ``hub worker`` runs it) until every row is ``sent``: this process's CPU per
    message (claim, sign, send, record, ack, and what joins them), the fake's and Redis's."""
    now = datetime.now(UTC)
    campaign_id = await _campaign(db, "dispatch", now)
    insert = insert_ignore(db, _MESSAGE).returning(_MESSAGE.c.id)
    rows = _rows(n, campaign_id, now)
    for row in rows:
        row["idempotency_key"] = "d" + row["idempotency_key"][1:]
    ids: list[int] = []
    for start in range(0, n, PLAN_CHUNK):
        async with db.write() as session:
            found = await session.execute(insert, rows[start : start + PLAN_CHUNK])
            ids.extend(r[0] for r in found.all())
    server = await asyncio.to_thread(start_embedded, scratch / "redis-dispatch")
    try:
        redis: Redis = Redis.from_url(server.url, decode_responses=True)
        queue = Queue(redis, RedisKeys("floor"))
        await queue.ensure_groups(["sms"])
        await queue.enqueue("sms", ids)
        registry = ChannelRegistry()
        http = HttpClient()
        registry.register(
            TencentSmsChannel(
                _settings(url),
                http,
                SystemClock(),
                template_ids={"policy_push": TEMPLATE_ID},
                qps=1e6,
            )
        )
        dispatcher = Dispatcher(db, queue, registry, SystemClock(),
                                DispatchSettings(batch_size=READ_BATCH, block_ms=100),
                                HubMetrics(CollectorRegistry()), consumer="floor-1")  # fmt: skip
        stop = asyncio.Event()
        pid = server.pid()
        assert pid is not None
        before = (_cpu(), cpu_seconds(fake_pid), cpu_seconds(pid))
        running = asyncio.create_task(dispatcher.run(stop))
        stream = queue.keys.outbound_stream("sms")
        while True:  # entries are deleted once acknowledged, and acknowledged once recorded
            if not await redis.xlen(stream) or running.done():
                break
            await asyncio.sleep(0.1)
        stop.set()
        await running
        after = (_cpu(), cpu_seconds(fake_pid), cpu_seconds(pid))
        await http.aclose()
        await redis.aclose()
    finally:
        await asyncio.to_thread(server.stop)
    for name, a, b in zip(("dispatch_worker", "dispatch_fake", "dispatch_redis"), before, after,
                          strict=True):  # fmt: skip
        into[name] = round((b - a) / n * 1e6, 1)
    await _check_on_record(db, campaign_id, n)


# --- the report --------------------------------------------------------------------------------


def celery_chunked(n: int) -> float:
    """Celery, chunks of 100, in this run (benchmarks/celery_baseline; the bench group)."""
    sys.path.insert(0, str(ROOT / "benchmarks" / "celery_baseline"))
    from run import CeleryPeer, recipients  # the bench group's: imported only when asked

    scratch = Path(tempfile.mkdtemp(prefix="floor-celery-"))
    peer = CeleryPeer(scratch, None, os.cpu_count() or 1)
    try:
        peer.start()
        result = peer.run("chunked", recipients(n))
    finally:
        peer.stop()
    assert result["fake"]["exactly_once"], result["fake"]
    return float(result["msgs_per_s"])


def report(us: dict[str, float], n: int, cores: int, chunked: float | None) -> dict[str, Any]:
    floor = us["render"] + us["sql_raw"] + us["stream"] + us["client"] + us["fake"]
    built = us["plan"] + us["sql_hub"] + us["stream"] + us["client"] + us["fake"]
    out: dict[str, Any] = {
        "n": n,
        "cores": cores,
        "load_avg": [round(x, 2) for x in os.getloadavg()],
        "us_per_msg": us,
        "floor_us_per_msg": round(floor, 1),
        "floor_max_msgs_per_s": round(cores / (floor / 1e6)),
        "as_built_pieces_us_per_msg": round(built, 1),
        "as_built_pieces_max_msgs_per_s": round(cores / (built / 1e6)),
    }
    if chunked:
        five = 5 * chunked
        out["celery_chunked_msgs_per_s"] = chunked
        out["five_x_msgs_per_s"] = round(five)
        out["five_x_budget_us_per_msg"] = round(cores / five * 1e6, 1)
        out["floor_over_five_x_budget"] = round(floor / (cores / five * 1e6), 2)
    return out


def _text(out: dict[str, Any]) -> str:
    us = out["us_per_msg"]
    lines = [f"N = {out['n']}, {out['cores']} cores, load {out['load_avg']}",
             "CPU µs per message (process CPU):"]  # fmt: skip
    for name, value in us.items():
        lines.append(f"  {name:22} {value:8.1f}")
    lines.append(
        f"floor (render + sql_raw + stream + client + fake): {out['floor_us_per_msg']} µs"
        f" → at most {out['floor_max_msgs_per_s']} msg/s on {out['cores']} cores"
    )
    lines.append(f"as built (plan + sql_hub + stream + client + fake): "
                 f"{out['as_built_pieces_us_per_msg']} µs → at most "
                 f"{out['as_built_pieces_max_msgs_per_s']} msg/s")  # fmt: skip
    if "five_x_msgs_per_s" in out:
        lines.append(
            f"5× Celery chunked ({out['celery_chunked_msgs_per_s']} msg/s) = "
            f"{out['five_x_msgs_per_s']} msg/s = {out['five_x_budget_us_per_msg']} µs"
            f" per message; the floor is {out['floor_over_five_x_budget']}× that"
        )
    return "\n".join(lines)


async def _measure(n: int, scratch: Path, *, dispatch: bool = True) -> dict[str, float]:
    us: dict[str, float] = {}
    path = scratch / "floor.db"
    await asyncio.to_thread(_seed, path, n)
    measure_render(n, us)
    db = Database.open(f"sqlite+aiosqlite:///{path}")
    try:
        await measure_plan(db, n, us)
        await measure_sql_hub(db, n, us)
    finally:
        await db.aclose()
    measure_sql_raw(path, n, us)
    await measure_stream(scratch, n, us)
    fake, url = start_fake("tencent_sms", "--secret-id", SECRET_ID, "--secret-key", SECRET_KEY,
                           "--sign-name", SIGN_NAME, "--no-record")  # fmt: skip
    try:
        await measure_provider(fake.pid, url, n, us)
        if dispatch:
            db = Database.open(f"sqlite+aiosqlite:///{path}")
            try:
                await measure_dispatch(db, scratch, fake.pid, url, n, us)
            finally:
                await db.aclose()
    finally:
        stop_all([fake])
    return us


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000, help="messages per piece")
    parser.add_argument("--cores", type=int, default=os.cpu_count() or 1)
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--celery-chunked", type=float, help="Celery chunked msg/s, measured")
    group.add_argument(
        "--run-celery",
        action="store_true",
        help="run Celery chunked first (benchmarks/celery_baseline)",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    chunked: float | None = args.celery_chunked
    if args.run_celery:
        chunked = celery_chunked(args.n)
    with tempfile.TemporaryDirectory(prefix="hub-floor-") as scratch:
        us = asyncio.run(_measure(args.n, Path(scratch)))
    out = report(us, args.n, args.cores, chunked)
    print(json.dumps(out, ensure_ascii=False, indent=2) if args.json else _text(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
