"""The template pages at city size (issue 15): 100,000 enterprises.

    python benchmarks/admin_template_pages.py                 # 100,000 enterprises, 50,000 tickets
    python benchmarks/admin_template_pages.py --enterprises 20000 --tickets 10000 --runs 5

The city is :mod:`benchmarks.admin_pages`' (its ``build``), the shipped templates imported as
``hub templates sync`` imports them, and credit_warning's SMS template given a second version.
Then each page is fetched whole through the app, signed in as an admin, ``--runs`` times after
a warm-up (median and slowest, in ms): the list, the editor (with its contact picker), the
editor with a preview for a contact, the diff of two versions, and the htmx live-preview
fragment (a POST of the edited text: the check and the render).

The target is 300 ms per page. Measured 2026-12-06 (100,000 enterprises, 50,000 tickets, 7
runs, the 2-core machine shared with seven other engineers; wall median / CPU median): the list
17 / 9 ms, the editor 23 / 12, the editor with a name search in its picker 121 / 80, the editor
with a preview 67 / 45, the diff 10 / 10, the live-preview fragment 58 / 41.
"""

from __future__ import annotations

import functools
import json
import re
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from admin_pages import CLOCK, Timed, built_city, fetch, run_bench, signed_in_app, timings

from hub.app.runtime import PROJECT_ROOT
from hub.rendering.template_store import sync_templates
from hub.store.db import Database
from hub.store.templates import TemplateDraft, current_template_versions, write_template_versions

EDITOR = "/admin/templates/credit_warning/sms"


async def _second_version(db: Database) -> None:
    """credit_warning/sms v2: a changed parameter expression (the diff has a change to show)."""
    for stored in await current_template_versions(db):
        if (stored.kind, stored.channel) == ("credit_warning", "sms"):
            meta = json.loads(json.dumps(stored.meta))
            meta["sms"]["params"][2]["expr"] = 'authority or "主管部门"'
            draft = TemplateDraft(stored.kind, stored.channel, stored.body, meta)
            await write_template_versions(db, [draft], CLOCK, "bench", only_new=False)


def page_jobs(client: Any, token: str) -> dict[str, Timed]:
    async def live_preview() -> object:
        response = await client.post(EDITOR + "/preview", data={
            "csrf_token": token, "contact_id": "1", "sms_expr_1": "risk_item"})  # fmt: skip
        if response.status_code != 200:
            raise SystemExit(f"live preview: {response.status_code}")
        return response

    paths = {
        "GET /admin/templates": "/admin/templates",
        "GET editor": EDITOR,
        "GET editor?q=name": EDITOR + "?q=第4999号",
        "GET editor?contact_id=1 (preview)": EDITOR + "?contact_id=1",
        "GET diff v1..v2": EDITOR + "/diff?a=1&b=2",
    }
    jobs: dict[str, Timed] = {
        label: functools.partial(fetch, client, path) for label, path in paths.items()
    }
    jobs["POST live preview fragment"] = live_preview
    return jobs


async def bench(folder: Path, enterprises: int, tickets: int, runs: int, seed: int) -> Any:
    async with built_city(folder, enterprises, tickets, seed) as (db, made):
        await sync_templates(db, PROJECT_ROOT / "templates", CLOCK, "bench")
        await _second_version(db)
        results: dict[str, Any] = {}
        async with signed_in_app(db, folder) as (_app, client):
            page = (await client.get(EDITOR)).text
            token = re.search(r'name="csrf_token" value="([^"]+)"', page)
            assert token is not None
            for label, job in page_jobs(client, token.group(1)).items():
                results[label] = await timings(job, runs)
        return {"rows": made, "runs": runs, "timings": results}


def main(argv: list[str] | None = None) -> int:
    """Build the city, time the pages, print the figures."""
    return run_bench(argv, __doc__.splitlines()[0], bench, "hub-template-pages-bench-")


if __name__ == "__main__":
    sys.exit(main())
