"""The campaigns page and the phone simulator at city size (issue 15): 100,000 enterprises.

    python benchmarks/admin_message_pages.py                # 100,000 enterprises, 50,000 tickets
    python benchmarks/admin_message_pages.py --enterprises 20000 --tickets 10000 --runs 5

The city is :mod:`benchmarks.admin_pages`' (its ``build``: enterprises with a contact each,
tickets, two messages per enterprise in every status, some held and some dead, replies). Its
messages are spread over 50 campaigns here (4,000 messages each at full size), and one
contact's sandbox inbox gets 50 messages (the simulator shows 50). Then each page is fetched
whole through the app, signed in as an admin, ``--runs`` times after a warm-up (median and
slowest, in ms): ``/admin/campaigns`` and its live fragment, the simulator's contact picker
(every contact; a name search; a USCC), a contact's phone and its conversation fragment.

The target is 300 ms per page. Measured 2026-12-06 (100,000 enterprises, 200,000 messages, 5
runs, the 2-core machine shared with seven other engineers' tests; wall median / CPU median):
campaigns 127 / 57 ms, its live fragment 86 / 57, simulator picker 6 / 6, name search 127 / 78,
USCC 8 / 5, a phone 22 / 11, its conversation 16 / 8.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Any

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from admin_pages import CLOCK, NOW, Timed, built_city, run_bench, signed_in_app, timings

from channels.base import OutboundMessage
from channels.sandbox import SandboxChannel
from hub.core.vocab import MessageKind
from hub.store.db import Database
from hub.store.models import Campaign, Message

CAMPAIGNS = 50
INBOX = 50


async def _campaigns(db: Database) -> int:
    """Every message in one of :data:`CAMPAIGNS` campaigns (by id, round robin)."""
    async with db.write() as session:
        await session.execute(sa.insert(Campaign), [
            {"id": c + 1, "kind": MessageKind.POLICY_PUSH, "trigger": "schedule:policy_match",
             "trigger_key": f"bench-{c}", "audience": "all",
             "status": "active" if c % 5 else "paused", "created_by": "bench",
             "created_at": NOW, "updated_at": NOW}
            for c in range(CAMPAIGNS)
        ])  # fmt: skip
        await session.execute(sa.update(Message).values(campaign_id=Message.id % CAMPAIGNS + 1))
    return CAMPAIGNS


def page_jobs(client: Any) -> dict[str, Timed]:
    async def get(path: str) -> object:
        response = await client.get(path)
        if response.status_code != 200:
            raise SystemExit(f"{path}: {response.status_code}")
        return response

    paths = {
        "GET /admin/campaigns": "/admin/campaigns",
        "GET /admin/campaigns/live": "/admin/campaigns/live",
        "GET /admin/simulator": "/admin/simulator",
        "GET /admin/simulator?q=name": "/admin/simulator?q=第4999号",
        "GET /admin/simulator?q=USCC": "/admin/simulator?q=912302000000004999",
        "GET /admin/simulator/1": "/admin/simulator/1",
        "GET /admin/simulator/1/conversation": "/admin/simulator/1/conversation",
    }
    return {label: functools.partial(get, path) for label, path in paths.items()}


async def bench(folder: Path, enterprises: int, tickets: int, runs: int, seed: int) -> Any:
    async with built_city(folder, enterprises, tickets, seed) as (db, made):
        made["campaign"] = await _campaigns(db)
        results: dict[str, Any] = {}
        async with signed_in_app(db, folder) as (app, client):
            admin = app.state.admin
            inbox = SandboxChannel(admin.redis, admin.keys, CLOCK)
            await inbox.send_batch([
                OutboundMessage(m, "+8613900000000", f"第 {m} 条政策推送", "policy_push",
                                contact_id=1)
                for m in range(1, INBOX + 1)
            ])  # fmt: skip
            for label, job in page_jobs(client).items():
                results[label] = await timings(job, runs)
        return {"rows": made, "runs": runs, "timings": results}


def main(argv: list[str] | None = None) -> int:
    """Build the city, time the pages, print the figures."""
    return run_bench(argv, __doc__.splitlines()[0], bench, "hub-message-pages-bench-")


if __name__ == "__main__":
    sys.exit(main())
