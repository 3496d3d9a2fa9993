"""Who did it, as the admin pages name them: staff by name, the hub's own parts in Chinese.

Ticket events, ratings flagged and callback records keep the actor as written (a staff
username, ``system``, ``sla``, ``contact:<id>`` …): the API returns it as is; a clerk reading
the page sees ``曲志伟（demo-handler）``, ``系统（时限监控）`` or ``企业联系人``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

__all__ = ["HUB_ACTORS", "actor_label"]

#: The hub's own actors (what writes them: lifecycle defaults, the SLA sweep, the inbound
#: worker, the callback surveys, the CLI, `hub bench`, the demo loader, the rating page);
#: the campaigns page names a campaign's trigger ``cli`` or ``bench`` from here too.
HUB_ACTORS: Final[Mapping[str, str]] = {
    "system": "系统",
    "sla": "系统（时限监控）",
    "inbound": "系统（回复受理）",
    "callbacks": "系统（月度回访）",
    "cli": "命令行",
    "bench": "基准测试",
    "demo": "演示数据",
    "rating_page": "企业（评价页面）",
}
_CONTACT_PREFIX: Final = "contact:"


def actor_label(actor: str | None, staff: Mapping[str, str]) -> str:
    """``actor`` for a page: a staff member (``staff``: username -> name) as
    ``name（username）``, the hub's own parts and an enterprise's contact in Chinese, anything
    else as written."""
    if not actor:
        return ""
    if actor in staff:
        return f"{staff[actor]}（{actor}）"
    if actor in HUB_ACTORS:
        return HUB_ACTORS[actor]
    if actor.startswith(_CONTACT_PREFIX):
        return "企业联系人"
    return actor
