"""What the inbound worker keeps about an applied reply, and the button data it reads.

:class:`Applied` is what applying one reply did (:mod:`hub.inbound.apply`);
:func:`classification_detail` turns it and the classification into the JSON stored in
``inbound_reply.classification_detail`` (``{"class": …, "detail": {…}}``, see
/work/coord/SCHEMA.md). :func:`with_button_ref` puts back the ticket a rating button was sent
for, which the webhooks keep only in the raw payload.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from datetime import date, datetime
from typing import Any

from hub.inbound.answers import Answer
from hub.inbound.classify.classifier import Classification
from hub.outbound.notify import NotifyResult
from hub.store.models import Ticket

__all__ = ["Applied", "classification_detail", "jsonable", "with_button_ref"]

_VISIT_TASK_RE = re.compile(r"visit_(\d{1,18})_\S*")
_VISIT_KEY_RE = re.compile(r"visit:(?:confirm|reschedule|decline|slot:[1-9])")
#: What a classification carries besides its class (its fields hold scalars and tuples of
#: strings, so reading them is what ``dataclasses.asdict`` would copy, without its deep copy).
_DETAIL_FIELDS = tuple(f.name for f in fields(Classification) if f.name != "cls")


@dataclass(slots=True)
class Applied:
    """What applying one reply did, for the record on the reply (in Chinese)."""

    outcome: str
    ticket_id: int | None = None
    answers: list[Answer] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    #: Other messages written (a bad rating's alert to the department head).
    notified: list[NotifyResult] = field(default_factory=list)
    #: The reply's new ticket, which may wait for the chunk's flush for its id (instead of
    #: ``ticket_id``; hub.tickets.lifecycle.open_ticket ``flush=False``).
    ticket: Ticket | None = None

    def final_ticket_id(self) -> int | None:
        """The reply's ticket: ``ticket``'s id (once the session flushed), else ``ticket_id``."""
        return self.ticket.id if self.ticket is not None else self.ticket_id

    def results(self) -> list[NotifyResult]:
        """Every message row this reply wrote, for the worker to enqueue after the commit."""
        return [a.result for a in self.answers if a.result is not None] + self.notified


def classification_detail(found: Classification, applied: Applied) -> dict[str, Any]:
    """The JSON kept in ``inbound_reply.classification_detail``: ``{"class", "detail"}``."""
    values = ((name, getattr(found, name)) for name in _DETAIL_FIELDS)
    detail = {k: jsonable(v) for k, v in values if v not in (None, ())}
    detail["outcome"] = applied.outcome
    if applied.answers:
        detail["answers"] = [a.as_dict() for a in applied.answers]
    detail.update(applied.data)
    return {"class": found.cls.value, "detail": detail}


def jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, tuple):
        return list(value)
    return value


def with_button_ref(text: str, raw: dict[str, Any]) -> str:
    """``rating:N`` from a button, with the ticket the button was sent for when raw names it.

    Telegram keeps the callback data (``rate:5:GD…``) in the update; a WeCom card click
    carries the card's ``TaskId`` (``rating_GD…_r<round>_<token>``, see hub/tickets/feedback.py);
    a visit card's (``visit_<id>_r<round>_c<contact>``, hub/visits/proposals.py) names the visit.
    """
    visit_ask = _VISIT_TASK_RE.fullmatch(str(raw.get("TaskId") or ""))
    if visit_ask and _VISIT_KEY_RE.fullmatch(text):
        return f"{text}:{visit_ask.group(1)}"
    if not text.startswith("rating:") or text.count(":") != 1:
        return text
    data = raw.get("callback_query", {}).get("data") if isinstance(
        raw.get("callback_query"), dict) else None  # fmt: skip
    if isinstance(data, str) and data.count(":") == 2 and data.startswith("rate:"):
        ref = data.rsplit(":", 1)[1]
        if ref:
            return f"{text}:{ref}"
    task = raw.get("TaskId")
    if isinstance(task, str) and task.startswith("rating_"):
        parts = task.split("_")
        if len(parts) >= 2 and parts[1].upper().startswith("GD"):
            return f"{text}:{parts[1]}"
    return text
