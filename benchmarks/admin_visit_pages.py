"""The visits pages at city size (issue 15): 100,000 enterprises.

    python benchmarks/admin_visit_pages.py                 # 100,000 enterprises, 50,000 tickets
    python benchmarks/admin_visit_pages.py --enterprises 20000 --tickets 10000 --runs 5

The city is :mod:`benchmarks.admin_pages`' (its ``build``: this quarter's visits of the key
enterprises and this half-year's of the general ones, 60% done). Each page is fetched whole
through the app, signed in as an admin, ``--runs`` times after a warm-up (median and slowest,
in ms): the list (its first 500 rows) unfiltered, by state, by officer and by period, and one
visit's page. The target is 300 ms per page.

Measured 2026-12-06 (100,000 enterprises, 50,000 tickets, 30,104 visits, 7 runs, the 2-core
machine shared with other engineers; wall median / slowest / CPU median): the list 43 / 135 /
43 ms, state=due 37 / 126 / 36, state=done 39 / 130 / 38, officer=LL001 11 / 11 / 11,
period=2026Q4 34 / 131 / 34, state=missed (none) 11 / 12 / 11, a visit's page 6 / 6 / 6.
Before list_visits read by pages (it read every matching visit, then kept 500): the list 214
ms at 20,000 enterprises, state=missed 430 ms CPU at 100,000.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from admin_pages import CLOCK, Timed, built_city, fetch, page_timings, run_bench

from hub.core.clock import SHANGHAI
from hub.visits.periods import period_of


def page_jobs(client: Any) -> dict[str, Timed]:
    quarter = period_of(CLOCK.now().astimezone(SHANGHAI).date(), 3).label
    paths = {
        "GET /admin/visits": "/admin/visits",
        "GET /admin/visits?state=due": "/admin/visits?state=due",
        "GET /admin/visits?state=done": "/admin/visits?state=done",
        "GET /admin/visits?officer=LL001": "/admin/visits?officer=LL001",
        f"GET /admin/visits?period={quarter}": f"/admin/visits?period={quarter}",
        "GET /admin/visits?state=missed (none)": "/admin/visits?state=missed",
        "GET /admin/visits/1": "/admin/visits/1",
    }
    return {label: functools.partial(fetch, client, path) for label, path in paths.items()}


async def bench(folder: Path, enterprises: int, tickets: int, runs: int, seed: int) -> Any:
    async with built_city(folder, enterprises, tickets, seed) as (db, made):
        results = await page_timings(db, folder, page_jobs, runs)
        return {"rows": made, "runs": runs, "timings": results}


def main(argv: list[str] | None = None) -> int:
    """Build the city, time the pages, print the figures."""
    return run_bench(argv, __doc__.splitlines()[0], bench, "hub-visit-pages-bench-", runs=7)


if __name__ == "__main__":
    sys.exit(main())
