"""The enterprise pages (一企一档) at city size: 100,000 enterprises and 50,000 tickets (issue 15).

    python benchmarks/admin_enterprise_pages.py             # 100,000 enterprises, 50,000 tickets
    python benchmarks/admin_enterprise_pages.py --enterprises 20000 --tickets 10000 --runs 5

The city is :mod:`benchmarks.admin_pages`' (its ``build``: departments, officers, enterprises
with a contact each, tickets, two messages per enterprise, replies, visits). Then each page is
timed ``--runs`` times after a warm-up (median and slowest, in ms), as an admin (everything),
as a handler (one department's two industries) and as a liaison officer (his enterprises, a
few hundred of the city's): the list's data
(:func:`hub.web.admin.enterprise_views.search_enterprises`: the page of 50 and the total) for
several searches, the dossier's data (:func:`~hub.web.admin.enterprise_views.dossier_page`),
and the whole pages through the app, signed in, HTML included (``GET /admin/enterprises?...``,
``GET /admin/enterprises/{uscc}``, ``GET /admin/enterprises/{uscc}/messages``), signed in by
admin_pages' ``signed_in_app`` (an embedded Redis for the session).

The target is 300 ms per page.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from stdnum.cn import uscc as stdnum_uscc

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from admin_pages import CLOCK, Timed, _industry, built_city, fetch, page_timings, run_bench, timings

from hub.core.clock import SHANGHAI
from hub.queries.scope import Visibility
from hub.store.db import Database
from hub.store.models import Enterprise
from hub.web.admin.enterprise_views import EnterpriseSearch, dossier_page, search_enterprises

#: The searches timed: a label and the form's fields.
SEARCHES: dict[str, EnterpriseSearch] = {
    "everything": EnterpriseSearch(),
    "tier=key": EnterpriseSearch(choices={"tier": ["key"]}),
    "region+tier+credit": EnterpriseSearch(
        choices={"tier": ["general", "ordinary"], "credit": ["good"]}, texts={"region": "龙沙区"}
    ),
    "expression officer+industry": EnterpriseSearch(expression="officer=LL007,industry=行业03"),
    "name contains": EnterpriseSearch(name="9999"),
    "page 100 (before)": EnterpriseSearch(before=95_000, start=5_000),
}
_URLS = {
    "list, everything": "/admin/enterprises",
    "list, tier+region": "/admin/enterprises?tier=general&tier=ordinary&region=龙沙区",
    "list, expression": "/admin/enterprises?q=officer%3DLL007,industry%3D行业03",
    "list, name": "/admin/enterprises?name=9999",
}


def _handler() -> Visibility:
    return Visibility(frozenset({_industry(0), _industry(1)}))


def data_jobs(db: Database, uscc: str) -> dict[str, Timed]:
    """The pages' reads, by label."""
    jobs: dict[str, Timed] = {}
    for label, search in SEARCHES.items():
        jobs[f"list data, {label} (admin)"] = functools.partial(
            search_enterprises, db, search, Visibility.everything(full_addresses=True), tz=SHANGHAI
        )
    jobs["list data, everything (handler)"] = lambda: search_enterprises(
        db, EnterpriseSearch(), _handler(), tz=SHANGHAI
    )
    jobs["list data, everything (officer)"] = lambda: search_enterprises(
        db, EnterpriseSearch(), Visibility.of_officer(7), tz=SHANGHAI
    )
    jobs["list data, tier=key (officer)"] = lambda: search_enterprises(
        db, EnterpriseSearch(choices={"tier": ["key"]}), Visibility.of_officer(7), tz=SHANGHAI
    )
    jobs["dossier data (admin)"] = lambda: dossier_page(
        db, uscc, Visibility.everything(full_addresses=True), CLOCK.now(), tz=SHANGHAI
    )
    return jobs


def page_jobs(client: Any, *, uscc: str) -> dict[str, Timed]:
    """The whole pages through the app, by label."""
    urls = {**_URLS, "dossier": f"/admin/enterprises/{uscc}",
            "dossier's messages": f"/admin/enterprises/{uscc}/messages"}  # fmt: skip
    return {f"page: {label}": functools.partial(fetch, client, url) for label, url in urls.items()}


async def _valid_uscc(db: Database, enterprise_id: int) -> str:
    """Give one enterprise in the middle (with messages and a reply) a USCC with its check
    character (the built ones have none, and the pages' addresses are checked)."""
    body = f"91230200{enterprise_id:08d}0"[:17]
    uscc = body + stdnum_uscc.calc_check_digit(body)
    async with db.write() as session:
        await session.execute(
            sa.update(Enterprise).where(Enterprise.id == enterprise_id).values(uscc=uscc)
        )
    return uscc


async def bench(folder: Path, enterprises: int, tickets: int, runs: int, seed: int) -> Any:
    async with built_city(folder, enterprises, tickets, seed) as (db, made):
        uscc = await _valid_uscc(db, enterprises // 2)
        results = {name: await timings(job, runs) for name, job in data_jobs(db, uscc).items()}
        results |= await page_timings(db, folder, functools.partial(page_jobs, uscc=uscc), runs)
        return {"rows": made, "runs": runs, "timings": results}


def main(argv: list[str] | None = None) -> int:
    """Build the city, time the enterprise pages, print the figures."""
    return run_bench(argv, __doc__.splitlines()[0], bench, "hub-enterprise-bench-")


if __name__ == "__main__":
    sys.exit(main())
