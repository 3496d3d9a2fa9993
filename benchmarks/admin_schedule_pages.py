"""The schedule pages at city size (issue 15): 100,000 enterprises.

    python benchmarks/admin_schedule_pages.py                 # 100,000 enterprises, 50,000 tickets
    python benchmarks/admin_schedule_pages.py --enterprises 20000 --tickets 10000 --runs 5

The city is :mod:`benchmarks.admin_pages`' (its ``build``), the shipped ``schedules/*.yaml``
stored as ``hub schedules sync`` stores them, plus a campaign schedule to every enterprise with
200 runs in its history. Then each page is fetched whole through the app, signed in as an admin,
``--runs`` times after a warm-up (median and slowest, in ms): the list, a schedule's page (its
audience counted with a sample of five, its next five fire times, its history), and the htmx
audience fragment for a few audiences.

The target is 300 ms per page. Measured 2026-12-06 (100,000 enterprises, 50,000 tickets, 7
runs, the 2-core machine shared with seven other engineers; wall median / slowest / CPU median):
the list 37 / 97 / 28 ms, a schedule to every enterprise with 200 runs 14 / 20 / 14, the
procedure_reminder schedule 15 / 15 / 15, the audience fragment for all 9 / 53 / 9, tier=key
8 / 8 / 8, industry and region 21 / 22 / 21.
"""

from __future__ import annotations

import functools
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from admin_pages import CLOCK, Timed, built_city, fetch, page_timings, run_bench

from hub.app.runtime import PROJECT_ROOT
from hub.scheduling.schedule_store import stored_schedules, sync_schedules
from hub.scheduling.schedules import load_schedules, parse_spec
from hub.store.db import Database
from hub.store.schedule_runs import claim_run, finish_run

EVERYONE = "bench_everyone"
HISTORY = 200


async def _schedules(db: Database) -> None:
    """The shipped schedules, and one to every enterprise with a long history of daily runs."""
    specs = load_schedules(PROJECT_ROOT / "schedules")
    everyone = parse_spec({"cron": "0 9 * * *", "kind": "notice", "audience": "all",
                           "variables": {"text": "通知"}}, default_name=EVERYONE,
                          file="bench")  # fmt: skip
    await sync_schedules(db, [*specs, everyone], CLOCK, actor="bench")
    [stored] = await stored_schedules(db, [EVERYONE])
    for day in range(HISTORY):
        fire = CLOCK.now().replace(hour=1, minute=0, second=0, microsecond=0) - timedelta(days=day)
        run_id = await claim_run(db, CLOCK, stored.id, stored.version, fire)
        assert run_id is not None
        await finish_run(db, CLOCK, run_id, "done", "企业 100000 家，新建 100000 条", None)


def page_jobs(client: Any) -> dict[str, Timed]:
    paths = {
        "GET /admin/schedules": "/admin/schedules",
        f"GET /admin/schedules/{EVERYONE} (all, 200 runs)": f"/admin/schedules/{EVERYONE}",
        "GET /admin/schedules/procedure_reminder": "/admin/schedules/procedure_reminder",
        "GET audience fragment: all": "/admin/schedules/audience?audience=all",
        "GET audience fragment: tier=key": "/admin/schedules/audience?audience=tier%3Dkey",
        "GET audience fragment: industry,region": (
            "/admin/schedules/audience?audience=industry%3D行业03%2Cregion%3D龙沙区"
        ),
    }
    return {label: functools.partial(fetch, client, path) for label, path in paths.items()}


async def bench(folder: Path, enterprises: int, tickets: int, runs: int, seed: int) -> Any:
    async with built_city(folder, enterprises, tickets, seed) as (db, made):
        await _schedules(db)
        results = await page_timings(db, folder, page_jobs, runs)
        return {"rows": made, "runs": runs, "timings": results}


def main(argv: list[str] | None = None) -> int:
    """Build the city, time the pages, print the figures."""
    return run_bench(argv, __doc__.splitlines()[0], bench, "hub-schedule-pages-bench-")


if __name__ == "__main__":
    sys.exit(main())
