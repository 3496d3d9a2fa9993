"""Who may see what: the enterprise scope of a reader and the masking of personal addresses.

A staff member with a department sees the enterprises whose industry routes to that department
(``Department.industries``); one with a district sees the enterprises of that region; one with
both sees their intersection. A liaison officer's account (role ``officer``, linked by
``Staff.officer_id``) sees the enterprises whose officer it is (``Enterprise.officer_id``), and
so their messages, replies, tickets and visits; an officer account not linked sees none.
Records not linked to any enterprise (a reply from an unknown number) are visible only to
unrestricted readers. Mobiles and openids are masked unless the
reader may see them in full (PIPL, docs/design.md "Personal data").
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import InstrumentedAttribute

from hub.core.identifiers import mask_id, mask_mobile
from hub.core.vocab import ChannelName
from hub.store.models import Enterprise

# Channels whose address is a mobile number (the sandbox falls back to "contact:<id>").
_MOBILE_CHANNELS = frozenset({ChannelName.SMS, ChannelName.SANDBOX})


@dataclass(frozen=True, slots=True)
class Visibility:
    """The enterprises a reader may see (``None``: no limit) and whether addresses show in full.

    ``officers``: the liaison officers whose enterprises the reader may see (an officer's
    account: its own; empty: an officer account not linked to any officer, which sees nothing).
    """

    industries: frozenset[str] | None = None
    region: str | None = None
    full_addresses: bool = False
    officers: frozenset[int] | None = None

    @classmethod
    def everything(cls, *, full_addresses: bool = False) -> Visibility:
        return cls(None, None, full_addresses)

    @classmethod
    def of_officer(cls, officer_id: int | None, *, full_addresses: bool = False) -> Visibility:
        """An officer's account: that officer's enterprises only, none when not linked."""
        officers = frozenset() if officer_id is None else frozenset({officer_id})
        return cls(full_addresses=full_addresses, officers=officers)

    @property
    def restricted(self) -> bool:
        return self.industries is not None or self.region is not None or self.officers is not None

    def enterprise_filter(
        self, enterprise_id: InstrumentedAttribute[int | None] | InstrumentedAttribute[int]
    ) -> sa.ColumnElement[bool] | None:
        """A WHERE clause on a column holding an enterprise id; None when nothing is hidden.

        A subquery rather than a join, so any table with an ``enterprise_id`` (replies,
        messages, tickets, visits) is scoped the same way.
        """
        if not self.restricted:
            return None
        visible = sa.select(Enterprise.id)
        if self.industries is not None:
            visible = visible.where(Enterprise.industry.in_(sorted(self.industries)))
        if self.region is not None:
            visible = visible.where(Enterprise.region == self.region)
        if self.officers is not None:
            visible = visible.where(Enterprise.officer_id.in_(sorted(self.officers)))
        return enterprise_id.in_(visible)

    def address(self, channel: ChannelName, address: str) -> str:
        """A contact's address on a channel as this reader may see it."""
        if self.full_addresses:
            return address
        return mask_mobile(address) if channel in _MOBILE_CHANNELS else mask_id(address)
